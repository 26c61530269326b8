package pipeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/firehole/firehole/pkg/bus"
	"github.com/firehole/firehole/services/parser/internal/pipeline"
)

// publishInPartition publishes n raw updates of accounts in partition p and
// returns their message ids.
func (e *env) publishInPartition(p, n int, slot uint64) []string {
	owner := key(e.t)
	var ids []string
	for i := range n {
		ids = append(ids, e.publishRaw(update(owner, keyInPartition(e.t, p), []byte{byte(i)}, slot+uint64(i))))
	}
	return ids
}

// decodedIDs reads n decoded messages and then checks that no more come.
func decodedIDs(r *reader, n int) map[string]int {
	got := map[string]int{}
	for range n {
		got[r.next(wait).header.Get(bus.HeaderMsgID)]++
	}
	r.none(300 * time.Millisecond)
	return got
}

// settledUpTo waits until the partition's consumer has nothing pending and
// its ack floor is the stream's last message.
func settledUpTo(t *testing.T, e *env, consumer string) {
	t.Helper()
	ctx := context.Background()
	waitFor(t, func() bool {
		s, err := e.js.Stream(ctx, bus.StreamRaw)
		if err != nil {
			t.Fatal(err)
		}
		c, err := e.js.Consumer(ctx, bus.StreamRaw, consumer)
		if err != nil {
			t.Fatal(err)
		}
		ci := c.CachedInfo()
		return ci.NumAckPending == 0 && ci.AckFloor.Stream == s.CachedInfo().State.LastSeq
	})
}

// A run that received messages and died before settling them (or was stopped
// with messages still buffered): the next run gets them again before it acks
// anything later, since one ack settles everything before it.
func TestUnsettledMessagesOfAnEarlierRunAreNotLost(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const part = 3
	before := e.publishInPartition(part, 10, 100)

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	name := pipeline.ConsumerName("parser", part)
	c, err := e.js.CreateOrUpdateConsumer(ctx, bus.StreamRaw, pipeline.ConsumerConfig(name, part, time.Minute, 1000))
	if err != nil {
		t.Fatal(err)
	}
	batch, err := c.Fetch(6, jetstream.FetchMaxWait(wait))
	if err != nil {
		t.Fatal(err)
	}
	fetched := 0
	for range batch.Messages() {
		fetched++ // received, never settled
	}
	if fetched != 6 {
		t.Fatalf("fetched %d, want 6", fetched)
	}
	after := e.publishInPartition(part, 5, 200)

	r := e.reader("")
	e.start(replicaOpts{partitions: []int{part}})
	got := decodedIDs(r, 15)
	for _, id := range append(before, after...) {
		if got[id] != 1 {
			t.Errorf("message %s decoded %d times, want once", id, got[id])
		}
	}
	settledUpTo(t, e, name)
}

// A consumer left by a parser that acked each message explicitly cannot
// change its ack policy: it is replaced and the new one starts after the old
// ack floor.
func TestExplicitAckConsumerIsReplacedAfterItsAckFloor(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const part = 5
	ids := e.publishInPartition(part, 4, 300)

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	name := pipeline.ConsumerName("parser", part)
	old := bus.ConsumerConfig(name, []string{bus.AccountFilter(bus.RawAccountRoot, "", "", part)}, time.Minute, 1000)
	c, err := e.js.CreateOrUpdateConsumer(ctx, bus.StreamRaw, old)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := c.Fetch(2, jetstream.FetchMaxWait(wait))
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}

	r := e.reader("")
	e.start(replicaOpts{partitions: []int{part}})
	got := decodedIDs(r, 2)
	if got[ids[2]] != 1 || got[ids[3]] != 1 {
		t.Errorf("decoded %v, want the two messages after the ack floor: %v", keys(got), ids[2:])
	}
	info, err := e.js.Consumer(ctx, bus.StreamRaw, name)
	if err != nil {
		t.Fatal(err)
	}
	if p := info.CachedInfo().Config.AckPolicy; p != jetstream.AckAllPolicy {
		t.Errorf("ack policy %v, want all", p)
	}
	settledUpTo(t, e, name)
}

// When a message can be neither republished nor dead-lettered, nothing after
// it is settled; the partition is rewound to its ack floor until it works.
func TestFailedDeadLetterRewindsThePartition(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const part = 7
	ctx, cancel := context.WithTimeout(context.Background(), 3*wait)
	defer cancel()
	if err := e.js.DeleteStream(ctx, bus.StreamDLQ); err != nil {
		t.Fatal(err)
	}
	owner, pk := key(t), keyInPartition(t, part)
	m := nats.NewMsg(bus.RawAccountSubject(owner[:], pk[:]))
	m.Data = []byte{0xff, 0xff, 0xff, 0x01}
	m.Header.Set(bus.HeaderMsgID, "corrupt-rewind")
	ack, err := e.js.PublishMsg(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	good := e.publishInPartition(part, 3, 400)

	r := e.reader("")
	rep := e.start(replicaOpts{partitions: []int{part}})
	waitFor(t, func() bool { return sum(t, rep, "firehole_parser_rewinds_total") >= 2 })
	name := pipeline.ConsumerName("parser", part)
	c, err := e.js.Consumer(ctx, bus.StreamRaw, name)
	if err != nil {
		t.Fatal(err)
	}
	if floor := c.CachedInfo().AckFloor.Stream; floor >= ack.Sequence {
		t.Fatalf("ack floor %d passed the message that was not dead-lettered (%d)", floor, ack.Sequence)
	}

	if err := bus.EnsureStreams(ctx, e.js, bus.DefaultStreamOptions()); err != nil {
		t.Fatal(err)
	}
	settledUpTo(t, e, name)
	got := map[string]bool{}
	for range good {
		got[r.next(wait).header.Get(bus.HeaderMsgID)] = true
	}
	r.none(300 * time.Millisecond) // republished after each rewind, stored once
	for _, id := range good {
		if !got[id] {
			t.Errorf("message %s not decoded", id)
		}
	}
	s, err := e.js.Stream(ctx, bus.StreamDLQ)
	if err != nil {
		t.Fatal(err)
	}
	if n := s.CachedInfo().State.Msgs; n != 1 {
		t.Errorf("dead letters %d, want 1", n)
	}
}

// Dropped connections (the server kicks every client) and a NATS restart in
// the middle of a drain lose whatever was on the wire; every raw message
// must still be republished once and settled, well before AckWait. (Whether
// a delivery goes missing depends on timing; the server restart usually
// makes one and the parser rewinds. TestHandleStopsAtADeliveryGap covers the
// gap check itself.)
func TestConnectionLossMidDrainLosesNothing(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		cut  func(e *env)
	}{
		{"clients kicked", func(e *env) {
			conns, err := e.srv.Connz(nil)
			if err != nil {
				e.t.Fatal(err)
			}
			for _, ci := range conns.Conns {
				_ = e.srv.DisconnectClientByID(ci.Cid)
			}
		}},
		{"server restarted", func(e *env) { e.srv.Restart(e.t) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			const part, n = 11, 3000
			ids := e.publishInPartitionFast(part, n)

			rep := e.start(replicaOpts{partitions: []int{part}, batch: 50, inFlight: 64})
			waitFor(t, func() bool { return sum(t, rep, "firehole_parser_published_total") >= n/10 })
			c.cut(e)

			deadline := time.Now().Add(2 * wait) // well below AckWait (30 s)
			for {
				s, err := e.js.Stream(context.Background(), bus.StreamDecoded)
				if err == nil && s.CachedInfo().State.Msgs == n {
					break
				}
				if time.Now().After(deadline) {
					var got uint64
					if err == nil {
						got = s.CachedInfo().State.Msgs
					}
					t.Fatalf("decoded stream holds %d messages, want %d (rewinds %v)", got, n, sum(t, rep, "firehole_parser_rewinds_total"))
				}
				time.Sleep(50 * time.Millisecond)
			}
			settledUpTo(t, e, pipeline.ConsumerName("parser", part))
			r := e.reader("")
			got := decodedIDs(r, n)
			for _, id := range ids {
				if got[id] != 1 {
					t.Fatalf("message %s decoded %d times, want once", id, got[id])
				}
			}
		})
	}
}

// publishInPartitionFast publishes n raw updates of one account each in
// partition p asynchronously and returns their message ids.
func (e *env) publishInPartitionFast(p, n int) []string {
	e.t.Helper()
	owner := key(e.t)
	var ids []string
	for i := range n {
		u := update(owner, keyInPartition(e.t, p), []byte{byte(i)}, 500+uint64(i))
		data, err := proto.Marshal(u)
		if err != nil {
			e.t.Fatal(err)
		}
		m := nats.NewMsg(bus.RawAccountSubject(u.GetOwner(), u.GetPubkey()))
		m.Data = data
		id := bus.AccountMsgID(u)
		m.Header.Set(bus.HeaderMsgID, id)
		if _, err := e.js.PublishMsgAsync(m); err != nil {
			e.t.Fatal(err)
		}
		ids = append(ids, id)
	}
	select {
	case <-e.js.PublishAsyncComplete():
	case <-time.After(wait):
		e.t.Fatal("publish raw: not complete")
	}
	return ids
}
