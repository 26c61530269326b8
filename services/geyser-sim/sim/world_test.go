package sim

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/pkg/capture"
	"github.com/firehole/firehole/pkg/solana"
	"github.com/firehole/firehole/proto/geyser"
)

// stripVolatile clears what legitimately differs between runs: created_at
// (wall time) and, when asked, write_version.
func stripVolatile(us []*geyser.SubscribeUpdate, wv bool) []*geyser.SubscribeUpdate {
	out := make([]*geyser.SubscribeUpdate, 0, len(us))
	for _, u := range us {
		u = proto.Clone(u).(*geyser.SubscribeUpdate)
		u.CreatedAt = nil
		if a := u.GetAccount().GetAccount(); a != nil && wv {
			a.WriteVersion = 0
		}
		if m := u.GetBlockMeta(); m != nil {
			m.BlockTime = nil
		}
		out = append(out, u)
	}
	return out
}

func equalUpdates(a, b []*geyser.SubscribeUpdate) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !proto.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func TestDeterminism(t *testing.T) {
	t.Parallel()
	base := testConfig()
	other := base
	other.SlotInterval = 2 * base.SlotInterval // timing must not matter,
	other.Rate = base.Rate / 2                 // only the updates per slot
	otherWV := base
	otherWV.WriteVersionBase = 1 << 40
	otherSeed := base
	otherSeed.Seed = 43
	hs := []*harness{start(t, base), start(t, other), start(t, otherWV), start(t, otherSeed)}
	last := base.StartSlot + 6
	for _, h := range hs {
		waitSlot(t, h.srv, last+1)
	}
	ref := stripVolatile(hs[0].srv.Updates(base.StartSlot, last), false)
	if len(ref) < 100 {
		t.Fatalf("only %d updates in %d slots", len(ref), last-base.StartSlot)
	}
	if got := stripVolatile(hs[1].srv.Updates(base.StartSlot, last), false); !equalUpdates(got, ref) {
		t.Fatal("same seed, different slot interval: updates differ")
	}
	if equalUpdates(stripVolatile(hs[2].srv.Updates(base.StartSlot, last), false), ref) {
		t.Fatal("different write_version base: updates should differ in write_version")
	}
	if !equalUpdates(stripVolatile(hs[2].srv.Updates(base.StartSlot, last), true), stripVolatile(ref, true)) {
		t.Fatal("different write_version base: updates differ in more than write_version")
	}
	if equalUpdates(stripVolatile(hs[3].srv.Updates(base.StartSlot, last), false), ref) {
		t.Fatal("different seed, same updates")
	}
	// write_version increases strictly along the stream.
	var prev uint64
	for _, u := range hs[2].srv.Updates(base.StartSlot, last) {
		if a := u.GetAccount().GetAccount(); a != nil {
			if a.WriteVersion <= prev || a.WriteVersion < otherWV.WriteVersionBase {
				t.Fatalf("write_version %d after %d", a.WriteVersion, prev)
			}
			prev = a.WriteVersion
		}
	}
}

// TestTokenConservation follows token balances from a startup snapshot over
// the stream and checks, at every slot boundary, that each mint's supply
// equals the sum of its accounts' amounts.
func TestTokenConservation(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	h := start(t, cfg)
	c := dial(t, h.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "x-request-snapshot", "true")
	st := subscribe(t, ctx, c, &geyser.SubscribeRequest{
		Accounts: map[string]*geyser.SubscribeRequestFilterAccounts{
			"tok": {Owner: []string{base58.Encode32(&solana.TokenProgramID), base58.Encode32(&solana.Token2022ProgramID)}},
			// A closed token account's update is owned by the system program, empty.
			"closed": {Owner: []string{base58.Encode32(&solana.SystemProgramID)}, Filters: []*geyser.SubscribeRequestFilterAccountsFilter{datasize(0)}},
		},
		Slots: map[string]*geyser.SubscribeRequestFilterSlots{"s": {}},
	})
	supply := map[[32]byte]uint64{}
	amount := map[[32]byte]uint64{}
	mintOf := map[[32]byte][32]byte{}
	checks, moved, closes := 0, 0, 0
	for checks < 10 || closes == 0 {
		u, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if a := u.GetAccount().GetAccount(); a != nil {
			d := a.Data
			switch {
			case len(d) == 0:
				if _, ok := amount[[32]byte(a.Pubkey)]; ok {
					delete(amount, [32]byte(a.Pubkey))
					closes++
				}
			case len(d) == 82 || len(d) > 165 && d[165] == 1:
				supply[[32]byte(a.Pubkey)] = binary.LittleEndian.Uint64(d[36:])
			case len(d) >= 165:
				k := [32]byte(a.Pubkey)
				if old, ok := amount[k]; ok && old != binary.LittleEndian.Uint64(d[64:]) {
					moved++
				}
				amount[k] = binary.LittleEndian.Uint64(d[64:])
				mintOf[k] = [32]byte(d[:32])
			}
			continue
		}
		if s := u.GetSlot(); s != nil && s.Status == geyser.SlotStatus_SLOT_PROCESSED {
			sum := map[[32]byte]uint64{}
			for k, v := range amount {
				sum[mintOf[k]] += v
			}
			if len(supply) == 0 || len(sum) != len(supply) {
				t.Fatalf("mints %d, mints with accounts %d", len(supply), len(sum))
			}
			for m, s := range supply {
				if sum[m] != s {
					t.Fatalf("slot %d mint %s: supply %d, accounts hold %d", u.GetSlot().Slot, base58.Encode32(&m), s, sum[m])
				}
			}
			checks++
		}
	}
	if moved == 0 {
		t.Fatal("no token balance moved; the check proved nothing")
	}
}

func TestRecordReplay(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"cap.fhcap", "cap.fhcap.zst"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), name)
			cfg := testConfig()
			cfg.RecordFile = path
			rec, err := New(cfg, zerolog.Nop())
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- rec.Run(ctx) }()
			waitSlot(t, rec, cfg.StartSlot+8)
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			recorded := readCapture(t, path)
			if len(recorded) < 100 {
				t.Fatalf("recorded only %d updates", len(recorded))
			}
			lastSlot := rec.Slot()
			if !equalUpdates(recorded, rec.Updates(0, ^uint64(0))) {
				t.Fatal("the recording differs from what the ring holds")
			}

			pcfg := testConfig()
			pcfg.ReplayFile = path
			pcfg.Rate = 50000 // as fast as this allows, not the recorded spacing
			h := start(t, pcfg)
			waitSlot(t, h.srv, lastSlot+3) // into the second pass
			first := stripVolatile(h.srv.Updates(0, ^uint64(0)), false)
			want := stripVolatile(recorded, false)
			if len(first) < len(want) || !equalUpdates(first[:len(want)], want) {
				t.Fatal("replayed first pass differs from the recording")
			}
			// The second pass continues the slot chain and write versions.
			var prevSlot, prevWV uint64
			for _, u := range h.srv.Updates(cfg.StartSlot, ^uint64(0)) {
				if a := u.GetAccount(); a != nil {
					if a.Slot < prevSlot || a.Account.WriteVersion <= prevWV {
						t.Fatalf("replay went backwards: slot %d after %d, wv %d after %d", a.Slot, prevSlot, a.Account.WriteVersion, prevWV)
					}
					prevSlot, prevWV = a.Slot, a.Account.WriteVersion
				}
			}
			if prevSlot <= lastSlot {
				t.Fatalf("second pass did not re-stamp slots: last %d, recording ended at %d", prevSlot, lastSlot)
			}
		})
	}
}

func readCapture(t *testing.T, path string) []*geyser.SubscribeUpdate {
	t.Helper()
	f, err := capture.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []*geyser.SubscribeUpdate
	for {
		u, err := f.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, u)
	}
}

func TestEncodingMatchesProto(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 123456789)
	sig := bytes.Repeat([]byte{9}, 64)
	for _, f := range []acctFields{
		{pubkey: bytes.Repeat([]byte{1}, 32), owner: bytes.Repeat([]byte{2}, 32), data: bytes.Repeat([]byte{3}, 300), sig: sig, hasSig: true,
			lamports: 2039280, rentEpoch: ^uint64(0), wv: 77, slot: 12345, executable: true, created: now},
		{pubkey: bytes.Repeat([]byte{1}, 32), owner: make([]byte, 32), startup: true, created: time.Unix(5, 0)},
		{pubkey: bytes.Repeat([]byte{1}, 32), owner: make([]byte, 32), hasSig: true, sig: []byte{}, created: now},
	} {
		var u acctUpdate
		enc := appendAccount([]byte("junk-before"), &f, f.data, &u)
		var got geyser.SubscribeUpdate
		if err := proto.Unmarshal(u.enc, &got); err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(enc, []byte("junk-before")) {
			t.Fatal("appendAccount clobbered the prefix")
		}
		want := &geyser.SubscribeUpdate{UpdateOneof: &geyser.SubscribeUpdate_Account{Account: &geyser.SubscribeUpdateAccount{
			Slot: f.slot, IsStartup: f.startup, Account: &geyser.SubscribeUpdateAccountInfo{
				Pubkey: f.pubkey, Owner: f.owner, Lamports: f.lamports, Executable: f.executable, RentEpoch: f.rentEpoch,
				Data: f.data, WriteVersion: f.wv}}}}
		if f.hasSig {
			want.GetAccount().Account.TxnSignature = f.sig
		}
		want.CreatedAt = timestampOf(f.created)
		if !proto.Equal(&got, want) {
			t.Fatalf("encoded %v\nwant %v", &got, want)
		}
		if !bytes.Equal(u.pubkey, f.pubkey) || !bytes.Equal(u.owner, f.owner) || !bytes.Equal(u.data, f.data) || !bytes.Equal(u.sig, f.sig) {
			t.Fatal("views do not point at the fields")
		}
		// With a filters prefix the message still decodes, with the names.
		var named geyser.SubscribeUpdate
		if err := proto.Unmarshal(append(appendFilters(nil, []string{"x", "y"}), u.enc...), &named); err != nil || len(named.Filters) != 2 {
			t.Fatalf("prefixed: %v %v", named.Filters, err)
		}
	}
}
