package gateway_test

import (
	"context"
	"fmt"
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

func TestGetTokenLargestAccounts(t *testing.T) {
	e := newEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	e.setSlot("confirmed", 130)
	mint, otherMint := key32(), key32()
	mintAcct := account(pkgsolana.TokenProgramID[:], mint, 100, make([]byte, 82))
	e.cache(mintAcct)

	// tokenAccount is a decoded SPL token account of mint with amount
	// (decimals 2) and, when amount is 0 lamports, closed.
	tokenAccount := func(mint []byte, amount uint64, pubkey []byte) *fireholev1.DecodedAccount {
		d := make([]byte, 165)
		copy(d, mint)
		copy(d[32:], key32())
		d[108] = 1
		a := account(pkgsolana.TokenProgramID[:], pubkey, 120, d)
		a.Program, a.AccountType, a.JsonParsed, a.Status = "spl-token", "account", true, fireholev1.DecodeStatus_DECODE_STATUS_OK
		ui := fmt.Sprintf("%d.%02d", amount/100, amount%100)
		a.Parsed = []byte(fmt.Sprintf(`{"info":{"isNative":false,"mint":"%s","owner":"%s","state":"initialized","tokenAmount":{"amount":"%d","decimals":2,"uiAmount":%s,"uiAmountString":"%s"}},"type":"account"}`,
			base58.Encode(mint), base58.Encode(d[32:64]), amount, ui, ui))
		return a
	}
	var want []string // addresses, largest first
	var all []*fireholev1.DecodedAccount
	for i := range 25 { // more than the 20 returned
		amount := uint64(1000 + 10*i)
		pk := key32()
		all = append(all, tokenAccount(mint, amount, pk))
		want = append([]string{base58.Encode(pk)}, want...)
	}
	// Two with equal amounts: agave breaks the tie by address, larger first.
	lo, hi := make([]byte, 32), make([]byte, 32)
	lo[0], hi[0] = 1, 2
	all = append(all, tokenAccount(mint, 5000, lo), tokenAccount(mint, 5000, hi))
	want = append([]string{base58.Encode(hi), base58.Encode(lo)}, want...)
	closed := tokenAccount(mint, 9999, key32())
	closed.Account.Lamports = 0
	all = append(all, closed, tokenAccount(otherMint, 8888, key32()))
	e.persist(all...)

	res, err := rpc.New(e.http).GetTokenLargestAccounts(ctx, solana.PublicKeyFromBytes(mint), rpc.CommitmentConfirmed)
	if err != nil {
		t.Fatalf("getTokenLargestAccounts: %v", err)
	}
	if len(res.Value) != 20 || res.Context.Slot != 130 {
		t.Fatalf("got %d accounts at slot %d, want 20 at 130", len(res.Value), res.Context.Slot)
	}
	for i, v := range res.Value {
		if v.Address.String() != want[i] {
			t.Fatalf("position %d: %s, want %s", i, v.Address, want[i])
		}
	}
	if v := res.Value[0]; v.Amount != "5000" || v.Decimals != 2 || v.UiAmountString != "50.00" {
		t.Fatalf("first: %+v", v)
	}
	_, body := httpPost(t, e.http, `{"jsonrpc":"2.0","id":1,"method":"getTokenLargestAccounts","params":["`+base58.Encode(mint)+`"]}`, nil)
	prefix := `{"jsonrpc":"2.0","result":{"context":{"apiVersion":"2.2.0","slot":130},"value":[{"address":"` + base58.Encode(hi) +
		`","amount":"5000","decimals":2,"uiAmount":50.00,"uiAmountString":"50.00"},{"address":"` + base58.Encode(lo) + `",`
	if len(body) < len(prefix) || body[:len(prefix)] != prefix {
		t.Fatalf("frame:\n got %s\nwant %s…", body, prefix)
	}
	_, body = httpPost(t, e.http, `{"jsonrpc":"2.0","id":1,"method":"getTokenLargestAccounts","params":["`+base58.Encode(otherMint)+`"]}`, nil)
	if want := `{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid param: could not find mint"},"id":1}`; body != want {
		t.Fatalf("unknown mint:\n got %s\nwant %s", body, want)
	}
}

func TestGetTokenSupply(t *testing.T) {
	e := newEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	e.setSlot("confirmed", 140)
	mint := func(program []byte, parsed string) *fireholev1.DecodedAccount {
		a := account(program, key32(), 130, make([]byte, 82))
		a.Program, a.AccountType, a.JsonParsed, a.Status = "spl-token", "mint", true, fireholev1.DecodeStatus_DECODE_STATUS_OK
		a.Parsed = []byte(parsed)
		return a
	}
	plain := mint(pkgsolana.TokenProgramID[:], `{"info":{"decimals":6,"freezeAuthority":null,"isInitialized":true,"mintAuthority":null,"supply":"1234500"},"type":"mint"}`)
	// Token-2022, scaled ×2 until a new multiplier far in the future: the
	// supply reads doubled (Token-2022 truncates the scaled base units).
	scaled := mint(pkgsolana.Token2022ProgramID[:], `{"info":{"decimals":2,"extensions":[{"extension":"scaledUiAmountConfig","state":{"authority":null,"multiplier":"2","newMultiplier":"3","newMultiplierEffectiveTimestamp":9999999999}}],"freezeAuthority":null,"isInitialized":true,"mintAuthority":null,"supply":"150"},"type":"mint"}`)
	notMint := account(pkgsolana.TokenProgramID[:], key32(), 130, make([]byte, 165))
	other := account(key32(), key32(), 130, make([]byte, 82))
	e.cache(plain, scaled, notMint, other)

	sup, err := rpc.New(e.http).GetTokenSupply(ctx, solana.PublicKeyFromBytes(plain.Account.Pubkey), rpc.CommitmentConfirmed)
	if err != nil || sup.Value.Amount != "1234500" || sup.Value.Decimals != 6 || sup.Value.UiAmountString != "1.2345" || sup.Context.Slot != 140 {
		t.Fatalf("getTokenSupply: %+v %v", sup, err)
	}
	for _, c := range []struct{ name, key, want string }{
		{"plain", base58.Encode(plain.Account.Pubkey),
			`{"jsonrpc":"2.0","result":{"context":{"apiVersion":"2.2.0","slot":140},"value":{"amount":"1234500","decimals":6,"uiAmount":1.2345,"uiAmountString":"1.2345"}},"id":1}`},
		{"scaled", base58.Encode(scaled.Account.Pubkey),
			`{"jsonrpc":"2.0","result":{"context":{"apiVersion":"2.2.0","slot":140},"value":{"amount":"150","decimals":2,"uiAmount":3.0,"uiAmountString":"3"}},"id":1}`},
		{"missing", base58.Encode(key32()), `{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid param: could not find account"},"id":1}`},
		{"other program", base58.Encode(other.Account.Pubkey), `{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid param: not a Token mint"},"id":1}`},
		{"not a mint", base58.Encode(notMint.Account.Pubkey), `{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid param: mint could not be unpacked"},"id":1}`},
	} {
		if _, body := httpPost(t, e.http, `{"jsonrpc":"2.0","id":1,"method":"getTokenSupply","params":["`+c.key+`"]}`, nil); body != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, body, c.want)
		}
	}
}
