package jsonparsed

import "github.com/firehole/firehole/services/parser/internal/jsonw"

// parseNonce renders a system-program-owned durable nonce account
// (bincode NonceVersions → State). Like agave, an Uninitialized nonce is not
// parsable: an allocated, zeroed system account must not show up as a nonce.
func parseNonce(dst []byte, in Input, _ MintSource) ([]byte, string, error) {
	r := reader{b: in.Data}
	version := r.u32()
	state := r.u32()
	if r.bad || version > 1 || state != 1 {
		return dst, "", errLayout
	}
	authority, blockhash, fee := r.key(), r.key(), r.u64()
	if r.bad {
		return dst, "", errLayout
	}
	dst = append(dst, `{"info":{"authority":`...)
	dst = appendPubkey(dst, authority)
	dst = append(dst, `,"blockhash":`...)
	dst = appendPubkey(dst, blockhash)
	dst = append(dst, `,"feeCalculator":{"lamportsPerSignature":`...)
	dst = jsonw.AppendQuotedUint(dst, fee)
	return append(dst, `}},"type":"initialized"}`...), "initialized", nil
}
