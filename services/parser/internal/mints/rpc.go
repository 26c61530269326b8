package mints

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/pkg/solanarpc"
)

// RPCOptions configure an RPC fetcher. Zero values take the defaults.
type RPCOptions struct {
	URL         string        // Solana JSON-RPC endpoint (required)
	Commitment  string        // commitment of the reads; default "confirmed"
	Timeout     time.Duration // one request; default 10 s
	Concurrency int           // requests at once; default 2
	Linger      time.Duration // wait this long to fill a batch; default 20 ms
	MaxQueue    int           // mints asked for and not yet requested; default 100,000
	// Retry of a mint the node does not have (or that is not a mint): the
	// first wait, doubled up to RetryMax. Defaults 5 s and 10 min.
	RetryMin, RetryMax time.Duration
	// Retry of a mint whose request failed (HTTP or RPC error, malformed
	// answer): the node will likely have it once it answers again, so the
	// wait is short. Default 1 s doubling up to 30 s.
	ErrorRetryMin, ErrorRetryMax time.Duration
	// MaxResponse bounds one response body; default 64 MiB. The "mint" a
	// token account names can be any account, up to Solana's 10 MiB: a batch
	// whose answer is larger is split in two until each part fits (or holds
	// the one large account, which then waits out its back-off).
	MaxResponse int64
	Client      *http.Client
}

// MaxBatch is the most accounts one getMultipleAccounts may ask for (agave's limit).
const MaxBatch = 100

// RPC looks mints up on a Solana JSON-RPC node (getMultipleAccounts, base64),
// in batches, off the decode path: Want queues a mint and returns at once;
// Run sends the requests, records what it finds in the Book and calls the
// found callback, so the accounts waiting on a mint are decoded again. A
// mint the node does not have is asked for again after a growing back-off;
// a failed request is retried, its mints kept.
type RPC[T any] struct {
	o     RPCOptions
	book  *Book[T]
	found func(mint [32]byte)
	log   zerolog.Logger
	now   func() time.Time // the back-off clock

	lookups  *prometheus.CounterVec
	requests *prometheus.CounterVec

	mu      sync.Mutex
	queue   [][32]byte
	state   map[[32]byte]*want // queued, in flight, or waiting to be retried
	signal  chan struct{}
	pending int // mints in queue
}

type want struct {
	queued, inFlight bool
	next             time.Time // not asked again before
	backoff          time.Duration
}

// NewRPC returns a fetcher that learns into book and calls found (may be
// nil) for each mint it learns. reg may be nil.
func NewRPC[T any](o RPCOptions, book *Book[T], found func(mint [32]byte), log zerolog.Logger, reg prometheus.Registerer) (*RPC[T], error) {
	if o.URL == "" {
		return nil, errors.New("mint RPC: no URL")
	}
	if o.Commitment == "" {
		o.Commitment = "confirmed"
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 2
	}
	if o.Linger <= 0 {
		o.Linger = 20 * time.Millisecond
	}
	if o.MaxQueue <= 0 {
		o.MaxQueue = 100_000
	}
	if o.RetryMin <= 0 {
		o.RetryMin = 5 * time.Second
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = max(10*time.Minute, o.RetryMin)
	}
	if o.ErrorRetryMin <= 0 {
		o.ErrorRetryMin = time.Second
	}
	if o.ErrorRetryMax < o.ErrorRetryMin {
		o.ErrorRetryMax = max(30*time.Second, o.ErrorRetryMin)
	}
	if o.MaxResponse <= 0 {
		o.MaxResponse = 64 << 20
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	if found == nil {
		found = func([32]byte) {}
	}
	r := &RPC[T]{o: o, book: book, found: found, log: log.With().Str("component", "mint-rpc").Logger(), now: time.Now,
		state: map[[32]byte]*want{}, signal: make(chan struct{}, 1),
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firehole_parser_mint_rpc_lookups_total",
			Help: "Mints asked of the Solana RPC node, by result: found, missing (no account or not a mint), error (request failed; retried).",
		}, []string{"result"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firehole_parser_mint_rpc_requests_total",
			Help: "getMultipleAccounts requests to the Solana RPC node, by result: ok or error.",
		}, []string{"result"}),
	}
	if reg != nil {
		if err := reg.Register(r.lookups); err != nil {
			return nil, err
		}
		if err := reg.Register(r.requests); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Want asks for mint to be looked up. It never blocks: a mint already
// known, queued, in flight or inside its back-off is ignored, and so is
// any mint while the queue is full (the caller asks again later).
func (r *RPC[T]) Want(mint [32]byte) {
	if r.book.Known(mint) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	w, ok := r.state[mint]
	switch {
	case ok && (w.queued || w.inFlight || r.now().Before(w.next)):
		return
	case r.pending >= r.o.MaxQueue:
		return
	case !ok:
		if len(r.state) >= 4*r.o.MaxQueue {
			r.forgetIdle()
		}
		w = &want{}
		r.state[mint] = w
	}
	w.queued = true
	r.queue = append(r.queue, mint)
	r.pending++
	select {
	case r.signal <- struct{}{}:
	default:
	}
}

// forgetIdle drops the back-off of mints waiting to be retried, so the
// state stays bounded; they are asked for again on the next Want.
func (r *RPC[T]) forgetIdle() {
	for k, w := range r.state {
		if !w.queued && !w.inFlight {
			delete(r.state, k)
		}
	}
}

// Run sends batched requests until ctx ends.
func (r *RPC[T]) Run(ctx context.Context) error {
	sem := make(chan struct{}, r.o.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.signal:
		}
		// Let a batch fill, unless it is full already.
		if r.queued() < MaxBatch {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(r.o.Linger):
			}
		}
		for {
			batch := r.take()
			if len(batch) == 0 {
				break
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				r.giveBack(batch)
				return nil
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				r.fetch(ctx, batch)
			}()
		}
	}
}

func (r *RPC[T]) queued() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pending
}

// take removes up to MaxBatch mints from the queue and marks them in flight.
func (r *RPC[T]) take() [][32]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := min(len(r.queue), MaxBatch)
	batch := append([][32]byte(nil), r.queue[:n]...)
	r.queue = r.queue[n:]
	if len(r.queue) == 0 {
		r.queue = nil // let the backing array go after a burst
	}
	r.pending -= n
	for _, k := range batch {
		w := r.state[k]
		w.queued, w.inFlight = false, true
	}
	return batch
}

// giveBack puts a batch that was not sent back in front of the queue.
func (r *RPC[T]) giveBack(batch [][32]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range batch {
		w := r.state[k]
		w.queued, w.inFlight = true, false
	}
	r.queue = append(batch, r.queue...)
	r.pending += len(batch)
}

// fetch asks for one batch and settles each of its mints.
func (r *RPC[T]) fetch(ctx context.Context, batch [][32]byte) {
	accounts, slot, err := r.getMultipleAccounts(ctx, batch)
	if errors.Is(err, solanarpc.ErrTooLarge) && len(batch) > 1 {
		r.fetch(ctx, batch[:len(batch)/2])
		r.fetch(ctx, batch[len(batch)/2:])
		return
	}
	if err != nil {
		r.requests.WithLabelValues("error").Inc()
		r.lookups.WithLabelValues("error").Add(float64(len(batch)))
		if ctx.Err() == nil {
			r.log.Warn().Err(err).Int("mints", len(batch)).Msg("getMultipleAccounts failed; retrying after a back-off")
		}
		r.settle(batch, nil, true)
		return
	}
	r.requests.WithLabelValues("ok").Inc()
	learned := make([]bool, len(batch))
	for i, a := range accounts {
		if a != nil && r.book.Learn(a.owner, batch[i], a.data, slot) {
			learned[i] = true
			r.lookups.WithLabelValues("found").Inc()
			r.found(batch[i])
		} else {
			r.lookups.WithLabelValues("missing").Inc()
		}
	}
	r.settle(batch, learned, false)
}

// settle ends the in-flight state of a batch: learned mints are forgotten,
// the others wait out a growing back-off before they may be asked again —
// a short one when the request failed, a long one when the node answered
// that it has no such mint.
func (r *RPC[T]) settle(batch [][32]byte, learned []bool, failed bool) {
	lo, hi := r.o.RetryMin, r.o.RetryMax
	if failed {
		lo, hi = r.o.ErrorRetryMin, r.o.ErrorRetryMax
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, k := range batch {
		if learned != nil && learned[i] {
			delete(r.state, k)
			continue
		}
		w := r.state[k]
		w.inFlight = false
		w.backoff = min(max(w.backoff*2, lo), hi)
		w.next = now.Add(w.backoff)
	}
}

type rpcAccount struct {
	owner [32]byte
	data  []byte
}

// getMultipleAccounts returns one entry per key (nil where the node has no
// account) and the context slot.
func (r *RPC[T]) getMultipleAccounts(ctx context.Context, keys [][32]byte) ([]*rpcAccount, uint64, error) {
	b58 := make([]string, len(keys))
	for i := range keys {
		b58[i] = base58.Encode32(&keys[i])
	}
	rctx, cancel := context.WithTimeout(ctx, r.o.Timeout)
	defer cancel()
	var res struct {
		Context struct {
			Slot uint64 `json:"slot"`
		} `json:"context"`
		Value []*solanarpc.Account `json:"value"`
	}
	params := []any{b58, map[string]string{"encoding": "base64", "commitment": r.o.Commitment}}
	if err := solanarpc.Call(rctx, r.o.Client, r.o.URL, "getMultipleAccounts", params, r.o.MaxResponse, &res); err != nil {
		return nil, 0, err
	}
	if len(res.Value) != len(keys) {
		return nil, 0, fmt.Errorf("getMultipleAccounts answered %d values for %d keys", len(res.Value), len(keys))
	}
	out := make([]*rpcAccount, len(keys))
	for i, v := range res.Value {
		if v == nil {
			continue
		}
		owner, data, err := v.Decode()
		if err != nil {
			return nil, 0, fmt.Errorf("value %d: %w", i, err)
		}
		out[i] = &rpcAccount{owner: owner, data: data}
	}
	return out, res.Context.Slot, nil
}
