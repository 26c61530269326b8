package uiamount

import (
	"math"
	"strconv"
)

// floatDigits splits a finite, non-zero |f| into its shortest round-trip
// decimal digits and the position of the decimal point relative to the first
// digit: |f| = 0.d1d2...dn × 10^point.
func floatDigits(buf *[32]byte, f float64) (digits []byte, point int) {
	s := strconv.AppendFloat(buf[:0], math.Abs(f), 'e', -1, 64) // d.ddde±xx
	e := len(s) - 1
	for s[e] != 'e' {
		e--
	}
	exp, neg := 0, false
	for _, c := range s[e+1:] {
		switch c {
		case '-':
			neg = true
		case '+':
		default:
			exp = exp*10 + int(c-'0')
		}
	}
	if neg {
		exp = -exp
	}
	// Drop the '.' in place.
	n := 0
	for _, c := range s[:e] {
		if c != '.' {
			s[n] = c
			n++
		}
	}
	return s[:n], exp + 1
}

// AppendF64 writes f exactly as serde_json does (ryu, "1.0", "0.0", "1e20"),
// and non-finite values as null.
func AppendF64(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	if math.Signbit(f) {
		dst = append(dst, '-')
	}
	if f == 0 {
		return append(dst, "0.0"...)
	}
	var buf [32]byte
	d, kk := floatDigits(&buf, f)
	n := len(d)
	switch {
	case kk >= n && kk <= 16: // integral: 1234e7 -> 12340000000.0
		dst = append(dst, d...)
		for range kk - n {
			dst = append(dst, '0')
		}
		return append(dst, ".0"...)
	case kk > 0 && kk <= 16: // 12.34
		dst = append(dst, d[:kk]...)
		dst = append(dst, '.')
		return append(dst, d[kk:]...)
	case kk > -5 && kk <= 0: // 0.001234
		dst = append(dst, "0."...)
		for range -kk {
			dst = append(dst, '0')
		}
		return append(dst, d...)
	default: // 1e30, 1.234e33, 1.5e-7
		dst = append(dst, d[0])
		if n > 1 {
			dst = append(dst, '.')
			dst = append(dst, d[1:]...)
		}
		dst = append(dst, 'e')
		return strconv.AppendInt(dst, int64(kk-1), 10)
	}
}

// AppendRustDisplayF64 writes f as Rust's `f64::to_string` does: shortest
// round-trip digits, never an exponent, no ".0" for integral values.
func AppendRustDisplayF64(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "inf"...)
	case math.IsInf(f, -1):
		return append(dst, "-inf"...)
	}
	if math.Signbit(f) {
		dst = append(dst, '-')
	}
	if f == 0 {
		return append(dst, '0')
	}
	var buf [32]byte
	d, kk := floatDigits(&buf, f)
	switch {
	case kk <= 0:
		dst = append(dst, "0."...)
		for range -kk {
			dst = append(dst, '0')
		}
		return append(dst, d...)
	case kk >= len(d):
		dst = append(dst, d...)
		for range kk - len(d) {
			dst = append(dst, '0')
		}
		return dst
	default:
		dst = append(dst, d[:kk]...)
		dst = append(dst, '.')
		return append(dst, d[kk:]...)
	}
}
