package jsonparsed

import (
	"encoding/base64"
	"strconv"
	"unicode/utf8"

	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/pkg/solana/uiamount"
)

// The helpers below append JSON fragments to a buffer. Object keys are
// written by the callers in byte order: agave turns every parsed struct into
// a serde_json::Value whose maps are BTreeMaps, so a node prints keys sorted.

func appendPubkey(dst []byte, k *[32]byte) []byte {
	dst = append(dst, '"')
	dst = base58.AppendEncode32(dst, k)
	return append(dst, '"')
}

// appendOptPubkey writes null for an all-zero key, the way agave renders
// COption::None-like "optional non-zero" pubkeys.
func appendOptPubkey(dst []byte, k *[32]byte) []byte {
	if *k == ([32]byte{}) {
		return append(dst, "null"...)
	}
	return appendPubkey(dst, k)
}

func appendU64(dst []byte, v uint64) []byte { return strconv.AppendUint(dst, v, 10) }

func appendI64(dst []byte, v int64) []byte { return strconv.AppendInt(dst, v, 10) }

func appendBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, "true"...)
	}
	return append(dst, "false"...)
}

func appendBase64String(dst, b []byte) []byte {
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, b)
	return append(dst, '"')
}

func appendF64(dst []byte, f float64) []byte { return uiamount.AppendF64(dst, f) }

func appendRustDisplayF64(dst []byte, f float64) []byte { return uiamount.AppendRustDisplayF64(dst, f) }

// validString reports whether b would deserialize as a Rust String.
func validString(b []byte) bool { return utf8.Valid(b) }
