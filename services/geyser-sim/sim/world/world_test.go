package world

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/pkg/solana"
)

// idlFile is the demo program's IDL, owned by the parser side; reading it
// keeps the simulator's accounts in step with it.
var idlFile = filepath.Join("..", "..", "..", "..", "deploy", "idl", "firehole_demo.json")

type idl struct {
	Address  string `json:"address"`
	Accounts []struct {
		Name          string `json:"name"`
		Discriminator []byte `json:"-"`
		Raw           []int  `json:"discriminator"`
	} `json:"accounts"`
	Types []struct {
		Name string `json:"name"`
		Type struct {
			Kind   string `json:"kind"`
			Fields []struct {
				Name string          `json:"name"`
				Type json.RawMessage `json:"type"`
			} `json:"fields"`
			Variants []struct {
				Name string `json:"name"`
			} `json:"variants"`
		} `json:"type"`
	} `json:"types"`
}

// borshSkip advances over one value of an IDL type in d, returning the rest.
func borshSkip(t *testing.T, typ json.RawMessage, d []byte, enums map[string]int) []byte {
	t.Helper()
	var prim string
	if json.Unmarshal(typ, &prim) == nil {
		size := map[string]int{"pubkey": 32, "u64": 8, "i64": 8, "u8": 1, "bool": 1, "u32": 4, "u16": 2}
		if prim == "string" {
			n := int(binary.LittleEndian.Uint32(d))
			return d[4+n:]
		}
		n, ok := size[prim]
		if !ok {
			t.Fatalf("test does not know IDL type %q", prim)
		}
		return d[n:]
	}
	var def struct {
		Defined struct {
			Name string `json:"name"`
		} `json:"defined"`
	}
	if err := json.Unmarshal(typ, &def); err != nil || def.Defined.Name == "" {
		t.Fatalf("test does not know IDL type %s", typ)
	}
	variants, ok := enums[def.Defined.Name]
	if !ok {
		t.Fatalf("unknown defined type %s", def.Defined.Name)
	}
	if int(d[0]) >= variants {
		t.Fatalf("enum %s variant %d out of %d", def.Defined.Name, d[0], variants)
	}
	return d[1:]
}

func TestDemoProgramMatchesIDL(t *testing.T) {
	raw, err := os.ReadFile(idlFile)
	if err != nil {
		t.Fatalf("read the demo IDL: %v", err)
	}
	var doc idl
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Address != base58.Encode32(&DemoProgramID) {
		t.Fatalf("IDL address %s, simulator uses %s", doc.Address, base58.Encode32(&DemoProgramID))
	}
	discs := map[string][8]byte{"Vault": VaultDiscriminator, "Position": PositionDiscriminator}
	for _, a := range doc.Accounts {
		want, ok := discs[a.Name]
		if !ok {
			t.Fatalf("IDL account %s unknown to the simulator", a.Name)
		}
		var got [8]byte
		for i, v := range a.Raw {
			got[i] = byte(v)
		}
		if got != want {
			t.Fatalf("%s discriminator: IDL %v, simulator %v", a.Name, got, want)
		}
	}
	enums := map[string]int{}
	fields := map[string][]json.RawMessage{}
	for _, ty := range doc.Types {
		if ty.Type.Kind == "enum" {
			enums[ty.Name] = len(ty.Type.Variants)
		}
		for _, f := range ty.Type.Fields {
			fields[ty.Name] = append(fields[ty.Name], f.Type)
		}
	}
	w := New(Config{Seed: 3})
	for range 2000 {
		w.Tx(7, func(*Update) {})
	}
	checked := map[Kind]int{}
	for _, a := range w.Accounts() {
		var name string
		switch a.Kind {
		case KindVault:
			name = "Vault"
		case KindPosition:
			name = "Position"
		default:
			continue
		}
		if a.Owner != DemoProgramID {
			t.Fatalf("%s account owned by %x", name, a.Owner)
		}
		d := a.Data
		disc := discs[name]
		if !bytes.Equal(d[:8], disc[:]) {
			t.Fatalf("%s data starts %x", name, d[:8])
		}
		rest := d[8:]
		for _, ft := range fields[name] {
			rest = borshSkip(t, ft, rest, enums)
		}
		if len(rest) != 0 {
			t.Fatalf("%s: %d bytes left after the IDL's fields", name, len(rest))
		}
		checked[a.Kind]++
	}
	if checked[KindVault] == 0 || checked[KindPosition] == 0 {
		t.Fatalf("no demo accounts checked: %v", checked)
	}
}

func TestLayouts(t *testing.T) {
	t.Parallel()
	w := New(Config{Seed: 9})
	counts := map[Kind]int{}
	for _, a := range w.Accounts() {
		counts[a.Kind]++
		d := a.Data
		switch a.Kind {
		case KindWallet:
			if len(d) != 0 || a.Owner != solana.SystemProgramID {
				t.Fatalf("wallet with %d bytes", len(d))
			}
		case KindNonce:
			if len(d) != NonceLen || binary.LittleEndian.Uint32(d[4:]) != 1 {
				t.Fatalf("nonce %x", d)
			}
		case KindMint:
			if len(d) != MintLen || d[45] != 1 || a.Owner != solana.TokenProgramID {
				t.Fatalf("mint %x", d)
			}
		case KindMint2022:
			if len(d) <= TokenAccountLen || d[165] != 1 || a.Owner != solana.Token2022ProgramID || d[45] != 1 {
				t.Fatalf("token-2022 mint %x", d)
			}
			exts := tlvTypes(t, d[166:])
			if !equalInts(exts, []int{ExtTransferFeeConfig, ExtMintCloseAuthority, ExtMetadataPointer}) {
				t.Fatalf("token-2022 mint extensions %v", exts)
			}
		case KindToken, KindToken2022:
			mint := w.Mint(a)
			if !bytes.Equal(d[:32], mint.Pubkey[:]) || d[108] != 1 || a.Owner != mint.Owner {
				t.Fatalf("token account %x", d)
			}
			if a.Kind == KindToken2022 {
				if d[165] != 2 || !equalInts(tlvTypes(t, d[166:]), []int{ExtTransferFeeAmount, ExtImmutableOwner}) {
					t.Fatalf("token-2022 account %x", d)
				}
			} else if len(d) != TokenAccountLen {
				t.Fatalf("token account of %d bytes", len(d))
			}
		}
		if a.Kind != KindWallet && a.Lamports != rentExempt(len(d)) && a.Kind != KindNonce {
			t.Fatalf("kind %d: lamports %d, rent exemption %d", a.Kind, a.Lamports, rentExempt(len(d)))
		}
	}
	for k := KindWallet; k <= KindPosition; k++ {
		if counts[k] == 0 {
			t.Errorf("no accounts of kind %d", k)
		}
	}
}

func tlvTypes(t *testing.T, d []byte) []int {
	t.Helper()
	var out []int
	for len(d) > 0 {
		if len(d) < 4 {
			t.Fatalf("truncated TLV %x", d)
		}
		typ, n := binary.LittleEndian.Uint16(d), int(binary.LittleEndian.Uint16(d[2:]))
		if len(d) < 4+n {
			t.Fatalf("TLV %d length %d beyond data", typ, n)
		}
		out = append(out, int(typ))
		d = d[4+n:]
	}
	return out
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestConservationAndDeterminism(t *testing.T) {
	t.Parallel()
	run := func(seed int64) ([]byte, *World) {
		w := New(Config{Seed: seed, WriteVersionBase: 10})
		var trace []byte
		var prevWV uint64
		for slot := uint64(100); slot < 150; slot++ {
			w.BeginSlot(slot)
			for n := 0; n < 60; {
				n += w.Tx(slot, func(u *Update) {
					if u.WriteVersion <= prevWV || len(u.Signature) != 64 {
						t.Fatalf("write_version %d after %d, signature %d bytes", u.WriteVersion, prevWV, len(u.Signature))
					}
					prevWV = u.WriteVersion
					trace = append(trace, u.Account.Pubkey[:]...)
					trace = append(trace, u.Account.Data...)
					trace = binary.LittleEndian.AppendUint64(trace, u.Account.Lamports)
				})
			}
		}
		return trace, w
	}
	a, w := run(5)
	b, _ := run(5)
	c, _ := run(6)
	if !bytes.Equal(a, b) {
		t.Fatal("same seed, different updates")
	}
	if bytes.Equal(a, c) {
		t.Fatal("different seeds, same updates")
	}
	sums := map[[32]byte]uint64{}
	closed := 0
	for _, ta := range w.TokenAccounts() {
		if ta.Closed() {
			if len(ta.Data) != 0 || ta.Lamports != 0 || ta.Owner != solana.SystemProgramID {
				t.Fatalf("closed account keeps data %d lamports %d owner %x", len(ta.Data), ta.Lamports, ta.Owner)
			}
			closed++
			continue
		}
		sums[[32]byte(ta.Data[:32])] += binary.LittleEndian.Uint64(ta.Data[TokenAmountOffset:])
	}
	for _, m := range w.Mints() {
		if supply := binary.LittleEndian.Uint64(m.Data[MintSupplyOffset:]); supply != sums[m.Pubkey] {
			t.Fatalf("mint %s: supply %d, accounts %d", base58.Encode32(&m.Pubkey), supply, sums[m.Pubkey])
		}
	}
	if closed == 0 {
		t.Fatal("no token account closed in the run; closing is untested")
	}
	vaults := map[[32]byte]uint64{}
	for _, a := range w.Accounts() {
		if a.Kind == KindPosition {
			vaults[[32]byte(a.Data[40:72])] += binary.LittleEndian.Uint64(a.Data[72:])
		}
	}
	for _, a := range w.Accounts() {
		if a.Kind == KindVault && binary.LittleEndian.Uint64(a.Data[72:]) != vaults[a.Pubkey] {
			t.Fatalf("vault balance %d, positions %d", binary.LittleEndian.Uint64(a.Data[72:]), vaults[a.Pubkey])
		}
	}
}

// TestEveryWriteChangesTheAccount: no transaction writes an account without
// changing it, so (pubkey, slot, contents) never repeats with different
// signatures, which consumers de-duplicating by contents rely on.
func TestEveryWriteChangesTheAccount(t *testing.T) {
	t.Parallel()
	w := New(Config{Seed: 11, Mints: 3, TokenAccounts: 30, Wallets: 8})
	last := map[[32]byte]string{}
	for _, a := range w.Accounts() {
		last[a.Pubkey] = state(a)
	}
	for slot := uint64(1); slot < 400; slot++ {
		w.BeginSlot(slot)
		for n := 0; n < 40; {
			n += w.Tx(slot, func(u *Update) {
				s := state(u.Account)
				if s == last[u.Account.Pubkey] {
					t.Fatalf("slot %d: account %s written unchanged (kind %d)", slot, base58.Encode32(&u.Account.Pubkey), u.Account.Kind)
				}
				last[u.Account.Pubkey] = s
			})
		}
	}
}

func state(a *Account) string {
	return string(binary.LittleEndian.AppendUint64(append(append([]byte(nil), a.Owner[:]...), a.Data...), a.Lamports))
}
