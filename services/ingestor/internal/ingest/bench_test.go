package ingest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/firehole/firehole/pkg/bus"
	"github.com/firehole/firehole/pkg/bus/bustest"
	"github.com/firehole/firehole/pkg/solana"
	"github.com/firehole/firehole/proto/geyser"
)

// ackPublisher acknowledges at once without copying: the cost measured is
// the ingester's own (convert, marshal, subject, id, headers).
type ackPublisher struct{}

func (ackPublisher) Publish(_ context.Context, _ *nats.Msg, done func(*jetstream.PubAck, error)) error {
	done(&jetstream.PubAck{}, nil)
	return nil
}

func tokenAccountUpdates(n int) []*geyser.SubscribeUpdate {
	owner := solana.TokenProgramID
	out := make([]*geyser.SubscribeUpdate, n)
	for i := range out {
		data := make([]byte, 165)
		data[0], data[1], data[108] = byte(i), byte(i>>8), 1
		out[i] = accountUpdate(uint64(1000+i/100), key(byte(i)), owner[:], data)
	}
	return out
}

func BenchmarkHandleUpdate(b *testing.B) {
	in, _ := newIngester(ackPublisher{}, Options{})
	ups := tokenAccountUpdates(1024)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := in.HandleUpdate(ctx, ups[i%len(ups)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJetStream is the ingester with the real bounded publisher and an
// in-process JetStream (file store): updates/s into the stream, no gRPC.
func BenchmarkJetStream(b *testing.B) {
	_, nc, _ := bustest.StartWithStreams(b)
	pub, err := bus.NewPublisher(nc, bus.PublisherOptions{MaxInFlight: 4096})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = pub.Run(ctx) }()
	in, _ := newIngester(pub, Options{})
	ups := tokenAccountUpdates(4096)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	n := 0
	for i := 0; b.Loop(); i++ {
		u := ups[i%len(ups)]
		// A distinct slot per round keeps the message ids distinct.
		u.GetAccount().Slot = uint64(i)
		if err := in.HandleUpdate(ctx, u); err != nil {
			b.Fatal(err)
		}
		n++
	}
	for pub.InFlight() > 0 {
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "updates/s")
}
