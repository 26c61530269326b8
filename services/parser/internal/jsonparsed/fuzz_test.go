package jsonparsed

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/firehole/firehole/pkg/solana"
)

// seedFuzz adds every fixture owned by owner, plus extra seeds.
func seedFuzz(f *testing.F, owner [32]byte, extra ...[]byte) {
	for _, fx := range loadFixtures(f) {
		if fx.owner == owner {
			f.Add(fx.data)
		}
	}
	for _, e := range extra {
		f.Add(e)
	}
}

// fuzzParse checks the invariants every decoder keeps on arbitrary bytes:
// no panic, dst untouched on error, and otherwise valid JSON with keys in
// byte order whose "type" is the returned account type.
func fuzzParse(t *testing.T, in Input, mints MintSource) []byte {
	reg := NewRegistry()
	prefix := []byte("[")
	out, _, typ, err := reg.AppendParsed(prefix, in, mints)
	if err != nil {
		if !errors.Is(err, ErrNotParsable) && !errors.Is(err, ErrMintUnknown) {
			t.Fatalf("unexpected error kind: %v", err)
		}
		if !bytes.Equal(out, prefix) {
			t.Fatalf("dst changed on error: %q", out)
		}
		return nil
	}
	body := out[1:]
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("invalid JSON: %v\n%.500s", err, body)
	}
	if v["type"] != typ {
		t.Fatalf("type %v, returned %q", v["type"], typ)
	}
	if err := checkSortedKeys(body); err != nil {
		t.Fatalf("key order: %v\n%.500s", err, body)
	}
	return body
}

// anyMint knows every mint, with decimals and UI-amount settings taken from
// the first bytes of the input so the fuzzer explores them too.
type anyMint struct{ mi MintInfo }

func (a anyMint) Mint([32]byte) (MintInfo, bool) { return a.mi, true }

func FuzzToken(f *testing.F) {
	seedFuzz(f, solana.TokenProgramID)
	seedFuzz(f, solana.Token2022ProgramID)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, owner := range [][32]byte{solana.TokenProgramID, solana.Token2022ProgramID} {
			mi, isMint := MintFromAccount(owner, data)
			if !isMint && len(data) > 0 {
				mi = MintInfo{Decimals: data[0], HasScaledUIAmount: len(data) > 1 && data[1]&1 == 1,
					ScaledUIAmount: ScaledUIAmountConfig{Multiplier: float64(len(data)), NewMultiplier: 1e300}}
			}
			body := fuzzParse(t, Input{Owner: owner, Data: data, UnixTimestamp: int64(len(data))}, anyMint{mi})
			_, isAccount := TokenAccountMint(owner, data)
			if body != nil && isAccount != bytes.Contains(body, []byte(`"type":"account"`)) {
				t.Fatalf("TokenAccountMint=%v disagrees with %s", isAccount, body)
			}
		}
	})
}

func FuzzNonce(f *testing.F) {
	seedFuzz(f, solana.SystemProgramID)
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzParse(t, Input{Owner: solana.SystemProgramID, Data: data}, nil)
	})
}

func FuzzStake(f *testing.F) {
	seedFuzz(f, solana.StakeProgramID)
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzParse(t, Input{Owner: solana.StakeProgramID, Data: data}, nil)
	})
}

// FuzzVote inputs are ~3.7 KB; run it with -fuzzminimizetime 1s or the
// engine spends its time minimising each new input.
func FuzzVote(f *testing.F) {
	seedFuzz(f, solana.VoteProgramID)
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzParse(t, Input{Owner: solana.VoteProgramID, Pubkey: keyA, Data: data}, nil)
	})
}

func FuzzLookupTable(f *testing.F) {
	seedFuzz(f, solana.AddressLookupTableProgramID)
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzParse(t, Input{Owner: solana.AddressLookupTableProgramID, Data: data}, nil)
	})
}

func FuzzUpgradeableLoader(f *testing.F) {
	seedFuzz(f, solana.BPFLoaderUpgradeableID)
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzParse(t, Input{Owner: solana.BPFLoaderUpgradeableID, Data: data}, nil)
	})
}

func FuzzConfig(f *testing.F) {
	seedFuzz(f, solana.ConfigProgramID)
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzParse(t, Input{Owner: solana.ConfigProgramID, Pubkey: keyA, Data: data}, nil)
		fuzzParse(t, Input{Owner: solana.ConfigProgramID, Pubkey: solana.StakeConfigID, Data: data}, nil)
	})
}

// sysvarIDs are the sysvars with a parser (slot history is exercised by
// TestSysvars; its 1 MiB output would slow the fuzzer to a crawl).
var sysvarIDs = [][32]byte{solana.SysvarClockID, solana.SysvarEpochScheduleID, solana.SysvarFeesID,
	solana.SysvarRecentBlockhashesID, solana.SysvarRentID, solana.SysvarRewardsID, solana.SysvarSlotHashesID,
	solana.SysvarStakeHistoryID, solana.SysvarLastRestartSlotID, solana.SysvarEpochRewardsID}

func FuzzSysvar(f *testing.F) {
	f.Add(uint8(0), make([]byte, 40))
	f.Add(uint8(3), []byte{1, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		id := sysvarIDs[int(which)%len(sysvarIDs)]
		fuzzParse(t, Input{Owner: solana.SysvarOwnerID, Pubkey: id, Data: data}, nil)
	})
}
