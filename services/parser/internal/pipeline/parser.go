// Package pipeline is the parser's stream stage: it consumes raw account
// updates from FIREHOLE_RAW, one durable pull consumer per owned partition,
// decodes them and republishes the decoded form to FIREHOLE_DECODED under
// the raw message's semantic Nats-Msg-Id, acknowledging each raw message
// only once JetStream has stored its decoded copy.
//
// Each partition is handled by one goroutine in stream order, so updates of
// one account (always in one partition) are decoded and published in order.
// Token accounts whose mint is not known yet are published with status
// AWAITING_MINT and kept (latest per account, bounded) until the mint shows
// up in the stream or in the outside store; then they are decoded again and
// republished under "<original id>:m".
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/firehole/firehole/pkg/bus"
	"github.com/firehole/firehole/services/parser/internal/decoders"
)

// Decoder decodes one account (decoders.Registry).
type Decoder interface {
	Decode(dst []byte, acc decoders.Account) (decoders.Result, error)
}

// Mints is the mint knowledge token decoding depends on (mints.Book). It is
// shared by every partition and must be safe for concurrent use.
type Mints interface {
	// Learn records the account if it is a mint and reports whether it was.
	Learn(owner, pubkey [32]byte, data []byte, slot uint64) bool
	// Known reports whether the mint is known.
	Known(mint [32]byte) bool
	// Fetch looks the mint up outside the stream; it reports whether the
	// mint is known afterwards (mints.ErrNoLookup when there is no outside
	// store).
	Fetch(ctx context.Context, mint [32]byte) (bool, error)
}

// Options are the stage's settings.
type Options struct {
	Partitions  []int         // partitions this replica owns, each 0..bus.Partitions-1
	Durable     string        // consumer name prefix; partition p is "<Durable>-pNN"
	MaxInFlight int           // unacknowledged decoded publishes, over all partitions
	AckWait     time.Duration // redelivery of a raw message not acked in time
	MaxPending  int           // accounts kept awaiting a mint, over all partitions
	Batch       int           // raw messages pulled per request
	LagInterval time.Duration // how often consumer lag is polled
	AckFlush    time.Duration // how often settled raw messages are acked at the latest
	Sweep       time.Duration // how often pending accounts are re-checked
	Now         func() time.Time
}

func (o *Options) defaults() {
	if o.Durable == "" {
		o.Durable = "parser"
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 4096
	}
	if o.AckWait <= 0 {
		o.AckWait = 30 * time.Second
	}
	if o.MaxPending <= 0 {
		o.MaxPending = 100_000
	}
	if o.Batch <= 0 {
		o.Batch = 500
	}
	if o.LagInterval <= 0 {
		o.LagInterval = 5 * time.Second
	}
	if o.AckFlush <= 0 {
		o.AckFlush = 20 * time.Millisecond
	}
	if o.Sweep <= 0 {
		o.Sweep = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// ConsumerName is the durable consumer of partition p.
func ConsumerName(prefix string, p int) string { return fmt.Sprintf("%s-p%02d", prefix, p) }

// Parser runs the stage. Build it with New and start it with Run once.
type Parser struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	dec     Decoder
	mints   Mints
	opts    Options
	log     zerolog.Logger
	policy  *bus.Policy
	metrics *metrics
	workers []*worker
	clock   atomic.Int64 // Clock sysvar unix_timestamp; 0 until seen
	// maxPayload is the server's limit on a message; a decoded form that
	// would exceed it is published without its parsed JSON.
	maxPayload int64
	ready      chan struct{}

	mu      sync.Mutex
	waiters map[[32]byte]uint64 // mint → bit per worker waiting for it
}

// New builds the stage. reg may be nil (no metrics exported).
func New(nc *nats.Conn, js jetstream.JetStream, dec Decoder, mints Mints, o Options, log zerolog.Logger, reg prometheus.Registerer) (*Parser, error) {
	o.defaults()
	if len(o.Partitions) == 0 {
		return nil, errors.New("new parser: no partitions")
	}
	if len(o.Partitions) > 64 {
		return nil, errors.New("new parser: more than 64 partitions")
	}
	seen := map[int]bool{}
	for _, p := range o.Partitions {
		if p < 0 || p >= bus.Partitions || seen[p] {
			return nil, fmt.Errorf("new parser: bad or repeated partition %d", p)
		}
		seen[p] = true
	}
	log = log.With().Str("component", "pipeline").Logger()
	p := &Parser{
		nc: nc, js: js, dec: dec, mints: mints, opts: o, log: log,
		maxPayload: nc.MaxPayload(),
		policy:     bus.NewPolicy(js, "parser", log, reg),
		ready:      make(chan struct{}),
		waiters:    make(map[[32]byte]uint64),
	}
	p.metrics = newMetrics(reg, func() float64 {
		n := 0
		for _, w := range p.workers {
			n += w.pub.InFlight()
		}
		return float64(n)
	}, func() float64 {
		var n int64
		for _, w := range p.workers {
			n += w.pendingN.Load()
		}
		return float64(n)
	})
	perInFlight := max(o.MaxInFlight/len(o.Partitions), 16)
	perPending := max(o.MaxPending/len(o.Partitions), 1)
	for i, part := range o.Partitions {
		pub, err := bus.NewPublisher(nc, bus.PublisherOptions{MaxInFlight: perInFlight})
		if err != nil {
			return nil, fmt.Errorf("new publisher: %w", err)
		}
		p.workers = append(p.workers, &worker{
			p: p, idx: i, part: part, pub: pub, maxInFlight: perInFlight,
			consumer: ConsumerName(o.Durable, part),
			acks:     newAcker(perInFlight / 4),
			in:       make(chan jetstream.Msg, o.Batch),
			wake:     make(chan [32]byte, 1024),
			pending:  newPendingSet(perPending),
			log:      log.With().Int("partition", part).Logger(),
			counts:   make(map[countKey]prometheus.Counter),
		})
	}
	return p, nil
}

// Ready is closed once every partition's consumer exists and is pulling.
func (p *Parser) Ready() <-chan struct{} { return p.ready }

// Run consumes until ctx ends, then stops pulling, lets in-flight publishes
// finish (their raw messages are acked) and returns. Raw messages received
// but not republished are redelivered after AckWait.
func (p *Parser) Run(ctx context.Context) error {
	consumers := make([]jetstream.Consumer, len(p.workers))
	for i, w := range p.workers {
		cfg := ConsumerConfig(w.consumer, w.part, p.opts.AckWait, 2*w.maxInFlight+2*p.opts.Batch)
		c, err := p.ensureConsumer(ctx, cfg)
		if err != nil {
			return err
		}
		consumers[i] = c
	}
	g, gctx := errgroup.WithContext(ctx)
	started := make(chan struct{}, len(p.workers))
	for i, w := range p.workers {
		g.Go(func() error { return w.run(gctx, consumers[i], started) })
	}
	g.Go(func() error { p.pollLag(gctx, consumers); return nil })
	g.Go(func() error { p.flushAcks(gctx); return nil })
	go func() {
		for range p.workers {
			select {
			case <-started:
			case <-gctx.Done():
				return
			}
		}
		close(p.ready)
		p.log.Info().Ints("partitions", p.opts.Partitions).Msg("consuming")
	}()
	return g.Wait()
}

// ConsumerConfig is the durable consumer of one partition: the contract's
// consumer (bus.ConsumerConfig) with AckAllPolicy. A partition is processed
// in order, so one ack settles a whole run of republished messages.
func ConsumerConfig(durable string, part int, ackWait time.Duration, maxAckPending int) jetstream.ConsumerConfig {
	cfg := bus.ConsumerConfig(durable, []string{bus.AccountFilter(bus.RawAccountRoot, "", "", part)}, ackWait, maxAckPending)
	cfg.AckPolicy = jetstream.AckAllPolicy
	return cfg
}

// ensureConsumer creates or updates a partition's consumer and resets it to
// its ack floor, so that whatever an earlier run received but did not settle
// is delivered again first, in stream order (with AckAll, acking a later
// message would otherwise settle it unprocessed). A consumer left by a parser
// that acked explicitly cannot change its ack policy: it is replaced by one
// that starts after the old ack floor.
func (p *Parser) ensureConsumer(ctx context.Context, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	c, err := p.js.CreateOrUpdateConsumer(ctx, bus.StreamRaw, cfg)
	if err != nil {
		old, ierr := p.js.Consumer(ctx, bus.StreamRaw, cfg.Durable)
		if ierr != nil || old.CachedInfo().Config.AckPolicy == cfg.AckPolicy {
			return nil, fmt.Errorf("ensure consumer %s on %s: %w", cfg.Durable, bus.StreamRaw, err)
		}
		floor := old.CachedInfo().AckFloor.Stream
		if err := p.js.DeleteConsumer(ctx, bus.StreamRaw, cfg.Durable); err != nil {
			return nil, fmt.Errorf("replace consumer %s: %w", cfg.Durable, err)
		}
		if c, err = p.js.CreateConsumer(ctx, bus.StreamRaw, cfg); err != nil {
			return nil, fmt.Errorf("replace consumer %s: %w", cfg.Durable, err)
		}
		if _, err := p.js.ResetConsumerToSequence(ctx, bus.StreamRaw, cfg.Durable, floor+1); err != nil {
			return nil, fmt.Errorf("replace consumer %s: start after %d: %w", cfg.Durable, floor, err)
		}
		p.log.Info().Str("consumer", cfg.Durable).Uint64("ack_floor", floor).Msg("replaced consumer with an ack-all one")
		return c, nil
	}
	if _, err := p.js.ResetConsumer(ctx, bus.StreamRaw, cfg.Durable); err != nil {
		return nil, fmt.Errorf("reset consumer %s to its ack floor: %w", cfg.Durable, err)
	}
	return c, nil
}

// flushAcks acks, every AckFlush, what each partition has settled since its
// last ack.
func (p *Parser) flushAcks(ctx context.Context) {
	t := time.NewTicker(p.opts.AckFlush)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, w := range p.workers {
			w.settle(w.acks.take())
		}
	}
}

func (p *Parser) pollLag(ctx context.Context, consumers []jetstream.Consumer) {
	t := time.NewTicker(p.opts.LagInterval)
	defer t.Stop()
	for {
		for i, c := range consumers {
			ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
			info, err := c.Info(ictx)
			cancel()
			if err != nil {
				if ctx.Err() == nil {
					p.log.Debug().Err(err).Int("partition", p.workers[i].part).Msg("consumer info")
				}
				continue
			}
			p.metrics.consumerLag.WithLabelValues(partitionLabel(p.workers[i].part)).Set(float64(info.NumPending))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// unixTimestamp is the cluster clock from the Clock sysvar when it has been
// seen in the stream, else the wall clock.
func (p *Parser) unixTimestamp() int64 {
	if ts := p.clock.Load(); ts != 0 {
		return ts
	}
	return p.opts.Now().Unix()
}

// await registers worker idx as waiting for mint.
func (p *Parser) await(mint [32]byte, idx int) {
	p.mu.Lock()
	p.waiters[mint] |= 1 << idx
	p.mu.Unlock()
}

// mintKnown wakes the workers waiting for mint.
func (p *Parser) mintKnown(mint [32]byte) {
	p.mu.Lock()
	mask, ok := p.waiters[mint]
	if ok {
		delete(p.waiters, mint)
	}
	p.mu.Unlock()
	if !ok {
		return
	}
	for i, w := range p.workers {
		if mask&(1<<i) == 0 {
			continue
		}
		select {
		case w.wake <- mint:
		default:
			w.rescan.Store(true)
		}
	}
}
