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
	// Single takes every partition with one consumer named Durable (filter
	// firehole.v1.raw.account.>) handled by one goroutine, instead of one
	// filtered consumer and goroutine per partition. It needs all partitions.
	// nats-server then finds each next message without scanning past the
	// other partitions' messages (BENCH.md).
	Single bool
	// AskMint, when set, is told of every mint a kept account waits on (on
	// keeping it, and again at each sweep): an asynchronous lookup such as
	// mints.RPC, which calls MintKnown when it has learned the mint. It must
	// not block.
	AskMint func(mint [32]byte)
	Now     func() time.Time
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

// AllPartitions stands for every partition in Single mode.
const AllPartitions = -1

// ConsumerName is the durable consumer of partition p, or the single
// consumer (prefix itself) for AllPartitions.
func ConsumerName(prefix string, p int) string {
	if p == AllPartitions {
		return prefix
	}
	return fmt.Sprintf("%s-p%02d", prefix, p)
}

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

	// lookupDownUntil (unix ns) pauses outside mint lookups after one failed.
	lookupDownUntil atomic.Int64

	mu      sync.Mutex
	waiters map[[32]byte]uint64 // mint → bit per worker waiting for it
}

// lookupUp reports whether outside mint lookups may be tried at now.
func (p *Parser) lookupUp(now time.Time) bool { return now.UnixNano() >= p.lookupDownUntil.Load() }

// New builds the stage. reg may be nil (no metrics exported).
func New(nc *nats.Conn, js jetstream.JetStream, dec Decoder, mints Mints, o Options, log zerolog.Logger, reg prometheus.Registerer) (*Parser, error) {
	o.defaults()
	if len(o.Partitions) == 0 {
		return nil, errors.New("new parser: no partitions")
	}
	if o.Single && len(o.Partitions) != bus.Partitions {
		return nil, fmt.Errorf("new parser: a single consumer needs all %d partitions", bus.Partitions)
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
	parts := o.Partitions
	if o.Single {
		parts = []int{AllPartitions}
	}
	perInFlight := max(o.MaxInFlight/len(parts), 16)
	perPending := max(o.MaxPending/len(parts), 1)
	for i, part := range parts {
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
			log:      log.With().Str("partition", partitionLabel(part)).Logger(),
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
		from, err := p.takeOver(ctx, w.part)
		if err != nil {
			return err
		}
		c, err := p.ensureConsumer(ctx, cfg, from)
		if err != nil {
			return err
		}
		consumers[i] = c
	}
	if err := p.dropReplaced(ctx); err != nil {
		return err
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
// For AllPartitions the filter is every raw account subject.
func ConsumerConfig(durable string, part int, ackWait time.Duration, maxAckPending int) jetstream.ConsumerConfig {
	filter := bus.AccountFilter(bus.RawAccountRoot, "", "", part)
	if part == AllPartitions {
		filter = bus.RawAccountRoot + ".>"
	}
	cfg := bus.ConsumerConfig(durable, []string{filter}, ackWait, maxAckPending)
	cfg.AckPolicy = jetstream.AckAllPolicy
	return cfg
}

// ensureConsumer creates or updates a partition's consumer and resets it to
// its ack floor, so that whatever an earlier run received but did not settle
// is delivered again first, in stream order (with AckAll, acking a later
// message would otherwise settle it unprocessed). A consumer left by a parser
// that acked explicitly cannot change its ack policy: it is replaced by one
// that starts after the old ack floor.
//
// from, when not zero, is where a consumer created now starts: the
// position taken over from the other mode's consumers (takeOver).
func (p *Parser) ensureConsumer(ctx context.Context, cfg jetstream.ConsumerConfig, from uint64) (jetstream.Consumer, error) {
	if from > 0 {
		c, err := p.js.CreateConsumer(ctx, bus.StreamRaw, cfg)
		if err != nil {
			return nil, fmt.Errorf("create consumer %s: %w", cfg.Durable, err)
		}
		if _, err := p.js.ResetConsumerToSequence(ctx, bus.StreamRaw, cfg.Durable, from); err != nil {
			return nil, fmt.Errorf("create consumer %s: start at %d: %w", cfg.Durable, from, err)
		}
		p.log.Info().Str("consumer", cfg.Durable).Uint64("from", from).Msg("took over the position of the other consumer mode")
		return c, nil
	}
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

// takeOver returns where the consumer of part starts when it does not exist
// yet but the other mode's consumers do (PARSER_SINGLE_CONSUMER changed):
// one after the lowest point up to which the consumers that covered its
// partitions had settled everything, a missing one counting as 0. It returns 0 when the consumer
// exists or there is nothing to take over.
func (p *Parser) takeOver(ctx context.Context, part int) (uint64, error) {
	name := ConsumerName(p.opts.Durable, part)
	if _, err := p.js.Consumer(ctx, bus.StreamRaw, name); err == nil {
		return 0, nil
	} else if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return 0, fmt.Errorf("look up consumer %s: %w", name, err)
	}
	var sources []string
	if part == AllPartitions {
		for q := range bus.Partitions {
			sources = append(sources, ConsumerName(p.opts.Durable, q))
		}
	} else {
		sources = []string{p.opts.Durable}
	}
	// The stream's last sequence is read before the consumers: a consumer
	// that then has nothing pending and nothing unacknowledged has settled
	// every message of its partitions up to it, even if its own ack floor
	// is older (a partition without recent messages).
	stream, err := p.js.Stream(ctx, bus.StreamRaw)
	if err != nil {
		return 0, fmt.Errorf("look up stream %s: %w", bus.StreamRaw, err)
	}
	last := stream.CachedInfo().State.LastSeq
	var floor uint64
	found := false
	for i, src := range sources {
		c, err := p.js.Consumer(ctx, bus.StreamRaw, src)
		var f uint64
		switch {
		case err == nil:
			found = true
			if f, err = settledUpTo(ctx, stream, c.CachedInfo(), last); err != nil {
				return 0, fmt.Errorf("position of consumer %s: %w", src, err)
			}
		case errors.Is(err, jetstream.ErrConsumerNotFound):
		default:
			return 0, fmt.Errorf("look up consumer %s: %w", src, err)
		}
		if i == 0 || f < floor {
			floor = f
		}
	}
	if !found {
		return 0, nil
	}
	return floor + 1, nil
}

// settledUpTo is the stream sequence up to which every message of the
// consumer's filter is settled: with nothing unacknowledged, up to the
// message before its next undelivered one (last when there is none), else
// its ack floor.
func settledUpTo(ctx context.Context, stream jetstream.Stream, ci *jetstream.ConsumerInfo, last uint64) (uint64, error) {
	if ci.NumAckPending > 0 {
		return ci.AckFloor.Stream, nil
	}
	if ci.NumPending == 0 {
		return max(last, ci.AckFloor.Stream), nil
	}
	filter := ci.Config.FilterSubject
	if len(ci.Config.FilterSubjects) == 1 {
		filter = ci.Config.FilterSubjects[0]
	}
	if filter == "" {
		return ci.AckFloor.Stream, nil
	}
	next, err := stream.GetMsg(ctx, ci.Delivered.Stream+1, jetstream.WithGetMsgSubject(filter))
	if err != nil {
		return 0, err
	}
	return next.Sequence - 1, nil
}

// dropReplaced deletes the other mode's consumers once this mode's cover
// every partition, so that a later switch back cannot resume from a stale
// position.
func (p *Parser) dropReplaced(ctx context.Context) error {
	var stale []string
	if p.opts.Single {
		for q := range bus.Partitions {
			stale = append(stale, ConsumerName(p.opts.Durable, q))
		}
	} else {
		for q := range bus.Partitions {
			if _, err := p.js.Consumer(ctx, bus.StreamRaw, ConsumerName(p.opts.Durable, q)); err != nil {
				return nil // not every partition has its consumer yet (another replica's)
			}
		}
		stale = []string{p.opts.Durable}
	}
	for _, name := range stale {
		err := p.js.DeleteConsumer(ctx, bus.StreamRaw, name)
		switch {
		case err == nil:
			p.log.Info().Str("consumer", name).Msg("deleted the consumer of the other mode")
		case errors.Is(err, jetstream.ErrConsumerNotFound):
		default:
			return fmt.Errorf("delete consumer %s: %w", name, err)
		}
	}
	return nil
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
					p.workers[i].log.Debug().Err(err).Msg("consumer info")
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

// MintKnown tells the parser that mint has been learned outside the stream
// (Options.AskMint's lookup): the accounts waiting on it are decoded again.
// Safe for concurrent use.
func (p *Parser) MintKnown(mint [32]byte) { p.mintKnown(mint) }

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
