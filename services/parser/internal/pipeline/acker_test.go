package pipeline

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// fakeMsg is a jetstream.Msg the acker only passes around.
type fakeMsg struct {
	jetstream.Msg
	seq int
}

func TestAcker(t *testing.T) {
	t.Parallel()
	type step struct {
		complete int  // ticket to complete (index into added messages), -1 for none
		dead     bool // completed by dead letter
		fail     bool // fail before completing
		reset    bool // reset before completing
		take     bool // take after completing
		wantSeq  int  // message to ack (0: none)
		wantN    int
	}
	cases := []struct {
		name  string
		every int
		add   int
		steps []step
	}{
		{"in order, acked every 2", 2, 4, []step{
			{complete: 0}, {complete: 1, wantSeq: 2, wantN: 2},
			{complete: 2}, {complete: 3, wantSeq: 4, wantN: 2},
		}},
		{"out of order waits for the gap", 10, 3, []step{
			{complete: 1, take: true}, {complete: 2, take: true},
			{complete: 0, take: true, wantSeq: 3, wantN: 3},
		}},
		{"dead letters are settled but not counted", 10, 3, []step{
			{complete: 0}, {complete: 1, dead: true}, {complete: 2, take: true, wantSeq: 3, wantN: 2},
		}},
		{"a dead letter alone is still acked", 10, 1, []step{
			{complete: 0, dead: true, take: true, wantSeq: 1, wantN: 0},
		}},
		{"nothing after a failure", 1, 3, []step{
			{complete: 0, wantSeq: 1, wantN: 1},
			{complete: -1, fail: true, take: true},
			{complete: 2, take: true}, {complete: 1, take: true},
		}},
		{"done prefix before the failure is still taken", 10, 3, []step{
			{complete: 0}, {complete: 2, fail: true, take: true, wantSeq: 1, wantN: 1},
		}},
		{"reset forgets old tickets", 1, 3, []step{
			{complete: -1, fail: true}, {complete: 0, reset: true, take: true}, {complete: 2, take: true},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			a := newAcker(c.every)
			var ids []uint64
			for i := range c.add {
				ids = append(ids, a.add(fakeMsg{seq: i + 1}))
			}
			for i, s := range c.steps {
				if s.fail {
					a.fail()
				}
				if s.reset {
					a.reset()
				}
				var m jetstream.Msg
				var n int
				if s.complete >= 0 {
					m, n = a.complete(ids[s.complete], s.dead)
				}
				if s.take && m == nil {
					m, n = a.take()
				}
				gotSeq := 0
				if m != nil {
					gotSeq = m.(fakeMsg).seq
				}
				if gotSeq != s.wantSeq || n != s.wantN {
					t.Errorf("step %d: ack message %d settling %d, want %d settling %d", i, gotSeq, n, s.wantSeq, s.wantN)
				}
			}
		})
	}
}

// seqMsg is a delivery with a consumer sequence.
type seqMsg struct {
	jetstream.Msg
	dseq uint64
}

func (m seqMsg) Metadata() (*jetstream.MsgMetadata, error) {
	md := &jetstream.MsgMetadata{}
	md.Sequence.Consumer = m.dseq
	return md, nil
}

func (m seqMsg) Subject() string { return "firehole.v1.raw.account.a.b.0" }

// A delivery that is not the next one (one was lost in between, or the
// consumer went back) is not handled and stops the acks until a rewind.
func TestHandleStopsAtADeliveryGap(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		next uint64
		dseq uint64
	}{
		{"one lost", 1, 2},
		{"went back", 5, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w := &worker{acks: newAcker(1), nextDelivery: c.next, log: zerolog.Nop()}
			w.handle(context.Background(), seqMsg{dseq: c.dseq})
			if !w.acks.hasFailed() {
				t.Error("acks not stopped")
			}
			if len(w.acks.msgs) != 0 {
				t.Error("the message was handled")
			}
		})
	}
}
