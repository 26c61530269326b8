package mints

import (
	"context"
	"errors"
	"testing"
)

// extract treats data of length 1 as a mint with that many decimals.
func extract(owner [32]byte, data []byte) (uint8, bool) {
	if owner != ([32]byte{1}) || len(data) != 1 {
		return 0, false
	}
	return data[0], true
}

type fakeLookup struct {
	accounts map[[32]byte][]byte
	err      error
	calls    int
}

func (f *fakeLookup) Account(_ context.Context, pk [32]byte) ([32]byte, []byte, uint64, bool, error) {
	f.calls++
	if f.err != nil {
		return [32]byte{}, nil, 0, false, f.err
	}
	d, ok := f.accounts[pk]
	return [32]byte{1}, d, 1, ok, nil
}

func TestBook(t *testing.T) {
	t.Parallel()
	owner := [32]byte{1}
	lookup := &fakeLookup{accounts: map[[32]byte][]byte{{9}: {4}}}
	b := NewBook(extract, lookup, 1000)
	ctx := context.Background()

	if b.Learn([32]byte{2}, [32]byte{5}, []byte{6}, 1) {
		t.Error("learned an account of another owner")
	}
	if !b.Learn(owner, [32]byte{5}, []byte{6}, 10) {
		t.Fatal("did not learn a mint")
	}
	b.Learn(owner, [32]byte{5}, []byte{3}, 9) // older: ignored
	if d, ok := b.Mint([32]byte{5}); !ok || d != 6 {
		t.Errorf("mint = %d,%v want 6 (older update must not win)", d, ok)
	}
	b.Learn(owner, [32]byte{5}, []byte{7}, 11)
	if d, _ := b.Mint([32]byte{5}); d != 7 {
		t.Errorf("mint = %d, want the newer 7", d)
	}

	if ok, err := b.Fetch(ctx, [32]byte{9}); !ok || err != nil {
		t.Fatalf("fetch from lookup: %v %v", ok, err)
	}
	if d, _ := b.Mint([32]byte{9}); d != 4 {
		t.Errorf("fetched mint = %d, want 4", d)
	}
	calls := lookup.calls
	if ok, _ := b.Fetch(ctx, [32]byte{9}); !ok || lookup.calls != calls {
		t.Error("a known mint must not be looked up again")
	}
	if ok, err := b.Fetch(ctx, [32]byte{8}); ok || err != nil {
		t.Errorf("missing mint: %v %v", ok, err)
	}
	lookup.err = errors.New("down")
	if _, err := b.Fetch(ctx, [32]byte{8}); err == nil {
		t.Error("lookup error not returned")
	}
	if b.Len() != 2 {
		t.Errorf("len %d, want 2", b.Len())
	}
}

func TestBookIsBounded(t *testing.T) {
	t.Parallel()
	b := NewBook(extract, nil, shardCount) // one per shard
	for i := range 1000 {
		b.Learn([32]byte{1}, [32]byte{byte(i), byte(i >> 8)}, []byte{1}, 1)
	}
	if b.Len() > shardCount {
		t.Errorf("book holds %d mints, bound %d", b.Len(), shardCount)
	}
	if ok, err := b.Fetch(context.Background(), [32]byte{1, 2, 3}); ok || !errors.Is(err, ErrNoLookup) {
		t.Errorf("fetch without a lookup: %v %v, want ErrNoLookup", ok, err)
	}
}
