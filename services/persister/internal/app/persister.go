// Package app assembles the persister: configuration, connections, the two
// consumer loops (decoded accounts, slots), history retention and the
// operational HTTP endpoints.
package app

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/proto"

	"github.com/firehole/firehole/pkg/bus"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
	"github.com/firehole/firehole/services/persister/internal/consumer"
	"github.com/firehole/firehole/services/persister/internal/store"
)

// Durable consumer names (docs/bus-contract.md, docs/postgres-schema.md).
const (
	AccountsConsumer = "persister"
	SlotsConsumer    = "persister-slots"
	Stage            = "persister" // dead-letter subject firehole.v1.dlq.persister
)

// Options are the persister's tunables, taken from Config by Run and set
// directly by tests.
type Options struct {
	Schema                string
	BatchSize             int
	BatchWait             time.Duration
	Writers               int // concurrent batch transactions
	AckWait               time.Duration
	MaxAckPending         int
	History               bool
	HistoryRetentionSlots uint64
	HistoryPartitionSlots uint64
	RetryMax              time.Duration // cap on the write backoff; 0 means 5s
	FlushGrace            time.Duration // how long a write in progress may finish after shutdown; 0 means 10s
}

// Persister is one replica: it consumes decoded accounts and slots and
// writes them to Postgres. Several replicas share the durable consumers.
type Persister struct {
	opt      Options
	log      zerolog.Logger
	store    *store.Store
	accounts *consumer.Loop[store.Row]
	slots    *consumer.Loop[store.SlotRow]
	metrics  *consumer.Metrics
	ready    func(bool)
}

// New ensures the durable consumers and builds a Persister. pool must come
// from store.PoolConfig; reg may be nil.
func New(ctx context.Context, pool *pgxpool.Pool, js jetstream.JetStream, opt Options, log zerolog.Logger, reg prometheus.Registerer) (*Persister, error) {
	acons, err := bus.EnsureConsumer(ctx, js, bus.StreamDecoded,
		bus.ConsumerConfig(AccountsConsumer, []string{bus.DecodedAccountRoot + ".>"}, opt.AckWait, opt.MaxAckPending))
	if err != nil {
		return nil, err
	}
	scons, err := bus.EnsureConsumer(ctx, js, bus.StreamRaw,
		bus.ConsumerConfig(SlotsConsumer, []string{bus.RawSlotRoot + ".>"}, opt.AckWait, opt.MaxAckPending))
	if err != nil {
		return nil, err
	}
	m := consumer.NewMetrics(reg)
	st := store.New(pool, store.Options{Schema: opt.Schema, History: opt.History, HistoryPartitionSlots: opt.HistoryPartitionSlots, ObservePhase: m.ObservePhase})
	policy := bus.NewPolicy(js, Stage, log, reg)
	p := &Persister{opt: opt, log: log, store: st, metrics: m}
	p.accounts = &consumer.Loop[store.Row]{
		Kind:    "accounts",
		Fetcher: acons,
		Settler: policy,
		Parse:   store.Parse,
		Sink: consumer.SinkFunc[store.Row](func(ctx context.Context, rows []store.Row) (int64, error) {
			res, err := st.WriteAccounts(ctx, rows)
			return res.Changed, err
		}),
		IsDataErr: store.IsDataError,
		BatchSize: opt.BatchSize,
		BatchWait: opt.BatchWait,
		Writers:   opt.Writers,
		// Under the ack wait, so a hung write is retried (and its batch
		// kept in progress) before JetStream redelivers it elsewhere.
		WriteTimeout: opt.AckWait * 2 / 3,
		Log:          log,
		Metrics:      m,
		RetryMax:     opt.RetryMax,
		FlushGrace:   opt.FlushGrace,
	}
	p.slots = &consumer.Loop[store.SlotRow]{
		Kind:    "slots",
		Fetcher: scons,
		Settler: policy,
		Parse:   parseSlot,
		Sink: consumer.SinkFunc[store.SlotRow](func(ctx context.Context, rows []store.SlotRow) (int64, error) {
			return int64(len(rows)), st.WriteSlots(ctx, rows)
		}),
		IsDataErr:    store.IsDataError,
		BatchSize:    min(opt.BatchSize, 1000),
		BatchWait:    max(opt.BatchWait, 100*time.Millisecond),
		WriteTimeout: opt.AckWait * 2 / 3,
		Log:          log,
		Metrics:      m,
		RetryMax:     opt.RetryMax,
	}
	return p, nil
}

// OnWriteState reports every batch outcome to f (readiness).
func (p *Persister) OnWriteState(f func(ok bool)) {
	p.accounts.OnWriteState = f
	p.slots.OnWriteState = f
}

// OnAccountLatency gets each account message's publish-to-commit time
// (benchmarks). Set it before Run.
func (p *Persister) OnAccountLatency(f func(time.Duration)) { p.accounts.OnLatency = f }

// Store is the Postgres writer (tests and benchmarks).
func (p *Persister) Store() *store.Store { return p.store }

// Run consumes until ctx ends, then finishes the batch in progress.
func (p *Persister) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return p.accounts.Run(gctx) })
	g.Go(func() error { return p.slots.Run(gctx) })
	if p.opt.History && p.opt.HistoryRetentionSlots > 0 {
		g.Go(func() error { return p.retain(gctx) })
	}
	return g.Wait()
}

// retain drops expired history partitions once a minute.
func (p *Persister) retain(ctx context.Context) error {
	log := p.log.With().Str("component", "retention").Logger()
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		newest, err := p.store.NewestSlot(ctx)
		if err == nil && newest > 0 {
			var n int
			n, err = p.store.DropHistoryBefore(ctx, newest, p.opt.HistoryRetentionSlots)
			if n > 0 {
				log.Info().Int("partitions", n).Int64("slot", newest).Msg("dropped history partitions")
			}
		}
		if err != nil && ctx.Err() == nil {
			log.Warn().Err(err).Msg("history retention")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func parseSlot(body []byte) (store.SlotRow, error) {
	var u fireholev1.SlotUpdate
	if err := proto.Unmarshal(body, &u); err != nil {
		return store.SlotRow{}, fmt.Errorf("%w: %v", store.ErrBadProtobuf, err)
	}
	r, ok := store.SlotFromUpdate(&u)
	if !ok {
		return store.SlotRow{}, consumer.ErrSkip
	}
	return r, nil
}
