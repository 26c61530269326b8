package pipeline

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/firehole/firehole/pkg/bus"
	"github.com/firehole/firehole/pkg/bus/bustest"
)

// failingConsumer hands out one ConsumeContext, then fails to consume.
type failingConsumer struct {
	jetstream.Consumer
	calls int
}

var errConsume = errors.New("consume: connection closed")

func (c *failingConsumer) Consume(jetstream.MessageHandler, ...jetstream.PullConsumeOpt) (jetstream.ConsumeContext, error) {
	c.calls++
	if c.calls > 1 {
		return nil, errConsume
	}
	return &stoppableContext{closed: make(chan struct{})}, nil
}

type stoppableContext struct {
	jetstream.ConsumeContext
	closed chan struct{}
}

func (c *stoppableContext) Stop() {
	select {
	case <-c.closed:
	default:
		close(c.closed)
	}
}

func (c *stoppableContext) Closed() <-chan struct{} { return c.closed }

// A consume that fails after a rewind ends the worker with that error (it
// used to leave a nil ConsumeContext to the deferred stop, which panicked).
func TestConsumeFailingAfterARewindReturnsTheError(t *testing.T) {
	t.Parallel()
	_, nc, js := bustest.StartWithStreams(t)
	p, err := New(nc, js, nil, nil, Options{Partitions: []int{0}, Sweep: 10 * time.Millisecond}, zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	w := p.workers[0]
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := js.CreateConsumer(ctx, bus.StreamRaw, ConsumerConfig(w.consumer, w.part, time.Minute, 100)); err != nil {
		t.Fatal(err)
	}
	w.acks.fail() // rewind at the first tick
	c := &failingConsumer{}
	err = w.run(ctx, c, make(chan struct{}, 1))
	if !errors.Is(err, errConsume) {
		t.Fatalf("run: %v, want %v", err, errConsume)
	}
	if c.calls != 2 {
		t.Errorf("%d consumes, want 2", c.calls)
	}
}

// An update not kept because a newer one of the same account is kept is
// not a drop, even when the set is full; a new account refused for room is.
func TestKeepCountsOnlyUpdatesRefusedForRoom(t *testing.T) {
	t.Parallel()
	p := &Parser{opts: Options{Now: time.Now}, metrics: newMetrics(nil, nil, nil)}
	w := &worker{p: p, pending: newPendingSet(1)}
	if kept, _ := w.pending.add(entry(1, 9, 5, 0), time.Now()); !kept {
		t.Fatal("first entry not kept")
	}
	w.keep(entry(1, 9, 4, 0)) // older than the kept one
	if got := testutil.ToFloat64(p.metrics.pendingDrop); got != 0 {
		t.Errorf("older update of a kept account: %v drops, want 0", got)
	}
	w.keep(entry(2, 9, 1, 0)) // no room
	if got := testutil.ToFloat64(p.metrics.pendingDrop); got != 1 {
		t.Errorf("new account in a full set: %v drops, want 1", got)
	}
}
