package jsonparsed

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/firehole/firehole/pkg/base58"
)

// fixture is one testdata file (see testdata/PROVENANCE.md).
type fixture struct {
	Name       string `json:"name"`
	Pubkey     string `json:"pubkey"`
	DataBase64 string `json:"data_base64"`
	Loaded     *struct {
		Owner string `json:"owner"`
	} `json:"account_as_loaded"`
	Account *struct {
		Owner string `json:"owner"`
	} `json:"account"`
	AdditionalData *struct {
		Mint string `json:"spl_token_mint"`
	} `json:"additional_data"`
	Expected []struct {
		Versions      []string `json:"agave_versions"`
		ExpectedValue struct {
			Data json.RawMessage `json:"data"`
		} `json:"expected_value"`
	} `json:"expected"`
	Shape *struct {
		Program    string   `json:"program"`
		ParsedType string   `json:"parsed.type"`
		Extensions []string `json:"extensions_must_include"`
	} `json:"expected_shape"`
	Facts map[string]any `json:"asserted_facts"`

	file  string
	owner [32]byte
	key   [32]byte
	data  []byte
}

func loadFixtures(t testing.TB) []*fixture {
	t.Helper()
	files, err := filepath.Glob("testdata/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	var out []*fixture
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		fx := &fixture{file: filepath.Base(f)}
		if err := json.Unmarshal(raw, fx); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		owner := ""
		if fx.Loaded != nil {
			owner = fx.Loaded.Owner
		} else if fx.Account != nil {
			owner = fx.Account.Owner
		}
		if fx.owner, err = base58.Decode32(owner); err != nil {
			t.Fatalf("%s owner: %v", f, err)
		}
		if fx.key, err = base58.Decode32(fx.Pubkey); err != nil {
			t.Fatalf("%s pubkey: %v", f, err)
		}
		if fx.data, err = base64.StdEncoding.DecodeString(fx.DataBase64); err != nil {
			t.Fatalf("%s data: %v", f, err)
		}
		out = append(out, fx)
	}
	return out
}

// fixtureMints is a MintSource built by decoding every mint fixture, so
// token accounts get their decimals from real mint bytes.
type mapMints map[[32]byte]MintInfo

func (m mapMints) Mint(k [32]byte) (MintInfo, bool) {
	mi, ok := m[k]
	return mi, ok
}

func fixtureMints(fxs []*fixture) mapMints {
	m := mapMints{}
	for _, fx := range fxs {
		if mi, ok := MintFromAccount(fx.owner, fx.data); ok {
			m[fx.key] = mi
		}
	}
	return m
}

// expectedFor picks the agave 3.x expectation, or the only one there is.
func (fx *fixture) expectedFor() (json.RawMessage, string, bool) {
	for _, g := range fx.Expected {
		if slices.Contains(g.Versions, "agave-3.x") {
			return g.ExpectedValue.Data, "agave-3.x", true
		}
	}
	if len(fx.Expected) == 1 {
		return fx.Expected[0].ExpectedValue.Data, strings.Join(fx.Expected[0].Versions, ","), true
	}
	return nil, "", false
}

func decodeNumbers(t testing.TB, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("invalid JSON %.200s: %v", b, err)
	}
	return v
}

// match compares got against an expectation that may carry the fixture
// markers ($partial, $any, $arrayContaining, $match). Numbers compare by
// value, so 1 equals 1.0.
func match(path string, want, got any) error {
	switch w := want.(type) {
	case map[string]any:
		if typ, ok := w["$any"].(string); ok && len(w) == 1 {
			return matchAny(path, typ, got)
		}
		if elems, ok := w["$arrayContaining"].([]any); ok && len(w) == 1 {
			g, ok := got.([]any)
			if !ok {
				return fmt.Errorf("%s: got %T, want array", path, got)
			}
			for i, e := range elems {
				if !slices.ContainsFunc(g, func(x any) bool { return match("", e, x) == nil }) {
					return fmt.Errorf("%s: array lacks element %d %v", path, i, e)
				}
			}
			return nil
		}
		if re, ok := w["$match"].(string); ok && len(w) == 1 {
			s, _ := got.(string)
			if !regexp.MustCompile(strings.Trim(re, "/")).MatchString(s) {
				return fmt.Errorf("%s: %q does not match %s", path, s, re)
			}
			return nil
		}
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: got %T, want object", path, got)
		}
		partial := w["$partial"] == true
		for k, wv := range w {
			if k == "$partial" {
				continue
			}
			gv, ok := g[k]
			if !ok {
				return fmt.Errorf("%s.%s: missing", path, k)
			}
			if err := match(path+"."+k, wv, gv); err != nil {
				return err
			}
		}
		if !partial {
			for k := range g {
				if _, ok := w[k]; !ok {
					return fmt.Errorf("%s.%s: unexpected key", path, k)
				}
			}
		}
		return nil
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Errorf("%s: got %v, want %d-element array", path, got, len(w))
		}
		for i := range w {
			if err := match(fmt.Sprintf("%s[%d]", path, i), w[i], g[i]); err != nil {
				return err
			}
		}
		return nil
	case json.Number:
		g, ok := got.(json.Number)
		if !ok {
			return fmt.Errorf("%s: got %v (%T), want number %s", path, got, got, w)
		}
		if !numbersEqual(string(w), string(g)) {
			return fmt.Errorf("%s: got %s, want %s", path, g, w)
		}
		return nil
	default:
		if want != got {
			return fmt.Errorf("%s: got %v (%T), want %v (%T)", path, got, got, want, want)
		}
		return nil
	}
}

func matchAny(path, typ string, got any) error {
	ok := false
	switch typ {
	case "String":
		_, ok = got.(string)
	case "Number", "BigInt":
		_, ok = got.(json.Number)
	case "Array":
		_, ok = got.([]any)
	case "Object":
		_, ok = got.(map[string]any)
	case "Boolean":
		_, ok = got.(bool)
	}
	if !ok {
		return fmt.Errorf("%s: got %T, want any %s", path, got, typ)
	}
	return nil
}

// checkSortedKeys verifies that every object in b lists its keys in byte
// order, as serde_json's BTreeMap-backed Value prints them.
func checkSortedKeys(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	type frame struct {
		obj     bool
		wantKey bool
		last    string
		n       int
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if len(stack) > 0 && stack[len(stack)-1].obj && stack[len(stack)-1].wantKey {
			if k, ok := tok.(string); ok {
				top := &stack[len(stack)-1]
				if top.n > 0 && k <= top.last {
					return fmt.Errorf("key %q after %q", k, top.last)
				}
				top.last, top.n, top.wantKey = k, top.n+1, false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			if len(stack) > 0 && stack[len(stack)-1].obj {
				stack[len(stack)-1].wantKey = true
			}
			stack = append(stack, frame{obj: true, wantKey: true})
			continue
		case json.Delim('['):
			if len(stack) > 0 && stack[len(stack)-1].obj {
				stack[len(stack)-1].wantKey = true
			}
			stack = append(stack, frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 && stack[len(stack)-1].obj {
			stack[len(stack)-1].wantKey = true
		}
	}
}

func TestFixturesGolden(t *testing.T) {
	t.Parallel()
	fxs := loadFixtures(t)
	mints := fixtureMints(fxs)
	reg := NewRegistry()
	checked := 0
	for _, fx := range fxs {
		want, version, ok := fx.expectedFor()
		if !ok {
			continue
		}
		checked++
		t.Run(fx.file, func(t *testing.T) {
			got, program, typ, err := reg.AppendParsed(nil, Input{Owner: fx.owner, Pubkey: fx.key, Data: fx.data}, mints)
			if want[0] == '[' { // base64 fallback expected
				if !errors.Is(err, ErrNotParsable) {
					t.Fatalf("%s: got err %v (%s), want ErrNotParsable", version, err, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s: %v", version, err)
			}
			var env struct {
				Program string          `json:"program"`
				Parsed  json.RawMessage `json:"parsed"`
			}
			if err := json.Unmarshal(want, &env); err != nil {
				t.Fatal(err)
			}
			if program != env.Program {
				t.Errorf("program = %q, want %q", program, env.Program)
			}
			if err := match("parsed", decodeNumbers(t, env.Parsed), decodeNumbers(t, got)); err != nil {
				t.Errorf("%s: %v\ngot %s", version, err, got)
			}
			if gotType := decodeNumbers(t, got).(map[string]any)["type"]; gotType != typ {
				t.Errorf("accountType = %q, JSON type %v", typ, gotType)
			}
			if err := checkSortedKeys(got); err != nil {
				t.Errorf("key order: %v", err)
			}
			checkOlderVersionMembers(t, fx, got)
		})
	}
	if checked < 15 {
		t.Fatalf("only %d fixtures with expectations", checked)
	}
}

// TestFixtureUIAmountBytes checks serde_json's f64 spelling, which a
// numeric comparison cannot see.
func TestFixtureUIAmountBytes(t *testing.T) {
	t.Parallel()
	fxs := loadFixtures(t)
	mints := fixtureMints(fxs)
	reg := NewRegistry()
	want := map[string][]string{
		"spl-token-account.json":              {`"uiAmount":9999999779.5,`},
		"spl-token-account-delegated.json":    {`"uiAmount":1000.0,`, `"uiAmount":100.0,`},
		"spl-token-account-zero-balance.json": {`"uiAmount":0.0,`},
		"stake-delegated.json":                {`"warmupCooldownRate":0.25}`},
		"config-stake-config.json":            {`"warmupCooldownRate":0.25}`},
	}
	for _, fx := range fxs {
		subs, ok := want[fx.file]
		if !ok {
			continue
		}
		delete(want, fx.file)
		got, _, _, err := reg.AppendParsed(nil, Input{Owner: fx.owner, Pubkey: fx.key, Data: fx.data}, mints)
		if err != nil {
			t.Errorf("%s: %v", fx.file, err)
			continue
		}
		for _, s := range subs {
			if !bytes.Contains(got, []byte(s)) {
				t.Errorf("%s: output lacks %s\n%s", fx.file, s, got)
			}
		}
	}
	if len(want) != 0 {
		t.Errorf("fixtures missing: %v", want)
	}
}

func TestFixturesShape(t *testing.T) {
	t.Parallel()
	fxs := loadFixtures(t)
	mints := fixtureMints(fxs)
	reg := NewRegistry()
	n := 0
	for _, fx := range fxs {
		if fx.Shape == nil {
			continue
		}
		n++
		t.Run(fx.file, func(t *testing.T) {
			got, program, typ, err := reg.AppendParsed(nil, Input{Owner: fx.owner, Pubkey: fx.key, Data: fx.data}, mints)
			if err != nil {
				t.Fatal(err)
			}
			if program != fx.Shape.Program || typ != fx.Shape.ParsedType {
				t.Errorf("got %s/%s, want %s/%s", program, typ, fx.Shape.Program, fx.Shape.ParsedType)
			}
			names := extensionNames(t, got)
			for _, e := range fx.Shape.Extensions {
				if !slices.Contains(names, e) {
					t.Errorf("extension %s missing; have %v", e, names)
				}
			}
			if err := checkSortedKeys(got); err != nil {
				t.Errorf("key order: %v", err)
			}
		})
	}
	if n < 4 {
		t.Fatalf("only %d shape fixtures", n)
	}
}

func extensionNames(t testing.TB, got []byte) []string {
	v := decodeNumbers(t, got).(map[string]any)
	info := v["info"].(map[string]any)
	exts, _ := info["extensions"].([]any)
	var names []string
	for _, e := range exts {
		names = append(names, e.(map[string]any)["extension"].(string))
	}
	return names
}

// TestFixturesBytesOnly decodes the accounts that have no trusted output and
// checks the facts a third party asserted about them.
func TestFixturesBytesOnly(t *testing.T) {
	t.Parallel()
	fxs := loadFixtures(t)
	mints := fixtureMints(fxs)
	reg := NewRegistry()
	n := 0
	for _, fx := range fxs {
		if fx.Facts == nil && (len(fx.Expected) > 0 || fx.Shape != nil) {
			continue
		}
		n++
		t.Run(fx.file, func(t *testing.T) {
			got, _, typ, err := reg.AppendParsed(nil, Input{Owner: fx.owner, Pubkey: fx.key, Data: fx.data}, mints)
			if err != nil {
				t.Fatal(err)
			}
			if err := checkSortedKeys(got); err != nil {
				t.Errorf("key order: %v", err)
			}
			if want, ok := fx.Facts["parsed.type"]; ok && want != typ {
				t.Errorf("type = %s, want %v", typ, want)
			}
			info := decodeNumbers(t, got).(map[string]any)["info"].(map[string]any)
			if want, ok := fx.Facts["info.decimals"]; ok {
				if d := info["decimals"].(json.Number).String(); d != fmt.Sprint(want) {
					t.Errorf("decimals = %s, want %v", d, want)
				}
			}
			if _, ok := fx.Facts["extensions"]; ok && len(extensionNames(t, got)) == 0 {
				t.Error("no extensions")
			}
			if _, ok := fx.Facts["info.programData"]; ok && info["programData"] == "11111111111111111111111111111111" {
				t.Error("programData is the default pubkey")
			}
		})
	}
	if n < 3 {
		t.Fatalf("only %d bytes-only fixtures", n)
	}
}

// checkOlderVersionMembers compares members that agave 3.x kept unchanged
// but kit only asserted for 2.3 (the vote account's votes list).
func checkOlderVersionMembers(t *testing.T, fx *fixture, got []byte) {
	for _, g := range fx.Expected {
		if !slices.Contains(g.Versions, "agave-2.3") || fx.file != "vote.json" {
			continue
		}
		var env struct {
			Parsed json.RawMessage `json:"parsed"`
		}
		if err := json.Unmarshal(g.ExpectedValue.Data, &env); err != nil {
			t.Fatal(err)
		}
		want := decodeNumbers(t, env.Parsed).(map[string]any)["info"].(map[string]any)
		have := decodeNumbers(t, got).(map[string]any)["info"].(map[string]any)
		// 3.x adds each vote's latency; compare the 2.3 keys only.
		for _, vote := range want["votes"].([]any) {
			vote.(map[string]any)["$partial"] = true
		}
		for _, k := range []string{"votes", "epochCredits", "rootSlot", "lastTimestamp", "nodePubkey", "priorVoters"} {
			if err := match("info."+k, want[k], have[k]); err != nil {
				t.Errorf("agave-2.3 member: %v", err)
			}
		}
	}
}

// numbersEqual compares JSON numbers: integers exactly (u64 values above
// 2^53 matter), anything with a fraction or exponent as the f64 it denotes,
// so 1 equals 1.0 and 1.8446744073709552e19 equals 18446744073709551616.
func numbersEqual(a, b string) bool {
	isInt := func(s string) bool { return !strings.ContainsAny(s, ".eE") }
	if isInt(a) && isInt(b) {
		x, ok1 := new(big.Int).SetString(a, 10)
		y, ok2 := new(big.Int).SetString(b, 10)
		return ok1 && ok2 && x.Cmp(y) == 0
	}
	x, err1 := strconv.ParseFloat(a, 64)
	y, err2 := strconv.ParseFloat(b, 64)
	return err1 == nil && err2 == nil && x == y
}
