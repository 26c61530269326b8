package sim

import (
	"sort"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/firehole/firehole/proto/geyser"
)

type eventKind uint8

const (
	evAccount eventKind = iota + 1
	evSlot
	evMeta
)

// event is one entry of the broadcast log, in the order a processed-level
// subscriber sees it.
type event struct {
	kind   eventKind
	status geyser.SlotStatus
	slot   uint64 // the slot the event is about
	at     uint64 // the newest slot when the event was logged (non-decreasing)
	acct   *acctUpdate
	enc    []byte // encoded SubscribeUpdate for slot and meta events
}

// slotEntry holds one slot's account updates for commitment-delayed delivery.
// accounts only grows while the slot is being produced; once the slot is
// confirmed it is immutable.
type slotEntry struct {
	slot, parent uint64
	accounts     []*acctUpdate
	meta         []byte
	blockhash    string
}

// ring is the broadcast log plus per-slot buffers for the newest slots.
// Writers hold mu; readers copy events out under the read lock.
type ring struct {
	mu     sync.RWMutex
	events []event
	base   uint64 // sequence number of events[0]
	slots  map[uint64]*slotEntry
	retain uint64 // slots kept
	first  uint64 // oldest slot ever logged (0 before the first)
	cur    uint64 // newest slot logged
	latest [3]uint64
	wake   chan struct{}
	woken  bool
	arena  []byte
	slab   []acctUpdate
}

func newRing(retain uint64) *ring {
	return &ring{slots: map[uint64]*slotEntry{}, retain: max(retain, 40), wake: make(chan struct{})}
}

// head is the sequence number the next event gets. Caller holds mu.
func (r *ring) head() uint64 { return r.base + uint64(len(r.events)) }

// oldest is the oldest slot whose events are all still held. Caller holds mu.
func (r *ring) oldest() uint64 {
	if r.cur+1 > r.retain && r.cur+1-r.retain > r.first {
		return r.cur + 1 - r.retain
	}
	return r.first
}

// signal wakes readers waiting for new events. Caller holds mu.
func (r *ring) signal() {
	if r.woken {
		close(r.wake)
		r.wake = make(chan struct{})
		r.woken = false
	}
}

func (r *ring) entry(slot uint64) *slotEntry {
	e := r.slots[slot]
	if e == nil {
		e = &slotEntry{slot: slot}
		r.slots[slot] = e
	}
	return e
}

func (r *ring) advance(slot uint64) {
	if r.first == 0 {
		r.first = slot
	}
	if slot <= r.cur {
		return
	}
	r.cur = slot
	keep := r.oldest()
	// Slot buffers outlive their events by the finalization distance, so an
	// old slot's confirmed/finalized status still finds its accounts.
	for s := range r.slots {
		if s+finalizeDistance+8 < keep {
			delete(r.slots, s)
		}
	}
	i := sort.Search(len(r.events), func(i int) bool { return r.events[i].at >= keep })
	if i > 0 {
		clear(r.events[:i])
		r.events = r.events[i:]
		r.base += uint64(i)
	}
}

// addAccount encodes f into the arena and logs it. Caller holds mu.
func (r *ring) addAccount(f *acctFields) *acctUpdate {
	r.advance(f.slot)
	if len(r.slab) == 0 {
		r.slab = make([]acctUpdate, 4096)
	}
	u := &r.slab[0]
	r.slab = r.slab[1:]
	need := 200 + len(f.data) + len(f.pubkey) + len(f.owner) + len(f.sig)
	if cap(r.arena)-len(r.arena) < need {
		r.arena = make([]byte, 0, max(1<<20, need))
	}
	r.arena = appendAccount(r.arena, f, f.data, u)
	e := r.entry(f.slot)
	e.accounts = append(e.accounts, u)
	r.events = append(r.events, event{kind: evAccount, slot: f.slot, at: r.cur, acct: u})
	return u
}

// addSlot logs a slot status change. Caller holds mu.
func (r *ring) addSlot(slot uint64, parent *uint64, st geyser.SlotStatus, created *timestamppb.Timestamp) []byte {
	if st != geyser.SlotStatus_SLOT_CONFIRMED && st != geyser.SlotStatus_SLOT_FINALIZED {
		r.advance(slot) // a status of a new slot moves the ring on
	}
	e := r.entry(slot)
	if parent != nil {
		e.parent = *parent
	}
	enc, _ := proto.Marshal(&geyser.SubscribeUpdate{
		UpdateOneof: &geyser.SubscribeUpdate_Slot{Slot: &geyser.SubscribeUpdateSlot{Slot: slot, Parent: parent, Status: st}},
		CreatedAt:   created,
	})
	if int(st) < len(r.latest) && slot > r.latest[st] {
		r.latest[st] = slot
	}
	r.events = append(r.events, event{kind: evSlot, status: st, slot: slot, at: r.cur, enc: enc})
	return enc
}

// addMeta logs a block meta. Caller holds mu.
func (r *ring) addMeta(m *geyser.SubscribeUpdateBlockMeta, created *timestamppb.Timestamp) []byte {
	enc, _ := proto.Marshal(&geyser.SubscribeUpdate{UpdateOneof: &geyser.SubscribeUpdate_BlockMeta{BlockMeta: m}, CreatedAt: created})
	e := r.entry(m.Slot)
	e.meta, e.blockhash = enc, m.Blockhash
	r.events = append(r.events, event{kind: evMeta, slot: m.Slot, at: r.cur, enc: enc})
	return enc
}

// read copies events from seq on into buf. lagged is true when seq has
// already left the ring. When nothing is there, wait is closed on the next
// append.
func (r *ring) read(seq uint64, buf []event) (n int, lagged bool, wait <-chan struct{}) {
	r.mu.RLock()
	if seq < r.base {
		r.mu.RUnlock()
		return 0, true, nil
	}
	if i := seq - r.base; i < uint64(len(r.events)) {
		n = copy(buf, r.events[i:])
		r.mu.RUnlock()
		return n, false, nil
	}
	r.mu.RUnlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	if seq < r.head() {
		return 0, false, nil // appended meanwhile; read again
	}
	r.woken = true
	return 0, false, r.wake
}

// headSeq is the current head sequence.
func (r *ring) headSeq() uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.head()
}

// startAt returns the sequence of the first event logged at or after slot.
// Caller holds mu.
func (r *ring) startAt(slot uint64) uint64 {
	i := sort.Search(len(r.events), func(i int) bool { return r.events[i].at >= slot })
	return r.base + uint64(i)
}

func (r *ring) slotEntry(slot uint64) *slotEntry {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.slots[slot]
}
