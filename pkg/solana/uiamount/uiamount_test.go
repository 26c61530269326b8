package uiamount

import (
	"math"
	"testing"
)

func TestFloatFormats(t *testing.T) {
	t.Parallel()
	serde := map[float64]string{
		1: "1.0", 0: "0.0", math.Copysign(0, -1): "-0.0", 0.25: "0.25", -2.5: "-2.5", 9999999779.5: "9999999779.5",
		1e15: "1000000000000000.0", 1e16: "1e16", 1.5e16: "1.5e16", 123456789012345680: "1.2345678901234568e17",
		1e-5: "0.00001", 1.5e-5: "0.000015", 1e-6: "1e-6", 1.5e-7: "1.5e-7", 5e-324: "5e-324",
		math.MaxFloat64: "1.7976931348623157e308", math.Inf(1): "null", math.NaN(): "null", 0.1: "0.1",
	}
	for f, want := range serde {
		if got := string(AppendF64(nil, f)); got != want {
			t.Errorf("AppendF64(%v) = %s, want %s", f, got, want)
		}
	}
	display := map[float64]string{
		1: "1", 2: "2", 1.5: "1.5", 1.0026642075893797: "1.0026642075893797", 1e21: "1000000000000000000000",
		1e-7: "0.0000001", math.Copysign(0, -1): "-0", math.Inf(1): "inf", math.Inf(-1): "-inf", math.NaN(): "NaN", 0: "0",
	}
	for f, want := range display {
		if got := string(AppendRustDisplayF64(nil, f)); got != want {
			t.Errorf("AppendRustDisplayF64(%v) = %s, want %s", f, got, want)
		}
	}
	for _, c := range []struct {
		amount   uint64
		decimals uint8
		want     string
	}{
		{0, 0, "0"}, {0, 9, "0"}, {100, 2, "1"}, {1050, 3, "1.05"}, {5, 3, "0.005"}, {10, 1, "1"}, {123, 0, "123"},
		{math.MaxUint64, 25, "0.0000018446744073709551615"},
	} {
		if got := string(appendRealNumberTrimmed(nil, c.amount, c.decimals)); got != c.want {
			t.Errorf("appendRealNumberTrimmed(%d, %d) = %s, want %s", c.amount, c.decimals, got, c.want)
		}
	}
	if got := powi10(0); got != 1 {
		t.Errorf("powi10(0) = %v", got)
	}
	for n := 1; n <= 22; n++ {
		if got, want := powi10(n), math.Pow10(n); got != want {
			t.Errorf("powi10(%d) = %v, want %v", n, got, want)
		}
	}
}

// Expected strings: the amount_to_ui_amount unit tests of
// spl-token-2022-interface v1–v3 (interface/src/extension/
// interest_bearing_mint/mod.rs and scaled_ui_amount/mod.rs), which agave's
// token_amount_to_ui_amount_v3 (account-decoder/src/parse_token.rs) calls
// for uiAmountString. Those versions truncate the scaled amount to whole
// base units before applying the decimals.
func TestExtensionUIAmountMatchesToken2022(t *testing.T) {
	t.Parallel()
	const year = 31_556_736
	const one = 1_000_000_000_000_000_000
	interest := func(pre, cur int16) MintInfo {
		return MintInfo{HasInterestBearing: true, InterestBearing: InterestBearingConfig{
			PreUpdateAverageRate: pre, LastUpdateTimestamp: year, CurrentRate: cur}}
	}
	scaled := func(m float64) MintInfo {
		return MintInfo{HasScaledUIAmount: true, ScaledUIAmount: ScaledUIAmountConfig{
			Multiplier: m, NewMultiplierEffectiveTimestamp: 1}}
	}
	for _, c := range []struct {
		mi       MintInfo
		decimals uint8
		amount   uint64
		now      int64
		want     string
	}{
		{interest(500, 500), 18, one, year, "1.051271096376024117"},
		{interest(500, 500), 19, one, year, "0.1051271096376024117"},
		{interest(500, 500), 28, one, year, "0.0000000001051271096376024175"},
		{interest(500, 500), 10, 10_000_000_000, year, "1.0512710964"},
		{interest(-500, -500), 18, one, year, "0.951229424500713905"},
		{interest(-500, 500), 0, 1, 2 * year, "1"},
		{interest(500, 500), 0, 1<<64 - 1, 2 * year, "20386805083448098816"},
		{interest(500, 500), 0, 1<<64 - 1, 10_000 * year, "258917064265813826192025834755112557504850551118283225815045099303279643822914042296793377611277551888244755303462190670431480816358154467489350925148558569427069926786360814068189956495940285398273555561779717914539956777398245259214848"},
		{scaled(5), 0, 1, 0, "5"},
		{scaled(5), 1, 1, 0, "0.5"},
		{scaled(5), 10, 1, 0, "0.0000000005"},
		{scaled(5), 10, 10_000_000_000, 0, "5"},
		{scaled(1.7976931348623157e308), 0, 1<<64 - 1, 0, "inf"},
		{scaled(0.99), 2, 101, 0, "0.99"},
		{scaled(1), 2, 23, 0, "0.23"},
		{scaled(1), 2, 110, 0, "1.1"},
		{scaled(1), 2, 4200, 0, "42"},
		{scaled(1), 2, 0, 0, "0"},
	} {
		mi := c.mi
		mi.Decimals = c.decimals
		got, ok := extensionUIAmount(nil, c.amount, &mi, c.now)
		if !ok || string(got) != c.want {
			t.Errorf("%+v amount %d at %d: got %q (%v), want %q", mi, c.amount, c.now, got, ok, c.want)
		}
	}
}
