package gateway_test

import (
	"context"
	"testing"
	"time"

	solana "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/firehole/firehole/pkg/base58"
	pkgsolana "github.com/firehole/firehole/pkg/solana"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
)

func TestGetBalanceAndTokenAccountBalance(t *testing.T) {
	e := newEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl := rpc.New(e.http)
	e.setSlot("confirmed", 120)

	// A token account the parser decoded, a mint, one awaiting its mint,
	// and an account of another program.
	mint, holder := key32(), key32()
	tdata := make([]byte, 165)
	copy(tdata, mint)
	copy(tdata[32:], holder)
	tdata[108] = 1
	tok := account(pkgsolana.TokenProgramID[:], key32(), 110, tdata)
	tok.Program, tok.AccountType, tok.JsonParsed, tok.Status = "spl-token", "account", true, fireholev1.DecodeStatus_DECODE_STATUS_OK
	tok.Parsed = []byte(`{"info":{"isNative":false,"mint":"` + base58.Encode(mint) + `","owner":"` + base58.Encode(holder) +
		`","state":"initialized","tokenAmount":{"amount":"1234500","decimals":6,"uiAmount":1.2345,"uiAmountString":"1.2345"}},"type":"account"}`)
	mintAcct := account(pkgsolana.TokenProgramID[:], mint, 100, make([]byte, 82))
	mintAcct.Program, mintAcct.AccountType, mintAcct.JsonParsed, mintAcct.Status = "spl-token", "mint", true, fireholev1.DecodeStatus_DECODE_STATUS_OK
	mintAcct.Parsed = []byte(`{"info":{"decimals":6,"freezeAuthority":null,"isInitialized":true,"mintAuthority":null,"supply":"1234500"},"type":"mint"}`)
	awaiting := account(pkgsolana.Token2022ProgramID[:], key32(), 111, tdata)
	awaiting.Status = fireholev1.DecodeStatus_DECODE_STATUS_AWAITING_MINT
	other := account(key32(), key32(), 112, []byte{1, 2, 3})
	e.cache(tok, mintAcct, awaiting, other)

	bal, err := cl.GetBalance(ctx, solana.PublicKeyFromBytes(other.Account.Pubkey), rpc.CommitmentConfirmed)
	if err != nil || bal.Value != 1_000_112 || bal.Context.Slot != 120 {
		t.Fatalf("getBalance: %+v %v", bal, err)
	}
	if bal, err := cl.GetBalance(ctx, solana.PublicKeyFromBytes(key32()), rpc.CommitmentConfirmed); err != nil || bal.Value != 0 {
		t.Fatalf("getBalance of an unknown account: %+v %v, want 0 as agave answers", bal, err)
	}

	tb, err := cl.GetTokenAccountBalance(ctx, solana.PublicKeyFromBytes(tok.Account.Pubkey), rpc.CommitmentConfirmed)
	if err != nil {
		t.Fatalf("getTokenAccountBalance: %v", err)
	}
	if tb.Value.Amount != "1234500" || tb.Value.Decimals != 6 || tb.Value.UiAmountString != "1.2345" ||
		tb.Value.UiAmount == nil || *tb.Value.UiAmount != 1.2345 || tb.Context.Slot != 120 {
		t.Fatalf("getTokenAccountBalance: %+v", tb.Value)
	}
	// The exact frame, as agave shapes it.
	_, body := httpPost(t, e.http, `{"jsonrpc":"2.0","id":3,"method":"getTokenAccountBalance","params":["`+base58.Encode(tok.Account.Pubkey)+`"]}`, nil)
	want := `{"jsonrpc":"2.0","result":{"context":{"apiVersion":"2.2.0","slot":120},"value":{"amount":"1234500","decimals":6,"uiAmount":1.2345,"uiAmountString":"1.2345"}},"id":3}`
	if body != want {
		t.Fatalf("\n got %s\nwant %s", body, want)
	}

	for _, tc := range []struct{ name, key, msg string }{
		{"missing", base58.Encode(key32()), "Invalid param: could not find account"},
		{"other program", base58.Encode(other.Account.Pubkey), "Invalid param: not a Token account"},
		{"a mint", base58.Encode(mint), "Invalid param: not a Token account"},
		{"awaiting its mint", base58.Encode(awaiting.Account.Pubkey), "Invalid param: could not find mint"},
		{"bad key", "0OIl", "Invalid param: Invalid"},
	} {
		_, body := httpPost(t, e.http, `{"jsonrpc":"2.0","id":1,"method":"getTokenAccountBalance","params":["`+tc.key+`"]}`, nil)
		if want := `{"jsonrpc":"2.0","error":{"code":-32602,"message":"` + tc.msg; len(body) < len(want) || body[:len(want)] != want {
			t.Errorf("%s: got %s, want an error starting %s", tc.name, body, want)
		}
	}
}
