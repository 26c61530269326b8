package pipeline

import (
	"testing"
	"time"

	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
)

func entry(pk, mint byte, slot, wv uint64) *pendingEntry {
	k := make([]byte, 32)
	k[0] = pk
	return &pendingEntry{update: &fireholev1.AccountUpdate{Pubkey: k, Slot: slot, WriteVersion: wv}, mint: [32]byte{mint}}
}

func TestPendingSet(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	type step struct {
		op          string // add, supersede, take
		e           *pendingEntry
		wantKept    bool
		wantNewMint bool
		wantTaken   int
		wantLen     int
	}
	cases := []struct {
		name  string
		max   int
		steps []step
	}{
		{"latest per account", 10, []step{
			{op: "add", e: entry(1, 9, 5, 0), wantKept: true, wantNewMint: true, wantLen: 1},
			{op: "add", e: entry(1, 9, 4, 0), wantKept: false, wantLen: 1},
			{op: "add", e: entry(1, 9, 5, 1), wantKept: true, wantLen: 1},
			{op: "add", e: entry(2, 9, 1, 0), wantKept: true, wantLen: 2},
			{op: "take", e: entry(0, 9, 0, 0), wantTaken: 2, wantLen: 0},
			{op: "take", e: entry(0, 9, 0, 0), wantTaken: 0, wantLen: 0},
		}},
		{"bounded", 2, []step{
			{op: "add", e: entry(1, 1, 1, 0), wantKept: true, wantNewMint: true, wantLen: 1},
			{op: "add", e: entry(2, 2, 1, 0), wantKept: true, wantNewMint: true, wantLen: 2},
			{op: "add", e: entry(3, 1, 1, 0), wantKept: false, wantLen: 2},
			{op: "add", e: entry(2, 2, 2, 0), wantKept: true, wantLen: 2}, // replacing is not growing
		}},
		{"superseded by a newer update only", 10, []step{
			{op: "add", e: entry(1, 1, 5, 0), wantKept: true, wantNewMint: true, wantLen: 1},
			{op: "supersede", e: entry(1, 0, 4, 0), wantLen: 1},
			{op: "supersede", e: entry(1, 0, 5, 0), wantLen: 0},
			{op: "take", e: entry(0, 1, 0, 0), wantTaken: 0, wantLen: 0},
		}},
		{"account moves to another mint", 10, []step{
			{op: "add", e: entry(1, 1, 5, 0), wantKept: true, wantNewMint: true, wantLen: 1},
			{op: "add", e: entry(1, 2, 6, 0), wantKept: true, wantNewMint: true, wantLen: 1},
			{op: "take", e: entry(0, 1, 0, 0), wantTaken: 0, wantLen: 1},
			{op: "take", e: entry(0, 2, 0, 0), wantTaken: 1, wantLen: 0},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newPendingSet(c.max)
			for i, st := range c.steps {
				var pk [32]byte
				copy(pk[:], st.e.update.GetPubkey())
				switch st.op {
				case "add":
					kept, newMint := s.add(st.e, now)
					if kept != st.wantKept || newMint != st.wantNewMint {
						t.Fatalf("step %d: add = %v,%v want %v,%v", i, kept, newMint, st.wantKept, st.wantNewMint)
					}
				case "supersede":
					s.supersede(pk, st.e.update)
				case "take":
					if got := len(s.take(st.e.mint)); got != st.wantTaken {
						t.Fatalf("step %d: took %d, want %d", i, got, st.wantTaken)
					}
				}
				if s.len() != st.wantLen {
					t.Fatalf("step %d: len %d, want %d", i, s.len(), st.wantLen)
				}
			}
		})
	}
}

func TestPendingFetchBackoff(t *testing.T) {
	t.Parallel()
	s := newPendingSet(10)
	now := time.Unix(1000, 0)
	mint := [32]byte{7}
	if !s.shouldFetch(mint, now) {
		t.Fatal("a mint nothing waits on may always be fetched")
	}
	s.add(&pendingEntry{update: &fireholev1.AccountUpdate{Pubkey: make([]byte, 32)}, mint: mint}, now)
	if s.shouldFetch(mint, now.Add(500*time.Millisecond)) {
		t.Fatal("fetched again before the first back-off")
	}
	if !s.shouldFetch(mint, now.Add(time.Second)) {
		t.Fatal("not fetched after the back-off")
	}
	if s.shouldFetch(mint, now.Add(2*time.Second)) {
		t.Fatal("back-off did not grow")
	}
	if !s.shouldFetch(mint, now.Add(3*time.Second)) {
		t.Fatal("not fetched after the doubled back-off")
	}
}
