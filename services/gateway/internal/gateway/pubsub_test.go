package gateway_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	solana "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
	"github.com/gagliardetto/solana-go/rpc/ws"

	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/services/gateway/internal/gateway"
)

func TestSolanaGoAccountAndProgramSubscribe(t *testing.T) {
	e := newEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client, err := ws.Connect(ctx, e.ws)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer client.Close()

	owner, pk, other := key32(), key32(), key32()
	asub, err := client.AccountSubscribeWithOpts(solana.PublicKeyFromBytes(pk), rpc.CommitmentConfirmed, solana.EncodingBase64)
	if err != nil {
		t.Fatalf("accountSubscribe: %v", err)
	}
	psub, err := client.ProgramSubscribeWithOpts(solana.PublicKeyFromBytes(owner), rpc.CommitmentProcessed, solana.EncodingBase64,
		[]rpc.RPCFilter{{DataSize: 5}})
	if err != nil {
		t.Fatalf("programSubscribe: %v", err)
	}
	// solana-go returns before the gateway has the subscriptions: wait until
	// both subjects are joined, then flush the hub's connection so that the
	// NATS server has the interest before anything is published.
	for deadline := time.Now().Add(10 * time.Second); e.gw.Hub.Subjects() < 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gateway joined %d subjects, want 2", e.gw.Hub.Subjects())
		}
	}
	if err := e.gw.Hub.Flush(); err != nil {
		t.Fatal(err)
	}

	e.publish(account(owner, other, 10, []byte("too long for the filter"))) // filtered out of the program sub
	e.publish(account(owner, pk, 11, []byte("hello")))

	got, err := asub.Recv(ctx)
	if err != nil {
		t.Fatalf("account recv: %v", err)
	}
	if got.Context.Slot != 11 || got.Value.Lamports != 1_000_011 || string(got.Value.Data.GetBinary()) != "hello" ||
		got.Value.Owner != solana.PublicKeyFromBytes(owner) || got.Value.RentEpoch.Uint64() != 18446744073709551615 {
		t.Fatalf("account notification: %+v", got)
	}
	pgot, err := psub.Recv(ctx)
	if err != nil {
		t.Fatalf("program recv: %v", err)
	}
	if pgot.Value.Pubkey != solana.PublicKeyFromBytes(pk) || string(pgot.Value.Account.Data.GetBinary()) != "hello" {
		t.Fatalf("program notification: %+v", pgot.Value)
	}
}

func TestExactFrames(t *testing.T) {
	e := newEnv(t, nil)
	w := e.mustDial()
	owner, pk := key32(), key32()
	pkS, ownerS := base58.Encode(pk), base58.Encode(owner)
	data := []byte{1, 2, 3, 4, 5, 6, 7, 8}

	cases := []struct {
		name, params, want string
	}{
		{"legacy binary default", `["` + pkS + `"]`, `"` + base58.Encode(data) + `"`},
		{"base58", `["` + pkS + `",{"encoding":"base58"}]`, `["` + base58.Encode(data) + `","base58"]`},
		{"base64 sliced", `["` + pkS + `",{"encoding":"base64","dataSlice":{"offset":2,"length":3}}]`, `["` + base64.StdEncoding.EncodeToString(data[2:5]) + `","base64"]`},
		{"jsonParsed fallback", `["` + pkS + `",{"encoding":"jsonParsed","commitment":"processed"}]`, `["` + base64.StdEncoding.EncodeToString(data) + `","base64"]`},
	}
	ids := make([]uint64, len(cases))
	for i, c := range cases {
		resp := w.call(`{"jsonrpc":"2.0","id":` + fmt.Sprint(i+1) + `,"method":"accountSubscribe","params":` + c.params + `}`)
		var id uint64
		if _, err := fmt.Sscanf(resp, `{"jsonrpc":"2.0","result":%d,"id":`+fmt.Sprint(i+1)+`}`, &id); err != nil {
			t.Fatalf("%s: subscribe response %s", c.name, resp)
		}
		ids[i] = id
	}
	e.publish(account(owner, pk, 42, data))
	got := map[uint64]string{}
	for range cases {
		f := w.read()
		var id uint64
		i := strings.LastIndex(f, `"subscription":`)
		fmt.Sscanf(f[i:], `"subscription":%d}}`, &id)
		got[id] = f
	}
	for i, c := range cases {
		want := `{"jsonrpc":"2.0","method":"accountNotification","params":{"result":{"context":{"slot":42},"value":{"data":` + c.want +
			`,"executable":false,"lamports":1000042,"owner":"` + ownerS + `","rentEpoch":18446744073709551615,"space":8}},"subscription":` + fmt.Sprint(ids[i]) + `}}`
		if got[ids[i]] != want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got[ids[i]], want)
		}
	}

	// programSubscribe frame with a memcmp filter; jsonParsed with a parsed account.
	psub := w.subscribe(`{"jsonrpc":"2.0","id":9,"method":"programSubscribe","params":["` + ownerS + `",{"encoding":"jsonParsed","filters":[{"memcmp":{"offset":0,"bytes":"` + base58.Encode([]byte{9, 9}) + `"}}]}]}`)
	a := account(owner, pk, 43, []byte{9, 9, 1})
	a.JsonParsed, a.Program, a.Parsed = true, "spl-token", []byte(`{"info":{"x":1},"type":"account"}`)
	a.Status = 1
	e.publish(account(owner, key32(), 43, []byte{9, 8, 1})) // memcmp mismatch
	e.publish(a)
	// The account subscriptions see slot 43 too, in any order relative to
	// the program frame (separate NATS subscriptions).
	var f string
	for range len(cases) + 1 {
		if g := w.read(); strings.Contains(g, "programNotification") {
			if f != "" {
				t.Fatalf("two program frames: %s", g)
			}
			f = g
		}
	}
	want := `{"jsonrpc":"2.0","method":"programNotification","params":{"result":{"context":{"slot":43},"value":{"pubkey":"` + pkS +
		`","account":{"data":{"program":"spl-token","parsed":{"info":{"x":1},"type":"account"},"space":3},"executable":false,"lamports":1000043,"owner":"` +
		ownerS + `","rentEpoch":18446744073709551615,"space":3}}},"subscription":` + fmt.Sprint(psub) + `}}`
	if f != want {
		t.Errorf("program frame:\n got %s\nwant %s", f, want)
	}
}

func TestIdenticalSubscriptionsShareID(t *testing.T) {
	e := newEnv(t, nil)
	a, b := e.mustDial(), e.mustDial()
	pk := base58.Encode(key32())
	req := `{"jsonrpc":"2.0","id":1,"method":"accountSubscribe","params":["` + pk + `",{"encoding":"base64"}]}`
	ida, idb := a.subscribe(req), b.subscribe(req)
	if ida != idb {
		t.Fatalf("identical params got ids %d and %d", ida, idb)
	}
	if n := e.gw.PubSub.Distinct(); n != 1 {
		t.Fatalf("distinct subscriptions = %d, want 1", n)
	}
	if n := e.gw.Hub.Subjects(); n != 1 {
		t.Fatalf("nats subjects = %d, want 1", n)
	}
	if r := a.call(fmt.Sprintf(`{"jsonrpc":"2.0","id":2,"method":"accountUnsubscribe","params":[%d]}`, ida)); r != `{"jsonrpc":"2.0","result":true,"id":2}` {
		t.Fatalf("unsubscribe: %s", r)
	}
	if n := e.gw.Hub.Subjects(); n != 1 {
		t.Fatalf("after one leaves: nats subjects = %d, want 1", n)
	}
	_ = b.call(fmt.Sprintf(`{"jsonrpc":"2.0","id":2,"method":"accountUnsubscribe","params":[%d]}`, idb))
	if n := e.gw.Hub.Subjects(); n != 0 {
		t.Fatalf("after last leaves: nats subjects = %d, want 0", n)
	}
}

func TestBadInputs(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.MaxSubsPerConn = 2 })
	w := e.mustDial()
	pk := base58.Encode(key32())
	huge := base58.Encode(make([]byte, 129))
	cases := []struct{ name, req, want string }{
		{"malformed json", `{"jsonrpc":"2.0","id":1,"method":`, `{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}`},
		{"not an object", `42`, `{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid request"},"id":null}`},
		{"missing jsonrpc", `{"id":1,"method":"slotSubscribe"}`, `{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid request"},"id":1}`},
		{"unknown method", `{"jsonrpc":"2.0","id":2,"method":"fooSubscribe"}`, `{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":2}`},
		{"wrong type", `{"jsonrpc":"2.0","id":3,"method":"accountSubscribe","params":[1]}`, `{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params: invalid type: integer ` + "`1`" + `, expected a string."},"id":3}`},
		{"invalid pubkey", `{"jsonrpc":"2.0","id":4,"method":"accountSubscribe","params":["notakey0"]}`, `{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid Request: Invalid pubkey provided"},"id":4}`},
		{"invalid program id", `{"jsonrpc":"2.0","id":11,"method":"programSubscribe","params":["notakey0"]}`, `{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid Request: Invalid pubkey provided"},"id":11}`},
		{"filters checked before the program id", `{"jsonrpc":"2.0","id":12,"method":"programSubscribe","params":["notakey0",{"filters":[{"memcmp":{"offset":0,"bytes":"` + huge + `"}}]}]}`, `{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params: Invalid param: DataTooLarge"},"id":12}`},
		{"bad encoding", `{"jsonrpc":"2.0","id":5,"method":"accountSubscribe","params":["` + pk + `",{"encoding":"hex"}]}`, `{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params: unknown variant ` + "`hex`, expected one of `binary`, `base58`, `base64`, `jsonParsed`, `base64+zstd`" + `."},"id":5}`},
		{"huge memcmp", `{"jsonrpc":"2.0","id":6,"method":"programSubscribe","params":["` + pk + `",{"filters":[{"memcmp":{"offset":0,"bytes":"` + huge + `"}}]}]}`, `{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params: Invalid param: DataTooLarge"},"id":6}`},
		{"too many filters", `{"jsonrpc":"2.0","id":10,"method":"programSubscribe","params":["` + pk + `",{"filters":[{"dataSize":1},{"dataSize":1},{"dataSize":1},{"dataSize":1},{"dataSize":1}]}]}`, `{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params: Too many filters provided; max 4"},"id":10}`},
		{"unknown subscription", `{"jsonrpc":"2.0","id":7,"method":"accountUnsubscribe","params":[987654]}`, `{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid subscription id."},"id":7}`},
		{"stronger commitment", `{"jsonrpc":"2.0","id":8,"method":"accountSubscribe","params":["` + pk + `",{"commitment":"finalized"}]}`, `{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params: commitment \"finalized\" is not available; this deployment serves \"confirmed\" data."},"id":8}`},
		{"ping", `{"jsonrpc":"2.0","id":9,"method":"ping"}`, `{"jsonrpc":"2.0","result":"pong","id":9}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := w.call(c.req); got != c.want {
				t.Errorf("\n got %s\nwant %s", got, c.want)
			}
		})
	}
	t.Run("binary garbage", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := w.c.Write(ctx, websocket.MessageBinary, []byte{0xff, 0x00, 0x13, 0x37}); err != nil {
			t.Fatal(err)
		}
		if got := w.read(); got != `{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}` {
			t.Errorf("got %s", got)
		}
	})
	t.Run("too many subscriptions", func(t *testing.T) {
		w.subscribe(`{"jsonrpc":"2.0","id":1,"method":"slotSubscribe"}`)
		w.subscribe(`{"jsonrpc":"2.0","id":2,"method":"accountSubscribe","params":["` + pk + `"]}`)
		got := w.call(`{"jsonrpc":"2.0","id":3,"method":"accountSubscribe","params":["` + pk + `",{"encoding":"base64"}]}`)
		want := `{"jsonrpc":"2.0","error":{"code":-32603,"message":"Internal Error: Subscription refused. Connection subscription limit reached"},"id":3}`
		if got != want {
			t.Errorf("\n got %s\nwant %s", got, want)
		}
	})
	// The connection survived every bad input.
	if got := w.call(`{"jsonrpc":"2.0","id":"last","method":"ping"}`); got != `{"jsonrpc":"2.0","result":"pong","id":"last"}` {
		t.Fatalf("after bad inputs: %s", got)
	}
}

func TestOversizedFrameCloses1009(t *testing.T) {
	e := newEnv(t, nil)
	w, other := e.mustDial(), e.mustDial()
	w.send(`{"jsonrpc":"2.0","id":1,"method":"ping","params":["` + strings.Repeat("x", 5000) + `"]}`)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _, err := w.c.Read(ctx)
	if websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
		t.Fatalf("want close 1009, got %v", err)
	}
	if got := other.call(`{"jsonrpc":"2.0","id":1,"method":"ping"}`); got != `{"jsonrpc":"2.0","result":"pong","id":1}` {
		t.Fatalf("other connection: %s", got)
	}
}

func TestSlowConsumerClosed1008(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.SendQueueMsgs = 256; c.SendQueueBytes = 4 << 20 })
	slow, fast := e.mustDial(), e.mustDial()
	owner := key32()
	req := `{"jsonrpc":"2.0","id":1,"method":"programSubscribe","params":["` + base58.Encode(owner) + `",{"encoding":"base64"}]}`
	slow.subscribe(req)
	fast.subscribe(req)

	// The fast client reads everything while the slow one reads nothing.
	const n = 600
	data := make([]byte, 32<<10)
	received := make(chan int, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		got := 0
		for got < n {
			if _, _, err := fast.c.Read(ctx); err != nil {
				break
			}
			got++
		}
		received <- got
	}()
	for i := range n {
		e.publish(account(owner, key32(), uint64(100+i), data))
		if i%10 == 9 {
			time.Sleep(5 * time.Millisecond) // a burst the fast reader keeps up with
		}
	}
	if got := <-received; got != n {
		t.Fatalf("fast client received %d of %d", got, n)
	}
	// Now the slow client reads: whatever was in flight, then the close.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, _, err := slow.c.Read(ctx)
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if websocket.CloseStatus(err) != websocket.StatusPolicyViolation || !asClose(err, &ce) || ce.Reason != "slow consumer" {
			t.Fatalf("slow client: want 1008 slow consumer, got %v", err)
		}
		break
	}
}

func asClose(err error, ce *websocket.CloseError) bool {
	for err != nil {
		if c, ok := err.(websocket.CloseError); ok {
			*ce = c
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

func TestAuthAtUpgrade(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) {
		c.Auth = "on"
		c.APIKeys = []string{testKey, "sha256:" + sha256hex("hashed-key")}
	})
	_, resp, err := e.dial("/", nil)
	if err == nil || resp == nil || resp.StatusCode != 401 {
		t.Fatalf("no key: want 401, got %v %v", resp, err)
	}
	_, resp, err = e.dial("/?api-key=wrong", nil)
	if err == nil || resp == nil || resp.StatusCode != 401 {
		t.Fatalf("wrong key: want 401, got %v %v", resp, err)
	}
	for _, c := range []struct {
		path string
		h    map[string][]string
	}{
		{"/?api-key=" + testKey, nil},
		{"/", map[string][]string{"X-Api-Key": {testKey}}},
		{"/hashed-key", nil},
	} {
		w, _, err := e.dial(c.path, c.h)
		if err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		if got := w.call(`{"jsonrpc":"2.0","id":1,"method":"ping"}`); got != `{"jsonrpc":"2.0","result":"pong","id":1}` {
			t.Fatalf("%s: %s", c.path, got)
		}
	}
	if code, _ := httpPost(t, e.http, `{"jsonrpc":"2.0","id":1,"method":"getHealth"}`, nil); code != 401 {
		t.Fatalf("http without key: %d", code)
	}
	if code, body := httpPost(t, e.http+"/"+testKey, `{"jsonrpc":"2.0","id":1,"method":"getHealth"}`, nil); code != 200 || body != `{"jsonrpc":"2.0","result":"ok","id":1}` {
		t.Fatalf("http with key: %d %s", code, body)
	}
}

func TestSlotSubscribeAndShutdown(t *testing.T) {
	e := newEnv(t, nil)
	w := e.mustDial()
	id := w.subscribe(`{"jsonrpc":"2.0","id":1,"method":"slotSubscribe"}`)
	publishSlot(t, e, 100, 0, 2) // finalized 100 → root
	publishSlot(t, e, 105, 104, 0)
	want := fmt.Sprintf(`{"jsonrpc":"2.0","method":"slotNotification","params":{"result":{"parent":104,"root":100,"slot":105},"subscription":%d}}`, id)
	if got := w.read(); got != want {
		t.Fatalf("\n got %s\nwant %s", got, want)
	}
	e.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _, err := w.c.Read(ctx)
	if websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("shutdown: want 1001, got %v", err)
	}
}

// agave's unsubscribe methods look the id up whatever their kind.
func TestUnsubscribeAnyKindByID(t *testing.T) {
	e := newEnv(t, nil)
	w := e.mustDial()
	slot := w.subscribe(`{"jsonrpc":"2.0","id":1,"method":"slotSubscribe"}`)
	prog := w.subscribe(`{"jsonrpc":"2.0","id":2,"method":"programSubscribe","params":["` + base58.Encode(key32()) + `"]}`)
	for _, c := range []struct {
		method string
		id     uint64
		want   string
	}{
		{"accountUnsubscribe", slot, `{"jsonrpc":"2.0","result":true,"id":3}`},
		{"slotUnsubscribe", prog, `{"jsonrpc":"2.0","result":true,"id":3}`},
		{"slotUnsubscribe", slot, `{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid subscription id."},"id":3}`},
	} {
		if got := w.call(fmt.Sprintf(`{"jsonrpc":"2.0","id":3,"method":"%s","params":[%d]}`, c.method, c.id)); got != c.want {
			t.Errorf("%s(%d): got %s, want %s", c.method, c.id, got, c.want)
		}
	}
	if n := e.gw.Hub.Subjects(); n != 0 {
		t.Fatalf("nats subjects = %d after every unsubscribe, want 0", n)
	}
}
