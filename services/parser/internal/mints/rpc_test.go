package mints

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/firehole/firehole/pkg/base58"
)

// node answers getMultipleAccounts (base64) the way agave does, from its
// accounts; fail makes the next requests fail with that HTTP status.
type node struct {
	t *testing.T

	mu       sync.Mutex
	accounts map[[32]byte]nodeAccount
	batches  [][]string // keys of each request
	fail     []int      // statuses for the next requests
	raw      string     // when set, the answer's whole body
}

type nodeAccount struct {
	owner [32]byte
	data  []byte
}

func (n *node) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Method string            `json:"method"`
		Params []json.RawMessage `json:"params"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Method != "getMultipleAccounts" || len(req.Params) != 2 {
		n.t.Errorf("bad request: %v %+v", err, req)
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	var keys []string
	var cfg struct {
		Encoding, Commitment string
	}
	if json.Unmarshal(req.Params[0], &keys) != nil || json.Unmarshal(req.Params[1], &cfg) != nil ||
		cfg.Encoding != "base64" || cfg.Commitment != "confirmed" {
		n.t.Errorf("bad params: %s", req.Params)
	}
	n.mu.Lock()
	n.batches = append(n.batches, keys)
	status := 0
	if len(n.fail) > 0 {
		status, n.fail = n.fail[0], n.fail[1:]
	}
	raw := n.raw
	n.mu.Unlock()
	if status != 0 {
		http.Error(w, "unavailable", status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if raw != "" {
		_, _ = w.Write([]byte(raw))
		return
	}
	if len(keys) > MaxBatch {
		_, _ = w.Write([]byte(`{"jsonrpc":"2.0","error":{"code":-32602,"message":"Too many inputs provided; max 100"},"id":1}`))
		return
	}
	vals := make([]any, len(keys))
	n.mu.Lock()
	for i, k := range keys {
		pk, err := base58.Decode32(k)
		if err != nil {
			n.t.Errorf("key %q: %v", k, err)
		}
		if a, ok := n.accounts[pk]; ok {
			vals[i] = map[string]any{"data": []string{base64.StdEncoding.EncodeToString(a.data), "base64"},
				"executable": false, "lamports": 1461600, "owner": base58.Encode(a.owner[:]),
				"rentEpoch": uint64(18446744073709551615), "space": len(a.data)}
		}
	}
	n.mu.Unlock()
	_ = json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": 1,
		"result": map[string]any{"context": map[string]any{"apiVersion": "2.2.0", "slot": 321}, "value": vals}})
}

func (n *node) requests() [][]string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([][]string(nil), n.batches...)
}

type rpcEnv struct {
	node  *node
	book  *Book[uint8]
	rpc   *RPC[uint8]
	reg   *prometheus.Registry
	found chan [32]byte
}

// startRPC runs an RPC fetcher against a fresh node; now, when given, is
// its back-off clock.
func startRPC(t *testing.T, o RPCOptions, now ...func() time.Time) *rpcEnv {
	t.Helper()
	e := &rpcEnv{node: &node{t: t, accounts: map[[32]byte]nodeAccount{}}, book: NewBook(extract, nil, 100_000),
		reg: prometheus.NewRegistry(), found: make(chan [32]byte, 1000)}
	srv := httptest.NewServer(e.node)
	t.Cleanup(srv.Close)
	o.URL = srv.URL
	if o.RetryMin == 0 {
		o.RetryMin, o.RetryMax = 50*time.Millisecond, 100*time.Millisecond
	}
	if o.ErrorRetryMin == 0 {
		o.ErrorRetryMin, o.ErrorRetryMax = 50*time.Millisecond, 100*time.Millisecond
	}
	var err error
	e.rpc, err = NewRPC(o, e.book, func(m [32]byte) { e.found <- m }, zerolog.New(zerolog.NewTestWriter(t)), e.reg)
	if err != nil {
		t.Fatal(err)
	}
	if len(now) > 0 {
		e.rpc.now = now[0]
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.rpc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return e
}

func mintKey(i int) [32]byte { return [32]byte{byte(i), byte(i >> 8), 9} }

// addMints puts n mints (owner {1}, one byte of decimals) on the node.
func (e *rpcEnv) addMints(n int) {
	e.node.mu.Lock()
	defer e.node.mu.Unlock()
	for i := range n {
		e.node.accounts[mintKey(i)] = nodeAccount{owner: [32]byte{1}, data: []byte{byte(i % 10)}}
	}
}

func (e *rpcEnv) waitFound(t *testing.T, n int) map[[32]byte]bool {
	t.Helper()
	got := map[[32]byte]bool{}
	timeout := time.After(10 * time.Second)
	for len(got) < n {
		select {
		case m := <-e.found:
			if got[m] {
				t.Fatalf("mint %v reported twice", m)
			}
			got[m] = true
		case <-timeout:
			t.Fatalf("found %d of %d mints", len(got), n)
		}
	}
	return got
}

func TestRPCLearnsMintsInBatches(t *testing.T) {
	t.Parallel()
	e := startRPC(t, RPCOptions{})
	e.addMints(250)
	for i := range 250 {
		e.rpc.Want(mintKey(i))
		e.rpc.Want(mintKey(i)) // queued already: ignored
	}
	e.waitFound(t, 250)
	for i := range 250 {
		if d, ok := e.book.Mint(mintKey(i)); !ok || d != byte(i%10) {
			t.Fatalf("mint %d: %d, %v", i, d, ok)
		}
	}
	asked := 0
	for _, b := range e.node.requests() {
		if len(b) > MaxBatch {
			t.Fatalf("a request asked for %d accounts, over %d", len(b), MaxBatch)
		}
		asked += len(b)
	}
	if asked != 250 {
		t.Errorf("asked for %d accounts, want each of 250 once", asked)
	}
	if v := testutil.ToFloat64(e.rpc.lookups.WithLabelValues("found")); v != 250 {
		t.Errorf("found counter %v", v)
	}
	n := len(e.node.requests())
	e.rpc.Want(mintKey(3)) // known now: no request
	time.Sleep(100 * time.Millisecond)
	if m := len(e.node.requests()); m != n {
		t.Errorf("a known mint was asked for again (%d requests, then %d)", n, m)
	}
}

// clock is a settable back-off clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestRPCMissingAndNotMintRetriedAfterBackoff(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	e := startRPC(t, RPCOptions{}, c.now)
	notMint := mintKey(7)
	e.node.mu.Lock()
	e.node.accounts[notMint] = nodeAccount{owner: [32]byte{2}, data: []byte{6}} // another owner
	e.node.mu.Unlock()
	missing := mintKey(8)
	e.rpc.Want(notMint)
	e.rpc.Want(missing)
	waitFor(t, func() bool { return testutil.ToFloat64(e.rpc.lookups.WithLabelValues("missing")) == 2 })
	asked := len(e.node.requests())
	e.rpc.Want(missing) // inside its back-off (the clock stands still): not asked
	time.Sleep(50 * time.Millisecond)
	if n := len(e.node.requests()); n != asked {
		t.Fatalf("asked again inside the back-off: %d requests, then %d", asked, n)
	}
	if e.book.Known(notMint) || e.book.Known(missing) {
		t.Fatal("learned an account that is not a mint")
	}
	// The mint appears on chain; once the back-off has passed it is found.
	e.node.mu.Lock()
	e.node.accounts[missing] = nodeAccount{owner: [32]byte{1}, data: []byte{4}}
	e.node.mu.Unlock()
	c.add(60 * time.Millisecond) // past the 50 ms back-off
	e.rpc.Want(missing)
	e.waitFound(t, 1)
	if d, _ := e.book.Mint(missing); d != 4 {
		t.Fatalf("decimals %d", d)
	}
}

func TestRPCFailedRequestsAreRetriedNotLost(t *testing.T) {
	t.Parallel()
	e := startRPC(t, RPCOptions{})
	e.addMints(3)
	e.node.mu.Lock()
	e.node.fail = []int{http.StatusServiceUnavailable, http.StatusTooManyRequests}
	e.node.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	got := map[[32]byte]bool{}
	for len(got) < 3 && time.Now().Before(deadline) {
		for i := range 3 {
			e.rpc.Want(mintKey(i)) // what the parser's sweep does
		}
		select {
		case m := <-e.found:
			got[m] = true
		case <-time.After(20 * time.Millisecond):
		}
	}
	if len(got) != 3 {
		t.Fatalf("found %d of 3 mints after two failed requests", len(got))
	}
	if v := testutil.ToFloat64(e.rpc.requests.WithLabelValues("error")); v != 2 {
		t.Errorf("error requests %v, want 2", v)
	}
}

// After a failed request a mint is asked again soon; after the node said it
// has none, only after the long back-off.
func TestRPCErrorsRetrySoonerThanMissing(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	e := startRPC(t, RPCOptions{RetryMin: time.Minute, RetryMax: time.Hour, ErrorRetryMin: time.Second, ErrorRetryMax: time.Minute}, c.now)
	failed, missing := mintKey(1), mintKey(2)
	e.node.mu.Lock()
	e.node.fail = []int{http.StatusBadGateway}
	e.node.mu.Unlock()
	e.rpc.Want(failed)
	waitFor(t, func() bool { return testutil.ToFloat64(e.rpc.requests.WithLabelValues("error")) == 1 })
	e.rpc.Want(missing)
	waitFor(t, func() bool { return testutil.ToFloat64(e.rpc.lookups.WithLabelValues("missing")) == 1 })
	e.addMints(3) // both exist now
	c.add(2 * time.Second)
	e.rpc.Want(failed)
	e.rpc.Want(missing)
	if got := e.waitFound(t, 1); !got[failed] {
		t.Fatalf("found %v, want the mint whose request failed", got)
	}
	time.Sleep(50 * time.Millisecond)
	if e.book.Known(missing) {
		t.Fatal("the missing mint was asked again inside its one-minute back-off")
	}
}

func TestRPCMalformedResponseIsAnError(t *testing.T) {
	t.Parallel()
	e := startRPC(t, RPCOptions{})
	for i, body := range []string{
		`{"jsonrpc":"2.0","result":{"context":{"slot":9},"value":[{"data":["!!","base64"],"owner":"x"}]},"id":1}`,
		`{"jsonrpc":"2.0","error":{"code":-32005,"message":"Node is behind"},"id":1}`,
		`{"jsonrpc":"2.0","result":{"context":{"slot":1},"value":[]},"id":1}`,
		`{"jsonrpc":"2.0","result":{"context":{"slot":1},"value":[{"data":["AA==","base58"],"owner":"11111111111111111111111111111111"}]},"id":1}`,
		`{"jsonrpc":"2.0","result":{"context":{"slot":1},"value":[{"data":["AA==","base64"],"owner":"0OIl"}]},"id":1}`,
		`not json`,
	} {
		e.node.mu.Lock()
		e.node.raw = body
		e.node.mu.Unlock()
		e.rpc.Want(mintKey(100 + i))
		waitFor(t, func() bool { return testutil.ToFloat64(e.rpc.requests.WithLabelValues("error")) == float64(i+1) })
		if e.book.Known(mintKey(100 + i)) {
			t.Fatalf("learned from %s", body)
		}
	}
}

// A batch whose answer is over the size limit is split until the large
// account is alone; the mints with it are still found.
func TestRPCSplitsABatchWithAHugeAccount(t *testing.T) {
	t.Parallel()
	e := startRPC(t, RPCOptions{MaxResponse: 8 << 10})
	e.addMints(10)
	huge := mintKey(5)
	e.node.mu.Lock()
	e.node.accounts[huge] = nodeAccount{owner: [32]byte{1}, data: make([]byte, 16<<10)}
	e.node.mu.Unlock()
	for i := range 10 {
		e.rpc.Want(mintKey(i))
	}
	got := e.waitFound(t, 9)
	if got[huge] || e.book.Known(huge) {
		t.Fatal("the oversized account was learned")
	}
	// The huge account's own request may still be on its way.
	waitFor(t, func() bool { return testutil.ToFloat64(e.rpc.lookups.WithLabelValues("error")) >= 1 })
	time.Sleep(50 * time.Millisecond)
	if v := testutil.ToFloat64(e.rpc.lookups.WithLabelValues("error")); v != 1 {
		t.Errorf("errors %v, want 1 (the huge account alone)", v)
	}
}

func TestRPCQueueIsBounded(t *testing.T) {
	t.Parallel()
	b := NewBook(extract, nil, 10)
	r, err := NewRPC(RPCOptions{URL: "http://127.0.0.1:1", MaxQueue: 5}, b, nil, zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 { // Run is not started: nothing drains the queue
		r.Want(mintKey(i))
	}
	if r.queued() != 5 {
		t.Fatalf("queued %d, want the bound 5", r.queued())
	}
	if _, err := NewRPC(RPCOptions{}, b, nil, zerolog.Nop(), nil); err == nil {
		t.Fatal("no error without a URL")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal(fmt.Errorf("condition not met in 10s"))
		}
	}
}
