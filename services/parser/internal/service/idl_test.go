package service

import (
	"context"
	"strings"
	"testing"
)

// `parser idl fetch -help` prints the flags and exits 0, like `parser -help`.
func TestIDLFetchHelpExitsZero(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	err := IDLCommand(context.Background(), []string{"fetch", "-help"}, &out)
	if code := Exit(err); code != 0 {
		t.Errorf("exit code %d (error %v), want 0", code, err)
	}
	if !strings.Contains(out.String(), "-program") {
		t.Errorf("usage not printed: %q", out.String())
	}
}
