package pipeline

import (
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go/jetstream"
)

// acker settles one partition's raw messages on its AckAll consumer. Every
// message the worker handles gets a ticket in delivery order; a ticket is
// done when its decoded copy is stored (or it was dead-lettered). One ack of
// the newest message of a done prefix settles the whole prefix, so a message
// is never settled before every message handed out before it is done. After
// a failure nothing more is settled until the worker rewinds the consumer
// to its ack floor and calls reset.
//
// add is called by the worker goroutine, complete by the publisher's
// completion callbacks and take by whoever flushes; all are safe for
// concurrent use.
type acker struct {
	every int // a prefix this long is acked without waiting for a flush

	mu     sync.Mutex
	msgs   []jetstream.Msg // handed out and not yet in the done prefix, from id base
	done   []uint8         // per msgs entry: 0 in flight, 1 done, 2 done by dead letter
	base   uint64
	last   jetstream.Msg // newest message of the done prefix not yet acked
	n      int           // messages last's ack settles (dead letters excluded)
	failed atomic.Bool   // written under mu
}

const (
	ticketInFlight uint8 = iota
	ticketDone
	ticketDead
)

func newAcker(every int) *acker { return &acker{every: max(every, 1)} }

// add hands out the ticket of msg.
func (a *acker) add(msg jetstream.Msg) uint64 {
	a.mu.Lock()
	id := a.base + uint64(len(a.msgs))
	a.msgs = append(a.msgs, msg)
	a.done = append(a.done, ticketInFlight)
	a.mu.Unlock()
	return id
}

// complete marks ticket id done (dead: dead-lettered, not acked on its own)
// and reports a message to ack and how many messages that settles, when the
// done prefix has reached every.
func (a *acker) complete(id uint64, dead bool) (jetstream.Msg, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.failed.Load() || id < a.base || id-a.base >= uint64(len(a.msgs)) {
		return nil, 0
	}
	st := ticketDone
	if dead {
		st = ticketDead
	}
	a.done[id-a.base] = st
	i := 0
	for i < len(a.done) && a.done[i] != ticketInFlight {
		if a.done[i] == ticketDone {
			a.n++
		}
		i++
	}
	if i > 0 {
		a.last = a.msgs[i-1]
		clear(a.msgs[:i])
		a.msgs, a.done, a.base = a.msgs[i:], a.done[i:], a.base+uint64(i)
	}
	if a.n >= a.every {
		return a.takeLocked()
	}
	return nil, 0
}

// take reports the message to ack for the done prefix not yet acked, if any.
func (a *acker) take() (jetstream.Msg, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.takeLocked()
}

func (a *acker) takeLocked() (jetstream.Msg, int) {
	m, n := a.last, a.n
	a.last, a.n = nil, 0
	if m == nil {
		return nil, 0
	}
	return m, n
}

// fail stops settling: ticket id (and so everything after it) will not be
// acked until reset.
func (a *acker) fail() {
	a.mu.Lock()
	a.failed.Store(true)
	a.mu.Unlock()
}

func (a *acker) hasFailed() bool { return a.failed.Load() }

// reset forgets every ticket after a rewind; late completions of them are
// ignored. Call take first to settle the done prefix.
func (a *acker) reset() {
	a.mu.Lock()
	a.base += uint64(len(a.msgs))
	a.msgs, a.done = nil, nil
	a.last, a.n = nil, 0
	a.failed.Store(false)
	a.mu.Unlock()
}
