package jsonparsed

import (
	"encoding/base64"
	"math"
	"strings"
	"testing"

	"github.com/firehole/firehole/pkg/solana"
)

func TestNonceStakeEdges(t *testing.T) {
	t.Parallel()
	nonce := (&le{}).u32(1).u32(1).key(keyA).key(keyB).u64(5000).b
	meta := (&le{}).u64(2282880).key(keyA).key(keyB).i64(-5).u64(7).key(keyC).b
	runCases(t, []parseCase{
		{name: "nonce initialized", owner: solana.SystemProgramID, data: nonce,
			want: `{"type":"initialized","info":{"authority":"` + sA + `","blockhash":"` + sB + `","feeCalculator":{"lamportsPerSignature":"5000"}}}`},
		{name: "legacy nonce version", owner: solana.SystemProgramID, data: append((&le{}).u32(0).b, nonce[4:]...),
			want: `{"type":"initialized","info":{"authority":"` + sA + `","blockhash":"` + sB + `","feeCalculator":{"lamportsPerSignature":"5000"}}}`},
		{name: "nonce uninitialized is not parsable", owner: solana.SystemProgramID, data: make([]byte, 80), wantErr: ErrNotParsable},
		{name: "nonce bad version", owner: solana.SystemProgramID, data: append((&le{}).u32(2).b, nonce[4:]...), wantErr: ErrNotParsable},
		{name: "nonce short", owner: solana.SystemProgramID, data: nonce[:79], wantErr: ErrNotParsable},
		{name: "system account without data", owner: solana.SystemProgramID, data: nil, wantErr: ErrNotParsable},
		{name: "stake uninitialized", owner: solana.StakeProgramID, data: make([]byte, 200), want: `{"type":"uninitialized"}`},
		{name: "stake rewards pool", owner: solana.StakeProgramID, data: (&le{}).u32(3).zeros(196).b, want: `{"type":"rewardsPool"}`},
		{name: "stake initialized", owner: solana.StakeProgramID, data: append(append((&le{}).u32(1).b, meta...), make([]byte, 76)...),
			want: `{"type":"initialized","info":{"meta":{"rentExemptReserve":"2282880","authorized":{"staker":"` + sA + `","withdrawer":"` + sB + `"},
				"lockup":{"unixTimestamp":-5,"epoch":7,"custodian":"` + sC + `"}},"stake":null}}`},
		{name: "stake delegated", owner: solana.StakeProgramID,
			data: append(append((&le{}).u32(2).b, meta...), (&le{}).key(keyD).u64(math.MaxUint64).u64(1).u64(math.MaxUint64).f64(0.25).u64(9).u8(0).b...),
			want: `{"type":"delegated","info":{"meta":{"rentExemptReserve":"2282880","authorized":{"staker":"` + sA + `","withdrawer":"` + sB + `"},
				"lockup":{"unixTimestamp":-5,"epoch":7,"custodian":"` + sC + `"}},
				"stake":{"delegation":{"voter":"` + sD + `","stake":"18446744073709551615","activationEpoch":"1","deactivationEpoch":"18446744073709551615","warmupCooldownRate":0.25},"creditsObserved":9}}}`},
		{name: "stake delegated, NaN rate prints null", owner: solana.StakeProgramID,
			data:  append(append((&le{}).u32(2).b, meta...), (&le{}).key(keyD).u64(1).u64(1).u64(1).f64(math.NaN()).u64(9).u8(0).b...),
			exact: []string{`"warmupCooldownRate":null`},
			want: `{"type":"delegated","info":{"meta":{"rentExemptReserve":"2282880","authorized":{"staker":"` + sA + `","withdrawer":"` + sB + `"},
				"lockup":{"unixTimestamp":-5,"epoch":7,"custodian":"` + sC + `"}},
				"stake":{"delegation":{"voter":"` + sD + `","stake":"1","activationEpoch":"1","deactivationEpoch":"1","warmupCooldownRate":null},"creditsObserved":9}}}`},
		{name: "stake truncated", owner: solana.StakeProgramID, data: append((&le{}).u32(2).b, meta...), wantErr: ErrNotParsable},
		{name: "stake bad tag", owner: solana.StakeProgramID, data: (&le{}).u32(4).zeros(196).b, wantErr: ErrNotParsable},
	})
}

func TestLookupTableLoaderEdges(t *testing.T) {
	t.Parallel()
	header := func(auth bool) []byte {
		w := (&le{}).u32(1).u64(math.MaxUint64).u64(42).u8(3)
		if auth {
			w.u8(1).key(keyA)
		} else {
			w.u8(0)
		}
		w.u16(0)
		return append(w.b, make([]byte, 56-len(w.b))...)
	}
	program := []byte{0xde, 0xad, 0xbe, 0xef, 0x01}
	b64 := base64.StdEncoding.EncodeToString(program)
	runCases(t, []parseCase{
		{name: "lookup table without authority", owner: solana.AddressLookupTableProgramID,
			data: append(header(false), append(keyB[:], keyC[:]...)...),
			want: `{"type":"lookupTable","info":{"deactivationSlot":"18446744073709551615","lastExtendedSlot":"42","lastExtendedSlotStartIndex":3,"addresses":["` + sB + `","` + sC + `"]}}`},
		{name: "lookup table with authority, empty", owner: solana.AddressLookupTableProgramID, data: header(true),
			want: `{"type":"lookupTable","info":{"deactivationSlot":"18446744073709551615","lastExtendedSlot":"42","lastExtendedSlotStartIndex":3,"authority":"` + sA + `","addresses":[]}}`},
		{name: "lookup table uninitialized", owner: solana.AddressLookupTableProgramID, data: make([]byte, 56), want: `{"type":"uninitialized"}`},
		{name: "lookup table ragged addresses", owner: solana.AddressLookupTableProgramID, data: append(header(true), 1), wantErr: ErrNotParsable},
		{name: "lookup table short header", owner: solana.AddressLookupTableProgramID, data: header(true)[:50], wantErr: ErrNotParsable},
		{name: "loader uninitialized", owner: solana.BPFLoaderUpgradeableID, data: make([]byte, 4), want: `{"type":"uninitialized"}`},
		{name: "loader buffer", owner: solana.BPFLoaderUpgradeableID, data: append((&le{}).u32(1).u8(1).key(keyA).b, program...),
			want: `{"type":"buffer","info":{"authority":"` + sA + `","data":["` + b64 + `","base64"]}}`},
		{name: "loader buffer without authority", owner: solana.BPFLoaderUpgradeableID, data: append((&le{}).u32(1).u8(0).b, program...),
			want: `{"type":"buffer","info":{"authority":null,"data":["` + b64 + `","base64"]}}`},
		{name: "loader program data", owner: solana.BPFLoaderUpgradeableID, data: append((&le{}).u32(3).u64(77).u8(1).key(keyB).b, program...),
			want: `{"type":"programData","info":{"slot":77,"authority":"` + sB + `","data":["` + b64 + `","base64"]}}`},
		{name: "loader program data, immutable", owner: solana.BPFLoaderUpgradeableID, data: append((&le{}).u32(3).u64(77).u8(0).b, program...),
			want: `{"type":"programData","info":{"slot":77,"authority":null,"data":["` + b64 + `","base64"]}}`},
		{name: "loader program", owner: solana.BPFLoaderUpgradeableID, data: (&le{}).u32(2).key(keyC).b,
			want: `{"type":"program","info":{"programData":"` + sC + `"}}`},
		{name: "loader bad option tag", owner: solana.BPFLoaderUpgradeableID, data: (&le{}).u32(1).u8(2).key(keyA).b, wantErr: ErrNotParsable},
		{name: "loader bad tag", owner: solana.BPFLoaderUpgradeableID, data: (&le{}).u32(4).b, wantErr: ErrNotParsable},
	})
}

func TestConfigEdges(t *testing.T) {
	t.Parallel()
	info := func(js string) []byte {
		w := (&le{}).u8(2).key(solana.ValidatorInfoID).u8(0).key(keyA).u8(1).u64(uint64(len(js)))
		return append(w.b, js...)
	}
	keys := `"keys":[{"pubkey":"Va1idator1nfo111111111111111111111111111111","signer":false},{"pubkey":"` + sA + `","signer":true}]`
	runCases(t, []parseCase{
		{name: "validator info re-printed like serde_json", owner: solana.ConfigProgramID, pubkey: keyB,
			data: info(`{"z":1, "a":{"y":[1.0, -0, 1e2, 18446744073709551616, -3], "b":"\u00e9\t\"\/"}, "a":{"dup":true}}`),
			want: `{"type":"validatorInfo","info":{"configData":{"a":{"dup":true},"z":1},` + keys + `}}`},
		{name: "validator info numbers", owner: solana.ConfigProgramID, pubkey: keyB,
			data:  info(`{"b":[1.0,-0,1e2,18446744073709551616,-3,0.1,1e-7],"a":"é\t\"\/\u0001"}`),
			exact: []string{`"configData":{"a":"é\t\"/\u0001","b":[1.0,-0.0,100.0,1.8446744073709552e19,-3,0.1,1e-7]}`},
			want:  `{"type":"validatorInfo","info":{"configData":{"a":"é\t\"/\u0001","b":[1,-0,100,18446744073709551616,-3,0.1,1e-7]},` + keys + `}}`},
		{name: "validator info that is not JSON", owner: solana.ConfigProgramID, pubkey: keyB, data: info(`{"a":`), wantErr: ErrNotParsable},
		{name: "validator info with trailing data", owner: solana.ConfigProgramID, pubkey: keyB, data: info(`{} x`), wantErr: ErrNotParsable},
		{name: "validator info nested too deep", owner: solana.ConfigProgramID, pubkey: keyB,
			data: info(strings.Repeat("[", 128) + strings.Repeat("]", 128)), wantErr: ErrNotParsable},
		{name: "validator info nested at the limit", owner: solana.ConfigProgramID, pubkey: keyB,
			data: info(strings.Repeat("[", 127) + strings.Repeat("]", 127)),
			want: `{"type":"validatorInfo","info":{"configData":` + strings.Repeat("[", 127) + strings.Repeat("]", 127) + `,` + keys + `}}`},
		{name: "validator info huge string length", owner: solana.ConfigProgramID, pubkey: keyB,
			data: (&le{}).u8(1).key(solana.ValidatorInfoID).u8(0).u64(math.MaxUint64).b, wantErr: ErrNotParsable},
		{name: "other config account", owner: solana.ConfigProgramID, pubkey: keyB,
			data: (&le{}).u8(1).key(keyA).u8(0).u64(2).raw([]byte("{}")).b, wantErr: ErrNotParsable},
		{name: "aliased short vec length", owner: solana.ConfigProgramID, pubkey: keyB,
			data: append([]byte{0x81, 0x00}, info(`{}`)[1:]...), wantErr: ErrNotParsable},
		{name: "stake config", owner: solana.ConfigProgramID, pubkey: solana.StakeConfigID,
			data: (&le{}).u8(0).f64(0.25).u8(12).b, want: `{"type":"stakeConfig","info":{"warmupCooldownRate":0.25,"slashPenalty":12}}`},
		{name: "stake config truncated", owner: solana.ConfigProgramID, pubkey: solana.StakeConfigID,
			data: (&le{}).u8(0).f64(0.25).b, wantErr: ErrNotParsable},
	})
}

func TestSysvars(t *testing.T) {
	t.Parallel()
	sysvar := func(name string, id [32]byte, data []byte, want string, exact ...string) parseCase {
		return parseCase{name: name, owner: solana.SysvarOwnerID, pubkey: id, data: data, want: want, exact: exact}
	}
	words := make([]byte, slotHistoryEntries/8)
	words[0] = 0b101           // slots 0 and 2
	words[len(words)-1] = 0x80 // last slot
	slotHistory := append(append((&le{}).u8(1).u64(uint64(len(words)/8)).b, words...), (&le{}).u64(slotHistoryEntries).u64(12345).b...)
	bits := "101" + strings.Repeat("0", slotHistoryEntries-4) + "1"
	cases := []parseCase{
		sysvar("clock", solana.SysvarClockID, (&le{}).u64(100).i64(-1).u64(2).u64(3).i64(1700000000).b,
			`{"type":"clock","info":{"slot":100,"epoch":2,"epochStartTimestamp":-1,"leaderScheduleEpoch":3,"unixTimestamp":1700000000}}`),
		sysvar("rent", solana.SysvarRentID, (&le{}).u64(3480).f64(2).u8(50).b,
			`{"type":"rent","info":{"lamportsPerByteYear":"3480","exemptionThreshold":2.0,"burnPercent":50}}`, `"exemptionThreshold":2.0,`),
		sysvar("epoch schedule", solana.SysvarEpochScheduleID, (&le{}).u64(432000).u64(432000).u8(1).u64(14).u64(524256).b,
			`{"type":"epochSchedule","info":{"slotsPerEpoch":432000,"leaderScheduleSlotOffset":432000,"warmup":true,"firstNormalEpoch":14,"firstNormalSlot":524256}}`),
		sysvar("fees", solana.SysvarFeesID, (&le{}).u64(5000).b,
			`{"type":"fees","info":{"feeCalculator":{"lamportsPerSignature":"5000"}}}`),
		sysvar("recent blockhashes", solana.SysvarRecentBlockhashesID, (&le{}).u64(2).key(keyA).u64(5000).key(keyB).u64(0).b,
			`{"type":"recentBlockhashes","info":[{"blockhash":"`+sA+`","feeCalculator":{"lamportsPerSignature":"5000"}},{"blockhash":"`+sB+`","feeCalculator":{"lamportsPerSignature":"0"}}]}`),
		sysvar("slot hashes", solana.SysvarSlotHashesID, (&le{}).u64(1).u64(99).key(keyC).b,
			`{"type":"slotHashes","info":[{"slot":99,"hash":"`+sC+`"}]}`),
		sysvar("stake history", solana.SysvarStakeHistoryID, (&le{}).u64(1).u64(5).u64(1).u64(2).u64(3).b,
			`{"type":"stakeHistory","info":[{"epoch":5,"stakeHistory":{"effective":1,"activating":2,"deactivating":3}}]}`),
		sysvar("last restart slot", solana.SysvarLastRestartSlotID, (&le{}).u64(777).b,
			`{"type":"lastRestartSlot","info":{"lastRestartSlot":777}}`),
		sysvar("rewards", solana.SysvarRewardsID, (&le{}).f64(0.5).f64(0).b,
			`{"type":"rewards","info":{"validatorPointValue":0.5}}`),
		sysvar("epoch rewards", solana.SysvarEpochRewardsID, (&le{}).u64(10).u64(4).key(keyD).u64(math.MaxUint64).u64(1).u64(500).u64(20).u8(1).b,
			`{"type":"epochRewards","info":{"distributionStartingBlockHeight":10,"numPartitions":4,"parentBlockhash":"`+sD+`",
				"totalPoints":"36893488147419103231","totalRewards":"500","distributedRewards":"20","active":true}}`),
		sysvar("slot history", solana.SysvarSlotHistoryID, slotHistory,
			`{"type":"slotHistory","info":{"nextSlot":12345,"bits":"`+bits+`"}}`),
		{name: "slot history too short", owner: solana.SysvarOwnerID, pubkey: solana.SysvarSlotHistoryID, data: slotHistory[:1000], wantErr: ErrNotParsable},
		{name: "clock truncated", owner: solana.SysvarOwnerID, pubkey: solana.SysvarClockID, data: make([]byte, 39), wantErr: ErrNotParsable},
		{name: "epoch schedule bad bool", owner: solana.SysvarOwnerID, pubkey: solana.SysvarEpochScheduleID, data: (&le{}).u64(1).u64(1).u8(2).u64(1).u64(1).b, wantErr: ErrNotParsable},
		{name: "instructions sysvar", owner: solana.SysvarOwnerID, pubkey: solana.SysvarInstructionsID, data: make([]byte, 64), wantErr: ErrNotParsable},
		{name: "slot hashes huge count", owner: solana.SysvarOwnerID, pubkey: solana.SysvarSlotHashesID, data: (&le{}).u64(math.MaxUint64).b, wantErr: ErrNotParsable},
	}
	runCases(t, cases)
}

func TestVoteLayouts(t *testing.T) {
	t.Parallel()
	votePubkey := keyD
	lockouts := func(w *le, landed bool) *le {
		w.u64(2)
		for i, slot := range []uint64{10, 11} {
			if landed {
				w.u8(1)
			}
			w.u64(slot).u32(uint32(2 - i))
		}
		return w
	}
	tail := func(w *le) []byte {
		w.u64(1).u64(5).u64(100).u64(90) // epoch credits
		w.u64(11).i64(1700000000)        // last timestamp
		return w.b
	}
	common := `"authorizedWithdrawer":"` + sB + `","epochCredits":[{"epoch":5,"credits":"100","previousCredits":"90"}],
		"lastTimestamp":{"slot":11,"timestamp":1700000000},"nodePubkey":"` + sA + `","priorVoters":[],
		"votes":[{"slot":10,"confirmationCount":2,"latency":LAT},{"slot":11,"confirmationCount":1,"latency":LAT}]`
	v3 := func(tag uint32, landed bool) []byte {
		w := (&le{}).u32(tag).key(keyA).key(keyB).u8(7)
		lockouts(w, landed)
		w.u8(1).u64(9)            // root slot
		w.u64(1).u64(5).key(keyC) // authorized voters
		w.zeros(32*48 + 8).u8(1)  // prior voters
		return append(tail(w), make([]byte, 64)...)
	}
	derived := `"inflationRewardsCollector":"` + sD + `","blockRevenueCollector":"` + sA + `","inflationRewardsCommissionBps":700,
		"blockRevenueCommissionBps":10000,"pendingDelegatorRewards":"0","blsPubkeyCompressed":null`
	v4 := (&le{}).u32(3).key(keyA).key(keyB).key(keyC).key(keyA).u16(1250).u16(5000).u64(33).u8(0)
	lockouts(v4, true)
	v4.u8(0).u64(1).u64(5).key(keyC)
	runCases(t, []parseCase{
		{name: "v1.14.11", owner: solana.VoteProgramID, pubkey: votePubkey, data: v3(1, false),
			want: `{"type":"vote","info":{` + strings.ReplaceAll(common, "LAT", "0") + `,"commission":7,"rootSlot":9,"authorizedVoters":[{"epoch":5,"authorizedVoter":"` + sC + `"}],` + derived + `}}`},
		{name: "v3", owner: solana.VoteProgramID, pubkey: votePubkey, data: v3(2, true),
			want: `{"type":"vote","info":{` + strings.ReplaceAll(common, "LAT", "1") + `,"commission":7,"rootSlot":9,"authorizedVoters":[{"epoch":5,"authorizedVoter":"` + sC + `"}],` + derived + `}}`},
		{name: "v4", owner: solana.VoteProgramID, pubkey: votePubkey, data: tail(v4),
			want: `{"type":"vote","info":{` + strings.ReplaceAll(common, "LAT", "1") + `,"commission":12,"rootSlot":null,"authorizedVoters":[{"epoch":5,"authorizedVoter":"` + sC + `"}],
				"inflationRewardsCollector":"` + sC + `","blockRevenueCollector":"` + sA + `","inflationRewardsCommissionBps":1250,
				"blockRevenueCommissionBps":5000,"pendingDelegatorRewards":"33","blsPubkeyCompressed":null}}`},
		{name: "huge vote count", owner: solana.VoteProgramID, pubkey: votePubkey,
			data: (&le{}).u32(2).key(keyA).key(keyB).u8(7).u64(math.MaxUint64).b, wantErr: ErrNotParsable},
		{name: "truncated", owner: solana.VoteProgramID, pubkey: votePubkey, data: v3(2, true)[:200], wantErr: ErrNotParsable},
		{name: "v0.23.5 is not supported", owner: solana.VoteProgramID, pubkey: votePubkey,
			data: append((&le{}).u32(0).b, v3(1, false)[4:]...), wantErr: ErrNotParsable},
		{name: "bad tag", owner: solana.VoteProgramID, pubkey: votePubkey, data: (&le{}).u32(9).zeros(3000).b, wantErr: ErrNotParsable},
	})
}

func TestUnknownOwner(t *testing.T) {
	t.Parallel()
	reg := NewRegistry()
	if reg.Parsable(keyA) {
		t.Error("random owner reported parsable")
	}
	for _, id := range [][32]byte{solana.TokenProgramID, solana.Token2022ProgramID, solana.SystemProgramID, solana.StakeProgramID,
		solana.VoteProgramID, solana.AddressLookupTableProgramID, solana.BPFLoaderUpgradeableID, solana.ConfigProgramID, solana.SysvarOwnerID} {
		if !reg.Parsable(id) {
			t.Errorf("%x not parsable", id)
		}
	}
	runCases(t, []parseCase{{name: "unknown owner", owner: keyA, data: []byte{1}, wantErr: ErrNotParsable}})
}

func TestRegistryRejectsDuplicates(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	if err := r.register(solana.TokenProgramID, "again", parseToken); err == nil {
		t.Error("duplicate program id accepted")
	}
}
