package jsonparsed

import "github.com/firehole/firehole/services/parser/internal/jsonw"

// parseStake renders a bincode StakeStateV2. delegation.warmupCooldownRate
// is the deprecated f64 still stored in the account; agave 3.x prints it,
// 4.1 does not.
func parseStake(dst []byte, in Input, _ MintSource) ([]byte, string, error) {
	r := reader{b: in.Data}
	tag := r.u32()
	if r.bad {
		return dst, "", errLayout
	}
	switch tag {
	case 0:
		return append(dst, `{"type":"uninitialized"}`...), "uninitialized", nil
	case 3:
		return append(dst, `{"type":"rewardsPool"}`...), "rewardsPool", nil
	case 1, 2:
	default:
		return dst, "", errLayout
	}
	reserve, staker, withdrawer := r.u64(), r.key(), r.key()
	lockTS, lockEpoch, custodian := r.i64(), r.u64(), r.key()
	var (
		voter                          *[32]byte
		stake, activation, deactivated uint64
		rate                           float64
		credits                        uint64
	)
	if tag == 2 {
		voter, stake, activation, deactivated, rate = r.key(), r.u64(), r.u64(), r.u64(), r.f64()
		credits = r.u64()
		r.u8() // StakeFlags
	}
	if r.bad {
		return dst, "", errLayout
	}
	dst = append(dst, `{"info":{"meta":{"authorized":{"staker":`...)
	dst = appendPubkey(dst, staker)
	dst = append(dst, `,"withdrawer":`...)
	dst = appendPubkey(dst, withdrawer)
	dst = append(dst, `},"lockup":{"custodian":`...)
	dst = appendPubkey(dst, custodian)
	dst = append(dst, `,"epoch":`...)
	dst = appendU64(dst, lockEpoch)
	dst = append(dst, `,"unixTimestamp":`...)
	dst = appendI64(dst, lockTS)
	dst = append(dst, `},"rentExemptReserve":`...)
	dst = jsonw.AppendQuotedUint(dst, reserve)
	if tag == 1 {
		// UiStakeAccount.stake is an Option without skip_serializing_if:
		// an initialized account prints "stake":null.
		return append(dst, `},"stake":null},"type":"initialized"}`...), "initialized", nil
	}
	dst = append(dst, `},"stake":{"creditsObserved":`...)
	dst = appendU64(dst, credits)
	dst = append(dst, `,"delegation":{"activationEpoch":`...)
	dst = jsonw.AppendQuotedUint(dst, activation)
	dst = append(dst, `,"deactivationEpoch":`...)
	dst = jsonw.AppendQuotedUint(dst, deactivated)
	dst = append(dst, `,"stake":`...)
	dst = jsonw.AppendQuotedUint(dst, stake)
	dst = append(dst, `,"voter":`...)
	dst = appendPubkey(dst, voter)
	dst = append(dst, `,"warmupCooldownRate":`...)
	dst = appendF64(dst, rate)
	return append(dst, `}}},"type":"delegated"}`...), "delegated", nil
}
