package uiaccount

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
)

func testAccount(data []byte) *fireholev1.DecodedAccount {
	owner := make([]byte, 32) // system program: 11111111111111111111111111111111
	return &fireholev1.DecodedAccount{Account: &fireholev1.AccountUpdate{
		Owner: owner, Lamports: 33594, RentEpoch: 635, Data: data,
	}}
}

func TestAppend(t *testing.T) {
	t.Parallel()
	data := []byte{0, 0, 0, 1, 2, 3}
	tail := `,"executable":false,"lamports":33594,"owner":"11111111111111111111111111111111","rentEpoch":635,"space":6}`
	parsed := testAccount(data)
	parsed.JsonParsed, parsed.Status, parsed.Program, parsed.Parsed = true, fireholev1.DecodeStatus_DECODE_STATUS_OK, "nonce", []byte(`{"type":"uninitialized"}`)
	notOK := testAccount(data)
	notOK.JsonParsed, notOK.Status, notOK.Program, notOK.Parsed = true, fireholev1.DecodeStatus_DECODE_STATUS_AWAITING_MINT, "spl-token", []byte(`{}`)
	cases := []struct {
		name  string
		acc   *fireholev1.DecodedAccount
		enc   Encoding
		slice Slice
		data  string
	}{
		{"binary", testAccount(data), Binary, Slice{}, `"111Ldp"`},
		{"base58", testAccount(data), Base58, Slice{}, `["111Ldp","base58"]`},
		{"base64", testAccount(data), Base64, Slice{}, `["AAAAAQID","base64"]`},
		{"slice", testAccount(data), Base64, Slice{Set: true, Offset: 3, Length: 2}, `["AQI=","base64"]`},
		{"slice past end", testAccount(data), Base64, Slice{Set: true, Offset: 9, Length: 2}, `["","base64"]`},
		{"slice clipped", testAccount(data), Base58, Slice{Set: true, Offset: 4, Length: 100}, `["9t","base58"]`},
		{"jsonParsed", parsed, JSONParsed, Slice{}, `{"program":"nonce","parsed":{"type":"uninitialized"},"space":6}`},
		{"jsonParsed fallback when not decoded", testAccount(data), JSONParsed, Slice{}, `["AAAAAQID","base64"]`},
		{"jsonParsed fallback when status not OK", notOK, JSONParsed, Slice{Set: true, Offset: 0, Length: 3}, `["AAAA","base64"]`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := string(Append(nil, c.acc, c.enc, c.slice))
			want := `{"data":` + c.data + tail
			if got != want {
				t.Errorf("\n got %s\nwant %s", got, want)
			}
			if !json.Valid([]byte(got)) {
				t.Errorf("invalid JSON %s", got)
			}
		})
	}
}

func TestBase58TooLarge(t *testing.T) {
	t.Parallel()
	a := testAccount(make([]byte, 129))
	for _, enc := range []Encoding{Binary, Base58} {
		if got := string(Append(nil, a, enc, Slice{})); !strings.Contains(got, `"`+TooLargeForBase58+`"`) {
			t.Errorf("%v: %s", enc, got)
		}
	}
	// 128 bytes still encode.
	if got := string(Append(nil, testAccount(make([]byte, 128)), Base58, Slice{})); strings.Contains(got, "error") {
		t.Errorf("128 bytes: %s", got)
	}
}

func TestZstdRoundTrip(t *testing.T) {
	t.Parallel()
	data := []byte(strings.Repeat("firehole ", 50))
	var v struct {
		Data [2]string `json:"data"`
	}
	if err := json.Unmarshal(Append(nil, testAccount(data), Base64Zstd, Slice{}), &v); err != nil {
		t.Fatal(err)
	}
	if v.Data[1] != "base64+zstd" {
		t.Fatalf("tag %q", v.Data[1])
	}
	z, err := base64.StdEncoding.DecodeString(v.Data[0])
	if err != nil {
		t.Fatal(err)
	}
	d, _ := zstd.NewReader(nil)
	out, err := d.DecodeAll(z, nil)
	if err != nil || string(out) != string(data) {
		t.Fatalf("round trip: %v", err)
	}
}

func TestCacheEncodesOnce(t *testing.T) {
	t.Parallel()
	c := NewCache(testAccount([]byte{1, 2, 3}))
	a := c.Value(Base64, Slice{})
	b := c.Value(Base64, Slice{})
	if &a[0] != &b[0] {
		t.Fatal("second Value re-encoded")
	}
	if s := c.Value(Base64, Slice{Set: true, Length: 1}); string(s) == string(a) {
		t.Fatal("different slice shared bytes")
	}
}

func BenchmarkAppendBase64(b *testing.B) {
	a := testAccount(make([]byte, 165))
	b.ReportAllocs()
	buf := make([]byte, 0, 512)
	for b.Loop() {
		buf = Append(buf[:0], a, Base64, Slice{})
	}
}
