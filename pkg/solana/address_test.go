package solana

import (
	"testing"

	"github.com/firehole/firehole/pkg/base58"
)

func key(t *testing.T, s string) [32]byte {
	t.Helper()
	k, err := base58.Decode32(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// The expected values were computed with gagliardetto/solana-go, an
// independent implementation, for these inputs.
func TestProgramAddresses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		program, base string
		bump          uint8
		idl           string
	}{
		{"whirLbMiicVdio4qvUfM5KAg6Ct8VwpYzGff3uctyCc", "HqXLYaUXkfdGhWMuciBEN9MouqLu5wJYWdepP5TspmXj", 255, "2KFqE4RWoPVbvodo8vbggCFeHPS8TDvgpwp79ALMrcyn"},
		{"9gwaxBNB8bubdrnNs1sdbs7gcd1m67mNZuCeBAxmonEx", "5cPL7qNLJJQPXnkXDywuVz1sCYEYfiRi8ZjhKER9RZhu", 254, "2S7b3hsPvxcLZoLaq5yWsvU6ojrw2DAPRAp6LZEdzTDs"},
		{"TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA", "29aDZ12ST2mQkLeVfoeKkkm7WA83MCyiGU3Zf8MjDDGV", 255, "4nmzuuebvZ9EVghi2khvz9SyxUNvuXXdAzWtG5N7avYf"},
	} {
		prog := key(t, tc.program)
		base, bump, err := FindProgramAddress(nil, prog)
		if err != nil || base != key(t, tc.base) || bump != tc.bump {
			t.Errorf("FindProgramAddress([], %s) = %s %d %v, want %s %d", tc.program, base58.Encode32(&base), bump, err, tc.base, tc.bump)
		}
		idl, err := CreateWithSeed(base, "anchor:idl", prog)
		if err != nil || idl != key(t, tc.idl) {
			t.Errorf("CreateWithSeed(%s, anchor:idl) = %s, want %s", tc.base, base58.Encode32(&idl), tc.idl)
		}
	}
	k, bump, err := FindProgramAddress([][]byte{[]byte("hello"), {1, 2, 3}}, TokenProgramID)
	if err != nil || k != key(t, "6kCY9T6thm9aM6DuXkXWf4ZXk9FJ7nRiFKygbENVKFy5") || bump != 254 {
		t.Errorf("seeded PDA = %s %d %v", base58.Encode32(&k), bump, err)
	}
	if OnCurve(k) || !OnCurve(TokenProgramID) {
		t.Error("a PDA must be off the curve and a program id (a public key) on it")
	}
	if _, err := CreateProgramAddress([][]byte{make([]byte, 33)}, TokenProgramID); err == nil {
		t.Error("a 33-byte seed must be refused")
	}
}
