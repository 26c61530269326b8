// Package recent keeps, for a short window, the newest version of every
// account a gateway replica has put into a notification. Reads merge it with
// Redis so that a client that was notified of a change and then reads the
// account from the same replica never gets an older version: the gateway
// hears the bus directly, while Redis is written by the cacher, which can
// trail the bus by a batch or more.
//
// Memory is bounded by time and count: entries live in two generations; the
// current one is retired when it is older than the window or holds Max
// entries, so an entry is kept between one and two windows (or until 2×Max
// newer entries push it out).
package recent

import (
	"sync"
	"time"

	"github.com/firehole/firehole/pkg/base58"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
)

// Accounts is the replica's memory of notified accounts. The zero value is
// not usable; a nil *Accounts remembers nothing. Safe for concurrent use.
type Accounts struct {
	window time.Duration
	max    int
	now    func() time.Time

	mu        sync.Mutex
	cur, prev map[[32]byte]*fireholev1.DecodedAccount
	started   time.Time // when cur became current
}

// New returns an Accounts keeping entries for window (at least) and at most
// 2×max of them. It returns nil, which remembers nothing, when window or max
// is not positive.
func New(window time.Duration, max int) *Accounts {
	if window <= 0 || max <= 0 {
		return nil
	}
	return newAt(window, max, time.Now)
}

func newAt(window time.Duration, max int, now func() time.Time) *Accounts {
	return &Accounts{window: window, max: max, now: now, started: now(),
		cur: map[[32]byte]*fireholev1.DecodedAccount{}, prev: map[[32]byte]*fireholev1.DecodedAccount{}}
}

// Note remembers a unless a newer version of the same account is held.
// Accounts without a 32-byte pubkey are ignored. a must not be changed
// afterwards.
func (r *Accounts) Note(a *fireholev1.DecodedAccount) {
	if r == nil || len(a.GetAccount().GetPubkey()) != 32 {
		return
	}
	k := [32]byte(a.GetAccount().GetPubkey())
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rotate()
	if held := r.lookup(k); held != nil && !Newer(a, held) {
		return
	}
	r.cur[k] = a
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
	held := r.lookup(k)
	r.mu.Unlock()
	if held == nil || (stored != nil && !Newer(held, stored)) {
		return stored
	}
	return held
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

func (r *Accounts) lookup(k [32]byte) *fireholev1.DecodedAccount {
	if a, ok := r.cur[k]; ok {
		return a
	}
	return r.prev[k]
}

// rotate retires the current generation when it is full or older than the
// window, and drops both when the replica has heard nothing for two windows.
func (r *Accounts) rotate() {
	now := r.now()
	age := now.Sub(r.started)
	if age < r.window && len(r.cur) < r.max {
		return
	}
	// Fresh maps rather than clear(): a map keeps its buckets, and a burst
	// would otherwise hold its memory for good.
	if age >= 2*r.window {
		r.prev = map[[32]byte]*fireholev1.DecodedAccount{}
	} else {
		r.prev = r.cur
	}
	r.cur = map[[32]byte]*fireholev1.DecodedAccount{}
	r.started = now
}

// Newer reports whether a is a later version of the account than b: a greater
// (slot, write_version), or the same one decoded where b was not (the
// cacher's replacement rule, pkg/accountcache).
func Newer(a, b *fireholev1.DecodedAccount) bool {
	x, y := a.GetAccount(), b.GetAccount()
	if x.GetSlot() != y.GetSlot() {
		return x.GetSlot() > y.GetSlot()
	}
	if x.GetWriteVersion() != y.GetWriteVersion() {
		return x.GetWriteVersion() > y.GetWriteVersion()
	}
	ok := fireholev1.DecodeStatus_DECODE_STATUS_OK
	return a.GetStatus() == ok && b.GetStatus() != ok
}
