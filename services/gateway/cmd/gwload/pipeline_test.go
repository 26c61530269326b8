package main

import (
	"math"
	"testing"
)

func TestHistogramQuantile(t *testing.T) {
	t.Parallel()
	h := hist{bounds: []float64{0.001, 0.002, 0.004, math.Inf(1)}, counts: []float64{50, 90, 100, 100}, count: 100}
	for _, tc := range []struct{ q, want float64 }{
		{0.25, 0.0005}, // halfway into the first bucket
		{0.5, 0.001},
		{0.7, 0.0015},
		{0.99, 0.0038},
	} {
		if got := h.quantile(tc.q); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	d := h.minus(hist{bounds: h.bounds, counts: []float64{50, 50, 50, 50}, count: 50})
	if p := d.quantile(0.5); d.count != 50 || math.Abs(p-0.001625) > 1e-9 { // 25th of 40 in (1ms, 2ms]
		t.Errorf("difference: count %v, p50 %v", d.count, d.quantile(0.5))
	}
	if !math.IsNaN((hist{}).quantile(0.5)) {
		t.Error("an empty histogram has no quantile")
	}
}
