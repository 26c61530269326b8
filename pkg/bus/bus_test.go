package bus_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"

	"github.com/firehole/firehole/pkg/bus"
	"github.com/firehole/firehole/pkg/bus/bustest"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
)

func rawMsg(i int) *nats.Msg {
	pk := make([]byte, 32)
	pk[0], pk[1] = byte(i), byte(i>>8)
	u := &fireholev1.AccountUpdate{Pubkey: pk, Owner: make([]byte, 32), Slot: uint64(i), Lamports: uint64(i)}
	m := nats.NewMsg(bus.RawAccountSubject(u.Owner, u.Pubkey))
	m.Data, _ = proto.Marshal(u)
	m.Header.Set(bus.HeaderMsgID, bus.AccountMsgID(u))
	return m
}

func TestPublisherSurvivesNATSRestart(t *testing.T) {
	t.Parallel()
	srv, _, js := bustest.StartWithStreams(t)
	nc, err := bus.Connect(srv.URL, "test-publisher", zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	pub, err := bus.NewPublisher(nc, bus.PublisherOptions{MaxInFlight: 64, RetryMin: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	runDone := make(chan error, 1)
	go func() { runDone <- pub.Run(ctx) }()

	const n = 3000
	var mu sync.Mutex
	acked := 0
	for i := 0; i < n; i++ {
		if i == n/2 {
			srv.Restart(t)
		}
		err := pub.Publish(ctx, rawMsg(i), func(_ *jetstream.PubAck, err error) {
			if err == nil {
				mu.Lock()
				acked++
				mu.Unlock()
			}
		})
		if err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	for pub.InFlight() > 0 && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	if acked != n {
		t.Fatalf("acked %d of %d", acked, n)
	}
	mu.Unlock()
	// A fresh connection: the old JetStream context may point at the old server.
	_, js = bustest.Connect(t, srv.URL)
	st, err := js.Stream(ctx, bus.StreamRaw)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != n {
		t.Fatalf("stream holds %d messages, want exactly %d (no loss, no duplicate)", info.State.Msgs, n)
	}
	cancel()
	<-runDone
}

func TestPublisherBoundsInFlight(t *testing.T) {
	t.Parallel()
	srv := bustest.Start(t) // no streams: publishes cannot complete
	nc, err := bus.Connect(srv.URL, "test-bound", zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	pub, err := bus.NewPublisher(nc, bus.PublisherOptions{MaxInFlight: 8, RetryMin: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = pub.Run(ctx) }()
	for i := 0; i < 8; i++ {
		if err := pub.Publish(ctx, rawMsg(i), nil); err != nil {
			t.Fatal(err)
		}
	}
	blocked, bcancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer bcancel()
	if err := pub.Publish(blocked, rawMsg(9), nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ninth publish with 8 in flight: err = %v, want it to block until the deadline", err)
	}
	if got := pub.InFlight(); got != 8 {
		t.Fatalf("in flight = %d, want 8", got)
	}
}

func TestPolicy(t *testing.T) {
	t.Parallel()
	srv, nc, js := bustest.StartWithStreams(t)
	_ = srv
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := 0; i < 3; i++ {
		if _, err := js.PublishMsg(ctx, rawMsg(i)); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := bus.EnsureConsumer(ctx, js, bus.StreamRaw, bus.ConsumerConfig("policy-test", []string{bus.RawAccountRoot + ".>"}, 5*time.Second, 100))
	if err != nil {
		t.Fatal(err)
	}
	pol := bus.NewPolicy(js, "test", zerolog.Nop(), nil)
	// Message 0 succeeds, 1 fails once then succeeds, 2 is bad data.
	attempts := map[uint64]int{}
	seen := 0
	for seen < 4 && ctx.Err() == nil {
		batch, err := cons.Fetch(10, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			u := &fireholev1.AccountUpdate{}
			if err := proto.Unmarshal(m.Data(), u); err != nil {
				t.Fatal(err)
			}
			seen++
			attempts[u.Slot]++
			switch {
			case u.Slot == 1 && attempts[1] == 1:
				pol.Settle(ctx, m, errors.New("database down"))
			case u.Slot == 2:
				pol.Settle(ctx, m, bus.Permanent(fmt.Errorf("decode: %w", errors.New("garbage"))))
			default:
				pol.Settle(ctx, m, nil)
			}
		}
	}
	if attempts[0] != 1 || attempts[1] != 2 || attempts[2] != 1 {
		t.Fatalf("deliveries = %v, want 0:1 1:2 2:1", attempts)
	}
	// The bad message is in the dead-letter stream with its reason.
	sub, err := js.OrderedConsumer(ctx, bus.StreamDLQ, jetstream.OrderedConsumerConfig{FilterSubjects: []string{bus.DLQSubject("test")}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := sub.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatalf("dead letter: %v", err)
	}
	dl := &fireholev1.DeadLetter{}
	if err := proto.Unmarshal(m.Data(), dl); err != nil {
		t.Fatal(err)
	}
	if dl.Stage != "test" || dl.Error != "decode: garbage" || dl.Stream != bus.StreamRaw || dl.StreamSequence != 3 || dl.Headers[bus.HeaderMsgID] == "" {
		t.Fatalf("dead letter = %+v", dl)
	}
	if id, want := m.Headers().Get(bus.HeaderMsgID), "dlq:test:"+bus.StreamRaw+":3"; id != want {
		t.Fatalf("dead letter %s = %q, want %q", bus.HeaderMsgID, id, want)
	}
	// Nothing is left pending on the consumer.
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.NumAckPending != 0 || info.NumPending != 0 {
		t.Fatalf("consumer still has ack-pending %d, pending %d", info.NumAckPending, info.NumPending)
	}
	_ = nc
}

func TestNakDelayGrowsAndCaps(t *testing.T) {
	t.Parallel()
	p := bus.NewPolicy(nil, "x", zerolog.Nop(), nil)
	prev := time.Duration(0)
	for n := uint64(1); n < 20; n++ {
		d := p.NakDelay(n)
		if d < prev {
			t.Fatalf("delay shrank at %d: %v < %v", n, d, prev)
		}
		prev = d
	}
	if prev != 30*time.Second {
		t.Fatalf("cap = %v, want 30s", prev)
	}
}
