package pipeline

import (
	"time"

	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
)

// pendingEntry is the latest update of a token account whose mint is not
// known yet, kept to be decoded again when the mint arrives.
type pendingEntry struct {
	update *fireholev1.AccountUpdate
	msgID  string
	mint   [32]byte
}

type mintWait struct {
	accounts  map[[32]byte]*pendingEntry
	nextFetch time.Time
	backoff   time.Duration
}

// pendingSet is one worker's bounded set of accounts awaiting a mint, keyed
// by mint, latest update per account. It is owned by the worker goroutine.
type pendingSet struct {
	byMint     map[[32]byte]*mintWait
	byAccount  map[[32]byte][32]byte
	max        int
	minBackoff time.Duration
	maxBackoff time.Duration
}

func newPendingSet(max int) *pendingSet {
	return &pendingSet{
		byMint:     make(map[[32]byte]*mintWait),
		byAccount:  make(map[[32]byte][32]byte),
		max:        max,
		minBackoff: time.Second,
		maxBackoff: time.Minute,
	}
}

func (s *pendingSet) len() int { return len(s.byAccount) }

// has reports whether an update of the account pk is kept.
func (s *pendingSet) has(pk []byte) bool {
	_, ok := s.byAccount[[32]byte(pk)]
	return ok
}

func newer(a, b *fireholev1.AccountUpdate) bool {
	if a.GetSlot() != b.GetSlot() {
		return a.GetSlot() > b.GetSlot()
	}
	return a.GetWriteVersion() > b.GetWriteVersion()
}

// add keeps e unless a newer update of the same account is already kept.
// It reports whether e is kept, and whether a new mint wait was created
// (the caller registers for its wake-up). It refuses new accounts when full.
func (s *pendingSet) add(e *pendingEntry, now time.Time) (kept, newMint bool) {
	var pk [32]byte
	copy(pk[:], e.update.GetPubkey())
	if oldMint, ok := s.byAccount[pk]; ok {
		old := s.byMint[oldMint].accounts[pk]
		if newer(old.update, e.update) {
			return false, false
		}
		if oldMint == e.mint {
			s.byMint[oldMint].accounts[pk] = e
			return true, false
		}
		s.remove(pk)
	} else if len(s.byAccount) >= s.max {
		return false, false
	}
	w, ok := s.byMint[e.mint]
	if !ok {
		w = &mintWait{accounts: make(map[[32]byte]*pendingEntry), nextFetch: now.Add(s.minBackoff), backoff: s.minBackoff}
		s.byMint[e.mint] = w
		newMint = true
	}
	w.accounts[pk] = e
	s.byAccount[pk] = e.mint
	return true, newMint
}

func (s *pendingSet) remove(pk [32]byte) {
	mint, ok := s.byAccount[pk]
	if !ok {
		return
	}
	delete(s.byAccount, pk)
	w := s.byMint[mint]
	delete(w.accounts, pk)
	if len(w.accounts) == 0 {
		delete(s.byMint, mint)
	}
}

// supersede forgets the kept update of the account when u is at least as
// new: u has been decoded and published on its own.
func (s *pendingSet) supersede(pk [32]byte, u *fireholev1.AccountUpdate) {
	mint, ok := s.byAccount[pk]
	if !ok {
		return
	}
	if old := s.byMint[mint].accounts[pk]; !newer(old.update, u) {
		s.remove(pk)
	}
}

// take removes and returns every account waiting for mint.
func (s *pendingSet) take(mint [32]byte) []*pendingEntry {
	w, ok := s.byMint[mint]
	if !ok {
		return nil
	}
	out := make([]*pendingEntry, 0, len(w.accounts))
	for pk, e := range w.accounts {
		out = append(out, e)
		delete(s.byAccount, pk)
	}
	delete(s.byMint, mint)
	return out
}

// shouldFetch reports whether mint may be looked up outside the stream now:
// always for a mint nothing waits on, else after a growing back-off.
func (s *pendingSet) shouldFetch(mint [32]byte, now time.Time) bool {
	w, ok := s.byMint[mint]
	if !ok {
		return true
	}
	if now.Before(w.nextFetch) {
		return false
	}
	w.backoff = min(w.backoff*2, s.maxBackoff)
	w.nextFetch = now.Add(w.backoff)
	return true
}

// mints lists the mints waited on.
func (s *pendingSet) mints() [][32]byte {
	out := make([][32]byte, 0, len(s.byMint))
	for m := range s.byMint {
		out = append(out, m)
	}
	return out
}
