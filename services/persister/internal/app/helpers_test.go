package app

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"

	"github.com/firehole/firehole/pkg/bus"
	"github.com/firehole/firehole/pkg/bus/bustest"
	"github.com/firehole/firehole/pkg/solana"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
	"github.com/firehole/firehole/services/persister/internal/schema"
)

func testOptions(schemaName string) Options {
	return Options{
		Schema:        schemaName,
		BatchSize:     500,
		BatchWait:     20 * time.Millisecond,
		Writers:       2,
		AckWait:       3 * time.Second,
		MaxAckPending: 5000,
		RetryMax:      300 * time.Millisecond,
	}
}

func testLogger(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel).With().Timestamp().Logger()
}

// running is one persister replica started by a test.
type running struct {
	p      *Persister
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
}

func start(t testing.TB, pool *pgxpool.Pool, js jetstream.JetStream, opt Options) *running {
	t.Helper()
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	p, err := New(ctx, pool, js, opt, testLogger(t), reg)
	if err != nil {
		cancel()
		t.Fatalf("new persister: %v", err)
	}
	r := &running{p: p, reg: reg, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- p.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t testing.TB) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("persister run: %v", err)
		}
		r.done <- nil // later stops return at once
	case <-time.After(30 * time.Second):
		t.Errorf("persister did not stop within 30s")
	}
}

// counter reads a counter from r's registry (0 when absent).
func (r *running) counter(t testing.TB, name, kind string) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "kind" && l.GetValue() == kind {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// accounts of the simulated stream: n token accounts, several updates each.
type update struct {
	pubkey       []byte
	slot, wv     uint64
	lamports     uint64
	status       fireholev1.DecodeStatus
	parsedMarker int
}

func pubkey(i int) []byte {
	k := make([]byte, 32)
	binary.BigEndian.PutUint64(k[24:], uint64(i)+1)
	k[0] = 0xA5
	return k
}

func (u update) message() *fireholev1.DecodedAccount {
	data := make([]byte, 165)
	copy(data[0:32], pubkey(1_000_000+int(u.lamports%7)))
	copy(data[32:64], pubkey(2_000_000+int(binary.BigEndian.Uint64(u.pubkey[24:])%11)))
	binary.LittleEndian.PutUint64(data[64:72], u.lamports)
	data[108] = 1
	m := &fireholev1.DecodedAccount{
		Account: &fireholev1.AccountUpdate{
			Pubkey: u.pubkey, Owner: solana.TokenProgramID[:], Lamports: u.lamports, RentEpoch: ^uint64(0),
			Data: data, WriteVersion: u.wv, Slot: u.slot, Commitment: fireholev1.Commitment_COMMITMENT_PROCESSED,
		},
		Program: "spl-token", AccountType: "account", Status: u.status, JsonParsed: true,
	}
	if u.status == fireholev1.DecodeStatus_DECODE_STATUS_OK {
		m.Parsed = fmt.Appendf(nil, `{"type":"account","info":{"tokenAmount":{"amount":"%d"},"marker":%d}}`, u.lamports, u.parsedMarker)
	}
	return m
}

// newer mirrors the storage rule, independently of store.Row.Newer.
func newer(a, b update) bool {
	if a.slot != b.slot {
		return a.slot > b.slot
	}
	if a.wv != b.wv {
		return a.wv > b.wv
	}
	return b.status != fireholev1.DecodeStatus_DECODE_STATUS_OK && a.status == fireholev1.DecodeStatus_DECODE_STATUS_OK
}

// stream makes perAccount updates for each of n accounts, shuffled (so
// out of order) with some exact duplicates, and the final state expected.
func stream(seed uint64, n, perAccount int, dupEvery int) ([]update, map[string]update) {
	rng := rand.New(rand.NewPCG(seed, 1))
	var ups []update
	for i := range n {
		for v := range perAccount {
			u := update{
				// Two updates per slot; write versions differ within a slot.
				pubkey: pubkey(i), slot: 1000 + uint64(v/2), wv: uint64(rng.IntN(1000))*2 + uint64(v%2),
				lamports: uint64(i*1000 + v), status: fireholev1.DecodeStatus_DECODE_STATUS_OK, parsedMarker: v,
			}
			if v%3 == 2 {
				u.status = fireholev1.DecodeStatus_DECODE_STATUS_AWAITING_MINT
			}
			ups = append(ups, u)
			if v%4 == 0 {
				// The same write decoded before its mint was known: a
				// re-decode of equal (slot, write_version) must win over it.
				twin := u
				twin.status = fireholev1.DecodeStatus_DECODE_STATUS_AWAITING_MINT
				ups = append(ups, twin)
			}
		}
	}
	rng.Shuffle(len(ups), func(i, j int) { ups[i], ups[j] = ups[j], ups[i] })
	if dupEvery > 0 {
		for i := 0; i < len(ups); i += dupEvery {
			ups = append(ups, ups[i])
		}
	}
	want := map[string]update{}
	for _, u := range ups {
		if cur, ok := want[string(u.pubkey)]; !ok || newer(u, cur) {
			want[string(u.pubkey)] = u
		}
	}
	return ups, want
}

func publish(t testing.TB, js jetstream.JetStream, ups []update) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// In chunks, so the async publisher never stalls on its pending limit.
	for len(ups) > 0 {
		chunk := ups[:min(len(ups), 1000)]
		ups = ups[len(chunk):]
		futs := make([]jetstream.PubAckFuture, 0, len(chunk))
		for _, u := range chunk {
			m := u.message()
			body, err := proto.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			f, err := js.PublishMsgAsync(&nats.Msg{Subject: bus.DecodedAccountSubject(m.Account.Owner, m.Account.Pubkey), Data: body})
			if err != nil {
				t.Fatalf("publish: %v", err)
			}
			futs = append(futs, f)
		}
		for _, f := range futs {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				t.Fatalf("publish ack: %v", err)
			case <-ctx.Done():
				t.Fatal("publish acks timed out")
			}
		}
	}
}

// waitDrained waits until the durable consumer has acknowledged everything
// its stream held at the call (pkg/bus/bustest.WaitDrained).
func waitDrained(t testing.TB, js jetstream.JetStream, stream, durable string, within time.Duration) {
	t.Helper()
	bustest.WaitDrained(t, js, stream, durable, within)
}

// checkState compares every account in the schema with want.
func checkState(t testing.TB, pool *pgxpool.Pool, schemaName string, want map[string]update) {
	t.Helper()
	rows, err := pool.Query(context.Background(), "SELECT pubkey, slot, write_version, lamports, decode_status, parsed->'info'->>'marker', token_mint IS NOT NULL FROM "+schema.Ident(schemaName)+".accounts")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := 0
	bad := 0
	for rows.Next() {
		var pk []byte
		var slot, wv, lamports int64
		var status int16
		var marker *string
		var hasMint bool
		if err := rows.Scan(&pk, &slot, &wv, &lamports, &status, &marker, &hasMint); err != nil {
			t.Fatal(err)
		}
		seen++
		w, ok := want[string(pk)]
		if !ok {
			t.Errorf("unexpected account %x", pk)
			continue
		}
		wantMarker := ""
		if w.status == fireholev1.DecodeStatus_DECODE_STATUS_OK {
			wantMarker = fmt.Sprint(w.parsedMarker)
		}
		gotMarker := ""
		if marker != nil {
			gotMarker = *marker
		}
		if uint64(slot) != w.slot || uint64(wv) != w.wv || uint64(lamports) != w.lamports || status != int16(w.status) || gotMarker != wantMarker || !hasMint {
			if bad++; bad <= 5 {
				t.Errorf("account %x: got slot %d wv %d lamports %d status %d marker %q mint %v; want slot %d wv %d lamports %d status %d marker %q",
					pk[24:], slot, wv, lamports, status, gotMarker, hasMint, w.slot, w.wv, w.lamports, w.status, wantMarker)
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if seen != len(want) {
		t.Errorf("stored %d accounts, want %d", seen, len(want))
	}
	if bad > 0 {
		t.Errorf("%d accounts differ from the newest update", bad)
	}
}

// proxy is a loopback TCP proxy to Postgres that a test can cut (every
// connection closed, new ones refused) and restore.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	up     bool
	conns  map[net.Conn]struct{}
}

func startProxy(t testing.TB, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, up: true, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(func() { _ = ln.Close(); p.cut() })
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if !p.up {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		s, err := net.DialTimeout("tcp", p.target, 2*time.Second)
		if err != nil {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.conns[c], p.conns[s] = struct{}{}, struct{}{}
		p.mu.Unlock()
		go pipe(c, s)
		go pipe(s, c)
	}
}

func pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	_ = dst.Close()
	_ = src.Close()
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up = false
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

func (p *proxy) restore() {
	p.mu.Lock()
	p.up = true
	p.mu.Unlock()
}

// hostPort is the host:port of a postgres URL (port 5432 when it has none).
func hostPort(t testing.TB, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "5432")
	}
	return u.Host
}

func replaceHost(t testing.TB, raw, hostport string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = hostport
	return u.String()
}
