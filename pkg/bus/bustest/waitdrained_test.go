package bustest_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/firehole/firehole/pkg/bus"
	"github.com/firehole/firehole/pkg/bus/bustest"
)

func TestWaitDrained(t *testing.T) {
	t.Parallel()
	_, _, js := bustest.StartWithStreams(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cons, err := bus.EnsureConsumer(ctx, js, bus.StreamDecoded,
		bus.ConsumerConfig("drain-test", []string{bus.DecodedAccountRoot + ".>"}, 5*time.Second, 100))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, err := js.Publish(ctx, bus.DecodedAccountRoot+".p.k.1", []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	// Acknowledge in the background, slowly; WaitDrained must not return
	// before the last one.
	var acked atomic.Int32
	go func() {
		for acked.Load() < 5 && ctx.Err() == nil {
			m, err := cons.Next(jetstream.FetchMaxWait(2 * time.Second))
			if err != nil {
				continue
			}
			time.Sleep(20 * time.Millisecond)
			acked.Add(1) // counted before the ack can reach the server
			_ = m.Ack()
		}
	}()
	bustest.WaitDrained(t, js, bus.StreamDecoded, "drain-test", 15*time.Second)
	if n := acked.Load(); n != 5 {
		t.Fatalf("WaitDrained returned after %d of 5 acknowledgements", n)
	}
}
