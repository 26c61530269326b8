package lifecycle

import (
	"os"
	"runtime/debug"

	"github.com/rs/zerolog"
)

// DefaultGCPercent returns percent and true when the GOGC variable (read
// through getenv) is not set, so that a service may use its own default;
// an operator's GOGC always wins.
func DefaultGCPercent(getenv func(string) string, percent int) (int, bool) {
	if getenv("GOGC") != "" {
		return 0, false
	}
	return percent, true
}

// SetGCDefault sets the garbage collection target to percent unless GOGC is
// set. Pipeline services allocate per message over a small live heap, where
// the runtime's default of 100 spends a tenth or more of their CPU on
// collection; GOMEMLIMIT, when set, still caps the heap.
func SetGCDefault(log zerolog.Logger, percent int) {
	if pct, ok := DefaultGCPercent(os.Getenv, percent); ok {
		debug.SetGCPercent(pct)
		log.Info().Int("gc_percent", pct).Msg("GOGC not set; using the service's default")
	}
}
