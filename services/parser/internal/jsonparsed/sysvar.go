package jsonparsed

import (
	"github.com/firehole/firehole/services/parser/internal/jsonw"

	"github.com/firehole/firehole/pkg/solana"
)

// slotHistoryEntries is the fixed number of bits agave prints for the
// SlotHistory sysvar.
const slotHistoryEntries = 1024 * 1024

// parseSysvar renders a sysvar account, chosen by its address.
func parseSysvar(dst []byte, in Input, _ MintSource) ([]byte, string, error) {
	r := reader{b: in.Data}
	start := len(dst)
	var typ string
	switch in.Pubkey {
	case solana.SysvarClockID:
		slot, epochStart, epoch, leaderEpoch, unix := r.u64(), r.i64(), r.u64(), r.u64(), r.i64()
		typ = "clock"
		dst = append(dst, `{"info":{"epoch":`...)
		dst = appendU64(dst, epoch)
		dst = append(dst, `,"epochStartTimestamp":`...)
		dst = appendI64(dst, epochStart)
		dst = append(dst, `,"leaderScheduleEpoch":`...)
		dst = appendU64(dst, leaderEpoch)
		dst = append(dst, `,"slot":`...)
		dst = appendU64(dst, slot)
		dst = append(dst, `,"unixTimestamp":`...)
		dst = appendI64(dst, unix)
		dst = append(dst, '}')
	case solana.SysvarEpochScheduleID:
		slotsPerEpoch, offset, warmup, firstEpoch, firstSlot := r.u64(), r.u64(), r.boolStrict(), r.u64(), r.u64()
		typ = "epochSchedule"
		dst = append(dst, `{"info":{"firstNormalEpoch":`...)
		dst = appendU64(dst, firstEpoch)
		dst = append(dst, `,"firstNormalSlot":`...)
		dst = appendU64(dst, firstSlot)
		dst = append(dst, `,"leaderScheduleSlotOffset":`...)
		dst = appendU64(dst, offset)
		dst = append(dst, `,"slotsPerEpoch":`...)
		dst = appendU64(dst, slotsPerEpoch)
		dst = append(dst, `,"warmup":`...)
		dst = appendBool(dst, warmup)
		dst = append(dst, '}')
	case solana.SysvarFeesID:
		fee := r.u64()
		typ = "fees"
		dst = append(dst, `{"info":{"feeCalculator":{"lamportsPerSignature":`...)
		dst = jsonw.AppendQuotedUint(dst, fee)
		dst = append(dst, "}}"...)
	case solana.SysvarRecentBlockhashesID:
		entries := r.records(40)
		typ = "recentBlockhashes"
		dst = append(dst, `{"info":[`...)
		for i := 0; i+40 <= len(entries); i += 40 {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"blockhash":`...)
			dst = appendPubkey(dst, (*[32]byte)(entries[i:i+32]))
			dst = append(dst, `,"feeCalculator":{"lamportsPerSignature":`...)
			er := reader{b: entries[i+32 : i+40]}
			dst = jsonw.AppendQuotedUint(dst, er.u64())
			dst = append(dst, "}}"...)
		}
		dst = append(dst, ']')
	case solana.SysvarRentID:
		perByteYear, threshold, burn := r.u64(), r.f64(), r.u8()
		typ = "rent"
		dst = append(dst, `{"info":{"burnPercent":`...)
		dst = appendU64(dst, uint64(burn))
		dst = append(dst, `,"exemptionThreshold":`...)
		dst = appendF64(dst, threshold)
		dst = append(dst, `,"lamportsPerByteYear":`...)
		dst = jsonw.AppendQuotedUint(dst, perByteYear)
		dst = append(dst, '}')
	case solana.SysvarRewardsID:
		pointValue := r.f64()
		r.f64() // unused
		typ = "rewards"
		dst = append(dst, `{"info":{"validatorPointValue":`...)
		dst = appendF64(dst, pointValue)
		dst = append(dst, '}')
	case solana.SysvarSlotHashesID:
		entries := r.records(40)
		typ = "slotHashes"
		dst = append(dst, `{"info":[`...)
		for i := 0; i+40 <= len(entries); i += 40 {
			if i > 0 {
				dst = append(dst, ',')
			}
			er := reader{b: entries[i : i+40]}
			slot, hash := er.u64(), er.key()
			dst = append(dst, `{"hash":`...)
			dst = appendPubkey(dst, hash)
			dst = append(dst, `,"slot":`...)
			dst = appendU64(dst, slot)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	case solana.SysvarSlotHistoryID:
		// bincode bv::BitVec<u64>: Option<Box<[u64]>>, bit length; then
		// next_slot.
		var words []byte
		if r.option() {
			words = r.records(8)
		}
		nbits, next := r.u64(), r.u64()
		// Agave prints bits 0..2^20; a shorter bit vector cannot be printed.
		if r.bad || nbits < slotHistoryEntries || nbits > uint64(len(words))*8 {
			return dst, "", errLayout
		}
		typ = "slotHistory"
		dst = append(dst, `{"info":{"bits":"`...)
		dst = appendBits(dst, words)
		dst = append(dst, `","nextSlot":`...)
		dst = appendU64(dst, next)
		dst = append(dst, '}')
	case solana.SysvarStakeHistoryID:
		entries := r.records(32)
		typ = "stakeHistory"
		dst = append(dst, `{"info":[`...)
		for i := 0; i+32 <= len(entries); i += 32 {
			if i > 0 {
				dst = append(dst, ',')
			}
			er := reader{b: entries[i : i+32]}
			epoch, effective, activating, deactivating := er.u64(), er.u64(), er.u64(), er.u64()
			dst = append(dst, `{"epoch":`...)
			dst = appendU64(dst, epoch)
			dst = append(dst, `,"stakeHistory":{"activating":`...)
			dst = appendU64(dst, activating)
			dst = append(dst, `,"deactivating":`...)
			dst = appendU64(dst, deactivating)
			dst = append(dst, `,"effective":`...)
			dst = appendU64(dst, effective)
			dst = append(dst, "}}"...)
		}
		dst = append(dst, ']')
	case solana.SysvarLastRestartSlotID:
		slot := r.u64()
		typ = "lastRestartSlot"
		dst = append(dst, `{"info":{"lastRestartSlot":`...)
		dst = appendU64(dst, slot)
		dst = append(dst, '}')
	case solana.SysvarEpochRewardsID:
		height, partitions, parent := r.u64(), r.u64(), r.key()
		pointsLo, pointsHi := r.u64(), r.u64()
		total, distributed, active := r.u64(), r.u64(), r.boolStrict()
		typ = "epochRewards"
		dst = append(dst, `{"info":{"active":`...)
		dst = appendBool(dst, active)
		dst = append(dst, `,"distributedRewards":`...)
		dst = jsonw.AppendQuotedUint(dst, distributed)
		dst = append(dst, `,"distributionStartingBlockHeight":`...)
		dst = appendU64(dst, height)
		dst = append(dst, `,"numPartitions":`...)
		dst = appendU64(dst, partitions)
		dst = append(dst, `,"parentBlockhash":`...)
		dst = appendPubkey(dst, parent)
		dst = append(dst, `,"totalPoints":"`...)
		dst = jsonw.AppendUint128(dst, pointsHi, pointsLo)
		dst = append(dst, `","totalRewards":`...)
		dst = jsonw.AppendQuotedUint(dst, total)
		dst = append(dst, '}')
	default:
		return dst, "", errLayout
	}
	if r.bad {
		return dst[:start], "", errLayout
	}
	dst = append(dst, `,"type":"`...)
	dst = append(dst, typ...)
	return append(dst, `"}`...), typ, nil
}

// appendBits writes the first slotHistoryEntries bits, least significant
// bit of each little-endian u64 word first, as '0'/'1'.
func appendBits(dst, words []byte) []byte {
	dst = append(dst, make([]byte, slotHistoryEntries)...)
	out := dst[len(dst)-slotHistoryEntries:]
	for i := range out {
		out[i] = '0' + (words[i/8]>>(i%8))&1
	}
	return dst
}
