// Package consumer turns JetStream messages into Postgres batches: fetch up
// to a batch (by size and by time), validate each message on its own (bad
// ones are dead-lettered at once, so they never fail a batch), write the
// batch in one transaction, and ack only after it commits.
//
// While Postgres is unavailable a Loop keeps the batch it holds, marks it in
// progress so JetStream does not hand it to someone else, retries with
// backoff, and fetches nothing new beyond the one batch prefetched.
package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/firehole/firehole/pkg/bus"
)

// Fetcher is the part of a jetstream.Consumer a Loop uses.
type Fetcher interface {
	Fetch(batch int, opts ...jetstream.FetchOpt) (jetstream.MessageBatch, error)
}

// Settler acknowledges, retries or dead-letters messages (bus.Policy).
type Settler interface {
	Ack(msg jetstream.Msg)
	DeadLetter(ctx context.Context, msg jetstream.Msg, cause error)
}

// Sink writes one batch in one transaction; it returns how many stored
// rows changed. Nothing may be stored when it returns an error.
type Sink[T any] interface {
	Write(ctx context.Context, items []T) (int64, error)
}

// SinkFunc adapts a function to Sink.
type SinkFunc[T any] func(ctx context.Context, items []T) (int64, error)

// Write calls f.
func (f SinkFunc[T]) Write(ctx context.Context, items []T) (int64, error) { return f(ctx, items) }

// ErrSkip from a Parse function means: a valid message with nothing to
// store; it is acked with its batch.
var ErrSkip = errors.New("nothing to store")

// Loop is one durable consumer feeding one Sink.
type Loop[T any] struct {
	Kind      string // "accounts" or "slots": metric label and log component
	Fetcher   Fetcher
	Settler   Settler
	Parse     func(body []byte) (T, error) // errors other than ErrSkip are permanent
	Sink      Sink[T]
	IsDataErr func(error) bool // errors caused by the rows; nil: none are
	BatchSize int
	BatchWait time.Duration
	// Writers is how many batches are written concurrently (each in its
	// own transaction); 0 means 1. The upsert rule makes their order moot.
	Writers int
	Log     zerolog.Logger
	Metrics *Metrics

	// Backoff between failed writes; zero values mean 100ms and 5s.
	RetryMin, RetryMax time.Duration
	// FlushGrace bounds the write in progress when ctx ends; zero means 10s.
	FlushGrace time.Duration
	// WriteTimeout bounds one write attempt (a Postgres that stops answering
	// without closing the connection); keep it below the consumer's ack
	// wait. Zero means none.
	WriteTimeout time.Duration
	// OnWriteState, if set, is told whether the last write succeeded.
	OnWriteState func(ok bool)
	// OnLatency, if set, gets every message's publish-to-commit time
	// (benchmarks want exact percentiles, not histogram buckets).
	OnLatency func(time.Duration)
}

type batch[T any] struct {
	fetched time.Time
	msgs    []jetstream.Msg
	items   []T
	skip    []jetstream.Msg // valid, nothing to store: acked with the batch
}

// Run consumes until ctx ends. It returns nil on a clean stop.
func (l *Loop[T]) Run(ctx context.Context) error {
	if l.RetryMin <= 0 {
		l.RetryMin = 100 * time.Millisecond
	}
	if l.RetryMax <= 0 {
		l.RetryMax = 5 * time.Second
	}
	if l.FlushGrace <= 0 {
		l.FlushGrace = 10 * time.Second
	}
	l.Log = l.Log.With().Str("component", "consumer-"+l.Kind).Logger()
	batches := make(chan *batch[T]) // unbuffered: one batch per writer, at most one more held by the fetcher
	fetchDone := make(chan struct{})
	go func() {
		defer close(fetchDone)
		defer close(batches)
		l.fetch(ctx, batches)
	}()
	var wg sync.WaitGroup
	for range max(l.Writers, 1) {
		wg.Go(func() {
			for b := range batches {
				l.write(ctx, b)
			}
		})
	}
	wg.Wait()
	<-fetchDone
	return nil
}

// fetch pulls batches until ctx ends. The channel is unbuffered, so at most
// Writers+1 batches are outstanding: those being written and the next.
func (l *Loop[T]) fetch(ctx context.Context, out chan<- *batch[T]) {
	wait := l.RetryMin
	for ctx.Err() == nil {
		// FetchMaxWait, not a context deadline: the server ends the pull, so
		// every message it sent arrives before the end. A client-side
		// deadline would drop messages still in flight, leaving them
		// unacked until the ack wait.
		mb, err := l.Fetcher.Fetch(l.BatchSize, jetstream.FetchMaxWait(l.BatchWait))
		if err != nil {
			l.Log.Warn().Err(err).Msg("fetch")
			if !sleep(ctx, wait) {
				return
			}
			wait = min(wait*2, l.RetryMax)
			continue
		}
		b := &batch[T]{fetched: time.Now()}
		for msg := range mb.Messages() {
			item, perr := l.Parse(msg.Data())
			switch {
			case perr == nil:
				b.msgs = append(b.msgs, msg)
				b.items = append(b.items, item)
			case errors.Is(perr, ErrSkip):
				b.skip = append(b.skip, msg)
			default:
				l.Metrics.invalid.WithLabelValues(l.Kind).Inc()
				l.Settler.DeadLetter(ctx, msg, bus.Permanent(perr))
			}
		}
		if err := mb.Error(); err != nil && !isFetchEnd(err) {
			l.Log.Warn().Err(err).Msg("fetch batch")
			if !sleep(ctx, wait) {
				// Hand over what was read; a writer naks it.
				if len(b.msgs)+len(b.skip) > 0 {
					out <- b
				}
				return
			}
			wait = min(wait*2, l.RetryMax)
		} else {
			wait = l.RetryMin
		}
		if len(b.msgs)+len(b.skip) == 0 {
			continue
		}
		// Writers take every batch until the channel closes (after ctx ends
		// they nak them unwritten), so this send cannot block forever.
		out <- b
	}
}

func isFetchEnd(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoMessages)
}

// write stores b, retrying transient failures until it commits or ctx
// ends; it acks b's messages only after the commit.
func (l *Loop[T]) write(ctx context.Context, b *batch[T]) {
	if ctx.Err() != nil {
		// Shutting down before the write began: hand the batch back at once
		// so another replica (or the next start) takes it without waiting
		// for the ack wait.
		nakAll(b)
		return
	}
	if l.WriteTimeout > 0 && time.Since(b.fetched) > l.WriteTimeout/2 {
		// It waited long for a free writer: renew its ack wait first.
		for _, m := range b.msgs {
			_ = m.InProgress()
		}
	}
	wait := l.RetryMin
	for attempt := 1; ; attempt++ {
		start := time.Now()
		changed, err := l.writeOnce(ctx, b.items)
		if err == nil {
			l.Metrics.batchSeconds.WithLabelValues(l.Kind).Observe(time.Since(start).Seconds())
			l.Metrics.batchSize.WithLabelValues(l.Kind).Observe(float64(len(b.items)))
			l.Metrics.changed.WithLabelValues(l.Kind).Add(float64(changed))
			l.ackAll(b)
			if l.OnWriteState != nil {
				l.OnWriteState(true)
			}
			if attempt > 1 {
				l.Log.Info().Int("attempts", attempt).Msg("write recovered")
			}
			return
		}
		if l.IsDataErr != nil && l.IsDataErr(err) && len(b.items) > 0 {
			l.Log.Warn().Err(err).Int("batch", len(b.items)).Msg("batch has bad rows; writing one by one")
			if ierr := l.isolate(ctx, b); ierr == nil {
				if l.OnWriteState != nil {
					l.OnWriteState(true) // the good rows are written: Postgres works
				}
				return
			} else {
				err = ierr
			}
		}
		l.Metrics.writeErrors.WithLabelValues(l.Kind).Inc()
		if l.OnWriteState != nil {
			l.OnWriteState(false)
		}
		l.Log.Warn().Err(err).Int("attempt", attempt).Dur("retry_in", wait).Msg("write batch; will retry")
		for _, m := range b.msgs {
			_ = m.InProgress()
		}
		if !sleep(ctx, wait) {
			l.Log.Info().Int("batch", len(b.msgs)).Msg("stopping with an unwritten batch; it will be redelivered")
			nakAll(b)
			return
		}
		wait = min(wait*2, l.RetryMax)
	}
}

// writeOnce runs one write; when ctx ends mid-write the write may still
// finish within FlushGrace (batches are flushed on the way out).
func (l *Loop[T]) writeOnce(ctx context.Context, items []T) (int64, error) {
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	if l.WriteTimeout > 0 {
		var cancelT context.CancelFunc
		wctx, cancelT = context.WithTimeout(wctx, l.WriteTimeout)
		defer cancelT()
	}
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(l.FlushGrace, cancel)
		context.AfterFunc(wctx, func() { t.Stop() })
	})
	defer stop()
	return l.Sink.Write(wctx, items)
}

// isolate writes b one item at a time: items that fail with a data error
// are dead-lettered, the others stored and acked. A transient error stops
// it (returned); what was already committed is acked.
func (l *Loop[T]) isolate(ctx context.Context, b *batch[T]) error {
	stored := 0
	defer func() { l.Metrics.messages.WithLabelValues(l.Kind).Add(float64(stored)) }()
	for i := range b.items {
		if b.msgs[i] == nil {
			continue
		}
		_, err := l.writeOnce(ctx, b.items[i:i+1])
		switch {
		case err == nil:
			l.Settler.Ack(b.msgs[i])
			l.observeLatency(b.msgs[i])
			stored++
		case l.IsDataErr(err):
			l.Metrics.invalid.WithLabelValues(l.Kind).Inc()
			l.Settler.DeadLetter(ctx, b.msgs[i], bus.Permanent(fmt.Errorf("store row: %w", err)))
		default:
			return err
		}
		b.msgs[i] = nil
	}
	for _, m := range b.skip {
		l.Settler.Ack(m)
	}
	stored += len(b.skip)
	return nil
}

func nakAll[T any](b *batch[T]) {
	for _, m := range b.msgs {
		if m != nil {
			_ = m.Nak()
		}
	}
	for _, m := range b.skip {
		_ = m.Nak()
	}
}

func (l *Loop[T]) ackAll(b *batch[T]) {
	n := len(b.skip)
	for _, m := range b.msgs {
		if m == nil {
			continue // settled by an interrupted isolate
		}
		l.Settler.Ack(m)
		l.observeLatency(m)
		n++
	}
	for _, m := range b.skip {
		l.Settler.Ack(m)
	}
	l.Metrics.messages.WithLabelValues(l.Kind).Add(float64(n))
}

// observeLatency records the time from the message's storage in JetStream
// (its publish) to now (after commit).
func (l *Loop[T]) observeLatency(m jetstream.Msg) {
	if md, err := m.Metadata(); err == nil {
		d := time.Since(md.Timestamp)
		l.Metrics.commitLatency.WithLabelValues(l.Kind).Observe(d.Seconds())
		if l.OnLatency != nil {
			l.OnLatency(d)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
