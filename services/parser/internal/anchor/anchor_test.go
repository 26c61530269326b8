package anchor

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"
)

// enc is a minimal Borsh writer for hand-built accounts.
type enc []byte

func (e enc) u8(v uint8) enc    { return append(e, v) }
func (e enc) u16(v uint16) enc  { return binary.LittleEndian.AppendUint16(e, v) }
func (e enc) u32(v uint32) enc  { return binary.LittleEndian.AppendUint32(e, v) }
func (e enc) u64(v uint64) enc  { return binary.LittleEndian.AppendUint64(e, v) }
func (e enc) raw(b ...byte) enc { return append(e, b...) }
func (e enc) str(s string) enc  { return append(e.u32(uint32(len(s))), s...) }
func (e enc) zeros(n int) enc   { return append(e, make([]byte, n)...) }

func accountDisc(name string) enc {
	sum := sha256.Sum256([]byte("account:" + name))
	return enc(sum[:8:8])
}

func mustParse(t *testing.T, idl string) *Program {
	t.Helper()
	p, err := ParseIDL([]byte(idl))
	if err != nil {
		t.Fatalf("ParseIDL: %v", err)
	}
	return p
}

// legacyIDL wraps one legacy account layout (fields JSON) plus extra types.
func legacyIDL(fields, types string) string {
	if types == "" {
		types = "[]"
	}
	return `{"version":"0.1.0","name":"t","accounts":[{"name":"Acc","type":{"kind":"struct","fields":` + fields + `}}],"types":` + types + `}`
}

func TestDecodeTypes(t *testing.T) {
	t.Parallel()
	i128neg := enc(nil).u64(math.MaxUint64 - 41).u64(math.MaxUint64) // -42
	u128big := enc(nil).u64(math.MaxUint64).u64(math.MaxUint64)      // 2^128-1
	tests := []struct {
		name   string
		fields string
		types  string
		data   enc
		want   string
	}{
		{"ints", `[{"name":"a","type":"u8"},{"name":"b","type":"i8"},{"name":"c","type":"u16"},{"name":"d","type":"i16"},{"name":"e","type":"u32"},{"name":"f","type":"i32"}]`, "",
			enc(nil).u8(255).u8(0x80).u16(65535).u16(0xfffe).u32(4294967295).u32(0x80000000),
			`{"a":255,"b":-128,"c":65535,"d":-2,"e":4294967295,"f":-2147483648}`},
		{"wide ints are strings", `[{"name":"a","type":"u64"},{"name":"b","type":"i64"},{"name":"c","type":"u128"},{"name":"d","type":"i128"}]`, "",
			enc(nil).u64(math.MaxUint64).u64(1 << 63).raw(u128big...).raw(i128neg...),
			`{"a":"18446744073709551615","b":"-9223372036854775808","c":"340282366920938463463374607431768211455","d":"-42"}`},
		{"u128 middle chunk zero padded", `[{"name":"a","type":"u128"}]`, "",
			enc(nil).u64(0).u64(1), // 2^64
			`{"a":"18446744073709551616"}`},
		{"floats", `[{"name":"a","type":"f32"},{"name":"b","type":"f64"},{"name":"c","type":"f64"}]`, "",
			enc(nil).u32(math.Float32bits(1.5)).u64(math.Float64bits(-0.25)).u64(math.Float64bits(math.NaN())),
			`{"a":1.5,"b":-0.25,"c":"NaN"}`},
		{"bool string bytes pubkey", `[{"name":"a","type":"bool"},{"name":"s","type":"string"},{"name":"b","type":"bytes"},{"name":"k","type":"publicKey"}]`, "",
			enc(nil).u8(1).str("q\"\\\n\x01é\xff").u32(2).raw(7, 255).zeros(31).u8(1),
			`{"a":true,"s":"q\"\\\n\u0001é\ufffd","b":[7,255],"k":"11111111111111111111111111111112"}`},
		{"option coption vec array", `[{"name":"o1","type":{"option":"u8"}},{"name":"o2","type":{"option":"u16"}},{"name":"c1","type":{"coption":"u8"}},{"name":"c2","type":{"coption":"u8"}},{"name":"v","type":{"vec":"u16"}},{"name":"a","type":{"array":["i8",3]}}]`, "",
			enc(nil).u8(0).u8(1).u16(7).u32(0).u32(1).u8(9).u32(2).u16(1).u16(2).raw(0xff, 0, 1),
			`{"o1":null,"o2":7,"c1":null,"c2":9,"v":[1,2],"a":[-1,0,1]}`},
		{"enums", `[{"name":"e","type":{"vec":{"defined":"E"}}}]`,
			`[{"name":"E","type":{"kind":"enum","variants":[{"name":"Unit"},{"name":"Named","fields":[{"name":"x","type":"u8"}]},{"name":"Tup","fields":["u8","bool"]}]}}]`,
			enc(nil).u32(3).u8(0).u8(1).u8(5).u8(2).u8(6).u8(0),
			`{"e":["Unit",{"Named":{"x":5}},{"Tup":[6,false]}]}`},
		{"tuple struct and alias", `[{"name":"t","type":{"defined":"T"}},{"name":"a","type":{"defined":"A"}}]`,
			`[{"name":"T","type":{"kind":"struct","fields":["u8","u16"]}},{"name":"A","type":{"kind":"alias","value":{"array":["u8",2]}}}]`,
			enc(nil).u8(1).u16(2).raw(3, 4),
			`{"t":[1,2],"a":[3,4]}`},
		{"nested struct and empty struct", `[{"name":"n","type":{"defined":"N"}},{"name":"e","type":{"defined":"Empty"}}]`,
			`[{"name":"N","type":{"kind":"struct","fields":[{"name":"x","type":"u8"}]}},{"name":"Empty","type":{"kind":"struct","fields":[]}}]`,
			enc(nil).u8(1),
			`{"n":{"x":1},"e":{}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := mustParse(t, legacyIDL(tt.fields, tt.types))
			data := append(accountDisc("Acc"), tt.data...)
			data = append(data, 0xAA, 0xBB) // trailing bytes are ignored
			out, typ, n, err := p.AppendDecodeConsumed(nil, data)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if string(out) != tt.want {
				t.Errorf("got  %s\nwant %s", out, tt.want)
			}
			if typ != "Acc" || n != len(data)-2 {
				t.Errorf("type %q consumed %d, want Acc %d", typ, n, len(data)-2)
			}
		})
	}
}

func TestNewFormatGenericsAndLayout(t *testing.T) {
	t.Parallel()
	idl := `{
	  "address": "11111111111111111111111111111112",
	  "metadata": {"name": "gen", "version": "0.2.0", "spec": "0.1.0"},
	  "accounts": [
	    {"name": "Holder", "discriminator": [1,2,3,4,5,6,7,8]},
	    {"name": "ZcC", "discriminator": [9]},
	    {"name": "ZcPacked", "discriminator": [10, 11]}
	  ],
	  "types": [
	    {"name": "Holder", "type": {"kind": "struct", "fields": [
	      {"name": "w", "type": {"defined": {"name": "Wrap", "generics": [{"kind": "type", "type": "u16"}, {"kind": "const", "value": "3"}]}}},
	      {"name": "alias", "type": {"defined": {"name": "Amount"}}}
	    ]}},
	    {"name": "Wrap", "generics": [{"kind": "type", "name": "T"}, {"kind": "const", "name": "N", "type": "usize"}],
	     "type": {"kind": "struct", "fields": [
	      {"name": "items", "type": {"array": [{"generic": "T"}, {"generic": "N"}]}},
	      {"name": "one", "type": {"option": {"generic": "T"}}}
	    ]}},
	    {"name": "Amount", "type": {"kind": "type", "alias": "u64"}},
	    {"name": "ZcC", "serialization": "bytemuck", "repr": {"kind": "c"}, "type": {"kind": "struct", "fields": [
	      {"name": "a", "type": "u8"}, {"name": "b", "type": "u64"}, {"name": "c", "type": "u16"}, {"name": "d", "type": "u128"}, {"name": "e", "type": "u8"}
	    ]}},
	    {"name": "ZcPacked", "serialization": "bytemuckunsafe", "repr": {"kind": "c", "packed": true}, "type": {"kind": "struct", "fields": [
	      {"name": "a", "type": "u8"}, {"name": "b", "type": "u64"}
	    ]}}
	  ]
	}`
	p := mustParse(t, idl)
	if p.Name() != "gen" || p.Version() != "0.2.0" {
		t.Errorf("name %q version %q", p.Name(), p.Version())
	}
	if addr, ok := p.Address(); !ok || addr[31] != 1 || addr[0] != 0 {
		t.Errorf("address %x %v", addr, ok)
	}
	tests := []struct {
		name string
		data enc
		want string
		used int
	}{
		{"generic struct", enc{1, 2, 3, 4, 5, 6, 7, 8}.u16(1).u16(2).u16(3).u8(1).u16(4).u64(5),
			`{"w":{"items":[1,2,3],"one":4},"alias":"5"}`, 8 + 6 + 3 + 8},
		// a@0, pad 7, b@8, c@16, pad 14, d@32, e@48, tail pad 15 -> 64 bytes.
		{"repr C padding", enc{9}.u8(1).zeros(7).u64(2).u16(3).zeros(14).u64(4).u64(0).u8(5).zeros(15),
			`{"a":1,"b":"2","c":3,"d":"4","e":5}`, 1 + 64},
		{"packed", enc{10, 11}.u8(1).u64(2), `{"a":1,"b":"2"}`, 2 + 9},
	}
	for _, tt := range tests {
		out, _, n, err := p.AppendDecodeConsumed(nil, tt.data)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if string(out) != tt.want || n != tt.used {
			t.Errorf("%s: got %s (%d bytes), want %s (%d bytes)", tt.name, out, n, tt.want, tt.used)
		}
	}
	// The repr C layout needs its tail padding: one byte short fails.
	cData := tests[1].data
	if _, _, err := p.AppendDecode(nil, cData[:len(cData)-1]); !errors.Is(err, ErrShortData) {
		t.Errorf("short repr C account: err = %v", err)
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	p := mustParse(t, legacyIDL(`[{"name":"a","type":"u32"},{"name":"inner","type":{"defined":"In"}}]`,
		`[{"name":"In","type":{"kind":"struct","fields":[{"name":"flag","type":"bool"},{"name":"v","type":{"vec":"u64"}},{"name":"e","type":{"defined":"E"}}]}},
		  {"name":"E","type":{"kind":"enum","variants":[{"name":"A"},{"name":"B"}]}}]`))
	disc := accountDisc("Acc")
	tests := []struct {
		name   string
		data   enc
		is     error
		offset int
		path   string
	}{
		{"empty", nil, ErrUnknownDiscriminator, -1, ""},
		{"other discriminator", accountDisc("Other").u32(1), ErrUnknownDiscriminator, -1, ""},
		{"short int", append(disc, 1, 2), ErrShortData, 8, "a"},
		{"bad bool", append(disc, 0, 0, 0, 0, 2), ErrInvalidData, 12, "inner.flag"},
		{"huge vec length", append(disc, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff), ErrShortData, 13, "inner.v"},
		{"vec longer than data", enc(disc).u32(0).u8(0).u32(2).u64(1).u32(0), ErrShortData, 13, "inner.v"},
		{"enum missing", enc(disc).u32(0).u8(0).u32(1).u64(1), ErrShortData, 25, "inner.e"},
		{"bad enum tag", enc(disc).u32(0).u8(1).u32(0).u8(2), ErrInvalidData, 17, "inner.e"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dst := []byte("prefix")
			out, _, err := p.AppendDecode(dst, tt.data)
			if !errors.Is(err, tt.is) {
				t.Fatalf("err = %v, want %v", err, tt.is)
			}
			if string(out) != "prefix" {
				t.Errorf("dst changed on error: %q", out)
			}
			if tt.offset < 0 {
				return
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("err %T is not a *DecodeError", err)
			}
			if de.Offset != tt.offset || de.Path != tt.path || de.Account != "Acc" {
				t.Errorf("got %s at %d (%s), want %s at %d", de.Path, de.Offset, de.Account, tt.path, tt.offset)
			}
			if !strings.Contains(err.Error(), "offset") {
				t.Errorf("message %q does not name the offset", err)
			}
		})
	}
}

func TestZeroSizeElementsAreBounded(t *testing.T) {
	t.Parallel()
	p := mustParse(t, legacyIDL(`[{"name":"v","type":{"vec":{"defined":"Empty"}}}]`,
		`[{"name":"Empty","type":{"kind":"struct","fields":[]}}]`))
	if _, _, err := p.AppendDecode(nil, accountDisc("Acc").u32(math.MaxUint32)); !errors.Is(err, ErrInvalidData) {
		t.Fatalf("err = %v, want ErrInvalidData", err)
	}
	out, _, err := p.AppendDecode(nil, accountDisc("Acc").u32(2))
	if err != nil || string(out) != `{"v":[{},{}]}` {
		t.Fatalf("got %s, %v", out, err)
	}
}

func TestParseIDLErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, idl, want string
	}{
		{"not json", `nope`, "not a JSON object"},
		{"truncated", `{"name":"x","accounts":[`, "parse IDL JSON"},
		{"no name", `{"accounts":[]}`, "no program name"},
		{"bad address", `{"address":"0OIl","metadata":{"name":"x"}}`, "address"},
		{"unknown primitive", legacyIDL(`[{"name":"a","type":"u7"}]`, ""), `unknown type "u7"`},
		{"undefined type", legacyIDL(`[{"name":"a","type":{"defined":"Nope"}}]`, ""), `undefined type "Nope"`},
		{"direct recursion", legacyIDL(`[{"name":"a","type":{"defined":"R"}}]`,
			`[{"name":"R","type":{"kind":"struct","fields":[{"name":"next","type":{"option":{"defined":"R"}}}]}}]`), "recursive"},
		{"mutual recursion", legacyIDL(`[{"name":"a","type":{"defined":"P"}}]`,
			`[{"name":"P","type":{"kind":"struct","fields":[{"name":"q","type":{"vec":{"defined":"Q"}}}]}},
			  {"name":"Q","type":{"kind":"enum","variants":[{"name":"X","fields":[{"defined":"P"}]}]}}]`), "recursive"},
		{"account refers to itself", legacyIDL(`[{"name":"a","type":{"vec":{"defined":"Acc"}}}]`, ""), "recursive"},
		{"bad discriminator", `{"metadata":{"name":"x"},"accounts":[{"name":"A","discriminator":[1,300]}],"types":[{"name":"A","type":{"kind":"struct","fields":[]}}]}`, "not 0..255"},
		{"duplicate discriminator", `{"metadata":{"name":"x"},"accounts":[{"name":"A","discriminator":[1]},{"name":"B","discriminator":[1]}],"types":[{"name":"A","type":{"kind":"struct","fields":[]}},{"name":"B","type":{"kind":"struct","fields":[]}}]}`, "share discriminator"},
		{"generic arity", `{"metadata":{"name":"x"},"accounts":[{"name":"A","discriminator":[1]}],"types":[{"name":"A","generics":[{"kind":"type","name":"T"}],"type":{"kind":"struct","fields":[]}}]}`, "generic arguments"},
		{"unbound const", legacyIDL(`[{"name":"a","type":{"array":["u8",{"generic":"N"}]}}]`, ""), "unbound const generic"},
		{"array length", legacyIDL(`[{"name":"a","type":{"array":["u8",-1]}}]`, ""), "negative"},
		{"enum without variants", legacyIDL(`[{"name":"a","type":{"defined":"E"}}]`, `[{"name":"E","type":{"kind":"enum","variants":[]}}]`), "no variants"},
		{"duplicate field", legacyIDL(`[{"name":"a","type":"u8"},{"name":"a","type":"u8"}]`, ""), "twice"},
		{"two-key type", legacyIDL(`[{"name":"a","type":{"vec":"u8","option":"u8"}}]`, ""), "exactly one key"},
		{"generic explosion", `{"metadata":{"name":"x"},"accounts":[{"name":"A","discriminator":[1]}],"types":[
			{"name":"A","type":{"kind":"struct","fields":[{"name":"g","type":{"defined":{"name":"G","generics":[{"kind":"type","type":"u8"}]}}}]}},
			{"name":"G","generics":[{"kind":"type","name":"T"}],"type":{"kind":"struct","fields":[{"name":"n","type":{"option":{"defined":{"name":"G","generics":[{"kind":"type","type":{"vec":{"generic":"T"}}}]}}}}]}}]}`, "too deeply"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseIDL([]byte(tt.idl))
			if err == nil {
				t.Fatalf("ParseIDL succeeded, want error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestLoadDir(t *testing.T) {
	t.Parallel()
	progs, err := LoadDir("testdata/meteora-dlmm")
	if err != nil {
		t.Fatal(err)
	}
	if len(progs) != 2 || progs[0].Name() != "meteora_dlmm" || progs[1].Name() != "lb_clmm" {
		t.Fatalf("loaded %d programs", len(progs))
	}
	if _, ok := progs[0].Address(); ok {
		t.Error("legacy meteora IDL has no address, got one")
	}
	if _, ok := progs[1].Address(); !ok {
		t.Error("0.12.0 IDL has an address")
	}
	if _, err := LoadDir("testdata/no-such-dir"); err == nil {
		t.Error("LoadDir of a missing dir succeeded")
	}
}

// The comparison used by the golden test must notice real differences.
func TestCompareJSONDetectsDifferences(t *testing.T) {
	t.Parallel()
	cases := []struct{ got, want string }{
		{`{"a":"1"}`, `{"a":2}`},
		{`{"a":1}`, `{"a":1,"b":2}`},
		{`{"a":1,"b":2}`, `{"a":1}`},
		{`{"a":[1,2]}`, `{"a":[1,2,3]}`},
		{`{"a":"Pyth"}`, `{"a":"Switchboard"}`},
		{`{"a":null}`, `{"a":0}`},
		{`{"a":"340282366920938463463374607431768211455"}`, `{"a":340282366920938463463374607431768211454}`},
	}
	for _, c := range cases {
		g, _ := decodeNumbers([]byte(c.got))
		w, _ := decodeNumbers([]byte(c.want))
		if len(compareJSON("", g, w, nil)) == 0 {
			t.Errorf("%s vs %s: no difference found", c.got, c.want)
		}
	}
	g, _ := decodeNumbers([]byte(`{"a":"18446744073709551615","f":1.0}`))
	w, _ := decodeNumbers([]byte(`{"a":18446744073709551615,"f":1}`))
	if d := compareJSON("", g, w, nil); len(d) != 0 {
		t.Errorf("equal values reported different: %v", d)
	}
}

func TestElementPathInError(t *testing.T) {
	t.Parallel()
	p := mustParse(t, legacyIDL(`[{"name":"names","type":{"vec":"string"}}]`, ""))
	data := accountDisc("Acc").u32(2).str("ok").u32(50)
	_, _, err := p.AppendDecode(nil, data)
	var de *DecodeError
	if !errors.As(err, &de) || de.Path != "names[1]" || de.Offset != 18 {
		t.Fatalf("err = %v, want short data at names[1] offset 18", err)
	}
}

// TestConcurrentDecode shares one Program between goroutines; run with
// -race to check that decoding does not write shared state.
func TestConcurrentDecode(t *testing.T) {
	t.Parallel()
	fixtures := loadFixtures(t)
	p := loadIDL(t, "testdata/orca-whirlpool/idl.json")
	var want [][]byte
	var inputs [][]byte
	for _, f := range fixtures {
		if _, ok := f.ExpectedByIDL["idl.json"]; ok && strings.HasSuffix(f.dir, "orca-whirlpool") {
			out, _, err := p.AppendDecode(nil, f.data)
			if err != nil {
				t.Fatal(err)
			}
			want, inputs = append(want, out), append(inputs, f.data)
		}
	}
	done := make(chan string, 8)
	for g := 0; g < 8; g++ {
		go func() {
			var buf []byte
			for i := 0; i < 50; i++ {
				k := (g + i) % len(inputs)
				out, _, err := p.AppendDecode(buf[:0], inputs[k])
				if err != nil || string(out) != string(want[k]) {
					done <- "mismatch"
					return
				}
				buf = out
			}
			done <- ""
		}()
	}
	for g := 0; g < 8; g++ {
		if msg := <-done; msg != "" {
			t.Error(msg)
		}
	}
}

func TestBadOptionTagOffset(t *testing.T) {
	t.Parallel()
	p := mustParse(t, legacyIDL(`[{"name":"a","type":"u8"},{"name":"o","type":{"option":"u8"}},{"name":"c","type":{"coption":"u8"}}]`, ""))
	for _, tt := range []struct {
		data   enc
		path   string
		offset int
	}{
		{accountDisc("Acc").u8(0).u8(2), "o", 9},
		{accountDisc("Acc").u8(0).u8(0).u32(7), "c", 10},
	} {
		_, _, err := p.AppendDecode(nil, tt.data)
		var de *DecodeError
		if !errors.As(err, &de) || !errors.Is(err, ErrInvalidData) || de.Path != tt.path || de.Offset != tt.offset {
			t.Errorf("err = %v, want invalid data at %s offset %d", err, tt.path, tt.offset)
		}
	}
}
