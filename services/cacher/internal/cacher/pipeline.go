package cacher

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/firehole/firehole/pkg/bus"
)

// sink is what a pipeline writes to. Decode errors are permanent (the
// message is dead-lettered); Write errors are transient (the batch is
// retried, the messages held).
type sink[T any] interface {
	Decode(msg jetstream.Msg) (T, error)
	Write(ctx context.Context, items []T) error
}

// pipeline consumes one durable consumer, spreads messages over workers by
// account partition (so one account stays on one worker, in order), and has
// each worker write batches to the sink. A message is acknowledged only after
// the sink confirmed its batch. While the sink fails, the worker keeps its
// batch, retries with backoff and tells JetStream the messages are in
// progress; it reads nothing new, so the consumer stops at MaxAckPending
// and resumes where it was once the sink is back.
type pipeline[T any] struct {
	name       string // consumer label in metrics and logs
	cons       jetstream.Consumer
	sink       sink[T]
	policy     *bus.Policy
	log        zerolog.Logger
	m          *metrics
	workers    int
	batchSize  int
	pullMax    int
	ackWait    time.Duration
	backoffMin time.Duration
	backoffMax time.Duration
	grace      time.Duration // how long an in-flight batch may finish after shutdown
}

// Run consumes until ctx ends. Messages received but not written are nak'ed
// on the way out, so another replica (or the next start) takes them at once.
func (p *pipeline[T]) Run(ctx context.Context) error {
	chans := make([]chan jetstream.Msg, p.workers)
	for i := range chans {
		chans[i] = make(chan jetstream.Msg, p.batchSize)
	}
	cc, err := p.cons.Consume(func(msg jetstream.Msg) {
		select {
		case chans[p.route(msg.Subject())] <- msg:
		case <-ctx.Done():
			_ = msg.Nak()
		}
	},
		jetstream.PullMaxMessages(p.pullMax),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if !errors.Is(err, jetstream.ErrNoHeartbeat) || ctx.Err() == nil {
				p.log.Warn().Err(err).Msg("consume")
			}
		}))
	if err != nil {
		return fmt.Errorf("consume %s: %w", p.name, err)
	}
	var wg sync.WaitGroup
	for _, ch := range chans {
		wg.Go(func() { p.work(ctx, ch) })
	}
	<-ctx.Done()
	cc.Stop()
	<-cc.Closed()
	wg.Wait()
	for _, ch := range chans {
		for {
			select {
			case msg := <-ch:
				_ = msg.Nak()
				continue
			default:
			}
			break
		}
	}
	return nil
}

// route picks the worker of an account subject by its partition token; a
// subject without one (slots) goes to worker 0.
func (p *pipeline[T]) route(subject string) int {
	if p.workers == 1 {
		return 0
	}
	i := strings.LastIndexByte(subject, '.')
	n, err := strconv.Atoi(subject[i+1:])
	if err != nil || n < 0 {
		return 0
	}
	return n % p.workers
}

func (p *pipeline[T]) work(ctx context.Context, ch <-chan jetstream.Msg) {
	batch := make([]jetstream.Msg, 0, p.batchSize)
	// backlog holds messages taken off ch while a batch was being retried;
	// they came before anything still in ch, so they go first.
	var backlog []jetstream.Msg
	for {
		batch = batch[:0]
		if len(backlog) > 0 {
			n := min(len(backlog), p.batchSize)
			batch = append(batch, backlog[:n]...)
			backlog = backlog[n:]
		} else {
			select {
			case msg := <-ch:
				batch = append(batch, msg)
			case <-ctx.Done():
				return
			}
		}
	fill:
		for len(backlog) == 0 && len(batch) < p.batchSize {
			select {
			case msg := <-ch:
				batch = append(batch, msg)
			default:
				break fill
			}
		}
		held, ok := p.process(ctx, batch, ch)
		backlog = append(backlog, held...)
		if !ok {
			for _, msg := range backlog {
				_ = msg.Nak()
			}
			return
		}
	}
}

// process writes one batch and settles every message in it. While it
// retries, it takes the messages arriving on ch (so that the consumer stops
// at MaxAckPending rather than at the channel) and keeps all of them in
// progress; it returns them. ok is false when ctx ended first.
func (p *pipeline[T]) process(ctx context.Context, batch []jetstream.Msg, ch <-chan jetstream.Msg) (held []jetstream.Msg, ok bool) {
	items := make([]T, 0, len(batch))
	good := batch[:0:0]
	for _, msg := range batch {
		it, err := p.sink.Decode(msg)
		if err != nil {
			p.m.messages.WithLabelValues(p.name, "malformed").Inc()
			p.policy.DeadLetter(ctx, msg, bus.Permanent(err))
			continue
		}
		items = append(items, it)
		good = append(good, msg)
	}
	if len(items) == 0 {
		return nil, true
	}
	start := time.Now()
	held, ok = p.write(ctx, items, good, ch)
	if !ok {
		for _, msg := range good {
			_ = msg.Nak()
		}
		return held, false
	}
	p.m.writeSecs.WithLabelValues(p.name).Observe(time.Since(start).Seconds())
	now := time.Now()
	lag := p.m.lag.WithLabelValues(p.name)
	for _, msg := range good {
		p.policy.Ack(msg)
		if md, err := msg.Metadata(); err == nil {
			lag.Observe(now.Sub(md.Timestamp).Seconds())
		}
	}
	return held, true
}

// write retries the sink until it succeeds (true) or ctx ends (false). The
// first attempt may finish within the grace period after ctx ends, so that
// a shutdown does not throw away a batch Redis is about to confirm. While
// retrying it takes what arrives on ch into held, and tells JetStream that
// the batch and held messages are in progress, so none is redelivered.
func (p *pipeline[T]) write(ctx context.Context, items []T, msgs []jetstream.Msg, ch <-chan jetstream.Msg) (held []jetstream.Msg, ok bool) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.grace)
	err := p.sink.Write(wctx, items)
	cancel()
	if err == nil {
		p.m.redisUp.Set(1)
		return nil, true
	}
	delay := p.backoffMin
	touched := time.Now()
	for attempt := 1; ; attempt++ {
		p.m.redisErrors.WithLabelValues(p.name).Inc()
		p.m.redisUp.Set(0)
		ev := p.log.Warn()
		if attempt > 1 {
			ev = p.log.Debug()
		}
		ev.Err(err).Int("attempt", attempt).Int("batch", len(items)).Dur("retry_in", delay).Msg("redis write; holding batch and retrying")
		timer := time.NewTimer(delay)
	wait:
		for {
			select {
			case <-ctx.Done():
				timer.Stop()
				return held, false
			case msg := <-ch:
				held = append(held, msg)
			case <-timer.C:
				break wait
			}
		}
		if time.Since(touched) > p.ackWait/4 {
			for _, msg := range msgs {
				_ = msg.InProgress()
			}
			for _, msg := range held {
				_ = msg.InProgress()
			}
			touched = time.Now()
		}
		if err = p.sink.Write(ctx, items); err == nil {
			p.m.redisUp.Set(1)
			p.log.Info().Int("attempts", attempt+1).Int("held", len(held)).Msg("redis write recovered")
			return held, true
		}
		delay = min(delay*2, p.backoffMax, max(p.ackWait/4, p.backoffMin))
	}
}
