package gateway_test

import (
	"context"
	"testing"
	"time"

	solana "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/services/gateway/internal/gateway"
)

// A client notified of a version and then reading the account from the same
// replica never gets an older version, even while Redis (the cacher) trails
// the bus; once Redis has a newer version, that one is read.
func TestReadAfterNotificationIsNotOlder(t *testing.T) {
	e := newEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl := rpc.New(e.http)
	owner, pk := key32(), key32()
	key := solana.PublicKeyFromBytes(pk)
	e.cache(account(owner, pk, 10, []byte("v10 in redis")))
	e.setSlot("confirmed", 10)

	w := e.mustDial()
	w.subscribe(`{"jsonrpc":"2.0","id":1,"method":"accountSubscribe","params":["` + base58.Encode(pk) + `",{"encoding":"base64"}]}`)
	if err := e.gw.Hub.Flush(); err != nil {
		t.Fatal(err)
	}
	read := func(want string) {
		t.Helper()
		info, err := cl.GetAccountInfoWithOpts(ctx, key, &rpc.GetAccountInfoOpts{Encoding: solana.EncodingBase64})
		if err != nil {
			t.Fatalf("getAccountInfo: %v", err)
		}
		if got := string(info.Value.Data.GetBinary()); got != want {
			t.Fatalf("getAccountInfo data %q, want %q", got, want)
		}
		many, err := cl.GetMultipleAccountsWithOpts(ctx, []solana.PublicKey{key}, &rpc.GetMultipleAccountsOpts{Encoding: solana.EncodingBase64})
		if err != nil {
			t.Fatalf("getMultipleAccounts: %v", err)
		}
		if got := string(many.Value[0].Data.GetBinary()); got != want {
			t.Fatalf("getMultipleAccounts data %q, want %q", got, want)
		}
	}
	read("v10 in redis")

	e.publish(account(owner, pk, 11, []byte("v11 on the bus"))) // Redis still holds v10
	w.read()
	read("v11 on the bus")

	e.cache(account(owner, pk, 12, []byte("v12 in redis")))
	read("v12 in redis")

	// A close (no lamports) notified before Redis has it reads as missing.
	closed := account(owner, pk, 13, nil)
	closed.Account.Lamports = 0
	e.publish(closed)
	w.read()
	if _, err := cl.GetAccountInfo(ctx, key); err != rpc.ErrNotFound {
		t.Fatalf("closed account: want ErrNotFound, got %v", err)
	}
}

// With the window at zero the replica reads Redis only.
func TestNotifiedReadsCanBeTurnedOff(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.NotifiedWindow = 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	owner, pk := key32(), key32()
	e.cache(account(owner, pk, 10, []byte("v10 in redis")))
	w := e.mustDial()
	w.subscribe(`{"jsonrpc":"2.0","id":1,"method":"accountSubscribe","params":["` + base58.Encode(pk) + `",{"encoding":"base64"}]}`)
	if err := e.gw.Hub.Flush(); err != nil {
		t.Fatal(err)
	}
	e.publish(account(owner, pk, 11, []byte("v11 on the bus")))
	w.read()
	info, err := rpc.New(e.http).GetAccountInfoWithOpts(ctx, solana.PublicKeyFromBytes(pk), &rpc.GetAccountInfoOpts{Encoding: solana.EncodingBase64})
	if err != nil {
		t.Fatalf("getAccountInfo: %v", err)
	}
	if got := string(info.Value.Data.GetBinary()); got != "v10 in redis" {
		t.Fatalf("got %q, want Redis's version", got)
	}
}
