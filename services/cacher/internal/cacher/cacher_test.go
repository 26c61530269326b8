package cacher

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/rueidis"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"

	"github.com/firehole/firehole/pkg/accountcache"
	"github.com/firehole/firehole/pkg/accountcache/cachetest"
	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/pkg/bus"
	"github.com/firehole/firehole/pkg/bus/bustest"
	"github.com/firehole/firehole/pkg/testenv"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
)

const (
	statusOK      = fireholev1.DecodeStatus_DECODE_STATUS_OK
	statusWaiting = fireholev1.DecodeStatus_DECODE_STATUS_AWAITING_MINT
)

// env is one test's NATS server, Redis prefix and clients.
type env struct {
	t      testing.TB
	nats   *bustest.Server
	nc     *nats.Conn
	js     jetstream.JetStream
	redis  rueidis.Client
	addr   string // real Redis
	prefix string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	addr := testenv.RedisAddr(t)
	s, nc, js := bustest.StartWithStreams(t)
	rc, prefix := cachetest.Client(t)
	return &env{t: t, nats: s, nc: nc, js: js, redis: rc, addr: addr, prefix: prefix}
}

func (e *env) config() Config {
	c := Defaults()
	c.NATSURL = e.nats.URL
	c.RedisAddr = []string{e.addr}
	c.KeyPrefix = e.prefix
	c.HTTPAddr = "127.0.0.1:0"
	c.AckWait = 2 * time.Second
	c.BatchSize = 64
	return c
}

// instance is one running cacher.
type instance struct {
	cancel context.CancelFunc
	done   chan error
	reg    *prometheus.Registry
}

func (e *env) start(cfg Config) *instance {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{cancel: cancel, done: make(chan error, 1), reg: prometheus.NewRegistry()}
	go func() { in.done <- Run(ctx, cfg, zerolog.New(io.Discard), in.reg) }()
	e.t.Cleanup(func() { in.stop(e.t) })
	return in
}

func (in *instance) stop(t testing.TB) {
	in.cancel()
	select {
	case err := <-in.done:
		if err != nil {
			t.Errorf("cacher: %v", err)
		}
		in.done <- nil // later stops see a clean exit
	case <-time.After(20 * time.Second):
		t.Error("cacher did not stop within 20s")
	}
}

func pk(n int) [32]byte {
	var k [32]byte
	k[0], k[1], k[2], k[30] = byte(n), byte(n>>8), byte(n>>16), 0xca
	return k
}

func pkB58(n int) string { k := pk(n); return base58.Encode32(&k) }

func ownerB58(o int) string { return pkB58(1<<20 + o) }

type upd struct {
	n, owner int
	slot, wv uint64
	status   fireholev1.DecodeStatus
	lamports uint64
	pad      int // extra data bytes (benchmarks)
}

func (u upd) marshal(t testing.TB) (string, []byte) {
	t.Helper()
	k, o := pk(u.n), pk(1<<20+u.owner)
	b, err := proto.Marshal(&fireholev1.DecodedAccount{
		Account: &fireholev1.AccountUpdate{
			Pubkey: k[:], Owner: o[:], Slot: u.slot, WriteVersion: u.wv, Lamports: u.lamports,
			Data: append(fmt.Appendf(nil, "%d/%d/%d", u.n, u.slot, u.wv), make([]byte, u.pad)...),
		},
		Status: u.status,
	})
	if err != nil {
		t.Fatal(err)
	}
	return bus.DecodedAccountSubject(o[:], k[:]), b
}

// publish stores every update in FIREHOLE_DECODED, duplicates included (no
// message id), in the order given.
func (e *env) publish(us ...upd) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	futs := make([]jetstream.PubAckFuture, 0, len(us))
	for _, u := range us {
		subj, b := u.marshal(e.t)
		f, err := e.js.PublishAsync(subj, b)
		if err != nil {
			e.t.Fatal(err)
		}
		futs = append(futs, f)
		if len(futs) == 2048 {
			e.waitAcks(ctx, futs)
			futs = futs[:0]
		}
	}
	e.waitAcks(ctx, futs)
}

func (e *env) waitAcks(ctx context.Context, futs []jetstream.PubAckFuture) {
	for _, f := range futs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			e.t.Fatalf("publish: %v", err)
		case <-ctx.Done():
			e.t.Fatal("publish timed out")
		}
	}
}

// drained waits until the consumer has delivered and had acknowledged (or
// terminated) every message.
func (e *env) drained(stream, consumer string, timeout time.Duration) {
	e.t.Helper()
	bustest.WaitDrained(e.t, e.js, stream, consumer, timeout)
}

func (e *env) consumerInfo(stream, consumer string) *jetstream.ConsumerInfo {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := e.js.Consumer(ctx, stream, consumer)
	if err != nil {
		e.t.Fatalf("consumer %s: %v", consumer, err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		e.t.Fatalf("consumer %s info: %v", consumer, err)
	}
	return info
}

// want is the newest update per account under the script's rule.
func want(us []upd) map[int]upd {
	w := map[int]upd{}
	for _, u := range us {
		cur, ok := w[u.n]
		if !ok || u.slot > cur.slot || (u.slot == cur.slot && (u.wv > cur.wv ||
			(u.wv == cur.wv && u.status == statusOK && cur.status != statusOK))) {
			w[u.n] = u
		}
	}
	return w
}

func (e *env) checkAccounts(w map[int]upd) {
	e.t.Helper()
	keys := make([]int, 0, len(w))
	pks := make([]string, 0, len(w))
	for n := range w {
		keys = append(keys, n)
		pks = append(pks, pkB58(n))
	}
	got, err := accountcache.MGet(context.Background(), e.redis, e.prefix, pks)
	if err != nil {
		e.t.Fatal(err)
	}
	bad := 0
	for i, n := range keys {
		u, g := w[n], got[i]
		if g == nil || g.GetAccount().GetSlot() != u.slot || g.GetAccount().GetWriteVersion() != u.wv || g.GetStatus() != u.status {
			if bad++; bad <= 5 {
				e.t.Errorf("account %d: stored %v, want slot %d wv %d status %v", n, g, u.slot, u.wv, u.status)
			}
		}
	}
	if bad > 0 {
		e.t.Fatalf("%d of %d accounts wrong", bad, len(w))
	}
}

func (e *env) members(owner int) []string {
	e.t.Helper()
	var all []string
	if err := accountcache.ProgramMembers(context.Background(), e.redis, e.prefix, ownerB58(owner), func(p []string) error {
		all = append(all, p...)
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
	return all
}

// history makes versions of accounts 0..accounts-1, the owner cycling through
// owners, with repeated (slot, write_version) pairs and re-decodes, shuffled
// (so delivered out of order), with every tenth update published twice.
func history(accounts, versions, owners int, seed uint64) []upd {
	var us []upd
	for n := range accounts {
		for v := range versions {
			st := statusOK
			if v%4 == 3 {
				st = statusWaiting
			}
			us = append(us, upd{n: n, owner: v % owners, slot: uint64(1000 + v/2), wv: uint64(v % 2), status: st, lamports: 1})
		}
		// The last version first arrives undecoded, then re-decoded.
		last := us[len(us)-1]
		last.status = statusWaiting
		us[len(us)-1] = last
		last.status = statusOK
		us = append(us, last)
	}
	r := rand.New(rand.NewPCG(seed, seed))
	r.Shuffle(len(us), func(i, j int) { us[i], us[j] = us[j], us[i] })
	n := len(us)
	for i := 0; i < n; i += 10 {
		us = append(us, us[i])
	}
	return us
}

func TestOutOfOrderAndDuplicatesNewestWins(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	us := history(300, 8, 3, 1)
	e.publish(us...)
	e.start(e.config())
	e.drained(bus.StreamDecoded, AccountsConsumer, 60*time.Second)
	w := want(us)
	e.checkAccounts(w)
	for n, u := range w {
		if u.status != statusOK {
			t.Fatalf("account %d: test data should end re-decoded", n)
		}
	}
	if got := len(e.members(7 % 3)); got != 300 {
		t.Errorf("final owner's set has %d members, want 300", got)
	}
	for _, o := range []int{0, 2} {
		if got := e.members(o); len(got) != 0 {
			a, _ := accountcache.Get(context.Background(), e.redis, e.prefix, got[0])
			h, _ := e.redis.Do(context.Background(), e.redis.B().Hmget().Key(accountcache.AccountKey(e.prefix, got[0])).Field("owner", "powner", "slot", "wv").Build()).ToArray()
			var hs []string
			for _, v := range h {
				s, _ := v.ToString()
				hs = append(hs, s)
			}
			var hist []string
			for _, u := range us {
				if pkB58(u.n) == got[0] {
					hist = append(hist, fmt.Sprintf("%d/%d/o%d/%d", u.slot, u.wv, u.owner, u.status))
				}
			}
			t.Errorf("former owner %d's set still has %d members, e.g. %s: %v %v owners %s %s hist %v", o, len(got), got[0], a.GetAccount().GetSlot(), hs, ownerB58(0), ownerB58(2), hist)
		}
	}
}

func TestTwoInstancesInterleaved(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := e.config()
	cfg.BatchSize = 16
	e.start(cfg)
	e.start(cfg)
	us := history(400, 10, 4, 2)
	// Publish while both consume, in several rounds.
	for i := 0; i < len(us); i += 500 {
		e.publish(us[i:min(i+500, len(us))]...)
	}
	e.drained(bus.StreamDecoded, AccountsConsumer, 60*time.Second)
	e.checkAccounts(want(us))
}

func TestCancelMidBatchThenRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := e.config()
	cfg.BatchSize = 32
	us := history(500, 10, 2, 3)
	e.publish(us...)
	first := e.start(cfg)
	// Stop once some but not all of the stream is written.
	deadline := time.Now().Add(30 * time.Second)
	for {
		applied := messages(first.reg, "accounts", "applied")
		if applied > 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("first instance made no progress")
		}
		time.Sleep(time.Millisecond)
	}
	first.stop(t)
	info := e.consumerInfo(bus.StreamDecoded, AccountsConsumer)
	if info.AckFloor.Stream >= uint64(len(us)) {
		t.Logf("first instance finished before the cancel; the test checks less than it should")
	}
	e.start(cfg)
	e.drained(bus.StreamDecoded, AccountsConsumer, 60*time.Second)
	e.checkAccounts(want(us))
}

// metric sums the values of the counters and gauges called name whose
// labels include the given name/value pairs (0 while none exists yet).
func metric(reg *prometheus.Registry, name string, labels ...string) float64 {
	mfs, _ := reg.Gather()
	var v float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			matched := 0
			for _, l := range m.GetLabel() {
				for i := 0; i+1 < len(labels); i += 2 {
					if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
						matched++
					}
				}
			}
			if 2*matched == len(labels) {
				v += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return v
}

// messages is firehole_cacher_messages_total of one consumer and result.
func messages(reg *prometheus.Registry, consumer, result string) float64 {
	return metric(reg, "firehole_cacher_messages_total", "consumer", consumer, "result", result)
}

// proxy is a loopback TCP proxy to Redis that the test can cut and restore.
type proxy struct {
	t      *testing.T
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	p := &proxy{t: t, target: target}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(u, c); u.Close() }()
			go func() { _, _ = io.Copy(c, u); c.Close() }()
		}
	}()
}

// cut closes the listener and every connection: Redis is unreachable.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// restore listens again on the same address.
func (p *proxy) restore() {
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			p.serve(ln)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.t.Fatalf("relisten %s: %v", p.addr, err)
}

func TestRedisOutageNoLoss(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	px := newProxy(t, e.addr)
	cfg := e.config()
	cfg.RedisAddr = []string{px.addr}
	cfg.AckWait = 3 * time.Second // shorter than the outage: InProgress must hold the batch
	cfg.MaxAckPending = 256       // the consumer must stop there during the outage
	in := e.start(cfg)
	us := history(400, 6, 2, 4)
	half := len(us) / 2
	e.publish(us[:half]...)
	e.drained(bus.StreamDecoded, AccountsConsumer, 60*time.Second)

	px.cut()
	e.publish(us[half:]...)
	// Writes fail and the consumer stops at what it holds; nothing is acked.
	deadline := time.Now().Add(30 * time.Second)
	for metric(in.reg, "firehole_cacher_redis_errors_total") < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no failed redis writes seen during the outage")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // let acks of batches confirmed before the cut arrive
	before := e.consumerInfo(bus.StreamDecoded, AccountsConsumer)
	time.Sleep(4 * time.Second) // longer than AckWait
	during := e.consumerInfo(bus.StreamDecoded, AccountsConsumer)
	if during.AckFloor.Stream != before.AckFloor.Stream {
		t.Errorf("ack floor moved during the outage: %d → %d", before.AckFloor.Stream, during.AckFloor.Stream)
	}
	if during.NumPending == 0 || during.NumAckPending > 256 {
		t.Errorf("consumer did not stop during the outage: %d pending, %d ack pending", during.NumPending, during.NumAckPending)
	}
	if during.NumRedelivered > before.NumRedelivered {
		t.Errorf("held messages were redelivered during the outage (%d → %d)", before.NumRedelivered, during.NumRedelivered)
	}
	px.restore()
	e.drained(bus.StreamDecoded, AccountsConsumer, 60*time.Second)
	e.checkAccounts(want(us))
	if up := metric(in.reg, "firehole_cacher_redis_up"); up != 1 {
		t.Errorf("redis_up = %v after recovery", up)
	}
}

func TestMalformedGoesToDLQ(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.start(e.config())
	k := pk(1)
	o := pk(1<<20 + 1)
	subj := bus.DecodedAccountSubject(o[:], k[:])
	ctx := context.Background()
	for _, bad := range [][]byte{{0xff, 0xff, 0xff}, mustMarshal(t, &fireholev1.DecodedAccount{Program: "no account"})} {
		if _, err := e.js.Publish(ctx, subj, bad); err != nil {
			t.Fatal(err)
		}
	}
	good := upd{n: 1, owner: 1, slot: 5, status: statusOK, lamports: 1}
	e.publish(good)
	e.drained(bus.StreamDecoded, AccountsConsumer, 30*time.Second)
	e.checkAccounts(map[int]upd{1: good})

	dlq, err := e.js.Stream(ctx, bus.StreamDLQ)
	if err != nil {
		t.Fatal(err)
	}
	info, err := dlq.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 2 {
		t.Fatalf("DLQ holds %d messages, want 2", info.State.Msgs)
	}
	raw, err := dlq.GetMsg(ctx, info.State.FirstSeq)
	if err != nil {
		t.Fatal(err)
	}
	var dl fireholev1.DeadLetter
	if err := proto.Unmarshal(raw.Data, &dl); err != nil {
		t.Fatal(err)
	}
	if raw.Subject != bus.DLQSubject("cacher") || dl.GetSubject() != subj || dl.GetStage() != "cacher" || dl.GetError() == "" {
		t.Errorf("dead letter on %s: %+v", raw.Subject, &dl)
	}
	if got := messages(in.reg, "accounts", "malformed"); got != 2 {
		t.Errorf("malformed counted %v, want 2", got)
	}
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOwnerChangeAndClosedTTL(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := e.config()
	cfg.ClosedTTL = time.Minute
	e.start(cfg)
	ctx := context.Background()

	e.publish(upd{n: 1, owner: 1, slot: 10, status: statusOK, lamports: 5}, upd{n: 2, owner: 1, slot: 10, status: statusOK, lamports: 5})
	e.drained(bus.StreamDecoded, AccountsConsumer, 30*time.Second)
	if m := e.members(1); !slices.Contains(m, pkB58(1)) || !slices.Contains(m, pkB58(2)) {
		t.Fatalf("program 1 members %v", m)
	}

	// Account 1 moves to program 2; account 2 is closed.
	e.publish(upd{n: 1, owner: 2, slot: 11, status: statusOK, lamports: 5}, upd{n: 2, owner: 1, slot: 11, status: statusOK, lamports: 0})
	e.drained(bus.StreamDecoded, AccountsConsumer, 30*time.Second)
	if m := e.members(1); len(m) != 0 {
		t.Errorf("program 1 still lists %v", m)
	}
	if m := e.members(2); !slices.Equal(m, []string{pkB58(1)}) {
		t.Errorf("program 2 lists %v, want account 1", m)
	}
	ttl, err := e.redis.Do(ctx, e.redis.B().Pttl().Key(accountcache.AccountKey(e.prefix, pkB58(2))).Build()).AsInt64()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= 0 || ttl > time.Minute.Milliseconds() {
		t.Errorf("closed account PTTL %d ms, want (0, 60000]", ttl)
	}
	ttl, _ = e.redis.Do(ctx, e.redis.B().Pttl().Key(accountcache.AccountKey(e.prefix, pkB58(1))).Build()).AsInt64()
	if ttl != -1 {
		t.Errorf("open account PTTL %d, want -1", ttl)
	}
}

func TestSlots(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	slots := []struct {
		slot   uint64
		status fireholev1.SlotStatus
	}{
		{100, fireholev1.SlotStatus_SLOT_STATUS_PROCESSED},
		{102, fireholev1.SlotStatus_SLOT_STATUS_PROCESSED},
		{101, fireholev1.SlotStatus_SLOT_STATUS_PROCESSED}, // late: ignored
		{99, fireholev1.SlotStatus_SLOT_STATUS_CONFIRMED},
		{90, fireholev1.SlotStatus_SLOT_STATUS_FINALIZED},
		{500, fireholev1.SlotStatus_SLOT_STATUS_FIRST_SHRED_RECEIVED}, // not a commitment
		{501, fireholev1.SlotStatus_SLOT_STATUS_DEAD},
	}
	for _, s := range slots {
		b := mustMarshal(t, &fireholev1.SlotUpdate{Slot: s.slot, Status: s.status})
		if _, err := e.js.Publish(ctx, bus.SlotSubject(s.status), b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.js.Publish(ctx, bus.SlotSubject(fireholev1.SlotStatus_SLOT_STATUS_CONFIRMED), []byte{0xff}); err != nil {
		t.Fatal(err)
	}
	e.start(e.config())
	e.drained(bus.StreamRaw, SlotsConsumer, 30*time.Second)
	for c, want := range map[string]uint64{"processed": 102, "confirmed": 99, "finalized": 90} {
		got, err := accountcache.LatestSlot(ctx, e.redis, e.prefix, c)
		if err != nil || got != want {
			t.Errorf("%s slot = %d, %v; want %d", c, got, err, want)
		}
	}
}

func TestHealthEndpoints(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := e.config()
	cfg.HTTPAddr = addr
	e.start(cfg)
	get := func(path string) int {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	deadline := time.Now().Add(20 * time.Second)
	for get("/readyz") != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("/readyz never became 200")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, p := range []string{"/healthz", "/metrics"} {
		if code := get(p); code != http.StatusOK {
			t.Errorf("%s: %d", p, code)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		edit  func(*Config)
		wants []string
	}{
		{"defaults", func(*Config) {}, nil},
		{"empty prefix", func(c *Config) { c.KeyPrefix = "" }, []string{"CACHER_KEY_PREFIX"}},
		{"several at once", func(c *Config) {
			c.BatchSize, c.RedisAddr, c.NATSURL, c.Level = 0, nil, "", "loud"
		}, []string{"CACHER_BATCH_SIZE", "CACHER_REDIS_ADDR", "CACHER_NATS_URL", "CACHER_LOG_LEVEL"}},
		{"ack pending below batch", func(c *Config) { c.MaxAckPending = 10 }, []string{"CACHER_MAX_ACK_PENDING"}},
		{"negative ttl", func(c *Config) { c.ClosedTTL = -time.Second }, []string{"CACHER_CLOSED_TTL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Defaults()
			tt.edit(&c)
			err := c.Validate()
			if len(tt.wants) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
		})
	}
}

// TestRedisCluster runs the service against a three-master Redis Cluster
// (started from the local redis-server binary, or FIREHOLE_TEST_REDIS_CLUSTER).
func TestRedisCluster(t *testing.T) {
	t.Parallel()
	addrs := cachetest.Cluster(t)
	e := newEnv(t)
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: addrs, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rc.Close)
	e.redis = rc
	cfg := e.config()
	cfg.RedisAddr = addrs
	us := history(300, 6, 3, 5)
	e.publish(us...)
	e.start(cfg)
	e.drained(bus.StreamDecoded, AccountsConsumer, 60*time.Second)
	e.checkAccounts(want(us))
	if got := len(e.members(5 % 3)); got != 300 {
		t.Errorf("final owner's set has %d members, want 300", got)
	}
	for _, o := range []int{0, 1} {
		if got := len(e.members(o)); got != 0 {
			t.Errorf("former owner %d's set still has %d members", o, got)
		}
	}
}

// TestNATSRestart restarts the NATS server between two halves of the stream:
// the cacher reconnects, its consumer resumes, nothing is lost.
func TestNATSRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(e.config())
	us := history(200, 6, 2, 6)
	half := len(us) / 2
	e.publish(us[:half]...)
	e.drained(bus.StreamDecoded, AccountsConsumer, 60*time.Second)
	e.nats.Restart(t)
	e.publish(us[half:]...)
	e.drained(bus.StreamDecoded, AccountsConsumer, 60*time.Second)
	e.checkAccounts(want(us))
}
