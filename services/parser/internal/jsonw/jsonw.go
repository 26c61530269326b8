// Package jsonw holds the append-style JSON writers the decoders share:
// strings escaped as serde_json escapes them, and integers wider than 64 bits.
// Everything appends to a caller-owned buffer and allocates nothing.
package jsonw

import (
	"math/bits"
	"strconv"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string with serde_json's escaping: '"',
// '\\' and control characters below 0x20 are escaped (\b \f \n \r \t by
// name, the rest as \u00XX); everything else is copied. Bytes that are not
// valid UTF-8 become U+FFFD, so the output is always valid JSON; for valid
// UTF-8 input the output is byte-identical to serde_json's.
func AppendString[S ~string | ~[]byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(string(s[i:min(len(s), i+utf8.UTFMax)]))
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\ufffd`...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"':
			dst = append(dst, '\\', '"')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendQuotedUint appends v as a JSON string ("123"), the form Solana RPC
// and Firehole use for 64-bit amounts.
func AppendQuotedUint(dst []byte, v uint64) []byte {
	dst = append(dst, '"')
	dst = strconv.AppendUint(dst, v, 10)
	return append(dst, '"')
}

// AppendQuotedInt is AppendQuotedUint for signed values.
func AppendQuotedInt(dst []byte, v int64) []byte {
	dst = append(dst, '"')
	dst = strconv.AppendInt(dst, v, 10)
	return append(dst, '"')
}

// AppendUint128 appends the decimal digits of the unsigned 128-bit value
// hi:lo, by splitting it into base-10^19 chunks (no math/big).
func AppendUint128(dst []byte, hi, lo uint64) []byte {
	if hi == 0 {
		return strconv.AppendUint(dst, lo, 10)
	}
	const base = 1e19
	var chunks [3]uint64
	n := 0
	for hi != 0 || lo != 0 {
		var r uint64
		hi, r = hi/base, hi%base
		lo, r = bits.Div64(r, lo, base)
		chunks[n] = r
		n++
	}
	dst = strconv.AppendUint(dst, chunks[n-1], 10)
	for i := n - 2; i >= 0; i-- {
		var buf [19]byte
		v := chunks[i]
		for j := 18; j >= 0; j-- {
			buf[j] = byte('0' + v%10)
			v /= 10
		}
		dst = append(dst, buf[:]...)
	}
	return dst
}

// AppendInt128 appends the two's-complement 128-bit value hi:lo.
func AppendInt128(dst []byte, hi, lo uint64) []byte {
	if int64(hi) < 0 {
		dst = append(dst, '-')
		lo, hi = -lo, ^hi
		if lo == 0 {
			hi++
		}
	}
	return AppendUint128(dst, hi, lo)
}
