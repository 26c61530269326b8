package bus

import (
	"strconv"
	"strings"
	"testing"

	"github.com/firehole/firehole/pkg/base58"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
)

func mustKey(t *testing.T, s string) []byte {
	t.Helper()
	k, err := base58.Decode32(s)
	if err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return k[:]
}

func TestAccountSubjects(t *testing.T) {
	t.Parallel()
	owner := mustKey(t, "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
	key := mustKey(t, "11111111111111111111111111111111")
	got := RawAccountSubject(owner, key)
	want := "firehole.v1.raw.account.TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA.11111111111111111111111111111111." + strconv.Itoa(Partition(key))
	if got != want {
		t.Fatalf("raw subject = %q, want %q", got, want)
	}
	if d := DecodedAccountSubject(owner, key); !strings.HasPrefix(d, "firehole.v1.decoded.account.TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA.") {
		t.Fatalf("decoded subject = %q", d)
	}
	for _, tc := range []struct {
		owner, pubkey string
		part          int
		want          string
	}{
		{"", "", -1, "firehole.v1.raw.account.*.*.*"},
		{"P", "", -1, "firehole.v1.raw.account.P.*.*"},
		{"", "K", -1, "firehole.v1.raw.account.*.K.*"},
		{"", "", 7, "firehole.v1.raw.account.*.*.7"},
	} {
		if got := AccountFilter(RawAccountRoot, tc.owner, tc.pubkey, tc.part); got != tc.want {
			t.Errorf("AccountFilter(%q,%q,%d) = %q, want %q", tc.owner, tc.pubkey, tc.part, got, tc.want)
		}
	}
}

func TestPartitionIsFNV1a(t *testing.T) {
	t.Parallel()
	// The contract names FNV-1a 32 over the raw key bytes; recompute it here.
	var zero [32]byte
	h := uint32(2166136261)
	for range zero {
		h ^= 0
		h *= 16777619
	}
	if got, want := Partition(zero[:]), int(h%Partitions); got != want {
		t.Fatalf("Partition(zero) = %d, want %d", got, want)
	}
	seen := map[int]bool{}
	for i := 0; i < 4096; i++ {
		k := make([]byte, 32)
		k[0], k[1] = byte(i), byte(i>>8)
		p := Partition(k)
		if p < 0 || p >= Partitions {
			t.Fatalf("partition %d out of range", p)
		}
		seen[p] = true
	}
	if len(seen) != Partitions {
		t.Fatalf("only %d of %d partitions used", len(seen), Partitions)
	}
}

func TestSlotSubjects(t *testing.T) {
	t.Parallel()
	for s, want := range map[fireholev1.SlotStatus]string{
		fireholev1.SlotStatus_SLOT_STATUS_PROCESSED:            "firehole.v1.raw.slot.processed",
		fireholev1.SlotStatus_SLOT_STATUS_FINALIZED:            "firehole.v1.raw.slot.finalized",
		fireholev1.SlotStatus_SLOT_STATUS_FIRST_SHRED_RECEIVED: "firehole.v1.raw.slot.first_shred_received",
		fireholev1.SlotStatus(99):                              "firehole.v1.raw.slot.unknown",
	} {
		if got := SlotSubject(s); got != want {
			t.Errorf("SlotSubject(%v) = %q, want %q", s, got, want)
		}
	}
}

func update() *fireholev1.AccountUpdate {
	pk := make([]byte, 32)
	pk[5] = 9
	return &fireholev1.AccountUpdate{
		Pubkey: pk, Owner: make([]byte, 32), Lamports: 10, Data: []byte{1, 2, 3},
		Slot: 100, WriteVersion: 5, Commitment: fireholev1.Commitment_COMMITMENT_CONFIRMED,
	}
}

func TestAccountMsgIDIsSemantic(t *testing.T) {
	t.Parallel()
	base := AccountMsgID(update())
	if !strings.HasPrefix(base, "a:confirmed:") {
		t.Fatalf("id %q lacks prefix", base)
	}
	// What differs between two Geyser servers for the same write must not
	// change the id.
	same := update()
	same.WriteVersion = 77777
	same.Source = "other-endpoint"
	if got := AccountMsgID(same); got != base {
		t.Errorf("write_version/source changed the id: %q vs %q", got, base)
	}
	// What makes it another write must change it.
	for name, mut := range map[string]func(u *fireholev1.AccountUpdate){
		"slot":       func(u *fireholev1.AccountUpdate) { u.Slot++ },
		"lamports":   func(u *fireholev1.AccountUpdate) { u.Lamports++ },
		"data":       func(u *fireholev1.AccountUpdate) { u.Data = []byte{1, 2, 4} },
		"owner":      func(u *fireholev1.AccountUpdate) { u.Owner = append([]byte{1}, u.Owner[1:]...) },
		"pubkey":     func(u *fireholev1.AccountUpdate) { u.Pubkey = make([]byte, 32) },
		"commitment": func(u *fireholev1.AccountUpdate) { u.Commitment = fireholev1.Commitment_COMMITMENT_FINALIZED },
		"signature":  func(u *fireholev1.AccountUpdate) { u.TxnSignature = make([]byte, 64) },
		"executable": func(u *fireholev1.AccountUpdate) { u.Executable = true },
		"slice":      func(u *fireholev1.AccountUpdate) { u.DataSlice = &fireholev1.DataSlice{Offset: 1, Length: 3} },
	} {
		u := update()
		mut(u)
		if got := AccountMsgID(u); got == base {
			t.Errorf("changing %s kept the id %q", name, got)
		}
	}
}

func BenchmarkAccountMsgID(b *testing.B) {
	u := update()
	u.Data = make([]byte, 165)
	b.ReportAllocs()
	for b.Loop() {
		_ = AccountMsgID(u)
	}
}

func BenchmarkRawAccountSubject(b *testing.B) {
	u := update()
	b.ReportAllocs()
	for b.Loop() {
		_ = RawAccountSubject(u.Owner, u.Pubkey)
	}
}

func TestRawAccountSubjectAndMsgIDAgree(t *testing.T) {
	t.Parallel()
	for _, u := range []*fireholev1.AccountUpdate{update(), {Pubkey: make([]byte, 32), Owner: make([]byte, 32)}} {
		subject, id := RawAccountSubjectAndMsgID(u)
		if want := RawAccountSubject(u.GetOwner(), u.GetPubkey()); subject != want {
			t.Errorf("subject %q, want %q", subject, want)
		}
		if want := AccountMsgID(u); id != want {
			t.Errorf("id %q, want %q", id, want)
		}
	}
}
