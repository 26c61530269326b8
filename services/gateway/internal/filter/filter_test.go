package filter

import (
	"errors"
	"strings"
	"testing"

	"github.com/firehole/firehole/pkg/base58"
)

func TestParseErrors(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, raw, msg string }{
		{"too many", `[{"dataSize":1},{"dataSize":1},{"dataSize":1},{"dataSize":1},{"dataSize":1}]`, "Too many filters provided; max 4"},
		{"base58 too long", `[{"memcmp":{"offset":0,"bytes":"` + strings.Repeat("1", 176) + `"}}]`, "Invalid param: DataTooLarge"},
		{"base58 decodes too large", `[{"memcmp":{"offset":0,"bytes":"` + base58.Encode(make([]byte, 129)) + `"}}]`, "Invalid param: DataTooLarge"},
		{"base64 too long", `[{"memcmp":{"offset":0,"bytes":"` + strings.Repeat("A", 176) + `","encoding":"base64"}}]`, "Invalid param: DataTooLarge"},
		{"bad base58", `[{"memcmp":{"offset":0,"bytes":"0OIl"}}]`, "Invalid param: Base58DecodeError(InvalidCharacter { character: '0', index: 0 })"},
		{"bad base58 later", `[{"memcmp":{"offset":0,"bytes":"11a'b"}}]`, `Invalid param: Base58DecodeError(InvalidCharacter { character: '\'', index: 3 })`},
		{"non-ascii base58", `[{"memcmp":{"offset":0,"bytes":"1é"}}]`, "Invalid param: Base58DecodeError(NonAsciiCharacter { index: 1 })"},
		{"bad base64", `[{"memcmp":{"offset":0,"bytes":"!!","encoding":"base64"}}]`, "Invalid param: Base64DecodeError(InvalidByte)"},
		{"unknown string", `["nope"]`, "Invalid params: unknown variant `nope`, expected one of `dataSize`, `memcmp`, `tokenAccountState`."},
		{"missing offset", `[{"memcmp":{"bytes":"2"}}]`, "Invalid params: missing field `offset`."},
		{"not a list", `{"dataSize":1}`, "Invalid params: invalid type: expected a sequence of filters."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.raw))
			if err == nil || err.Error() != c.msg || !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want %q", err, c.msg)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	t.Parallel()
	token := make([]byte, 165)
	token[108] = 1
	token22 := make([]byte, 170)
	token22[108], token22[165] = 2, 2
	uninit := make([]byte, 165)
	cases := []struct {
		name, raw string
		data      []byte
		want      bool
	}{
		{"dataSize", `[{"dataSize":3}]`, []byte{1, 2, 3}, true},
		{"dataSize no", `[{"dataSize":4}]`, []byte{1, 2, 3}, false},
		{"memcmp base58", `[{"memcmp":{"offset":1,"bytes":"` + base58.Encode([]byte{2, 3}) + `"}}]`, []byte{1, 2, 3}, true},
		{"memcmp base64", `[{"memcmp":{"offset":1,"bytes":"AgM=","encoding":"base64"}}]`, []byte{1, 2, 3}, true},
		{"memcmp past end", `[{"memcmp":{"offset":2,"bytes":"` + base58.Encode([]byte{3, 4}) + `"}}]`, []byte{1, 2, 3}, false},
		{"memcmp offset huge", `[{"memcmp":{"offset":18446744073709551615,"bytes":"2"}}]`, []byte{1, 2, 3}, false},
		{"token state", `["tokenAccountState"]`, token, true},
		{"token-2022 state", `["tokenAccountState"]`, token22, true},
		{"token uninitialized", `["tokenAccountState"]`, uninit, false},
		{"all must match", `[{"dataSize":3},{"memcmp":{"offset":0,"bytes":"` + base58.Encode([]byte{9}) + `"}}]`, []byte{1, 2, 3}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Parse([]byte(c.raw))
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Match(c.data); got != c.want {
				t.Fatalf("Match = %v", got)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add(`[{"dataSize":1},"tokenAccountState",{"memcmp":{"offset":0,"bytes":"2"}}]`)
	f.Add(`[{"memcmp":{"offset":0,"bytes":[1,2,3]}}]`)
	f.Fuzz(func(t *testing.T, raw string) {
		s, err := Parse([]byte(raw))
		if err == nil {
			s.Match([]byte{1, 2, 3})
			s.Key(nil)
		}
	})
}
