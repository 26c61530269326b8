package decoders

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/firehole/firehole/pkg/solana"
	"github.com/firehole/firehole/services/parser/internal/jsonparsed"
)

type mintMap map[[32]byte]jsonparsed.MintInfo

func (m mintMap) Mint(k [32]byte) (jsonparsed.MintInfo, bool) { v, ok := m[k]; return v, ok }

func tokenAccount(mint [32]byte, amount uint64) []byte {
	b := make([]byte, 165)
	copy(b, mint[:])
	binary.LittleEndian.PutUint64(b[64:], amount)
	b[108] = 1
	return b
}

func TestRegistry(t *testing.T) {
	t.Parallel()
	known, unknown := [32]byte{1}, [32]byte{2}
	mints := mintMap{known: {Decimals: 3}}
	r := NewRegistry()
	if err := r.AddJSONParsed(jsonparsed.NewRegistry(), mints); err != nil {
		t.Fatal(err)
	}
	if err := r.AddMetaplex(); err != nil {
		t.Fatal(err)
	}
	if err := r.Add(solana.TokenProgramID, "again", false, nil); err == nil || !strings.Contains(err.Error(), "already registered by spl-token") {
		t.Fatalf("duplicate: %v", err)
	}

	cases := []struct {
		name        string
		acc         Account
		wantErr     func(error) bool
		wantProgram string
		wantType    string
		wantJSON    string
	}{
		{"token account with known mint",
			Account{Owner: solana.TokenProgramID, Data: tokenAccount(known, 1234)},
			nil, "spl-token", "account", `"uiAmountString":"1.234"`},
		{"token account with unknown mint",
			Account{Owner: solana.TokenProgramID, Data: tokenAccount(unknown, 1)},
			func(err error) bool {
				var am *AwaitingMintError
				return errors.As(err, &am) && am.Mint == unknown
			}, "spl-token", "account", ""},
		{"unknown program", Account{Owner: [32]byte{9}},
			func(err error) bool { return errors.Is(err, ErrUnknownProgram) }, "", "", ""},
		{"undecodable token data", Account{Owner: solana.Token2022ProgramID, Data: []byte{1}},
			func(err error) bool { return errors.Is(err, jsonparsed.ErrNotParsable) }, "spl-token-2022", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := []byte("prefix")
			res, err := r.Decode(dst, c.acc)
			if c.wantErr == nil && err != nil || c.wantErr != nil && !c.wantErr(err) {
				t.Fatalf("err %v", err)
			}
			if res.Program != c.wantProgram || res.AccountType != c.wantType {
				t.Errorf("program %q type %q, want %q %q", res.Program, res.AccountType, c.wantProgram, c.wantType)
			}
			if c.wantJSON != "" && (!strings.Contains(string(res.Parsed), c.wantJSON) || strings.HasPrefix(string(res.Parsed), "prefix") || !res.JSONParsed) {
				t.Errorf("parsed %s json_parsed %v", res.Parsed, res.JSONParsed)
			}
		})
	}
}

func TestParseAddressOverrides(t *testing.T) {
	t.Parallel()
	for in, ok := range map[string]bool{
		"": true,
		"a=9gwaxBNB8bubdrnNs1sdbs7gcd1m67mNZuCeBAxmonEx, b=metaqbxxUerdq28cj1RbAWkYQm3ybzjb6a8bt518x1s": true,
		"a":  false,
		"a=": false,
		"=9gwaxBNB8bubdrnNs1sdbs7gcd1m67mNZuCeBAxmonEx": false,
		"a=notbase58!": false,
		"a=9gwaxBNB8bubdrnNs1sdbs7gcd1m67mNZuCeBAxmonEx,a=9gwaxBNB8bubdrnNs1sdbs7gcd1m67mNZuCeBAxmonEx": false,
	} {
		if _, err := ParseAddressOverrides(in); (err == nil) != ok {
			t.Errorf("%q: err %v, want ok=%v", in, err, ok)
		}
	}
}
