package jsonw

import (
	"encoding/json"
	"math/big"
	"testing"
	"unicode/utf8"
)

func TestAppendString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"", `""`},
		{"plain ascii", `"plain ascii"`},
		{`quote " and \ back`, `"quote \" and \\ back"`},
		{"\b\f\n\r\t", `"\b\f\n\r\t"`},
		{"\x00\x01\x1f", `"\u0000\u0001\u001f"`},
		{"<&> stay", `"<&> stay"`}, // serde does not escape HTML characters
		{"héllo ✓ 🙂", `"héllo ✓ 🙂"`},
		{"bad \xff byte", `"bad \ufffd byte"`},
		{"cut \xe2\x9c", `"cut \ufffd\ufffd"`},
	} {
		got := string(AppendString(nil, tc.in))
		if got != tc.want {
			t.Errorf("AppendString(%q) = %s, want %s", tc.in, got, tc.want)
		}
		if got2 := string(AppendString(nil, []byte(tc.in))); got2 != got {
			t.Errorf("[]byte and string forms differ for %q", tc.in)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\xff\xfe", "x\u2028y", "\x7f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := AppendString(nil, s)
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("not valid JSON: %s: %v", out, err)
		}
		if utf8.ValidString(s) && back != s {
			t.Fatalf("round trip %q -> %s -> %q", s, out, back)
		}
	})
}

func FuzzAppendUint128(f *testing.F) {
	f.Add(uint64(0), uint64(0))
	f.Add(^uint64(0), ^uint64(0))
	f.Add(uint64(1), uint64(0))
	f.Add(uint64(0x8000000000000000), uint64(0))
	f.Fuzz(func(t *testing.T, hi, lo uint64) {
		v := new(big.Int).Lsh(new(big.Int).SetUint64(hi), 64)
		v.Or(v, new(big.Int).SetUint64(lo))
		if got, want := string(AppendUint128(nil, hi, lo)), v.String(); got != want {
			t.Fatalf("AppendUint128(%d, %d) = %s, want %s", hi, lo, got, want)
		}
		if int64(hi) < 0 {
			v.Sub(v, new(big.Int).Lsh(big.NewInt(1), 128))
		}
		if got, want := string(AppendInt128(nil, hi, lo)), v.String(); got != want {
			t.Fatalf("AppendInt128(%d, %d) = %s, want %s", hi, lo, got, want)
		}
	})
}

func TestQuoted(t *testing.T) {
	t.Parallel()
	if got := string(AppendQuotedUint(nil, 18446744073709551615)); got != `"18446744073709551615"` {
		t.Fatal(got)
	}
	if got := string(AppendQuotedInt(nil, -9223372036854775808)); got != `"-9223372036854775808"` {
		t.Fatal(got)
	}
}

func BenchmarkAppendString(b *testing.B) {
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendString(buf[:0], "Firehole demo token \"FHD\"")
	}
}
