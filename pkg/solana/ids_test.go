package solana

import (
	"testing"

	"github.com/firehole/firehole/pkg/base58"
)

func TestIDsRoundTrip(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		k    [32]byte
		want string
	}{
		"system": {SystemProgramID, "11111111111111111111111111111111"},
		"token":  {TokenProgramID, "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"},
		"clock":  {SysvarClockID, "SysvarC1ock11111111111111111111111111111111"},
	} {
		if got := base58.Encode32(&c.k); got != c.want {
			t.Errorf("%s = %s, want %s", name, got, c.want)
		}
	}
	if SystemProgramID != [32]byte{} {
		t.Error("system program id is not all zeros")
	}
}
