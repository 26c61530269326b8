package service

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/firehole/firehole/pkg/solana"
	"github.com/firehole/firehole/services/parser/internal/decoders"
	"github.com/firehole/firehole/services/parser/internal/jsonparsed"
	"github.com/firehole/firehole/services/parser/internal/mints"
)

func TestParsePartitions(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in      string
		want    []int
		wantErr string
	}{
		{"0-15", []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, ""},
		{"3", []int{3}, ""},
		{" 8-9 , 0,2 ", []int{0, 2, 8, 9}, ""},
		{"0-16", nil, "outside"},
		{"-1", nil, "not a partition"},
		{"5-3", nil, "outside"},
		{"1,1", nil, "twice"},
		{"0-3,2", nil, "twice"},
		{"", nil, "no partitions"},
		{"a", nil, "not a partition"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := ParsePartitions(c.in)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, c.want) {
				t.Fatalf("got %v %v, want %v", got, err, c.want)
			}
		})
	}
}

func validConfig() Config {
	c := Config{
		NATSURL: "nats://x", RedisKeyPrefix: "fh:", IDLDir: "", Partitions: "0-15",
		MaxInFlight: 1, MaxPending: 1, MintCacheSize: 1, AckWait: 30e9, Durable: "parser", HTTPAddr: ":0",
	}
	c.Level, c.Format = "info", "json"
	return c
}

func TestValidateNamesEveryBadVariable(t *testing.T) {
	t.Parallel()
	if err := (&Config{}).Validate(); err == nil {
		t.Fatal("empty config validated")
	}
	good := validConfig()
	if err := good.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	bad := validConfig()
	bad.Level = "loud"
	bad.NATSURL = ""
	bad.Partitions = "0-99"
	bad.IDLPrograms = "x"
	bad.MaxInFlight = 0
	bad.MaxPending = 0
	bad.MintCacheSize = 0
	bad.AckWait = 0
	bad.Durable = "a.b"
	bad.HTTPAddr = ""
	bad.MintRPCURL = "ftp://node"
	err := bad.Validate()
	if err == nil {
		t.Fatal("bad config validated")
	}
	for _, v := range []string{"PARSER_LOG_LEVEL", "PARSER_NATS_URL", "PARSER_PARTITIONS", "PARSER_IDL_PROGRAMS",
		"PARSER_MAX_IN_FLIGHT", "PARSER_MAX_PENDING", "PARSER_MINT_CACHE_SIZE", "PARSER_ACK_WAIT", "PARSER_DURABLE", "PARSER_HTTP_ADDR",
		"PARSER_MINT_RPC_URL", "PARSER_MINT_RPC_TIMEOUT"} {
		if !strings.Contains(err.Error(), v) {
			t.Errorf("error does not name %s:\n%v", v, err)
		}
	}
}

func book() *mints.Book[jsonparsed.MintInfo] {
	return mints.NewBook(jsonparsed.MintFromAccount, nil, 10)
}

func TestBuildRegistryFromTheRepoIDLs(t *testing.T) {
	t.Parallel()
	reg, names, err := BuildRegistry("../../../../deploy/idl", "", book())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(names, "firehole_demo") {
		t.Errorf("IDLs %v do not include firehole_demo", names)
	}
	for _, id := range [][32]byte{solana.TokenProgramID, solana.Token2022ProgramID, solana.SystemProgramID, solana.VoteProgramID, solana.SysvarOwnerID} {
		if !reg.Has(id) {
			t.Errorf("no decoder for %x", id[:4])
		}
	}
}

func TestBuildRegistryErrors(t *testing.T) {
	t.Parallel()
	write := func(t *testing.T, name, body string) string {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	const account = `"accounts":[{"name":"A","discriminator":[1,2,3,4,5,6,7,8]}],"types":[{"name":"A","type":{"kind":"struct","fields":[{"name":"x","type":"u8"}]}}]`
	legacy := `{"version":"0.1.0","name":"legacy","instructions":[],"accounts":[{"name":"A","type":{"kind":"struct","fields":[{"name":"x","type":"u8"}]}}]}`
	cases := []struct {
		name, dir, overrides, wantErr string
	}{
		{"IDL claims the token program",
			write(t, "t.json", `{"address":"TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA","metadata":{"name":"evil","version":"0.1.0","spec":"0.1.0"},"instructions":[],`+account+`}`),
			"", "already registered"},
		{"legacy IDL without address", write(t, "l.json", legacy), "", "no address"},
		{"override names no IDL", t.TempDir(), "nothere=9gwaxBNB8bubdrnNs1sdbs7gcd1m67mNZuCeBAxmonEx", "not loaded"},
		{"override clashes with metaplex", write(t, "l.json", legacy), "legacy=metaqbxxUerdq28cj1RbAWkYQm3ybzjb6a8bt518x1s", "already registered"},
		{"missing directory", filepath.Join(t.TempDir(), "nope"), "", "load IDLs"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := BuildRegistry(c.dir, c.overrides, book())
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("err %v, want %q", err, c.wantErr)
			}
		})
	}
	// The legacy IDL loads once it is given an address.
	if _, names, err := BuildRegistry(write(t, "l.json", legacy), "legacy=9gwaxBNB8bubdrnNs1sdbs7gcd1m67mNZuCeBAxmonEx", book()); err != nil || !slices.Equal(names, []string{"legacy"}) {
		t.Fatalf("legacy with override: %v %v", names, err)
	}
}

// Wrapped-SOL token accounts decode with 9 decimals before (and without)
// their mint showing in the stream; a mint the stream brought still wins.
func TestNativeMintsAreKnownWithoutTheStream(t *testing.T) {
	t.Parallel()
	b := book()
	reg, _, err := BuildRegistry("", "", b)
	if err != nil {
		t.Fatal(err)
	}
	account := func(mint [32]byte, amount uint64) []byte {
		d := make([]byte, 165)
		copy(d, mint[:])
		d[32] = 7 // owner
		binary.LittleEndian.PutUint64(d[64:], amount)
		d[108] = 1 // initialized
		return d
	}
	for _, c := range []struct {
		program, mint [32]byte
	}{{solana.TokenProgramID, solana.WrappedSOLMintID}, {solana.Token2022ProgramID, solana.Token2022WrappedSOLMintID}} {
		res, err := reg.Decode(nil, decoders.Account{Owner: c.program, Pubkey: [32]byte{5}, Data: account(c.mint, 1_500_000_000)})
		if err != nil {
			t.Fatalf("wrapped SOL account: %v", err)
		}
		if s := string(res.Parsed); !strings.Contains(s, `"decimals":9`) || !strings.Contains(s, `"uiAmountString":"1.5"`) {
			t.Errorf("wrapped SOL account: %s", s)
		}
	}
	if _, err := reg.Decode(nil, decoders.Account{Owner: solana.TokenProgramID, Pubkey: [32]byte{5}, Data: account([32]byte{8}, 1)}); err == nil {
		t.Error("an unknown mint decoded")
	}
	// The stream's version of the mint wins over the constant.
	m := make([]byte, 82)
	m[44], m[45] = 4, 1 // decimals 4, initialized
	if !b.Learn(solana.TokenProgramID, solana.WrappedSOLMintID, m, 10) {
		t.Fatal("mint not learned")
	}
	res, err := reg.Decode(nil, decoders.Account{Owner: solana.TokenProgramID, Pubkey: [32]byte{5}, Data: account(solana.WrappedSOLMintID, 1)})
	if err != nil || !strings.Contains(string(res.Parsed), `"decimals":4`) {
		t.Errorf("stream mint ignored: %s %v", res.Parsed, err)
	}
}
