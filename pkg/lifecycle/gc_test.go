package lifecycle

import "testing"

func TestDefaultGCPercent(t *testing.T) {
	t.Parallel()
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "GOGC" {
				return v
			}
			return ""
		}
	}
	if pct, ok := DefaultGCPercent(env(""), 400); !ok || pct != 400 {
		t.Errorf("GOGC unset: (%d, %v), want (400, true)", pct, ok)
	}
	if _, ok := DefaultGCPercent(env("off"), 400); ok {
		t.Error("GOGC=off must win over the service default")
	}
}
