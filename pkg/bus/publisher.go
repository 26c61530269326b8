package bus

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Publisher publishes to JetStream asynchronously with a bounded number of
// messages in flight. Publish blocks while the bound is reached, which is how
// a slow or absent JetStream slows the reader in front of it. A message whose
// publish fails (timeout, no responders, disconnect) is published again with
// the same Nats-Msg-Id until it is stored or the publisher stops, so nothing
// is lost and nothing is stored twice.
//
// Publish may be called from one goroutine at a time; Run must be running.
// Completion callbacks run on Run's goroutine, in publication order.
type Publisher struct {
	js       jetstream.JetStream
	slots    chan struct{}
	queue    chan *inflight
	retryMin time.Duration
	retryMax time.Duration
	inFlight atomic.Int64
	retries  atomic.Uint64
	onRetry  func(err error)
}

// publishOpts are made once: an option built per call costs the hot path
// two allocations per message.
var publishOpts = []jetstream.PublishOpt{jetstream.WithStallWait(time.Second)}

type inflight struct {
	msg  *nats.Msg
	fut  jetstream.PubAckFuture
	done func(*jetstream.PubAck, error)
	err  error
	sent time.Time // last publish attempt
}

// PublisherOptions tune a Publisher.
type PublisherOptions struct {
	MaxInFlight int           // bound on unacknowledged publishes
	RetryMin    time.Duration // first wait before a failed publish is tried again
	RetryMax    time.Duration // cap on that wait (it doubles)
	OnRetry     func(err error)
}

// NewPublisher returns a Publisher on nc. It makes its own JetStream context
// so that the async ack timeout matches the retry policy.
func NewPublisher(nc *nats.Conn, o PublisherOptions) (*Publisher, error) {
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 4096
	}
	if o.RetryMin <= 0 {
		o.RetryMin = 50 * time.Millisecond
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 5 * time.Second
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(o.MaxInFlight+1),
		jetstream.WithPublishAsyncTimeout(5*time.Second),
	)
	if err != nil {
		return nil, err
	}
	return &Publisher{
		js:       js,
		slots:    make(chan struct{}, o.MaxInFlight),
		queue:    make(chan *inflight, o.MaxInFlight),
		retryMin: o.RetryMin,
		retryMax: o.RetryMax,
		onRetry:  o.OnRetry,
	}, nil
}

// InFlight is the number of messages published but not yet acknowledged.
func (p *Publisher) InFlight() int { return int(p.inFlight.Load()) }

// Retries counts publishes that were tried again.
func (p *Publisher) Retries() uint64 { return p.retries.Load() }

// Publish sends msg and returns once it is in flight. done (may be nil) is
// called once with the acknowledgement, or with the context's error if the
// publisher stopped first. msg must carry its Nats-Msg-Id header.
func (p *Publisher) Publish(ctx context.Context, msg *nats.Msg, done func(*jetstream.PubAck, error)) error {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	p.inFlight.Add(1)
	it := &inflight{msg: msg, done: done, sent: time.Now()}
	it.fut, it.err = p.js.PublishMsgAsync(msg, publishOpts...)
	p.queue <- it
	return nil
}

// Run completes publishes in order until ctx ends; then it waits for what is
// in flight for at most drain before failing the rest with ctx's error.
func (p *Publisher) Run(ctx context.Context) error {
	for {
		select {
		case it := <-p.queue:
			p.complete(ctx, it)
		case <-ctx.Done():
			p.drain()
			return nil
		}
	}
}

func (p *Publisher) drain() {
	dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		select {
		case it := <-p.queue:
			p.complete(dctx, it)
		default:
			return
		}
	}
}

func (p *Publisher) complete(ctx context.Context, it *inflight) {
	defer func() {
		p.inFlight.Add(-1)
		<-p.slots
	}()
	wait := p.retryMin
	for {
		if it.err == nil {
			select {
			case ack := <-it.fut.Ok():
				if it.done != nil {
					it.done(ack, nil)
				}
				return
			case it.err = <-it.fut.Err():
			case <-ctx.Done():
				it.err = ctx.Err()
			}
		}
		if ctx.Err() != nil {
			if it.done != nil {
				it.done(nil, ctx.Err())
			}
			return
		}
		if isPermanentPublishErr(it.err) {
			if it.done != nil {
				it.done(nil, it.err)
			}
			return
		}
		p.retries.Add(1)
		if p.onRetry != nil {
			p.onRetry(it.err)
		}
		// The wait counts from this message's last attempt: after an outage
		// the messages behind the first failed long ago and go again at once,
		// instead of each sleeping in turn.
		if d := wait - time.Since(it.sent); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				continue
			}
		}
		wait = min(wait*2, p.retryMax)
		it.sent = time.Now()
		it.fut, it.err = p.js.PublishMsgAsync(it.msg, publishOpts...)
	}
}

// isPermanentPublishErr reports errors that another try cannot fix: the
// message is too large or names no stream.
func isPermanentPublishErr(err error) bool {
	return errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, nats.ErrMaxPayload) ||
		errors.Is(err, nats.ErrBadSubject) || errors.Is(err, jetstream.ErrInvalidSubject)
}
