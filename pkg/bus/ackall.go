package bus

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"
)

// AckAll acknowledges msg on a consumer with AckAllPolicy, which settles
// every message of that consumer up to msg's stream sequence; n is how many
// messages that is, for the settled counter. The caller guarantees that all
// of them are done.
func (p *Policy) AckAll(msg jetstream.Msg, n int) {
	if aerr := msg.Ack(); aerr != nil {
		p.log.Warn().Err(aerr).Str("subject", msg.Subject()).Msg("ack")
	}
	p.outcomes.WithLabelValues(p.stage, "ack").Add(float64(n))
}

// PublishDeadLetter copies msg with the reason to the stage's dead-letter
// subject and counts it as dead, but does not terminate it: on a consumer
// with AckAllPolicy a term would settle every earlier message too, so the
// caller settles it with its next AckAll instead. On error nothing was
// published and the caller must not settle msg.
func (p *Policy) PublishDeadLetter(ctx context.Context, msg jetstream.Msg, cause error) error {
	if err := p.publishDeadLetter(ctx, msg, cause); err != nil {
		return err
	}
	p.outcomes.WithLabelValues(p.stage, "dead").Inc()
	p.log.Warn().Err(cause).Str("subject", msg.Subject()).Msg("dead-lettered")
	return nil
}
