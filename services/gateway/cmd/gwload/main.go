// Command gwload is a bounded load client for the gateway, loopback only.
//
//	gwload -mode nats   -nats-port 14222 -duration 10m      # embedded NATS for the gateway under test
//	gwload -mode idle   -ws ws://127.0.0.1:8900 -n 10000 -metrics http://127.0.0.1:9105
//	gwload -mode fanout -ws ws://127.0.0.1:8900 -nats nats://127.0.0.1:14222 -n 1000 -duration 10s
//	gwload -mode rpc    -http http://127.0.0.1:8899 -redis 127.0.0.1:6379 -prefix gwload: -c 32 -duration 10s
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
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
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
	n, c, natsPort, size                            int
	duration                                        time.Duration
}

func run(ctx context.Context) error {
	var o opts
	flag.StringVar(&o.mode, "mode", "", "nats, idle, fanout or rpc")
	flag.StringVar(&o.ws, "ws", "ws://127.0.0.1:8900", "gateway WebSocket URL")
	flag.StringVar(&o.http, "http", "http://127.0.0.1:8899", "gateway HTTP URL")
	flag.StringVar(&o.natsURL, "nats", "nats://127.0.0.1:14222", "NATS URL the gateway uses (fanout publishes here)")
	flag.StringVar(&o.redis, "redis", "127.0.0.1:6379", "Redis the gateway reads (rpc seeds accounts here)")
	flag.StringVar(&o.prefix, "prefix", "gwload:", "Redis key prefix (the gateway's GATEWAY_REDIS_KEY_PREFIX)")
	flag.StringVar(&o.metrics, "metrics", "http://127.0.0.1:9105", "gateway metrics URL (idle reads its RSS)")
	flag.IntVar(&o.n, "n", 1000, "connections (idle, fanout)")
	flag.IntVar(&o.c, "c", 32, "concurrent requests (rpc)")
	flag.IntVar(&o.natsPort, "nats-port", 14222, "port of the embedded NATS (mode nats)")
	flag.IntVar(&o.size, "size", 165, "account data size (fanout)")
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
	resp, err := http.Get(metricsURL + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "process_resident_memory_bytes "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, errors.New("process_resident_memory_bytes not found")
}

// idle opens n connections that each hold one accountSubscribe, and reports
// the gateway's RSS growth per connection.
func idle(ctx context.Context, o opts) error {
	before, err := rss(o.metrics)
	if err != nil {
		return err
	}
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
	fmt.Printf("idle: %d connections (one accountSubscribe each) opened in %s; gateway RSS %.1f MiB -> %.1f MiB; %.1f KiB per connection\n",
		o.n, took.Round(time.Millisecond), before/(1<<20), after/(1<<20), (after-before)/float64(o.n)/1024)
	return nil
}

// fanout subscribes n clients to one program and publishes as fast as the
// bus takes it; it reports notifications delivered per second over all clients.
func fanout(ctx context.Context, o opts) error {
	owner := make([]byte, 32)
	_, _ = rand.Read(owner)
	req := `{"jsonrpc":"2.0","id":1,"method":"programSubscribe","params":["` + base58.Encode(owner) + `",{"encoding":"base64"}]}`
	var received atomic.Int64
	var closed atomic.Int64
	var wg sync.WaitGroup
	conns := make([]*websocket.Conn, 0, o.n)
	defer func() {
		for _, c := range conns {
			_ = c.CloseNow()
		}
		wg.Wait()
	}()
	for i := range o.n {
		c, err := dial(ctx, o.ws)
		if err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
		conns = append(conns, c)
		if err := c.Write(ctx, websocket.MessageText, []byte(req)); err != nil {
			return err
		}
		if _, _, err := c.Read(ctx); err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, _, err := c.Read(context.Background()); err != nil {
					if websocket.CloseStatus(err) == websocket.StatusPolicyViolation {
						closed.Add(1)
					}
					return
				}
				received.Add(1)
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
			// Pace to what the clients drain: keep at most ~2 notifications per client in flight.
			for ctx.Err() == nil && published*int64(o.n)-received.Load() > int64(2*o.n)*64 {
				time.Sleep(200 * time.Microsecond)
			}
		}
	}
	el := time.Since(start)
	time.Sleep(500 * time.Millisecond)
	r := received.Load()
	fmt.Printf("fanout: %d clients on one programSubscribe, %d-byte accounts; published %d (%.0f/s), delivered %d notifications in %s = %.0f notifications/s; slow-consumer closes %d\n",
		o.n, o.size, published, float64(published)/el.Seconds(), r, el.Round(time.Millisecond), float64(r)/el.Seconds(), closed.Load())
	return nil
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
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.c}}
	var ok, bad atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := range o.c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := i; ctx.Err() == nil; j++ {
				body := `{"jsonrpc":"2.0","id":1,"method":"getAccountInfo","params":["` + keys[j%len(keys)] + `",{"encoding":"base64"}]}`
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, o.http, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						bad.Add(1)
					}
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 && bytes.Contains(b, []byte(`"lamports":1`)) {
					ok.Add(1)
				} else {
					bad.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	fmt.Printf("rpc: getAccountInfo (base64, 165-byte accounts from Redis), %d concurrent: %d ok, %d failed in %s = %.0f req/s\n",
		o.c, ok.Load(), bad.Load(), el.Round(time.Millisecond), float64(ok.Load())/el.Seconds())
	return nil
}
