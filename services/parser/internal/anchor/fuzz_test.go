package anchor

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// smallIDLs seed the IDL fuzzer with every construct the compiler knows,
// small enough for the mutator to reshape.
var smallIDLs = []string{
	legacyIDL(`[{"name":"a","type":"u64"},{"name":"s","type":"string"},{"name":"v","type":{"vec":{"option":"publicKey"}}},{"name":"e","type":{"defined":"E"}}]`,
		`[{"name":"E","type":{"kind":"enum","variants":[{"name":"U"},{"name":"S","fields":[{"name":"x","type":"i128"}]},{"name":"T","fields":["f32",{"coption":"bytes"}]}]}}]`),
	`{"metadata":{"name":"g"},"accounts":[{"name":"A","discriminator":[1,2]}],"types":[
	  {"name":"A","serialization":"bytemuck","repr":{"kind":"c"},"type":{"kind":"struct","fields":[{"name":"a","type":"u8"},{"name":"w","type":{"defined":{"name":"W","generics":[{"kind":"type","type":"u128"},{"kind":"const","value":"2"}]}}}]}},
	  {"name":"W","generics":[{"kind":"type","name":"T"},{"kind":"const","name":"N","type":"usize"}],"type":{"kind":"struct","fields":[{"name":"x","type":{"array":[{"generic":"T"},{"generic":"N"}]}}]}}]}`,
	legacyIDL(`[{"name":"v","type":{"vec":{"defined":"Z"}}}]`, `[{"name":"Z","type":{"kind":"struct","fields":[]}}]`),
}

// FuzzParseIDLAndDecode: any IDL text and any account bytes; loading may
// fail, decoding may fail, but nothing panics or hangs, and a successful
// decode is valid JSON covering no more than the input.
func FuzzParseIDLAndDecode(f *testing.F) {
	for _, idl := range smallIDLs {
		f.Add([]byte(idl), []byte{})
		p, err := ParseIDL([]byte(idl))
		if err != nil {
			f.Fatal(err)
		}
		for _, a := range p.accounts {
			f.Add([]byte(idl), append(append([]byte{}, a.disc...), 1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16))
		}
	}
	f.Fuzz(func(t *testing.T, idl, data []byte) {
		p, err := ParseIDL(idl)
		if err != nil {
			return
		}
		for _, a := range p.accounts {
			// Try the fuzzed bytes under every account type.
			buf := append(append([]byte{}, a.disc...), data...)
			checkDecode(t, p, buf)
		}
		checkDecode(t, p, data)
	})
}

// FuzzDecodeRealIDLs: arbitrary bytes against the real fixture IDLs,
// seeded with the real accounts.
func FuzzDecodeRealIDLs(f *testing.F) {
	idls, err := filepath.Glob("testdata/*/idl*.json")
	if err != nil || len(idls) == 0 {
		f.Fatal("no IDLs in testdata")
	}
	var progs []*Program
	for _, path := range idls {
		raw, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		p, err := ParseIDL(raw)
		if err != nil {
			f.Fatal(err)
		}
		progs = append(progs, p)
	}
	for _, fx := range loadFixtures(f) {
		f.Add(fx.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, p := range progs {
			checkDecode(t, p, data)
		}
	})
}

func checkDecode(t *testing.T, p *Program, data []byte) {
	t.Helper()
	out, _, n, err := p.AppendDecodeConsumed(nil, data)
	if err != nil {
		if len(out) != 0 {
			t.Fatalf("output %q on error %v", out, err)
		}
		return
	}
	if n > len(data) {
		t.Fatalf("consumed %d of %d bytes", n, len(data))
	}
	if !json.Valid(out) {
		t.Fatalf("invalid JSON: %.200q", out)
	}
}
