package metaplex

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/firehole/firehole/pkg/base58"
)

// borsh is a small Borsh writer used to build accounts the way the Token
// Metadata program lays them out.
type borsh []byte

func (b borsh) u8(v uint8) borsh             { return append(b, v) }
func (b borsh) u16(v uint16) borsh           { return binary.LittleEndian.AppendUint16(b, v) }
func (b borsh) u32(v uint32) borsh           { return binary.LittleEndian.AppendUint32(b, v) }
func (b borsh) u64(v uint64) borsh           { return binary.LittleEndian.AppendUint64(b, v) }
func (b borsh) key(k [32]byte) borsh         { return append(b, k[:]...) }
func (b borsh) boolean(v bool) borsh         { return b.u8(map[bool]uint8{false: 0, true: 1}[v]) }
func (b borsh) some() borsh                  { return b.u8(1) }
func (b borsh) none() borsh                  { return b.u8(0) }
func (b borsh) str(s string) borsh           { return append(b.u32(uint32(len(s))), s...) }
func (b borsh) padTo(n int) borsh            { return append(b, make([]byte, max(0, n-len(b)))...) }
func (b borsh) padded(s string, n int) borsh { return b.str(s + strings.Repeat("\x00", n-len(s))) }

// Sizes the program uses: puffed string lengths and the fixed account size.
const (
	maxNameLen     = 32
	maxSymbolLen   = 10
	maxURILen      = 200
	maxMetadataLen = 679
)

func pk(t testing.TB, s string) [32]byte {
	t.Helper()
	k, err := base58.Decode32(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

const (
	updateAuth = "DRRJvVcfKCqPNuhJkEXxWqNzpHyKmhvdMmsfvnHdwHwq"
	mintKey    = "J1S9H3QjnRtBbbuD4HtPP5ueDxZtdA3BW7fxVVXNKnA4"
	creatorA   = "4cgPn6GTm3X4Z6TtAJ7MXrJgvPsLnyPDMWC5iFKfcYb1"
	creatorB   = "GHdhDa9BPnZMk4bXBGnhaCnfBM7PWeQGXyA6DqPxYTi9"
	collKey    = "SMBtHCCC6RYRutFEPb4gZqeBLUZbMNhRKaMKZZLHi7W"
	ruleSet    = "eBJLFYPxJmMGKuFwpDWkzxZeUrad92kZRC5BJLpzyT9"
)

// pnftLayout is a programmable NFT's Metadata as the program writes it
// today, plus the offset where each optional tail field starts.
func pnftLayout(t testing.TB) (data []byte, tailAt map[string]int) {
	tailAt = map[string]int{}
	b := borsh{4}.key(pk(t, updateAuth)).key(pk(t, mintKey)).
		padded("Sample #42", maxNameLen).padded("SMPL", maxSymbolLen).
		padded("https://example.com/42.json", maxURILen).u16(500).
		some().u32(2).
		key(pk(t, creatorA)).boolean(true).u8(0).
		key(pk(t, creatorB)).boolean(false).u8(100).
		boolean(true).boolean(true)
	tailAt["edition_nonce"] = len(b)
	b = b.some().u8(254)
	tailAt["token_standard"] = len(b)
	b = b.some().u8(4)
	tailAt["collection"] = len(b)
	b = b.some().boolean(true).key(pk(t, collKey))
	tailAt["uses"] = len(b)
	b = b.some().u8(1).u64(3).u64(10)
	tailAt["collection_details"] = len(b)
	b = b.some().u8(0).u64(10000)
	tailAt["programmable_config"] = len(b)
	b = b.some().u8(0).some().key(pk(t, ruleSet))
	tailAt["end"] = len(b)
	return b.padTo(maxMetadataLen), tailAt
}

// pnftWant is the expected decode of pnftLayout, written out by hand.
func pnftWant() map[string]any {
	return map[string]any{
		"key":              "MetadataV1",
		"update_authority": updateAuth,
		"mint":             mintKey,
		"data": map[string]any{
			"name": "Sample #42", "symbol": "SMPL", "uri": "https://example.com/42.json",
			"seller_fee_basis_points": json.Number("500"),
			"creators": []any{
				map[string]any{"address": creatorA, "verified": true, "share": json.Number("0")},
				map[string]any{"address": creatorB, "verified": false, "share": json.Number("100")},
			},
		},
		"primary_sale_happened": true,
		"is_mutable":            true,
		"edition_nonce":         json.Number("254"),
		"token_standard":        "ProgrammableNonFungible",
		"collection":            map[string]any{"verified": true, "key": collKey},
		"uses":                  map[string]any{"use_method": "Multiple", "remaining": "3", "total": "10"},
		"collection_details":    map[string]any{"V1": map[string]any{"size": "10000"}},
		"programmable_config":   map[string]any{"V1": map[string]any{"rule_set": ruleSet}},
	}
}

var tailOrder = []string{"edition_nonce", "token_standard", "collection", "uses", "collection_details", "programmable_config"}

func decodeJSON(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("output %s is not JSON: %v", raw, err)
	}
	return v
}

func TestMetadata(t *testing.T) {
	t.Parallel()
	data, tailAt := pnftLayout(t)
	if len(data) != maxMetadataLen || tailAt["end"] > maxMetadataLen {
		t.Fatalf("built account is %d bytes, layout ends at %d", len(data), tailAt["end"])
	}
	// nullFrom sets the tail fields from name on to null.
	nullFrom := func(name string) map[string]any {
		w := pnftWant()
		on := false
		for _, f := range tailOrder {
			on = on || f == name
			if on {
				w[f] = nil
			}
		}
		return w
	}
	set := func(w map[string]any, k string, v any) map[string]any { w[k] = v; return w }
	tokenStdBad := bytes.Clone(data)
	tokenStdBad[tailAt["token_standard"]+1] = 9
	noCreators := borsh{4}.key(pk(t, updateAuth)).key(pk(t, mintKey)).str("A").str("").str("u").u16(0).none().boolean(false).boolean(false)
	v2 := bytes.Clone(data[:tailAt["collection_details"]])
	v2 = borsh(v2).some().u8(1).u64(0x0807060504030201).none()

	tests := []struct {
		name string
		data []byte
		want map[string]any
	}{
		{"pnft full account", data, pnftWant()},
		{"unpadded account", data[:tailAt["end"]], pnftWant()},
		{"older account ends after is_mutable", data[:tailAt["edition_nonce"]], nullFrom("edition_nonce")},
		{"account ends after token_standard", data[:tailAt["collection"]], nullFrom("collection")},
		{"account cut inside collection", data[:tailAt["collection"]+5], nullFrom("collection")},
		{"zero padding after uses reads as None", borsh(bytes.Clone(data[:tailAt["collection_details"]])).padTo(maxMetadataLen), nullFrom("collection_details")},
		{"bad token_standard ends the tail", tokenStdBad, nullFrom("token_standard")},
		{"collection details v2", v2, set(set(pnftWant(), "programmable_config", nil), "collection_details",
			map[string]any{"V2": map[string]any{"padding": []any{json.Number("1"), json.Number("2"), json.Number("3"), json.Number("4"), json.Number("5"), json.Number("6"), json.Number("7"), json.Number("8")}}})},
		{"no creators, short strings", noCreators, map[string]any{
			"key": "MetadataV1", "update_authority": updateAuth, "mint": mintKey,
			"data":                  map[string]any{"name": "A", "symbol": "", "uri": "u", "seller_fee_basis_points": json.Number("0"), "creators": nil},
			"primary_sale_happened": false, "is_mutable": false,
			"edition_nonce": nil, "token_standard": nil, "collection": nil, "uses": nil, "collection_details": nil, "programmable_config": nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, typ, err := AppendDecode([]byte("["), tt.data)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if typ != "Metadata" || out[0] != '[' {
				t.Fatalf("type %q, out %.20q", typ, out)
			}
			if got := decodeJSON(t, out[1:]); !reflect.DeepEqual(got, tt.want) {
				gj, _ := json.Marshal(got)
				wj, _ := json.Marshal(tt.want)
				t.Errorf("got  %s\nwant %s", gj, wj)
			}
		})
	}
}

func TestMetadataErrors(t *testing.T) {
	t.Parallel()
	data, tailAt := pnftLayout(t)
	badBool := bytes.Clone(data)
	badBool[tailAt["edition_nonce"]-2] = 2 // primary_sale_happened
	hugeCreators := borsh(bytes.Clone(data[:1+32+32+4+32+4+10+4+200+2])).some().u32(0xffffffff)
	nameAt := 1 + 32 + 32
	tests := []struct {
		name string
		data []byte
		is   error
		msg  string
	}{
		{"empty", nil, ErrShortData, "empty"},
		{"key only", data[:1], ErrShortData, "update_authority"},
		{"cut in mint", data[:40], ErrShortData, "mint"},
		{"cut in name", data[:nameAt+10], ErrShortData, "name"},
		{"cut before is_mutable", data[:tailAt["edition_nonce"]-1], ErrShortData, "is_mutable"},
		{"bad bool", badBool, ErrInvalidData, "primary_sale_happened"},
		{"huge creators length", hugeCreators, ErrShortData, "4294967295 creators"},
		{"uninitialized", []byte{0, 0, 0}, ErrUnsupportedAccount, "Uninitialized"},
		{"token record", []byte{11}, ErrUnsupportedAccount, "TokenRecord"},
		{"unknown key", []byte{200}, ErrUnsupportedAccount, "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, _, err := AppendDecode([]byte("x"), tt.data)
			if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tt.is, tt.msg)
			}
			if string(out) != "x" {
				t.Errorf("dst changed on error: %q", out)
			}
		})
	}
}

func TestEditions(t *testing.T) {
	t.Parallel()
	parent := pk(t, mintKey)
	tests := []struct {
		name, typ string
		data      []byte
		used      int // bytes the layout covers; the rest is padding
		want      string
	}{
		{"master edition v2 unlimited", "MasterEdition", borsh{6}.u64(5).none().padTo(282), 10,
			`{"key":"MasterEditionV2","supply":"5","max_supply":null}`},
		{"master edition v2 capped", "MasterEdition", borsh{6}.u64(0).some().u64(1 << 40), 18,
			`{"key":"MasterEditionV2","supply":"0","max_supply":"1099511627776"}`},
		{"master edition v1", "MasterEdition", borsh{2}.u64(1).some().u64(2).key(parent).key(parent), 82,
			`{"key":"MasterEditionV1","supply":"1","max_supply":"2","printing_mint":"` + mintKey + `","one_time_printing_authorization_mint":"` + mintKey + `"}`},
		{"edition", "Edition", borsh{1}.key(parent).u64(77).padTo(241), 41,
			`{"key":"EditionV1","parent":"` + mintKey + `","edition":"77"}`},
	}
	for _, tt := range tests {
		out, typ, err := AppendDecode(nil, tt.data)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if typ != tt.typ || string(out) != tt.want {
			t.Errorf("%s: got %s %s\nwant %s %s", tt.name, typ, out, tt.typ, tt.want)
		}
		// Every strict prefix is an error, never a panic.
		for n := 1; n < tt.used; n++ {
			if _, _, err := AppendDecode(nil, tt.data[:n]); !errors.Is(err, ErrShortData) {
				t.Errorf("%s cut to %d: err = %v", tt.name, n, err)
			}
		}
	}
}

func TestStringsAreEscapedAndTrimmed(t *testing.T) {
	t.Parallel()
	data := borsh{4}.key(pk(t, updateAuth)).key(pk(t, mintKey)).
		str("a\"b\\\n\x01\x00mid\x00\x00").str("\xff").str("✓").u16(1).none().boolean(false).boolean(true)
	out, _, err := AppendDecode(nil, data)
	if err != nil {
		t.Fatal(err)
	}
	got := decodeJSON(t, out)["data"].(map[string]any)
	if got["name"] != "a\"b\\\n\x01\x00mid" || got["symbol"] != "\ufffd" || got["uri"] != "✓" {
		t.Errorf("strings: %q %q %q", got["name"], got["symbol"], got["uri"])
	}
}

func TestProgramID(t *testing.T) {
	t.Parallel()
	if got := base58.Encode32(&ProgramID); got != "metaqbxxUerdq28cj1RbAWkYQm3ybzjb6a8bt518x1s" {
		t.Errorf("ProgramID = %s", got)
	}
}

func FuzzAppendDecode(f *testing.F) {
	data, tailAt := pnftLayout(f)
	f.Add(data)
	for _, n := range tailAt {
		f.Add(data[:n])
	}
	f.Add([]byte(borsh{6}.u64(5).none()))
	f.Add([]byte(borsh{1}.padTo(41)))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, _, err := AppendDecode(nil, data)
		if err != nil {
			if len(out) != 0 {
				t.Fatalf("output on error: %q", out)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON %q", out)
		}
	})
}

func BenchmarkMetadata(b *testing.B) {
	data, _ := pnftLayout(b)
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		out, _, err := AppendDecode(buf[:0], data)
		if err != nil {
			b.Fatal(err)
		}
		buf = out
	}
}
