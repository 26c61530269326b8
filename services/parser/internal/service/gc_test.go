package service_test

import (
	"testing"

	"github.com/firehole/firehole/services/parser/internal/service"
)

func TestDefaultGC(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		gogc    string
		wantPct int
		wantSet bool
	}{
		{"", service.GCPercent, true},
		{"100", 0, false},
		{"off", 0, false},
	} {
		pct, set := service.DefaultGC(func(k string) string {
			if k == "GOGC" {
				return c.gogc
			}
			return ""
		})
		if pct != c.wantPct || set != c.wantSet {
			t.Errorf("GOGC=%q: got (%d, %v), want (%d, %v)", c.gogc, pct, set, c.wantPct, c.wantSet)
		}
	}
}
