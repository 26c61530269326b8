package jsonparsed

import "github.com/firehole/firehole/services/parser/internal/jsonw"

// lookupTableMetaSize is the fixed header before the address list.
const lookupTableMetaSize = 56

// parseLookupTable renders an address lookup table: a bincode ProgramState
// header padded to 56 bytes, then packed 32-byte addresses.
func parseLookupTable(dst []byte, in Input, _ MintSource) ([]byte, string, error) {
	r := reader{b: in.Data}
	tag := r.u32()
	if r.bad || tag > 1 {
		return dst, "", errLayout
	}
	if tag == 0 {
		return append(dst, `{"type":"uninitialized"}`...), "uninitialized", nil
	}
	deactivation, lastExtended, startIndex := r.u64(), r.u64(), r.u8()
	var authority *[32]byte
	if r.option() {
		authority = r.key()
	}
	r.u16() // padding
	if r.bad || len(in.Data) < lookupTableMetaSize || (len(in.Data)-lookupTableMetaSize)%32 != 0 {
		return dst, "", errLayout
	}
	dst = append(dst, `{"info":{"addresses":[`...)
	for i := lookupTableMetaSize; i < len(in.Data); i += 32 {
		if i > lookupTableMetaSize {
			dst = append(dst, ',')
		}
		dst = appendPubkey(dst, (*[32]byte)(in.Data[i:i+32]))
	}
	dst = append(dst, ']')
	if authority != nil {
		dst = append(dst, `,"authority":`...)
		dst = appendPubkey(dst, authority)
	}
	dst = append(dst, `,"deactivationSlot":`...)
	dst = jsonw.AppendQuotedUint(dst, deactivation)
	dst = append(dst, `,"lastExtendedSlot":`...)
	dst = jsonw.AppendQuotedUint(dst, lastExtended)
	dst = append(dst, `,"lastExtendedSlotStartIndex":`...)
	dst = appendU64(dst, uint64(startIndex))
	return append(dst, `},"type":"lookupTable"}`...), "lookupTable", nil
}
