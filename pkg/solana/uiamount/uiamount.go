// Package uiamount writes Solana's token amounts and floats the way agave's
// RPC prints them: UiTokenAmount (with Token-2022 interest-bearing and
// scaled-UI-amount mints) and serde_json's / Rust's float formats. The
// parser's jsonParsed decoders and the gateway's token methods share it.
package uiamount

import (
	"math"
	"math/big"
	"strconv"
)

// InterestBearingConfig is the part of a Token-2022 InterestBearingConfig
// mint extension needed to compute UI amounts. Rates are in basis points.
type InterestBearingConfig struct {
	InitializationTimestamp int64
	PreUpdateAverageRate    int16
	LastUpdateTimestamp     int64
	CurrentRate             int16
}

// ScaledUIAmountConfig is the part of a Token-2022 ScaledUiAmountConfig mint
// extension needed to compute UI amounts.
type ScaledUIAmountConfig struct {
	Multiplier                      float64
	NewMultiplierEffectiveTimestamp int64
	NewMultiplier                   float64
}

// MintInfo is what a token account's UI amounts depend on.
type MintInfo struct {
	Decimals           uint8
	HasInterestBearing bool
	InterestBearing    InterestBearingConfig
	HasScaledUIAmount  bool
	ScaledUIAmount     ScaledUIAmountConfig
}

// AppendTokenAmount writes agave's UiTokenAmount of amount for a mint
// described by mi, at unix time now (for interest-bearing and scaled mints):
// {"amount","decimals","uiAmount","uiAmountString"}, keys sorted.
func AppendTokenAmount(dst []byte, amount uint64, mi *MintInfo, now int64) []byte {
	dst = append(dst, `{"amount":"`...)
	dst = strconv.AppendUint(dst, amount, 10)
	dst = append(dst, `","decimals":`...)
	dst = strconv.AppendUint(dst, uint64(mi.Decimals), 10)
	dst = append(dst, `,"uiAmount":`...)
	switch {
	case mi.HasInterestBearing || mi.HasScaledUIAmount:
		var buf [64]byte
		s, ok := extensionUIAmount(buf[:0], amount, mi, now)
		if ok {
			// agave parses its own string back into the f64 it prints.
			f, err := strconv.ParseFloat(string(s), 64)
			if err != nil {
				f = parseRustSpecial(s)
			}
			dst = AppendF64(dst, f)
		} else {
			dst = append(dst, "null"...)
		}
		dst = append(dst, `,"uiAmountString":"`...)
		dst = append(dst, s...)
	default:
		if mi.Decimals < uint8(len(pow10)) {
			dst = AppendF64(dst, float64(amount)/pow10[mi.Decimals])
		} else {
			// 10^decimals overflows a u64 in agave: no uiAmount.
			dst = append(dst, "null"...)
		}
		dst = append(dst, `,"uiAmountString":"`...)
		dst = appendRealNumberTrimmed(dst, amount, mi.Decimals)
	}
	return append(dst, `"}`...)
}

// pow10 holds 10^0..10^19, the powers of ten that fit in a u64; all are
// exact in float64.
var pow10 = [20]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
	1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19}

// appendRealNumberTrimmed writes amount / 10^decimals in plain decimal with
// trailing fractional zeros (and a bare point) removed.
func appendRealNumberTrimmed(dst []byte, amount uint64, decimals uint8) []byte {
	var buf [20]byte
	digits := strconv.AppendUint(buf[:0], amount, 10)
	d := int(decimals)
	if d == 0 {
		return append(dst, digits...)
	}
	if len(digits) <= d {
		dst = append(dst, '0', '.')
		for range d - len(digits) {
			dst = append(dst, '0')
		}
		dst = append(dst, digits...)
	} else {
		dst = append(dst, digits[:len(digits)-d]...)
		dst = append(dst, '.')
		dst = append(dst, digits[len(digits)-d:]...)
	}
	return trimUIAmount(dst)
}

// trimUIAmount removes trailing zeros after a decimal point, then the point.
// The caller guarantees the number at the end of dst has a decimal point.
func trimUIAmount(dst []byte) []byte {
	for dst[len(dst)-1] == '0' {
		dst = dst[:len(dst)-1]
	}
	if dst[len(dst)-1] == '.' {
		dst = dst[:len(dst)-1]
	}
	return dst
}

// Token-2022's conversion constants for interest-bearing mints.
const (
	secondsPerYear   = 60 * 60 * 24 * 365.24
	oneInBasisPoints = 10000.0
)

// powi10 computes 10^n by square-and-multiply, the way Rust's f64::powi
// (compiler-rt __powidf2) does, so results match bit for bit for large n.
func powi10(n int) float64 {
	a, r := 10.0, 1.0
	for {
		if n&1 != 0 {
			r *= a
		}
		n /= 2
		if n == 0 {
			return r
		}
		a *= a
	}
}

// rateExp computes exp(rate·span / secondsPerYear / 10^4), with the product
// formed exactly (as Rust's i128) and rounded once to f64.
func rateExp(rate int16, span int64) float64 {
	r := int64(rate)
	p := r * span
	var num float64
	if r == 0 || (p/r == span && !(r == -1 && span == math.MinInt64)) {
		num = float64(p)
	} else {
		bp := new(big.Int).Mul(big.NewInt(r), big.NewInt(span))
		num, _ = new(big.Float).SetInt(bp).Float64()
	}
	return math.Exp(num / secondsPerYear / oneInBasisPoints)
}

// extensionUIAmount implements Token-2022's amount_to_ui_amount for
// interest-bearing and scaled-UI-amount mints: the value formatted with
// exactly `decimals` fractional digits, then trimmed. ok is false when the
// interest computation overflows (agave then prints uiAmount null and an
// empty uiAmountString).
func extensionUIAmount(dst []byte, amount uint64, mi *MintInfo, now int64) ([]byte, bool) {
	d := int(mi.Decimals)
	var v float64
	if mi.HasInterestBearing {
		c := &mi.InterestBearing
		pre, ok1 := subI64(c.LastUpdateTimestamp, c.InitializationTimestamp)
		post, ok2 := subI64(now, c.LastUpdateTimestamp)
		if !ok1 || !ok2 {
			return dst, false
		}
		scale := rateExp(c.PreUpdateAverageRate, pre) * rateExp(c.CurrentRate, post) / powi10(d)
		v = float64(amount) * scale
	} else {
		c := &mi.ScaledUIAmount
		mult := c.Multiplier
		if now >= c.NewMultiplierEffectiveTimestamp {
			mult = c.NewMultiplier
		}
		// The scaled raw amount is truncated to whole base units before
		// the decimals are applied.
		v = math.Trunc(float64(amount)*mult) / powi10(d)
	}
	switch {
	case math.IsNaN(v):
		return append(dst, "NaN"...), true
	case math.IsInf(v, 1):
		return append(dst, "inf"...), true
	case math.IsInf(v, -1):
		return append(dst, "-inf"...), true
	}
	dst = strconv.AppendFloat(dst, v, 'f', d, 64)
	if d > 0 {
		dst = trimUIAmount(dst)
	}
	return dst, true
}

// parseRustSpecial maps Rust's spellings of non-finite floats.
func parseRustSpecial(s []byte) float64 {
	switch string(s) {
	case "inf":
		return math.Inf(1)
	case "-inf":
		return math.Inf(-1)
	}
	return math.NaN()
}

func subI64(a, b int64) (int64, bool) {
	d := a - b
	if (b > 0 && d > a) || (b < 0 && d < a) {
		return 0, false
	}
	return d, true
}
