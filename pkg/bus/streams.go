package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Stream names.
const (
	StreamRaw     = "FIREHOLE_RAW"
	StreamDecoded = "FIREHOLE_DECODED"
	StreamDLQ     = "FIREHOLE_DLQ"
)

// StreamOptions are the deployment's choices for the streams; the subjects,
// retention policy and de-duplication are fixed by the contract.
type StreamOptions struct {
	Replicas        int           // 1 on one machine, 3 in a cluster
	MaxAge          time.Duration // how long raw and decoded updates stay replayable
	MaxBytes        int64         // per stream; -1 for no limit
	DuplicateWindow time.Duration // Nats-Msg-Id de-duplication window
	DLQMaxAge       time.Duration
	MemoryStorage   bool // tests and benchmarks only
}

// DefaultStreamOptions are the contract's defaults (docs/bus-contract.md).
func DefaultStreamOptions() StreamOptions {
	return StreamOptions{
		Replicas:        1,
		MaxAge:          24 * time.Hour,
		MaxBytes:        16 << 30,
		DuplicateWindow: 2 * time.Minute,
		DLQMaxAge:       7 * 24 * time.Hour,
	}
}

// Streams returns the three stream configurations of the contract.
func Streams(o StreamOptions) []jetstream.StreamConfig {
	storage := jetstream.FileStorage
	if o.MemoryStorage {
		storage = jetstream.MemoryStorage
	}
	replicas := max(o.Replicas, 1)
	data := func(name, root, desc string) jetstream.StreamConfig {
		return jetstream.StreamConfig{
			Name:              name,
			Description:       desc,
			Subjects:          []string{root + ".>"},
			Retention:         jetstream.LimitsPolicy,
			Discard:           jetstream.DiscardOld,
			MaxAge:            o.MaxAge,
			MaxBytes:          o.MaxBytes,
			MaxMsgs:           -1,
			MaxMsgsPerSubject: -1,
			Duplicates:        o.DuplicateWindow,
			Storage:           storage,
			Replicas:          replicas,
		}
	}
	dlq := data(StreamDLQ, DLQRoot, "Firehole messages a stage could not process, with the reason")
	dlq.MaxAge = o.DLQMaxAge
	return []jetstream.StreamConfig{
		data(StreamRaw, RawRoot, "Firehole raw account, slot and gap updates from Geyser"),
		data(StreamDecoded, DecodedRoot, "Firehole decoded account updates"),
		dlq,
	}
}

// EnsureStreams creates the streams or updates them to the given options.
// The ingestor, which owns the stream settings, calls it at start; consuming
// services call CreateStreamsIfMissing, so start order does not matter.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, o StreamOptions) error {
	for _, cfg := range Streams(o) {
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("ensure stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}

// ConsumerConfig is the contract's durable pull consumer for a stage: explicit
// acks, redelivery after ackWait, unlimited deliveries (the delivery policy
// decides when a message is dead), and at most maxAckPending unacked.
func ConsumerConfig(durable string, filters []string, ackWait time.Duration, maxAckPending int) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:        durable,
		FilterSubjects: filters,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        ackWait,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		MaxDeliver:     -1,
		MaxAckPending:  maxAckPending,
		ReplayPolicy:   jetstream.ReplayInstantPolicy,
	}
}

// EnsureConsumer creates or updates a durable consumer on stream.
func EnsureConsumer(ctx context.Context, js jetstream.JetStream, stream string, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	c, err := js.CreateOrUpdateConsumer(ctx, stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("ensure consumer %s on %s: %w", cfg.Durable, stream, err)
	}
	return c, nil
}

// ErrNoStream is returned by lookups when the contract's streams are missing.
var ErrNoStream = errors.New("firehole stream missing")

// CreateStreamsIfMissing creates the contract's streams that do not exist
// yet, with the given options, and leaves existing ones alone. Consuming
// services use it: the stream limits belong to the deployment (and to the
// ingestor's configuration), and a consumer must not undo them.
func CreateStreamsIfMissing(ctx context.Context, js jetstream.JetStream, o StreamOptions) error {
	for _, cfg := range Streams(o) {
		_, err := js.Stream(ctx, cfg.Name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			_, err = js.CreateStream(ctx, cfg)
			if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				err = nil // another service created it meanwhile
			}
		}
		if err != nil {
			return fmt.Errorf("ensure stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}
