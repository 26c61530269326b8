package pipeline_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/pkg/bus"
	"github.com/firehole/firehole/services/parser/internal/pipeline"
)

func TestSingleConsumerKeepsAccountOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rep := e.start(replicaOpts{single: true})
	r := e.reader("")

	owner := key(t)
	var accounts [][32]byte
	for p := range bus.Partitions {
		accounts = append(accounts, keyInPartition(t, p))
	}
	const updates = 10
	for s := range updates {
		for _, acct := range accounts {
			e.publishRaw(update(owner, acct, []byte{byte(s)}, uint64(700+s)))
		}
	}
	last := map[string]uint64{}
	for range updates * len(accounts) {
		d := r.next(wait).msg
		pk := base58.Encode(d.GetAccount().GetPubkey())
		if s := d.GetAccount().GetSlot(); s <= last[pk] {
			t.Fatalf("account %s: slot %d after %d", pk, s, last[pk])
		}
		last[pk] = d.GetAccount().GetSlot()
	}
	r.none(300 * time.Millisecond)
	settledUpTo(t, e, "parser")
	waitFor(t, func() bool { return series(t, rep, "firehole_parser_consumer_pending_messages") == 1 })
}

// Switching between one consumer per partition and the single consumer
// continues where the other mode stopped, without going through the stream
// again, and removes the other mode's consumers.
func TestSwitchingConsumerModeKeepsThePosition(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	exists := func(name string) bool {
		_, err := e.js.Consumer(context.Background(), bus.StreamRaw, name)
		if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	publish := func(n int, slot uint64) {
		owner := key(t)
		for i := range n {
			e.publishRaw(update(owner, key(t), []byte{byte(i)}, slot+uint64(i)))
		}
	}
	steps := []struct {
		single bool
		n      int
	}{{false, 40}, {true, 30}, {false, 20}, {true, 10}}
	for i, st := range steps {
		publish(st.n, uint64(1000*(i+1)))
		rep := e.start(replicaOpts{single: st.single})
		waitFor(t, func() bool { return sum(t, rep, "firehole_bus_settled_total") >= float64(st.n) })
		rep.stop(t)
		if got := sum(t, rep, "firehole_parser_published_total"); got != float64(st.n) {
			t.Errorf("step %d (single %v): published %v, want only the %d new ones", i, st.single, got, st.n)
		}
		if exists("parser") != st.single || exists(pipeline.ConsumerName("parser", 3)) == st.single {
			t.Errorf("step %d (single %v): the other mode's consumers are still there", i, st.single)
		}
	}
}
