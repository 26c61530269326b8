package base58

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
)

var vectors = []struct {
	hex string
	b58 string
}{
	{"", ""},
	{"00", "1"},
	{"0000", "11"},
	{"61", "2g"},
	{"626262", "a3gV"},
	{"636363", "aPEr"},
	{"73696d706c792061206c6f6e6720737472696e67", "2cFupjhnEsSn59qHXstmK2ffpLv2"},
	{"00eb15231dfceb60925886b67d065299925915aeb172c06647", "1NS17iag9jJgTHD1VXjvLCEnZuQ3rJDE9L"},
	{"516b6fcd0f", "ABnLTmg"},
	{"bf4f89001e670274dd", "3SEo3LWLoPntC"},
	{"572e4794", "3EFU7m"},
	{"ecac89cad93923c02321", "EJDM8drfXA6uyA"},
	{"10c8511e", "Rt5zm"},
	{"00000000000000000000", "1111111111"},
	{"000111d38e5fc9071ffcd20b4a763cc9ae4f252bb4e48fd66a835e252ada93ff480d6dd43dc62a641155a5", "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"},
	{strings.Repeat("00", 32), "11111111111111111111111111111111"},
	{"06ddf6e1d765a193d9cbe146ceeb79ac1cb485ed5f5b37913a8cf5857eff00a9", "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"},
	{"06ddf6e1ee758fde18425dbce46ccddab61afc4d83b90d27febdf928d8a18bfc", "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"},
	{strings.Repeat("ff", 32), "JEKNVnkbo3jma5nREBBJCDoXFVeKkD56V3xKrvRmWxFG"},
	{strings.Repeat("00", 31) + "01", "11111111111111111111111111111112"},
}

func TestEncodeDecodeVectors(t *testing.T) {
	t.Parallel()
	for _, v := range vectors {
		raw, err := hex.DecodeString(v.hex)
		if err != nil {
			t.Fatal(err)
		}
		if got := Encode(raw); got != v.b58 {
			t.Errorf("Encode(%s) = %q, want %q", v.hex, got, v.b58)
		}
		got, err := Decode(v.b58)
		if err != nil {
			t.Errorf("Decode(%q): %v", v.b58, err)
		} else if !bytes.Equal(got, raw) {
			t.Errorf("Decode(%q) = %x, want %s", v.b58, got, v.hex)
		}
		if len(raw) == 32 {
			k := [32]byte(raw)
			if got := Encode32(&k); got != v.b58 {
				t.Errorf("Encode32(%s) = %q, want %q", v.hex, got, v.b58)
			}
			got, err := Decode32(v.b58)
			if err != nil || got != k {
				t.Errorf("Decode32(%q) = %x, %v", v.b58, got, err)
			}
		}
	}
}

// reference is a slow math/big encoder used as an oracle.
func reference(b []byte) string {
	zeros := 0
	for zeros < len(b) && b[zeros] == 0 {
		zeros++
	}
	n := new(big.Int).SetBytes(b)
	var out []byte
	m := new(big.Int)
	b58 := big.NewInt(58)
	for n.Sign() > 0 {
		n.DivMod(n, b58, m)
		out = append(out, alphabet[m.Int64()])
	}
	for range zeros {
		out = append(out, '1')
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return string(out)
}

func TestAgainstReference(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 5000 {
		n := r.IntN(80)
		if i%2 == 0 {
			n = 32
		}
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		// Sprinkle leading zeros.
		for j := 0; j < len(b) && r.IntN(3) == 0; j++ {
			b[j] = 0
		}
		want := reference(b)
		if got := Encode(b); got != want {
			t.Fatalf("Encode(%x) = %q, want %q", b, got, want)
		}
		got, err := Decode(want)
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("Decode(%q) = %x, %v; want %x", want, got, err, b)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	var ice *InvalidCharError
	if _, err := Decode("abc0def"); !errors.As(err, &ice) || ice.Offset != 3 || ice.Char != '0' {
		t.Errorf("Decode bad char: %v", err)
	}
	for _, s := range []string{"", "1111", "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DAA", "111111111111111111111111111111111",
		"JEKNVnkbo3jma5nREBBJCDoXFVeKkD56V3xKrvRmWxFH",  // 2^256, one past the max
		"1JEKNVnkbo3jma5nREBBJCDoXFVeKkD56V3xKrvRmWxFG", // 33 bytes with a leading zero
		"2g"} {
		if _, err := Decode32(s); !errors.Is(err, ErrInvalidLength) {
			t.Errorf("Decode32(%q) err = %v, want ErrInvalidLength", s, err)
		}
	}
	if _, err := Decode32("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5Dl"); !errors.As(err, &ice) || ice.Char != 'l' || ice.Offset != 42 {
		t.Errorf("Decode32 bad char: %v", err)
	}
}

func TestAppendEncode32NoAlloc(t *testing.T) {
	k := [32]byte{1, 2, 3}
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { buf = AppendEncode32(buf[:0], &k) }); n != 0 {
		t.Errorf("AppendEncode32 allocs = %v, want 0", n)
	}
}

func FuzzRoundTrip(f *testing.F) {
	for _, v := range vectors {
		raw, _ := hex.DecodeString(v.hex)
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s := Encode(b)
		if want := reference(b); s != want {
			t.Fatalf("Encode(%x) = %q, want %q", b, s, want)
		}
		got, err := Decode(s)
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("Decode(Encode(%x)) = %x, %v", b, got, err)
		}
		if len(b) == 32 {
			k, err := Decode32(s)
			if err != nil || !bytes.Equal(k[:], b) {
				t.Fatalf("Decode32 = %x, %v", k, err)
			}
		}
		// Arbitrary strings must not panic, and a successful decode must
		// re-encode to the same text.
		if d, err := Decode(string(b)); err == nil && Encode(d) != string(b) {
			t.Fatalf("Encode(Decode(%q)) = %q", b, Encode(d))
		}
		if k, err := Decode32(string(b)); err == nil && Encode32(&k) != string(b) {
			t.Fatalf("Encode32(Decode32(%q)) = %q", b, Encode32(&k))
		}
	})
}

var (
	sink    []byte
	sinkStr string
	sinkKey [32]byte
)

func BenchmarkAppendEncode32(b *testing.B) {
	k, _ := Decode32("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendEncode32(buf[:0], &k)
	}
	sink = buf
}

func BenchmarkEncode32(b *testing.B) {
	k, _ := Decode32("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
	b.ReportAllocs()
	for b.Loop() {
		sinkStr = Encode32(&k)
	}
}

func BenchmarkEncode64(b *testing.B) {
	sig := bytes.Repeat([]byte{0xa5}, 64)
	b.ReportAllocs()
	for b.Loop() {
		sinkStr = Encode(sig)
	}
}

func BenchmarkDecode32(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		k, err := Decode32("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
		if err != nil {
			b.Fatal(err)
		}
		sinkKey = k
	}
}

func BenchmarkDecode(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_, err := Decode("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
		if err != nil {
			b.Fatal(err)
		}
	}
}
