// Command gwload is a bounded load client for the gateway, loopback only.
//
//	gwload -mode nats   -nats-port 14222 -duration 10m      # embedded NATS for the gateway under test
//	gwload -mode idle   -ws ws://127.0.0.1:8900 -n 10000 -metrics http://127.0.0.1:9105
//	gwload -mode fanout -ws ws://127.0.0.1:8900 -nats nats://127.0.0.1:14222 -n 1000 -duration 10s
//	gwload -mode latency -ws ws://127.0.0.1:8900 -nats nats://127.0.0.1:14222 -n 10 -rate 5000 -duration 10s
//	gwload -mode rpc    -http http://127.0.0.1:8899 -redis 127.0.0.1:6379 -prefix gwload: -c 32 -duration 10s
//	gwload -mode pipeline -ws 'ws://127.0.0.1:8900/?api-key=K' -metrics http://127.0.0.1:9105 -owner <program> -n 10 -duration 30s
//
// Every mode stops after -duration (at most 5 minutes, except nats) and
// refuses non-loopback addresses.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
	"github.com/redis/rueidis"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/firehole/firehole/pkg/accountcache"
	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/pkg/bus"
	"github.com/firehole/firehole/pkg/bus/embedded"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gwload:", err)
		os.Exit(1)
	}
}

type opts struct {
	mode, ws, http, natsURL, redis, prefix, metrics string
	n, c, natsPort, size, rate                      int
	duration                                        time.Duration
	deflate                                         bool
	owner                                           string
}

func run(ctx context.Context) error {
	var o opts
	flag.StringVar(&o.mode, "mode", "", "nats, idle, fanout, latency, pipeline or rpc")
	flag.StringVar(&o.ws, "ws", "ws://127.0.0.1:8900", "gateway WebSocket URL")
	flag.StringVar(&o.http, "http", "http://127.0.0.1:8899", "gateway HTTP URL")
	flag.StringVar(&o.natsURL, "nats", "nats://127.0.0.1:14222", "NATS URL the gateway uses (fanout publishes here)")
	flag.StringVar(&o.redis, "redis", "127.0.0.1:6379", "Redis the gateway reads (rpc seeds accounts here)")
	flag.StringVar(&o.prefix, "prefix", "gwload:", "Redis key prefix (the gateway's GATEWAY_REDIS_KEY_PREFIX)")
	flag.StringVar(&o.metrics, "metrics", "http://127.0.0.1:9105", "gateway metrics URL (idle reads its RSS)")
	flag.IntVar(&o.n, "n", 1000, "connections (idle, fanout)")
	flag.IntVar(&o.c, "c", 32, "concurrent requests (rpc)")
	flag.IntVar(&o.natsPort, "nats-port", 14222, "port of the embedded NATS (mode nats)")
	flag.IntVar(&o.size, "size", 165, "account data size (fanout, latency)")
	flag.StringVar(&o.owner, "owner", "", "program id (base58) to publish under (fanout, latency); random when empty")
	flag.BoolVar(&o.deflate, "deflate", false, "offer permessage-deflate (fanout, latency)")
	flag.IntVar(&o.rate, "rate", 5000, "account updates published per second (latency)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "how long to run")
	flag.Parse()
	if o.mode != "nats" && o.duration > 5*time.Minute {
		return errors.New("-duration is capped at 5m")
	}
	if o.n > 20000 {
		return errors.New("-n is capped at 20000")
	}
	for _, u := range []string{o.ws, o.http, o.natsURL, "tcp://" + o.redis, o.metrics} {
		if err := loopback(u); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	switch o.mode {
	case "nats":
		return serveNATS(ctx, o)
	case "idle":
		return idle(ctx, o)
	case "fanout":
		return fanout(ctx, o)
	case "rpc":
		return rpcLoad(ctx, o)
	case "latency":
		return latency(ctx, o)
	case "pipeline":
		return pipeline(ctx, o)
	}
	return fmt.Errorf("unknown -mode %q", o.mode)
}

func loopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	ip := net.ParseIP(u.Hostname())
	if u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%s is not a loopback address", raw)
	}
	return nil
}

func serveNATS(ctx context.Context, o opts) error {
	dir, err := os.MkdirTemp("", "gwload-nats-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	s, err := embedded.Start(embedded.Options{Port: o.natsPort, StoreDir: dir})
	if err != nil {
		return err
	}
	fmt.Println("nats", s.ClientURL())
	<-ctx.Done()
	s.Shutdown()
	return nil
}

func dial(ctx context.Context, u string) (*websocket.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(dctx, u, nil)
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(16 << 20)
	return c, nil
}

func rss(metricsURL string) (float64, error) {
	return metric(metricsURL, "process_resident_memory_bytes")
}

// metric reads one unlabelled sample from the gateway's /metrics.
func metric(metricsURL, name string) (float64, error) {
	resp, err := http.Get(metricsURL + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, errors.New(name + " not found")
}

// idle opens n connections that each hold one accountSubscribe, and reports
// the gateway's RSS growth per connection.
func idle(ctx context.Context, o opts) error {
	before, err := rss(o.metrics)
	if err != nil {
		return err
	}
	heap0, _ := metric(o.metrics, "go_memstats_heap_inuse_bytes")
	stack0, _ := metric(o.metrics, "go_memstats_stack_inuse_bytes")
	conns := make([]*websocket.Conn, 0, o.n)
	defer func() {
		for _, c := range conns {
			_ = c.CloseNow()
		}
	}()
	start := time.Now()
	for i := range o.n {
		c, err := dial(ctx, o.ws)
		if err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
		conns = append(conns, c)
		pk := make([]byte, 32)
		_, _ = rand.Read(pk)
		req := `{"jsonrpc":"2.0","id":1,"method":"accountSubscribe","params":["` + base58.Encode(pk) + `",{"encoding":"base64"}]}`
		if err := c.Write(ctx, websocket.MessageText, []byte(req)); err != nil {
			return err
		}
		if _, _, err := c.Read(ctx); err != nil {
			return err
		}
		go func() { _, _, _ = c.Read(context.Background()) }() // answer pings, never expect data
	}
	took := time.Since(start)
	time.Sleep(2 * time.Second)
	after, err := rss(o.metrics)
	if err != nil {
		return err
	}
	heap1, _ := metric(o.metrics, "go_memstats_heap_inuse_bytes")
	stack1, _ := metric(o.metrics, "go_memstats_stack_inuse_bytes")
	fmt.Printf("idle: %d connections (one accountSubscribe each) opened in %s; gateway RSS %.1f MiB -> %.1f MiB; %.1f KiB per connection (heap in use %.1f KiB, stacks %.1f KiB per connection)\n",
		o.n, took.Round(time.Millisecond), before/(1<<20), after/(1<<20), (after-before)/float64(o.n)/1024,
		(heap1-heap0)/float64(o.n)/1024, (stack1-stack0)/float64(o.n)/1024)
	return nil
}

// subscribeRaw opens n raw clients, each with req answered.
func subscribeRaw(ctx context.Context, o opts, req string) ([]*rawConn, error) {
	conns := make([]*rawConn, 0, o.n)
	for i := range o.n {
		c, err := rawDial(ctx, o.ws, o.deflate)
		if err != nil {
			closeRaw(conns)
			return nil, fmt.Errorf("connection %d: %w", i, err)
		}
		conns = append(conns, c)
		if err := c.writeText(req); err != nil {
			closeRaw(conns)
			return nil, err
		}
		if _, err := c.next(true); err != nil {
			closeRaw(conns)
			return nil, fmt.Errorf("subscribe %d: %w", i, err)
		}
	}
	return conns, nil
}

func closeRaw(conns []*rawConn) {
	for _, c := range conns {
		_ = c.Close()
	}
}

// ownerKey decodes -owner, or makes a random program id.
func ownerKey(s string) ([]byte, error) {
	if s == "" {
		k := make([]byte, 32)
		_, _ = rand.Read(k)
		return k, nil
	}
	k, err := base58.Decode32(s)
	if err != nil {
		return nil, fmt.Errorf("-owner: %w", err)
	}
	return k[:], nil
}

func programSubscribeReq(owner []byte) string {
	return `{"jsonrpc":"2.0","id":1,"method":"programSubscribe","params":["` + base58.Encode(owner) + `",{"encoding":"base64"}]}`
}

// fanout subscribes n clients to one program and publishes as fast as the
// clients drain; it reports notifications delivered per second over all
// clients. The clients are raw WebSocket readers that skip payloads.
func fanout(ctx context.Context, o opts) error {
	owner, err := ownerKey(o.owner)
	if err != nil {
		return err
	}
	var received atomic.Int64
	var closed atomic.Int64
	var wg sync.WaitGroup
	conns, err := subscribeRaw(ctx, o, programSubscribeReq(owner))
	if err != nil {
		return err
	}
	defer func() {
		closeRaw(conns)
		wg.Wait()
	}()
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var n int64
			for {
				if _, err := c.next(false); err != nil {
					var ce errClosed
					if errors.As(err, &ce) && ce.code == int(websocket.StatusPolicyViolation) {
						closed.Add(1)
					}
					received.Add(n)
					return
				}
				if n++; n == 64 {
					received.Add(n)
					n = 0
				}
			}
		}()
	}
	nc, err := nats.Connect(o.natsURL)
	if err != nil {
		return err
	}
	defer nc.Close()
	data := make([]byte, o.size)
	var published int64
	start := time.Now()
	for ctx.Err() == nil {
		pk := make([]byte, 32)
		_, _ = rand.Read(pk)
		a := &fireholev1.DecodedAccount{Account: &fireholev1.AccountUpdate{Pubkey: pk, Owner: owner, Lamports: 1, Data: data,
			Slot: uint64(published), Commitment: fireholev1.Commitment_COMMITMENT_CONFIRMED, CreatedAt: timestamppb.Now()}}
		b, _ := proto.Marshal(a)
		if err := nc.Publish(bus.DecodedAccountSubject(owner, pk), b); err != nil {
			return err
		}
		published++
		if published%64 == 0 {
			// Pace to what the clients drain: at most ~128 notifications per client in flight.
			for ctx.Err() == nil && published*int64(o.n)-received.Load() > int64(2*o.n)*64 {
				time.Sleep(200 * time.Microsecond)
			}
		}
	}
	el := time.Since(start)
	r := received.Load()
	time.Sleep(500 * time.Millisecond)
	fmt.Printf("fanout: %d clients on one programSubscribe, %d-byte accounts; published %d (%.0f/s), delivered %d notifications in %s = %.0f notifications/s; slow-consumer closes %d\n",
		o.n, o.size, published, float64(published)/el.Seconds(), r, el.Round(time.Millisecond), float64(r)/el.Seconds(), closed.Load())
	return nil
}

// latency subscribes n clients to one program and publishes -rate accounts
// per second, each stamped with the time of publishing as created_at and, so
// that a client can read it from a Solana frame, as lamports (unix
// nanoseconds). Every client measures publish → notification read; the
// publisher, NATS, the gateway and the clients share one clock.
func latency(ctx context.Context, o opts) error {
	if o.rate <= 0 || o.rate > 100000 {
		return errors.New("-rate must be in 1..100000")
	}
	owner, err := ownerKey(o.owner)
	if err != nil {
		return err
	}
	conns, err := subscribeRaw(ctx, o, programSubscribeReq(owner))
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	defer func() {
		closeRaw(conns)
		wg.Wait()
	}()
	const warmup = time.Second
	var mu sync.Mutex
	var all []time.Duration
	var bad atomic.Int64
	measureFrom := time.Now().Add(warmup)
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, o.rate*int(o.duration/time.Second+1))
			defer func() {
				mu.Lock()
				all = append(all, mine...)
				mu.Unlock()
			}()
			for {
				p, err := c.next(true)
				if err != nil {
					return
				}
				now := time.Now()
				ns, ok := lamports(p)
				if !ok {
					bad.Add(1)
					continue
				}
				if sent := time.Unix(0, int64(ns)); sent.After(measureFrom) {
					mine = append(mine, now.Sub(sent))
				}
			}
		}()
	}
	nc, err := nats.Connect(o.natsURL)
	if err != nil {
		return err
	}
	defer nc.Close()
	data := make([]byte, o.size)
	var published int64
	start := time.Now()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for ctx.Err() == nil {
		<-tick.C
		due := int64(time.Since(start).Seconds() * float64(o.rate))
		for ; published < due; published++ {
			pk := make([]byte, 32)
			_, _ = rand.Read(pk)
			now := time.Now()
			a := &fireholev1.DecodedAccount{Account: &fireholev1.AccountUpdate{Pubkey: pk, Owner: owner, Lamports: uint64(now.UnixNano()), Data: data,
				Slot: uint64(published + 1), Commitment: fireholev1.Commitment_COMMITMENT_CONFIRMED, CreatedAt: timestamppb.New(now)}}
			b, _ := proto.Marshal(a)
			if err := nc.Publish(bus.DecodedAccountSubject(owner, pk), b); err != nil {
				return err
			}
		}
	}
	el := time.Since(start)
	time.Sleep(time.Second)
	closeRaw(conns)
	wg.Wait()
	conns = nil
	slices.Sort(all)
	pct := func(q float64) time.Duration {
		if len(all) == 0 {
			return 0
		}
		return all[min(len(all)-1, int(q*float64(len(all))))].Round(10 * time.Microsecond)
	}
	want := int64(float64(o.n) * float64(published) * (el - warmup).Seconds() / el.Seconds())
	fmt.Printf("latency: %d clients, %d updates/s (%d-byte accounts, published %d in %s): %d notifications measured after %s warm-up (~%d expected), unparsable %d; publish -> client read p50 %s p90 %s p99 %s p99.9 %s max %s\n",
		o.n, o.rate, o.size, published, el.Round(time.Millisecond), len(all), warmup, want, bad.Load(),
		pct(0.50), pct(0.90), pct(0.99), pct(0.999), pct(1))
	return nil
}

// lamports reads the "lamports" value out of a notification frame.
func lamports(p []byte) (uint64, bool) {
	i := bytes.Index(p, []byte(`"lamports":`))
	if i < 0 {
		return 0, false
	}
	p = p[i+len(`"lamports":`):]
	j := 0
	for j < len(p) && p[j] >= '0' && p[j] <= '9' {
		j++
	}
	v, err := strconv.ParseUint(string(p[:j]), 10, 64)
	return v, err == nil
}

// rpcLoad seeds 1000 accounts in Redis and calls getAccountInfo on them
// with c workers.
func rpcLoad(ctx context.Context, o opts) error {
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{o.redis}, DisableCache: true})
	if err != nil {
		return err
	}
	defer rc.Close()
	w := accountcache.NewWriter(rc, o.prefix, 0)
	owner := make([]byte, 32)
	keys := make([]string, 1000)
	var ups []accountcache.Update
	for i := range keys {
		pk := make([]byte, 32)
		_, _ = rand.Read(pk)
		keys[i] = base58.Encode(pk)
		a := &fireholev1.DecodedAccount{Account: &fireholev1.AccountUpdate{Pubkey: pk, Owner: owner, Lamports: 1, Data: make([]byte, 165), Slot: 1,
			Commitment: fireholev1.Commitment_COMMITMENT_CONFIRMED}}
		b, _ := proto.Marshal(a)
		u, err := accountcache.UpdateFromDecoded(b)
		if err != nil {
			return err
		}
		ups = append(ups, u)
	}
	if _, err := w.Write(ctx, ups); err != nil {
		return err
	}
	defer func() {
		for _, k := range keys {
			rc.Do(context.Background(), rc.B().Del().Key(accountcache.AccountKey(o.prefix, k)).Build())
		}
		rc.Do(context.Background(), rc.B().Del().Key(accountcache.ProgramKey(o.prefix, base58.Encode(owner))).Build())
	}()
	u, err := url.Parse(o.http)
	if err != nil {
		return err
	}
	// Each worker keeps one HTTP/1.1 connection and writes prepared
	// requests on it (see httpWorker): the client's own CPU per request
	// stays small next to the gateway's on a shared machine.
	reqs := make([][]byte, len(keys))
	for i, k := range keys {
		body := `{"jsonrpc":"2.0","id":1,"method":"getAccountInfo","params":["` + k + `",{"encoding":"base64"}]}`
		reqs[i] = []byte("POST " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nContent-Type: application/json\r\nContent-Length: " +
			strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	}
	var ok, bad atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := range o.c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var w *httpWorker
			for j := i; ctx.Err() == nil; j++ {
				if w == nil {
					if w, err = dialHTTP(ctx, u.Host); err != nil {
						bad.Add(1)
						time.Sleep(10 * time.Millisecond)
						continue
					}
				}
				status, body, err := w.do(reqs[j%len(reqs)])
				if err != nil {
					w.close()
					w = nil
					if ctx.Err() == nil {
						bad.Add(1)
					}
					continue
				}
				if status == 200 && bytes.Contains(body, []byte(`"lamports":1`)) {
					ok.Add(1)
				} else {
					bad.Add(1)
				}
			}
			if w != nil {
				w.close()
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	fmt.Printf("rpc: getAccountInfo (base64, 165-byte accounts from Redis), %d concurrent: %d ok, %d failed in %s = %.0f req/s\n",
		o.c, ok.Load(), bad.Load(), el.Round(time.Millisecond), float64(ok.Load())/el.Seconds())
	return nil
}
