package bus

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
)

// permanentError marks an error that no retry can fix (bad data).
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as permanent: the message goes to the dead-letter
// subject and is terminated instead of being redelivered.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err (or one it wraps) was marked Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// Policy is the one delivery policy: success → ack; transient error → nak
// with a delay that grows with the delivery count; permanent error → the
// message is copied to firehole.v1.dlq.<stage> with the reason, then
// terminated. If the dead-letter publish itself fails the message is nak'ed,
// never dropped. Safe for concurrent use.
type Policy struct {
	stage    string
	js       jetstream.JetStream
	log      zerolog.Logger
	minDelay time.Duration
	maxDelay time.Duration
	outcomes *prometheus.CounterVec
}

// NewPolicy returns the policy for one stage (parser, persister, cacher, ...).
// reg may be nil.
func NewPolicy(js jetstream.JetStream, stage string, log zerolog.Logger, reg prometheus.Registerer) *Policy {
	p := &Policy{
		stage:    stage,
		js:       js,
		log:      log.With().Str("component", "delivery").Logger(),
		minDelay: 250 * time.Millisecond,
		maxDelay: 30 * time.Second,
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firehole_bus_settled_total",
			Help: "Messages settled by the delivery policy, by stage and outcome (ack, nak, dead).",
		}, []string{"stage", "outcome"}),
	}
	if reg != nil {
		if err := reg.Register(p.outcomes); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				p.outcomes = are.ExistingCollector.(*prometheus.CounterVec)
			}
		}
	}
	return p
}

// NakDelay is the redelivery delay after the given number of deliveries.
func (p *Policy) NakDelay(deliveries uint64) time.Duration {
	d := p.minDelay
	for i := uint64(1); i < deliveries && d < p.maxDelay; i++ {
		d *= 2
	}
	return min(d, p.maxDelay)
}

// Settle acks, naks or dead-letters msg according to err.
func (p *Policy) Settle(ctx context.Context, msg jetstream.Msg, err error) {
	switch {
	case err == nil:
		p.ack(msg)
	case IsPermanent(err):
		p.DeadLetter(ctx, msg, err)
	default:
		p.Retry(msg, err)
	}
}

func (p *Policy) ack(msg jetstream.Msg) {
	if aerr := msg.Ack(); aerr != nil {
		p.log.Warn().Err(aerr).Str("subject", msg.Subject()).Msg("ack")
	}
	p.outcomes.WithLabelValues(p.stage, "ack").Inc()
}

// Ack acknowledges msg (for stages that settle batches themselves).
func (p *Policy) Ack(msg jetstream.Msg) { p.ack(msg) }

// Retry naks msg with the growing delay.
func (p *Policy) Retry(msg jetstream.Msg, cause error) {
	var n uint64 = 1
	if md, err := msg.Metadata(); err == nil {
		n = md.NumDelivered
	}
	if nerr := msg.NakWithDelay(p.NakDelay(n)); nerr != nil {
		p.log.Warn().Err(nerr).Str("subject", msg.Subject()).Msg("nak")
	}
	p.outcomes.WithLabelValues(p.stage, "nak").Inc()
	p.log.Debug().Err(cause).Str("subject", msg.Subject()).Uint64("deliveries", n).Msg("will retry")
}

// DeadLetter copies msg with the reason to the stage's dead-letter subject
// and terminates it.
func (p *Policy) DeadLetter(ctx context.Context, msg jetstream.Msg, cause error) {
	if err := p.publishDeadLetter(ctx, msg, cause); err != nil {
		p.log.Error().Err(err).Str("subject", msg.Subject()).Msg("dead-letter publish; will retry the message")
		p.Retry(msg, cause)
		return
	}
	if terr := msg.TermWithReason(truncate(cause.Error(), 200)); terr != nil {
		p.log.Warn().Err(terr).Str("subject", msg.Subject()).Msg("term")
	}
	p.outcomes.WithLabelValues(p.stage, "dead").Inc()
	p.log.Warn().Err(cause).Str("subject", msg.Subject()).Msg("dead-lettered")
}

func (p *Policy) publishDeadLetter(ctx context.Context, msg jetstream.Msg, cause error) error {
	dl := &fireholev1.DeadLetter{
		Stage:    p.stage,
		Subject:  msg.Subject(),
		Data:     msg.Data(),
		Error:    cause.Error(),
		FailedAt: timestamppb.Now(),
	}
	if h := msg.Headers(); len(h) > 0 {
		dl.Headers = make(map[string]string, len(h))
		for k, v := range h {
			if len(v) > 0 {
				dl.Headers[k] = v[0]
			}
		}
	}
	if md, err := msg.Metadata(); err == nil {
		dl.Stream, dl.StreamSequence, dl.Deliveries = md.Stream, md.Sequence.Stream, md.NumDelivered
	}
	body, err := proto.Marshal(dl)
	if err != nil {
		return err
	}
	out := nats.NewMsg(DLQSubject(p.stage))
	out.Data = body
	out.Header.Set(HeaderError, truncate(cause.Error(), 512))
	if dl.Stream != "" {
		out.Header.Set(HeaderMsgID, "dlq:"+p.stage+":"+dl.Stream+":"+strconv.FormatUint(dl.StreamSequence, 10))
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = p.js.PublishMsg(pctx, out)
	return err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
