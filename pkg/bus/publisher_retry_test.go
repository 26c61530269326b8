package bus_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/firehole/firehole/pkg/bus"
	"github.com/firehole/firehole/pkg/bus/bustest"
)

// TestPublisherRecoversInOneBackoff publishes while no stream takes the
// subject (every publish fails at once, as after a JetStream restart), then
// creates the stream: every message is stored once, and the messages behind
// the first are retried without each waiting out its own backoff in turn
// (which took n × RetryMin).
func TestPublisherRecoversInOneBackoff(t *testing.T) {
	t.Parallel()
	_, nc, js := bustest.StartWithStreams(t)
	const n = 400
	pub, err := bus.NewPublisher(nc, bus.PublisherOptions{MaxInFlight: n, RetryMin: 100 * time.Millisecond, RetryMax: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = pub.Run(ctx) }()

	var acked, failed atomic.Int64
	for i := range n {
		m := nats.NewMsg("late.stream." + strconv.Itoa(i))
		m.Data = []byte{byte(i)}
		m.Header.Set(bus.HeaderMsgID, "late-"+strconv.Itoa(i))
		if err := pub.Publish(ctx, m, func(_ *jetstream.PubAck, err error) {
			if err != nil {
				failed.Add(1)
				return
			}
			acked.Add(1)
		}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(1500 * time.Millisecond) // longer than nats.go's own no-responders retries
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "LATE", Subjects: []string{"late.>"}, Storage: jetstream.MemoryStorage}); err != nil {
		t.Fatal(err)
	}
	// Before the fix this took n × RetryMin = 40 s; the bound is a liveness check.
	deadline := time.Now().Add(20 * time.Second)
	for acked.Load()+failed.Load() < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if acked.Load() != n || failed.Load() != 0 {
		t.Fatalf("acked %d, failed %d of %d (retries %d)", acked.Load(), failed.Load(), n, pub.Retries())
	}
	s, err := js.Stream(ctx, "LATE")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != n {
		t.Fatalf("stream holds %d messages; want %d", info.State.Msgs, n)
	}
}
