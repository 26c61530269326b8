package jsonparsed

import (
	"bytes"
	"testing"

	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/pkg/solana"
)

// exactCase asserts the exact bytes of the "parsed" value, not just its
// meaning: agave's RPC turns the parsed struct into a serde_json::Value and
// prints every object with its keys sorted.
func exactCase(t *testing.T, in Input, want string) {
	t.Helper()
	got, _, _, err := NewRegistry().AppendParsed(nil, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// Expected shape: agave account-decoder/src/parse_stake.rs, UiStakeAccount
// (meta, stake: Option<UiStake> serialised without skip_serializing_if), so
// an initialized stake account carries "stake":null.
func TestStakeInitializedPrintsNullStake(t *testing.T) {
	t.Parallel()
	data := (&le{}).u32(1).u64(2282880).key(keyA).key(keyB).i64(-5).u64(7).key(keyC).zeros(76).b
	exactCase(t, Input{Owner: solana.StakeProgramID, Data: data},
		`{"info":{"meta":{"authorized":{"staker":"`+sA+`","withdrawer":"`+sB+`"},`+
			`"lockup":{"custodian":"`+sC+`","epoch":7,"unixTimestamp":-5},"rentExemptReserve":"2282880"},`+
			`"stake":null},"type":"initialized"}`)
}

// Expected shape: agave account-decoder/src/parse_vote.rs, UiVoteState and
// UiAuthorizedVoters, fed by VoteStateV4::deserialize from
// solana-vote-interface (state/vote_state_deserialize.rs): authorized voters
// are inserted into AuthorizedVoters, a BTreeMap keyed by epoch, so they
// print sorted by epoch and a repeated epoch keeps the last pubkey; the
// prior-voters block of V1_14_11/V3 is skipped without checking its
// is_empty byte.
func TestVoteAuthorizedVotersAsMap(t *testing.T) {
	t.Parallel()
	w := (&le{}).u32(2).key(keyA).key(keyB).u8(5)
	w.u64(0)                                                    // no votes
	w.u8(0)                                                     // no root
	w.u64(3).u64(9).key(keyC).u64(4).key(keyA).u64(9).key(keyD) // voters: 9→C, 4→A, 9→D
	w.zeros(32*48 + 8).u8(7)                                    // prior voters, odd is_empty byte
	w.u64(0)                                                    // no epoch credits
	w.u64(1).i64(2)                                             // last timestamp
	exactCase(t, Input{Owner: solana.VoteProgramID, Pubkey: keyB, Data: w.b},
		`{"info":{"authorizedVoters":[{"authorizedVoter":"`+sA+`","epoch":4},{"authorizedVoter":"`+sD+`","epoch":9}],`+
			`"authorizedWithdrawer":"`+sB+`","blockRevenueCollector":"`+sA+`","blockRevenueCommissionBps":10000,`+
			`"blsPubkeyCompressed":null,"commission":5,"epochCredits":[],"inflationRewardsCollector":"`+sB+`",`+
			`"inflationRewardsCommissionBps":500,"lastTimestamp":{"slot":1,"timestamp":2},"nodePubkey":"`+sA+`",`+
			`"pendingDelegatorRewards":"0","priorVoters":[],"rootSlot":null,"votes":[]},"type":"vote"}`)
}

// Expected shape: agave account-decoder/src/parse_vote.rs, UiVoteState: for
// a V4 account commission is inflation_rewards_commission_bps / 100 cast
// with `as u8`, which wraps (30000 bps → 300 → 44); the BLS key is base58.
func TestVoteV4CommissionWraps(t *testing.T) {
	t.Parallel()
	bls := make([]byte, 48)
	bls[47] = 1
	w := (&le{}).u32(3).key(keyA).key(keyB).key(keyC).key(keyD).u16(30000).u16(0).u64(1)
	w.u8(1).raw(bls)
	w.u64(1).u8(3).u64(77).u32(1) // one landed vote, latency 3
	w.u8(1).u64(70)               // root
	w.u64(1).u64(2).key(keyC)     // one voter
	w.u64(1).u64(2).u64(10).u64(4)
	w.u64(77).i64(-1)
	exactCase(t, Input{Owner: solana.VoteProgramID, Pubkey: keyD, Data: w.b},
		`{"info":{"authorizedVoters":[{"authorizedVoter":"`+sC+`","epoch":2}],`+
			`"authorizedWithdrawer":"`+sB+`","blockRevenueCollector":"`+sD+`","blockRevenueCommissionBps":0,`+
			`"blsPubkeyCompressed":"`+string(base58.AppendEncode(nil, bls))+`","commission":44,`+
			`"epochCredits":[{"credits":"10","epoch":2,"previousCredits":"4"}],"inflationRewardsCollector":"`+sC+`",`+
			`"inflationRewardsCommissionBps":30000,"lastTimestamp":{"slot":77,"timestamp":-1},"nodePubkey":"`+sA+`",`+
			`"pendingDelegatorRewards":"1","priorVoters":[],"rootSlot":70,`+
			`"votes":[{"confirmationCount":1,"latency":3,"slot":77}]},"type":"vote"}`)
}

// Expected shape: agave account-decoder/src/parse_token.rs, UiTokenAccount
// and UiTokenAmount; uiAmount is the f64 parsed back from uiAmountString
// (null when it is infinite, as serde_json prints non-finite floats), and a
// frozen account's state is "frozen".
func TestFrozenScaledTokenAccountExact(t *testing.T) {
	t.Parallel()
	data := tokenAcctSpec{mint: keyA, owner: keyB, amount: 101, state: 2}.bytes()
	mints := mapMints{keyA: {Decimals: 2, HasScaledUIAmount: true,
		ScaledUIAmount: ScaledUIAmountConfig{Multiplier: 0.99, NewMultiplierEffectiveTimestamp: 1}}}
	got, _, _, err := NewRegistry().AppendParsed(nil, Input{Owner: solana.Token2022ProgramID, Data: data}, mints)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"info":{"isNative":false,"mint":"` + sA + `","owner":"` + sB + `","state":"frozen",` +
		`"tokenAmount":{"amount":"101","decimals":2,"uiAmount":0.99,"uiAmountString":"0.99"}},"type":"account"}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	mints[keyA] = MintInfo{Decimals: 0, HasScaledUIAmount: true,
		ScaledUIAmount: ScaledUIAmountConfig{Multiplier: 1.7976931348623157e308, NewMultiplierEffectiveTimestamp: 1}}
	got, _, _, err = NewRegistry().AppendParsed(nil, Input{Owner: solana.Token2022ProgramID, Data: data}, mints)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"tokenAmount":{"amount":"101","decimals":0,"uiAmount":null,"uiAmountString":"inf"}`; !bytes.Contains(got, []byte(want)) {
		t.Errorf("got %s\nwant it to contain %s", got, want)
	}
}
