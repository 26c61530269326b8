package anchor

import (
	"errors"
	"testing"

	"github.com/firehole/firehole/pkg/base58"
)

const deployIDLDir = "../../../../deploy/idl"

// TestDeployIDLs: every IDL the parser ships with loads, has an address, and
// no two share one.
func TestDeployIDLs(t *testing.T) {
	t.Parallel()
	progs, err := LoadDir(deployIDLDir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"firehole_demo": "9gwaxBNB8bubdrnNs1sdbs7gcd1m67mNZuCeBAxmonEx",
		"whirlpool":     "whirLbMiicVdio4qvUfM5KAg6Ct8VwpYzGff3uctyCc",
		"amm_v3":        "CAMMCzo5YL8w4VFF8KVHrK22GGUsp5VTaW7grrKgrWqK",
		"lb_clmm":       "LBUZKhRxPF3XUpBCjp4YzTKgLccjZhTSDM9YuVaPwxo",
		"perpetuals":    "PERPHjGBqRHArX4DySjwM6UJHiR3sWAatqfdBS2qQJu",
	}
	if len(progs) != len(want) {
		t.Fatalf("loaded %d programs, want %d", len(progs), len(want))
	}
	seen := map[[32]byte]string{}
	for _, p := range progs {
		addr, ok := p.Address()
		if !ok {
			t.Errorf("%s has no address", p.Name())
			continue
		}
		if got := base58.Encode32(&addr); got != want[p.Name()] {
			t.Errorf("%s address %s, want %s", p.Name(), got, want[p.Name()])
		}
		if other, dup := seen[addr]; dup {
			t.Errorf("%s and %s share an address", p.Name(), other)
		}
		seen[addr] = p.Name()
	}
}

// TestDemoAccounts decodes hand-encoded firehole_demo accounts, the way the
// simulator writes them.
func TestDemoAccounts(t *testing.T) {
	t.Parallel()
	progs, err := LoadDir(deployIDLDir)
	if err != nil {
		t.Fatal(err)
	}
	var demo *Program
	for _, p := range progs {
		if p.Name() == "firehole_demo" {
			demo = p
		}
	}
	if demo == nil {
		t.Fatal("firehole_demo IDL not found")
	}
	var authority, mint [32]byte
	authority[31] = 1 // 11111111111111111111111111111112
	for i := range mint {
		mint[i] = 0xff // JEKNVnkbo3jma5nREBBJCDoXFVeKkD56V3xKrvRmWxFG
	}
	vault := accountDisc("Vault").raw(authority[:]...).raw(mint[:]...).u64(1_000_000_000_000).u8(254).u64(uint64(1700000000))
	position := accountDisc("Position").raw(mint[:]...).raw(authority[:]...).u64(42).u8(1).u64(123456789).str("alpha ✓")
	neg := accountDisc("Vault").raw(authority[:]...).raw(mint[:]...).u64(0).u8(0).u64(^uint64(0))

	tests := []struct {
		name     string
		data     []byte
		wantType string
		want     string
	}{
		{"vault", vault, "Vault", `{"authority":"11111111111111111111111111111112","mint":"JEKNVnkbo3jma5nREBBJCDoXFVeKkD56V3xKrvRmWxFG","balance":"1000000000000","bump":254,"created_at":"1700000000"}`},
		{"vault negative time", neg, "Vault", `{"authority":"11111111111111111111111111111112","mint":"JEKNVnkbo3jma5nREBBJCDoXFVeKkD56V3xKrvRmWxFG","balance":"0","bump":0,"created_at":"-1"}`},
		{"position", position, "Position", `{"owner":"JEKNVnkbo3jma5nREBBJCDoXFVeKkD56V3xKrvRmWxFG","vault":"11111111111111111111111111111112","amount":"42","side":"Short","opened_slot":"123456789","label":"alpha ✓"}`},
	}
	for _, tt := range tests {
		out, typ, n, err := demo.AppendDecodeConsumed(nil, tt.data)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if typ != tt.wantType || string(out) != tt.want || n != len(tt.data) {
			t.Errorf("%s: got %s %s (%d of %d bytes)\nwant %s", tt.name, typ, out, n, len(tt.data), tt.want)
		}
	}
	if len(vault) != 8+81 {
		t.Errorf("vault is %d bytes, want 89", len(vault))
	}
	// A side byte beyond the enum is rejected.
	bad := append([]byte{}, position...)
	bad[8+32+32+8] = 2
	if _, _, err := demo.AppendDecode(nil, bad); !errors.Is(err, ErrInvalidData) {
		t.Errorf("side 2: err = %v, want ErrInvalidData", err)
	}
}
