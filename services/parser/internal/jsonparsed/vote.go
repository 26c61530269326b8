package jsonparsed

import (
	"cmp"
	"encoding/binary"
	"slices"

	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/services/parser/internal/jsonw"
)

// voteState holds a decoded vote account; the variable-length lists stay as
// raw slices of fixed-size records and are rendered straight from the data.
type voteState struct {
	node, withdrawer       *[32]byte
	inflationCollector     *[32]byte
	blockCollector         *[32]byte
	inflationBps, blockBps uint16
	pendingRewards         uint64
	bls                    []byte // nil when None
	votes                  []byte
	voteSize               int // 12 (Lockout) or 13 (LandedVote: latency first)
	hasRoot                bool
	root                   uint64
	voters                 []byte // (epoch u64, pubkey) records
	legacyVoter            *[32]byte
	legacyVoterEpoch       uint64
	credits                []byte // (epoch, credits, previous) u64 triples
	lastTimestampSlot      uint64
	lastTimestamp          int64
	commission             uint8
}

// records reads a u64 count of size-byte records and returns their bytes.
func (r *reader) records(size int) []byte {
	n := r.count(size)
	return r.take(n * size)
}

// parseVote renders a vote account in agave 3.x's shape: the account is read
// as VoteState v4, converting V1_14_11 and V3 layouts the way the vote
// program does (inflation rewards to the vote account itself, block revenue
// to the node, commission·100 bps, 100% block revenue commission); the
// pre-1.14 V0_23_5 layout is rejected, as solana-vote-interface 5.x and
// later do (4.0.x still converted it off-chain; which of the two a given
// agave 3.1 release links is not verified here). priorVoters, which v4 no longer
// stores, is always empty; votes carry their latency (0 for V1_14_11);
// blsPubkeyCompressed is base58.
func parseVote(dst []byte, in Input, _ MintSource) ([]byte, string, error) {
	r := reader{b: in.Data}
	var v voteState
	tag := r.u32()
	switch tag {
	case 1, 2: // V1_14_11 (Lockout votes), V3 (LandedVote votes)
		v.node = r.key()
		v.withdrawer = r.key()
		v.commission = r.u8()
		v.voteSize = 12
		if tag == 2 {
			v.voteSize = 13
		}
		v.votes = r.records(v.voteSize)
		v.readRoot(&r)
		v.voters = r.records(40)
		// Prior voters (32 entries, index, is_empty) are skipped as one
		// block. The vote interface's newer skip does not check the
		// is_empty byte; its older one (read as a bool) refused values
		// above 1. Which one agave 3.x links could not be pinned (see the
		// V0_23_5 note); we follow the newer.
		r.take(32*48 + 8 + 1)
		v.credits = r.records(24)
	case 3: // V4
		v.node = r.key()
		v.withdrawer = r.key()
		v.inflationCollector = r.key()
		v.blockCollector = r.key()
		v.inflationBps = r.u16()
		v.blockBps = r.u16()
		v.pendingRewards = r.u64()
		if r.option() {
			v.bls = r.take(48)
		}
		v.votes, v.voteSize = r.records(13), 13
		v.readRoot(&r)
		v.voters = r.records(40)
		v.credits = r.records(24)
	default:
		return dst, "", errLayout
	}
	v.lastTimestampSlot = r.u64()
	v.lastTimestamp = r.i64()
	if r.bad {
		return dst, "", errLayout
	}
	if tag != 3 {
		v.inflationCollector = &in.Pubkey
		v.blockCollector = v.node
		v.inflationBps = uint16(v.commission) * 100
		v.blockBps = 10000
	} else {
		// A plain `as u8` cast in agave: bps above 25599 wrap.
		v.commission = uint8(v.inflationBps / 100)
	}
	return v.append(dst), "vote", nil
}

// voterOrder returns the offsets of the (epoch, pubkey) records to print.
// The vote interface loads authorized voters into a map keyed by epoch, so
// they come out sorted by epoch and a repeated epoch keeps its last pubkey.
func voterOrder(voters []byte, offs []int) []int {
	for i := 0; i+40 <= len(voters); i += 40 {
		offs = append(offs, i)
	}
	epoch := func(i int) uint64 { return binary.LittleEndian.Uint64(voters[i:]) }
	sorted := true
	for k := 1; k < len(offs); k++ {
		if epoch(offs[k-1]) >= epoch(offs[k]) {
			sorted = false
			break
		}
	}
	if sorted {
		return offs
	}
	slices.SortStableFunc(offs, func(a, b int) int { return cmp.Compare(epoch(a), epoch(b)) })
	out := offs[:0]
	for k, i := range offs {
		if k+1 < len(offs) && epoch(offs[k+1]) == epoch(i) {
			continue // a later record for the same epoch replaces this one
		}
		out = append(out, i)
	}
	return out
}

func (v *voteState) readRoot(r *reader) {
	if r.option() {
		v.hasRoot = true
		v.root = r.u64()
	}
}

func (v *voteState) append(dst []byte) []byte {
	dst = append(dst, `{"info":{"authorizedVoters":[`...)
	var stack [8]int
	for j, i := range voterOrder(v.voters, stack[:0]) {
		rr := reader{b: v.voters[i : i+40]}
		epoch, voter := rr.u64(), rr.key()
		if j > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"authorizedVoter":`...)
		dst = appendPubkey(dst, voter)
		dst = append(dst, `,"epoch":`...)
		dst = appendU64(dst, epoch)
		dst = append(dst, '}')
	}
	dst = append(dst, `],"authorizedWithdrawer":`...)
	dst = appendPubkey(dst, v.withdrawer)
	dst = append(dst, `,"blockRevenueCollector":`...)
	dst = appendPubkey(dst, v.blockCollector)
	dst = append(dst, `,"blockRevenueCommissionBps":`...)
	dst = appendU64(dst, uint64(v.blockBps))
	dst = append(dst, `,"blsPubkeyCompressed":`...)
	if v.bls == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '"')
		dst = base58.AppendEncode(dst, v.bls)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"commission":`...)
	dst = appendU64(dst, uint64(v.commission))
	dst = append(dst, `,"epochCredits":[`...)
	for i := 0; i+24 <= len(v.credits); i += 24 {
		rr := reader{b: v.credits[i : i+24]}
		epoch, credits, prev := rr.u64(), rr.u64(), rr.u64()
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"credits":`...)
		dst = jsonw.AppendQuotedUint(dst, credits)
		dst = append(dst, `,"epoch":`...)
		dst = appendU64(dst, epoch)
		dst = append(dst, `,"previousCredits":`...)
		dst = jsonw.AppendQuotedUint(dst, prev)
		dst = append(dst, '}')
	}
	dst = append(dst, `],"inflationRewardsCollector":`...)
	dst = appendPubkey(dst, v.inflationCollector)
	dst = append(dst, `,"inflationRewardsCommissionBps":`...)
	dst = appendU64(dst, uint64(v.inflationBps))
	dst = append(dst, `,"lastTimestamp":{"slot":`...)
	dst = appendU64(dst, v.lastTimestampSlot)
	dst = append(dst, `,"timestamp":`...)
	dst = appendI64(dst, v.lastTimestamp)
	dst = append(dst, `},"nodePubkey":`...)
	dst = appendPubkey(dst, v.node)
	dst = append(dst, `,"pendingDelegatorRewards":`...)
	dst = jsonw.AppendQuotedUint(dst, v.pendingRewards)
	dst = append(dst, `,"priorVoters":[],"rootSlot":`...)
	if v.hasRoot {
		dst = appendU64(dst, v.root)
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"votes":[`...)
	for i := 0; i+v.voteSize <= len(v.votes); i += v.voteSize {
		rr := reader{b: v.votes[i : i+v.voteSize]}
		var latency uint8
		if v.voteSize == 13 { // LandedVote starts with its latency
			latency = rr.u8()
		}
		slot, conf := rr.u64(), rr.u32()
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"confirmationCount":`...)
		dst = appendU64(dst, uint64(conf))
		dst = append(dst, `,"latency":`...)
		dst = appendU64(dst, uint64(latency))
		dst = append(dst, `,"slot":`...)
		dst = appendU64(dst, slot)
		dst = append(dst, '}')
	}
	return append(dst, `]},"type":"vote"}`...)
}
