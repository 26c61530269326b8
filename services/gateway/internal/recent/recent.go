// Package recent keeps, for a short window, the newest version of every
// account a gateway replica has put into a notification. Reads merge it with
// Redis so that a client that was notified of a change and then reads the
// account from the same replica never gets an older version: the gateway
// hears the bus directly, while Redis is written by the cacher, which can
// trail the bus by a batch or more.
//
// Memory is bounded by time, count and bytes: entries live in two
// generations; the current one is retired when it is older than the window,
// holds max entries or maxBytes of messages, so an entry is kept between one
// and two windows (or until newer entries fill two generations).
package recent

import (
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/firehole/firehole/pkg/accountcache"
	"github.com/firehole/firehole/pkg/base58"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
)

// Accounts is the replica's memory of notified accounts. The zero value is
// not usable; a nil *Accounts remembers nothing. Safe for concurrent use.
type Accounts struct {
	window   time.Duration
	max      int
	maxBytes int
	now      func() time.Time

	mu        sync.Mutex
	cur, prev map[[32]byte]entry
	curBytes  int       // message bytes held by cur
	started   time.Time // when cur became current
}

// entry is one remembered version: its order fields and the message bytes,
// decoded again only when a read needs them. A byte slice holds no pointers,
// so a full map costs the garbage collector almost nothing to scan.
type entry struct {
	slot, writeVersion uint64
	decoded            bool
	pb                 []byte
}

func (e entry) newer(than entry) bool {
	return accountcache.NewerVersion(e.slot, e.writeVersion, e.decoded, than.slot, than.writeVersion, than.decoded)
}

func entryOf(a *fireholev1.DecodedAccount) entry {
	acc := a.GetAccount()
	return entry{slot: acc.GetSlot(), writeVersion: acc.GetWriteVersion(),
		decoded: a.GetStatus() == fireholev1.DecodeStatus_DECODE_STATUS_OK}
}

// New returns an Accounts keeping entries for window (at least), at most
// 2×max of them and about 2×maxBytes of messages. It returns nil, which
// remembers nothing, when window or max is not positive; maxBytes ≤ 0 means
// no byte bound.
func New(window time.Duration, max, maxBytes int) *Accounts {
	if window <= 0 || max <= 0 {
		return nil
	}
	return newAt(window, max, maxBytes, time.Now)
}

func newAt(window time.Duration, max, maxBytes int, now func() time.Time) *Accounts {
	return &Accounts{window: window, max: max, maxBytes: maxBytes, now: now, started: now(),
		cur: map[[32]byte]entry{}, prev: map[[32]byte]entry{}}
}

// Note remembers the account a, whose encoding (as published on the bus) is
// pb, unless a newer version of it is held. Accounts without a 32-byte pubkey
// are ignored. pb is kept, not copied, and must not be changed afterwards.
func (r *Accounts) Note(pb []byte, a *fireholev1.DecodedAccount) {
	if r == nil || len(a.GetAccount().GetPubkey()) != 32 {
		return
	}
	k := [32]byte(a.GetAccount().GetPubkey())
	e := entryOf(a)
	e.pb = pb
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rotate()
	if held, ok := r.lookup(k); ok && !e.newer(held) {
		return
	}
	if old, ok := r.cur[k]; ok {
		r.curBytes -= len(old.pb)
	}
	r.cur[k] = e
	r.curBytes += len(pb)
}

// Merge returns the newer of stored (what Redis holds for pubkey, base58;
// nil when it holds nothing) and the version this replica last notified, if
// that one is still remembered. stored wins ties.
func (r *Accounts) Merge(pubkey string, stored *fireholev1.DecodedAccount) *fireholev1.DecodedAccount {
	if r == nil {
		return stored
	}
	k, err := base58.Decode32(pubkey)
	if err != nil {
		return stored
	}
	r.mu.Lock()
	r.rotate()
	held, ok := r.lookup(k)
	r.mu.Unlock()
	if !ok || (stored != nil && !held.newer(entryOf(stored))) {
		return stored
	}
	var a fireholev1.DecodedAccount
	if err := proto.Unmarshal(held.pb, &a); err != nil {
		// Note's caller decoded these very bytes; keep to the store.
		return stored
	}
	return &a
}

// Len is the number of remembered accounts (both generations; an account in
// both counts twice).
func (r *Accounts) Len() int {
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.cur) + len(r.prev)
}

func (r *Accounts) lookup(k [32]byte) (entry, bool) {
	if e, ok := r.cur[k]; ok {
		return e, true
	}
	e, ok := r.prev[k]
	return e, ok
}

// rotate retires the current generation when it is full or older than the
// window, and drops both when the replica has heard nothing for two windows.
func (r *Accounts) rotate() {
	now := r.now()
	age := now.Sub(r.started)
	if age < r.window && len(r.cur) < r.max && (r.maxBytes <= 0 || r.curBytes < r.maxBytes) {
		return
	}
	// Fresh maps rather than clear(): a map keeps its buckets, and a burst
	// would otherwise hold its memory for good.
	if age >= 2*r.window {
		r.prev = map[[32]byte]entry{}
	} else {
		r.prev = r.cur
	}
	r.cur = map[[32]byte]entry{}
	r.curBytes = 0
	r.started = now
}
