package gateway_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	solana "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
	"google.golang.org/protobuf/proto"

	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/pkg/bus"
	pkgsolana "github.com/firehole/firehole/pkg/solana"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
)

func sha256hex(s string) string {
	d := sha256.Sum256([]byte(s))
	return hex.EncodeToString(d[:])
}

func publishSlot(t *testing.T, e *env, slot, parent uint64, status fireholev1.SlotStatus) {
	t.Helper()
	u := &fireholev1.SlotUpdate{Slot: slot, Status: status}
	if parent > 0 {
		u.Parent = &parent
	}
	b, _ := proto.Marshal(u)
	if err := e.nc.Publish(bus.SlotSubject(status), b); err != nil {
		t.Fatal(err)
	}
	_ = e.nc.Flush()
}

func TestSolanaGoHTTPReads(t *testing.T) {
	e := newEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl := rpc.New(e.http)

	owner, pk, missing := key32(), key32(), key32()
	a := account(owner, pk, 77, []byte("redis account"))
	e.cache(a)
	e.setSlot("confirmed", 80)

	info, err := cl.GetAccountInfoWithOpts(ctx, solana.PublicKeyFromBytes(pk), &rpc.GetAccountInfoOpts{Encoding: solana.EncodingBase64})
	if err != nil {
		t.Fatalf("getAccountInfo: %v", err)
	}
	if info.Context.Slot != 80 || string(info.Value.Data.GetBinary()) != "redis account" || info.Value.Lamports != 1_000_077 {
		t.Fatalf("getAccountInfo: %+v", info.Value)
	}
	if _, err := cl.GetAccountInfo(ctx, solana.PublicKeyFromBytes(missing)); err != rpc.ErrNotFound {
		t.Fatalf("missing account: want ErrNotFound, got %v", err)
	}
	multi, err := cl.GetMultipleAccountsWithOpts(ctx, []solana.PublicKey{solana.PublicKeyFromBytes(pk), solana.PublicKeyFromBytes(missing)},
		&rpc.GetMultipleAccountsOpts{Encoding: solana.EncodingBase64})
	if err != nil || len(multi.Value) != 2 || multi.Value[0] == nil || multi.Value[1] != nil {
		t.Fatalf("getMultipleAccounts: %+v %v", multi, err)
	}
	slot, err := cl.GetSlot(ctx, rpc.CommitmentConfirmed)
	if err != nil || slot != 80 {
		t.Fatalf("getSlot: %d %v", slot, err)
	}

	// Postgres: program accounts with filters.
	prog := key32()
	p1 := account(prog, key32(), 90, []byte{7, 7, 7, 1})
	p2 := account(prog, key32(), 91, []byte{7, 7, 8, 1})
	p3 := account(prog, key32(), 92, []byte{7, 7, 7, 1, 5})
	e.persist(p1, p2, p3)
	res, err := cl.GetProgramAccountsWithOpts(ctx, solana.PublicKeyFromBytes(prog), &rpc.GetProgramAccountsOpts{
		Encoding: solana.EncodingBase64,
		Filters:  []rpc.RPCFilter{{DataSize: 4}, {Memcmp: &rpc.RPCFilterMemcmp{Offset: 1, Bytes: solana.Base58([]byte{7, 7})}}},
	})
	if err != nil {
		t.Fatalf("getProgramAccounts: %v", err)
	}
	if len(res) != 1 || res[0].Pubkey != solana.PublicKeyFromBytes(p1.Account.Pubkey) {
		t.Fatalf("getProgramAccounts: %d results %+v", len(res), res)
	}
	all, err := cl.GetProgramAccountsWithOpts(ctx, solana.PublicKeyFromBytes(prog), &rpc.GetProgramAccountsOpts{Encoding: solana.EncodingBase64})
	if err != nil || len(all) != 3 {
		t.Fatalf("getProgramAccounts all: %d %v", len(all), err)
	}

	// Token accounts by owner, jsonParsed from Postgres with keys in agave's order.
	mint, holder := key32(), key32()
	tdata := make([]byte, 165)
	copy(tdata, mint)
	copy(tdata[32:], holder)
	tdata[108] = 1
	tok := account(pkgsolana.TokenProgramID[:], key32(), 95, tdata)
	tok.Program, tok.AccountType, tok.JsonParsed, tok.Status = "spl-token", "account", true, fireholev1.DecodeStatus_DECODE_STATUS_OK
	tok.Parsed = []byte(`{"info":{"isNative":false,"mint":"` + base58.Encode(mint) + `","owner":"` + base58.Encode(holder) +
		`","state":"initialized","tokenAmount":{"amount":"5","decimals":0,"uiAmount":5.0,"uiAmountString":"5"}},"type":"account"}`)
	e.persist(tok)
	// agave looks the mint up to learn its token program: it must exist.
	mintAcct := account(pkgsolana.TokenProgramID[:], mint, 90, make([]byte, 82))
	e.cache(mintAcct)
	code, body := httpPost(t, e.http, `{"jsonrpc":"2.0","id":1,"method":"getTokenAccountsByOwner","params":["`+base58.Encode(holder)+
		`",{"mint":"`+base58.Encode(mint)+`"},{"encoding":"jsonParsed"}]}`, nil)
	want := `{"jsonrpc":"2.0","result":{"context":{"apiVersion":"2.2.0","slot":95},"value":[{"pubkey":"` + base58.Encode(tok.Account.Pubkey) +
		`","account":{"data":{"program":"spl-token","parsed":` + string(tok.Parsed) + `,"space":165},"executable":false,"lamports":1000095,"owner":"` +
		base58.Encode(pkgsolana.TokenProgramID[:]) + `","rentEpoch":18446744073709551615,"space":165}}]},"id":1}`
	if code != 200 || body != want {
		t.Fatalf("getTokenAccountsByOwner:\n got %d %s\nwant %s", code, body, want)
	}
	notMint := account(key32(), key32(), 90, make([]byte, 82))
	e.cache(notMint)
	for _, tc := range []struct{ mint, want string }{
		{base58.Encode(key32()), `{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid param: could not find mint"},"id":1}`},
		{base58.Encode(notMint.Account.Pubkey), `{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid param: not a Token mint"},"id":1}`},
	} {
		_, body := httpPost(t, e.http, `{"jsonrpc":"2.0","id":1,"method":"getTokenAccountsByOwner","params":["`+base58.Encode(holder)+
			`",{"mint":"`+tc.mint+`"}]}`, nil)
		if body != tc.want {
			t.Errorf("getTokenAccountsByOwner(mint %s):\n got %s\nwant %s", tc.mint, body, tc.want)
		}
	}
}

func TestHTTPErrorsAndBatch(t *testing.T) {
	e := newEnv(t, nil)
	big := account(key32(), key32(), 5, make([]byte, 200))
	e.cache(big)
	e.setSlot("confirmed", 9)
	bigS := base58.Encode(big.Account.Pubkey)
	cases := []struct{ name, req, want string }{
		{"parse error", `{"jsonrpc":`, `{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}`},
		{"unknown method", `{"jsonrpc":"2.0","id":1,"method":"getBlock"}`, `{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":1}`},
		{"invalid pubkey", `{"jsonrpc":"2.0","id":1,"method":"getAccountInfo","params":["0OIl"]}`, `{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid param: Invalid"},"id":1}`},
		{"wrong size pubkey", `{"jsonrpc":"2.0","id":1,"method":"getAccountInfo","params":["abc"]}`, `{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid param: WrongSize"},"id":1}`},
		{"base58 too large", `{"jsonrpc":"2.0","id":1,"method":"getAccountInfo","params":["` + bigS + `"]}`, `{"jsonrpc":"2.0","error":{"code":-32600,"message":"Encoded binary (base 58) data should be less than 128 bytes, please use Base64 encoding."},"id":1}`},
		{"sliced base58 ok", `{"jsonrpc":"2.0","id":1,"method":"getAccountInfo","params":["` + bigS + `",{"encoding":"base58","dataSlice":{"offset":0,"length":2}}]}`,
			`{"jsonrpc":"2.0","result":{"context":{"apiVersion":"2.2.0","slot":9},"value":{"data":["11","base58"],"executable":false,"lamports":1000005,"owner":"` + base58.Encode(big.Account.Owner) + `","rentEpoch":18446744073709551615,"space":200}},"id":1}`},
		{"account min context slot", `{"jsonrpc":"2.0","id":1,"method":"getAccountInfo","params":["` + bigS + `",{"encoding":"base64","minContextSlot":10}]}`,
			`{"jsonrpc":"2.0","error":{"code":-32016,"message":"Minimum context slot has not been reached","data":{"contextSlot":9}},"id":1}`},
		{"processed context slot falls back to the deployment's", `{"jsonrpc":"2.0","id":1,"method":"getAccountInfo","params":["` + bigS + `",{"encoding":"base64","commitment":"processed","dataSlice":{"offset":0,"length":0}}]}`,
			`{"jsonrpc":"2.0","result":{"context":{"apiVersion":"2.2.0","slot":9},"value":{"data":["","base64"],"executable":false,"lamports":1000005,"owner":"` + base58.Encode(big.Account.Owner) + `","rentEpoch":18446744073709551615,"space":200}},"id":1}`},
		{"min context slot", `{"jsonrpc":"2.0","id":1,"method":"getSlot","params":[{"minContextSlot":10}]}`, `{"jsonrpc":"2.0","error":{"code":-32016,"message":"Minimum context slot has not been reached","data":{"contextSlot":9}},"id":1}`},
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"getSlot"},{"jsonrpc":"2.0","id":2,"method":"getHealth"},{"jsonrpc":"2.0","id":3,"method":"nope"}]`,
			`[{"jsonrpc":"2.0","result":9,"id":1},{"jsonrpc":"2.0","result":"ok","id":2},{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":3}]`},
		{"too many filters", `{"jsonrpc":"2.0","id":1,"method":"getProgramAccounts","params":["` + bigS + `",{"filters":[{"dataSize":1},{"dataSize":1},{"dataSize":1},{"dataSize":1},{"dataSize":1}]}]}`,
			`{"jsonrpc":"2.0","error":{"code":-32602,"message":"Too many filters provided; max 4"},"id":1}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, got := httpPost(t, e.http, c.req, nil)
			if code != 200 || got != c.want {
				t.Errorf("\n got %d %s\nwant %s", code, got, c.want)
			}
		})
	}
	if _, got := httpPost(t, e.http, `{"jsonrpc":"2.0","id":1,"method":"getVersion"}`, nil); !strings.HasPrefix(got, `{"jsonrpc":"2.0","result":{"solana-core":"`) {
		t.Errorf("getVersion: %s", got)
	}
	_ = fmt.Sprint
}
