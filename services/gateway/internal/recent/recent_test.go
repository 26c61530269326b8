package recent

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/firehole/firehole/pkg/base58"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
)

func version(pk byte, slot, wv uint64, status fireholev1.DecodeStatus) *fireholev1.DecodedAccount {
	k := make([]byte, 32)
	k[0] = pk
	return &fireholev1.DecodedAccount{
		Account: &fireholev1.AccountUpdate{Pubkey: k, Slot: slot, WriteVersion: wv, Lamports: 1},
		Status:  status,
	}
}

func key(pk byte) string {
	k := make([]byte, 32)
	k[0] = pk
	return base58.Encode(k)
}

// note remembers a with its own encoding, as the gateway does.
func note(t *testing.T, r *Accounts, a *fireholev1.DecodedAccount) {
	t.Helper()
	pb, err := proto.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	r.Note(pb, a)
}

// same reports whether got is want (nil or equal by value).
func same(got, want *fireholev1.DecodedAccount) bool {
	if got == nil || want == nil {
		return got == want
	}
	return proto.Equal(got, want)
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

const ok, unknown = fireholev1.DecodeStatus_DECODE_STATUS_OK, fireholev1.DecodeStatus_DECODE_STATUS_UNKNOWN_PROGRAM

func TestMergeReturnsTheNewer(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	r := newAt(time.Second, 100, 0, c.now)
	v5 := version(1, 5, 50, ok)
	note(t, r, v5)
	note(t, r, version(1, 4, 99, ok)) // older: ignored
	tie := version(1, 5, 50, ok)
	tie.Account.Lamports = 2 // tells the two apart
	cases := []struct {
		name   string
		stored *fireholev1.DecodedAccount
		want   *fireholev1.DecodedAccount
	}{
		{"nothing stored", nil, v5},
		{"stored older slot", version(1, 4, 90, ok), v5},
		{"stored same slot, lower write version", version(1, 5, 49, ok), v5},
		{"stored same version (tie goes to the store)", tie, nil},
		{"stored newer", version(1, 6, 1, unknown), nil},
	}
	for _, tc := range cases {
		got := r.Merge(key(1), tc.stored)
		want := tc.want
		if want == nil {
			want = tc.stored
		}
		if !same(got, want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, want)
		}
	}
	if got := r.Merge(key(2), nil); got != nil {
		t.Errorf("unknown account: got %v", got)
	}
	if got := r.Merge("not base58!", nil); got != nil {
		t.Errorf("bad key: got %v", got)
	}
}

func TestDecodedBeatsUndecodedAtTheSameVersion(t *testing.T) {
	r := newAt(time.Second, 100, 0, (&clock{t: time.Unix(1, 0)}).now)
	undecoded, decoded := version(1, 5, 50, unknown), version(1, 5, 50, ok)
	note(t, r, undecoded)
	if got := r.Merge(key(1), nil); !same(got, undecoded) {
		t.Fatalf("got %v", got)
	}
	note(t, r, decoded)
	if got := r.Merge(key(1), undecoded); !same(got, decoded) {
		t.Fatalf("decoded version not preferred: %v", got)
	}
	note(t, r, undecoded) // does not replace the decoded one
	if got := r.Merge(key(1), nil); !same(got, decoded) {
		t.Fatalf("undecoded replaced decoded: %v", got)
	}
}

func TestKeptForOneWindowGoneAfterTwo(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	r := newAt(10*time.Second, 100, 0, c.now)
	a := version(1, 5, 50, ok)
	note(t, r, a)
	c.t = c.t.Add(9 * time.Second)
	if !same(r.Merge(key(1), nil), a) {
		t.Fatal("lost within the window")
	}
	c.t = c.t.Add(2 * time.Second) // the generation holding a is retired, not dropped
	if !same(r.Merge(key(1), nil), a) {
		t.Fatal("lost after one rotation")
	}
	c.t = c.t.Add(10 * time.Second)
	if got := r.Merge(key(1), nil); got != nil {
		t.Fatalf("kept after two windows: %v", got)
	}
	if r.Len() != 0 {
		t.Fatalf("len %d after expiry", r.Len())
	}
	// A long silence drops both generations at once.
	note(t, r, a)
	c.t = c.t.Add(time.Hour)
	if got := r.Merge(key(1), nil); got != nil {
		t.Fatalf("kept after an hour: %v", got)
	}
}

func TestBoundedByCount(t *testing.T) {
	r := newAt(time.Hour, 10, 0, (&clock{t: time.Unix(1, 0)}).now)
	for i := 0; i < 200; i++ {
		note(t, r, version(byte(i), 1, 1, ok))
	}
	if n := r.Len(); n > 20 {
		t.Fatalf("holds %d accounts, bound is 2×10", n)
	}
	if r.Merge(key(199), nil) == nil {
		t.Fatal("the newest account is not held")
	}
}

func TestBoundedByBytes(t *testing.T) {
	r := newAt(time.Hour, 1000, 4096, (&clock{t: time.Unix(1, 0)}).now)
	big := make([]byte, 1024)
	for i := range 100 {
		a := version(byte(i), 1, 1, ok)
		a.Account.Data = big
		note(t, r, a)
	}
	// Each generation is retired at 4 KiB: at most 2 × (4 + 1) messages of ~1 KiB.
	if n := r.Len(); n > 10 {
		t.Fatalf("holds %d accounts of 1 KiB, bound is about 2 × 4 KiB", n)
	}
	if r.Merge(key(99), nil) == nil {
		t.Fatal("the newest account is not held")
	}
}

func TestNilAndDisabled(t *testing.T) {
	var r *Accounts
	note(t, r, version(1, 1, 1, ok))
	stored := version(1, 1, 1, ok)
	if r.Merge(key(1), stored) != stored || r.Len() != 0 {
		t.Fatal("nil Accounts must remember nothing")
	}
	if New(0, 10, 0) != nil || New(time.Second, 0, 0) != nil {
		t.Fatal("a zero window or bound disables")
	}
	r = New(time.Second, 10, 0)
	note(t, r, &fireholev1.DecodedAccount{Account: &fireholev1.AccountUpdate{Pubkey: []byte{1, 2}}}) // short key: ignored
	note(t, r, &fireholev1.DecodedAccount{})
	if r.Len() != 0 {
		t.Fatalf("malformed accounts remembered: %d", r.Len())
	}
}
