// Package hub gives a gateway replica interest-based NATS subscriptions: a
// subject is subscribed to once while at least one listener wants it, however
// many listeners there are, and unsubscribed when the last one leaves. Gateway
// replicas therefore receive only what their own clients asked for.
package hub

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/firehole/firehole/pkg/bus"
)

// Listener receives every message on a subject it joined. Deliver runs on the
// subject's NATS delivery goroutine, in order, and must not block: hand slow
// work to a bounded queue.
type Listener interface {
	Deliver(m *Message)
}

// Message is one NATS message with per-message state shared by all the
// listeners of the subject (decoded forms, encoded frames). Listeners of one
// subject run one after another, so the shared state needs no lock.
type Message struct {
	Msg *nats.Msg

	// The first shared value is kept inline: the usual listener stores one
	// (the decoded account), so most messages allocate no map.
	k0, v0 any
	more   map[any]any
}

// NewMessage wraps m for delivery.
func NewMessage(m *nats.Msg) *Message { return &Message{Msg: m} }

// Load returns the value stored under key for this message.
func (m *Message) Load(key any) (any, bool) {
	if m.k0 == key && m.k0 != nil {
		return m.v0, true
	}
	v, ok := m.more[key]
	return v, ok
}

// Store keeps v under key for the other listeners of this message.
func (m *Message) Store(key, v any) {
	switch {
	case m.k0 == nil || m.k0 == key:
		m.k0, m.v0 = key, v
	default:
		if m.more == nil {
			m.more = map[any]any{}
		}
		m.more[key] = v
	}
}

// Hooks observe the hub (metrics). Both may be nil.
type Hooks struct {
	Subjects func(delta int)
	Dropped  func(subject string)
}

// Hub multiplexes listeners over NATS subscriptions. Safe for concurrent use.
//
// Subscriptions deliver into a few shared channels, each drained by one
// goroutine, instead of nats.go's goroutine per subscription: a replica with
// 100k distinct subjects does not hold 100k goroutines. Order per subject is
// kept (one subscription always feeds one channel in order).
type Hub struct {
	nc    *nats.Conn
	log   zerolog.Logger
	hooks Hooks

	mu     sync.Mutex
	subs   map[string]*entry
	bySub  sync.Map // *nats.Subscription → *entry
	shards []chan *nats.Msg
	next   int
	stop   chan struct{}
	wg     sync.WaitGroup
}

// Shards is the number of dispatch goroutines; ShardBuffer the messages each
// buffers before NATS drops for this replica (counted as slow consumer).
const (
	Shards      = 8
	ShardBuffer = 1 << 14
)

type entry struct {
	sub       *nats.Subscription
	listeners atomic.Pointer[[]Listener] // copy-on-write
}

// New returns a Hub on nc.
func New(nc *nats.Conn, log zerolog.Logger, hooks Hooks) *Hub {
	h := &Hub{nc: nc, log: log.With().Str("component", "hub").Logger(), hooks: hooks, subs: map[string]*entry{},
		stop: make(chan struct{})}
	for range Shards {
		ch := make(chan *nats.Msg, ShardBuffer)
		h.shards = append(h.shards, ch)
		h.wg.Add(1)
		go h.dispatch(ch)
	}
	return h
}

// Close stops the dispatch goroutines; call after the NATS connection is drained.
func (h *Hub) Close() {
	close(h.stop)
	h.wg.Wait()
}

func (h *Hub) dispatch(ch chan *nats.Msg) {
	defer h.wg.Done()
	for {
		select {
		case <-h.stop:
			return
		case m := <-ch:
			v, ok := h.bySub.Load(m.Sub)
			if !ok {
				continue // unsubscribed meanwhile
			}
			ls := *v.(*entry).listeners.Load()
			if len(ls) == 0 {
				continue
			}
			hm := NewMessage(m)
			for _, l := range ls {
				l.Deliver(hm)
			}
		}
	}
}

// Join adds l to subject, subscribing to NATS if l is the first listener.
// The returned leave func removes it (idempotent) and unsubscribes after the
// last listener leaves.
func (h *Hub) Join(subject string, l Listener) (leave func(), err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.subs[subject]
	if !ok {
		e = &entry{}
		empty := []Listener{}
		e.listeners.Store(&empty)
		ch := h.shards[h.next%len(h.shards)]
		h.next++
		sub, err := h.nc.ChanSubscribe(subject, ch)
		if err != nil {
			return nil, fmt.Errorf("subscribe %s: %w", subject, err)
		}
		e.sub = sub
		h.bySub.Store(sub, e)
		h.subs[subject] = e
		if h.hooks.Subjects != nil {
			h.hooks.Subjects(1)
		}
	}
	cur := *e.listeners.Load()
	next := make([]Listener, len(cur), len(cur)+1)
	copy(next, cur)
	next = append(next, l)
	e.listeners.Store(&next)
	var once sync.Once
	return func() { once.Do(func() { h.leave(subject, l) }) }, nil
}

func (h *Hub) leave(subject string, l Listener) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.subs[subject]
	if !ok {
		return
	}
	cur := *e.listeners.Load()
	next := make([]Listener, 0, len(cur))
	removed := false
	for _, x := range cur {
		if x == l && !removed {
			removed = true
			continue
		}
		next = append(next, x)
	}
	e.listeners.Store(&next)
	if len(next) == 0 {
		h.bySub.Delete(e.sub)
		if err := e.sub.Unsubscribe(); err != nil {
			h.log.Warn().Err(err).Str("subject", subject).Msg("unsubscribe")
		}
		delete(h.subs, subject)
		if h.hooks.Subjects != nil {
			h.hooks.Subjects(-1)
		}
	}
}

// Subjects is the number of NATS subscriptions held now.
func (h *Hub) Subjects() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// Flush waits until the NATS server has processed pending subscriptions.
func (h *Hub) Flush() error { return h.nc.Flush() }

// AccountSubject is the decoded-account subject of one account, any owner.
func AccountSubject(pubkey string) string {
	return bus.AccountFilter(bus.DecodedAccountRoot, "", pubkey, -1)
}

// ProgramSubject is the decoded-account subjects of every account of a program.
func ProgramSubject(owner string) string {
	return bus.DecodedAccountRoot + "." + owner + ".>"
}

// SlotSubject is every slot status update.
const SlotSubject = bus.RawSlotRoot + ".>"
