package anchor

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

// fixture is the subset of a testdata/<program>/accounts/*.json file the
// tests use (see testdata/PROVENANCE.md).
type fixture struct {
	AccountType   string                     `json:"account_type"`
	DataBase64    string                     `json:"data_base64"`
	ExpectedByIDL map[string]fixtureExpected `json:"expected_by_idl"`
	Beyond        map[string]json.RawMessage `json:"fields_beyond_this_idl"`
}

type fixtureExpected struct {
	AccountType   string          `json:"account_type"`
	Decoded       json.RawMessage `json:"decoded"`
	BytesConsumed int             `json:"bytes_consumed"`
}

type loadedFixture struct {
	dir, name string
	fixture
	data []byte
}

func loadFixtures(t testing.TB) []loadedFixture {
	t.Helper()
	paths, err := filepath.Glob("testdata/*/accounts/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 20 {
		t.Fatalf("found %d fixtures, want the full set", len(paths))
	}
	sort.Strings(paths)
	var out []loadedFixture
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var f loadedFixture
		if err := json.Unmarshal(raw, &f.fixture); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if f.data, err = base64.StdEncoding.DecodeString(f.DataBase64); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		f.dir = filepath.Dir(filepath.Dir(p))
		f.name = strings.TrimSuffix(filepath.Base(p), ".json")
		out = append(out, f)
	}
	return out
}

var (
	idlMu    sync.Mutex
	idlCache = map[string]*Program{}
)

func loadIDL(t testing.TB, path string) *Program {
	t.Helper()
	idlMu.Lock()
	defer idlMu.Unlock()
	if p, ok := idlCache[path]; ok {
		return p
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseIDL(raw)
	if err != nil {
		t.Fatalf("ParseIDL(%s): %v", path, err)
	}
	idlCache[path] = p
	return p
}

func TestGoldenFixtures(t *testing.T) {
	fixtures := loadFixtures(t)
	checked := 0
	for _, f := range fixtures {
		for idlName, want := range f.ExpectedByIDL {
			prog := loadIDL(t, filepath.Join(f.dir, idlName))
			t.Run(filepath.Base(f.dir)+"/"+f.name+"/"+idlName, func(t *testing.T) {
				prefix := []byte(`{"keep":1}`)
				out, typ, consumed, err := prog.AppendDecodeConsumed(prefix, f.data)
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				if !bytes.HasPrefix(out, prefix) {
					t.Fatalf("dst prefix was overwritten")
				}
				out = out[len(prefix):]
				if typ != want.AccountType {
					t.Errorf("account type = %q, want %q", typ, want.AccountType)
				}
				if consumed != want.BytesConsumed {
					t.Errorf("bytes consumed = %d, want %d", consumed, want.BytesConsumed)
				}
				if !json.Valid(out) {
					t.Fatalf("output is not valid JSON: %.300s", out)
				}
				got, err := decodeNumbers(out)
				if err != nil {
					t.Fatal(err)
				}
				exp, err := decodeNumbers(want.Decoded)
				if err != nil {
					t.Fatal(err)
				}
				if diffs := compareJSON("", got, exp, nil); len(diffs) > 0 {
					if len(diffs) > 10 {
						diffs = append(diffs[:10], fmt.Sprintf("... and %d more", len(diffs)-10))
					}
					t.Errorf("decoded differs:\n%s", strings.Join(diffs, "\n"))
				}
			})
			checked++
		}
	}
	if checked < 22 {
		t.Errorf("checked %d fixture/IDL pairs, want at least 22", checked)
	}
}

// TestMeteoraPositionV1UnknownInNewIDL: the 0.12.0 IDL dropped Position v1,
// so its discriminator must not match anything.
func TestMeteoraPositionV1UnknownInNewIDL(t *testing.T) {
	var pos loadedFixture
	for _, f := range loadFixtures(t) {
		if strings.HasSuffix(f.dir, "meteora-dlmm") && f.name == "position_v1" {
			pos = f
		}
	}
	if pos.data == nil {
		t.Fatal("position_v1 fixture missing")
	}
	if _, ok := pos.ExpectedByIDL["idl.json"]; ok {
		t.Fatal("fixture unexpectedly lists idl.json")
	}
	prog := loadIDL(t, "testdata/meteora-dlmm/idl.json")
	dst := []byte("x")
	out, typ, err := prog.AppendDecode(dst, pos.data)
	if !errors.Is(err, ErrUnknownDiscriminator) {
		t.Fatalf("err = %v, want ErrUnknownDiscriminator", err)
	}
	if typ != "" || string(out) != "x" {
		t.Errorf("on error got type %q, out %q", typ, out)
	}
	// The legacy IDL still knows it.
	if _, typ, err := loadIDL(t, "testdata/meteora-dlmm/idl-legacy.json").AppendDecode(nil, pos.data); err != nil || typ != "Position" {
		t.Errorf("legacy IDL: type %q, err %v", typ, err)
	}
}

func decodeNumbers(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// compareJSON compares our output (got) with a fixture's neutral form
// (want). A JSON string on our side equals a JSON number on theirs when both
// are the same decimal integer: that is how we write u64 and wider.
func compareJSON(path string, got, want any, diffs []string) []string {
	switch w := want.(type) {
	case json.Number:
		var gs string
		switch g := got.(type) {
		case json.Number:
			gs = string(g)
		case string:
			gs = g
		default:
			return append(diffs, fmt.Sprintf("%s: got %v (%T), want number %s", path, got, got, w))
		}
		if !sameNumber(gs, string(w)) {
			return append(diffs, fmt.Sprintf("%s: got %s, want %s", path, gs, w))
		}
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return append(diffs, fmt.Sprintf("%s: got %T, want object", path, got))
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				diffs = append(diffs, fmt.Sprintf("%s.%s: missing", path, k))
				continue
			}
			diffs = compareJSON(path+"."+k, gv, wv, diffs)
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				diffs = append(diffs, fmt.Sprintf("%s.%s: unexpected key", path, k))
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return append(diffs, fmt.Sprintf("%s: got %v, want array of %d", path, got, len(w)))
		}
		for i := range w {
			diffs = compareJSON(fmt.Sprintf("%s[%d]", path, i), g[i], w[i], diffs)
		}
	default:
		if fmt.Sprint(got) != fmt.Sprint(want) || fmt.Sprintf("%T", got) != fmt.Sprintf("%T", want) {
			return append(diffs, fmt.Sprintf("%s: got %v, want %v", path, got, want))
		}
	}
	return diffs
}

// sameNumber compares two decimal texts by value (integers exactly, others
// as rationals, so 1 equals 1.0).
func sameNumber(a, b string) bool {
	x, ok1 := new(big.Rat).SetString(a)
	y, ok2 := new(big.Rat).SetString(b)
	return ok1 && ok2 && x.Cmp(y) == 0
}
