package gateway_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/services/gateway/internal/gateway"
)

// TestNativeMounted checks that the native protocol answers at /native on
// the WebSocket listener, behind the same API keys.
func TestNativeMounted(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) {
		c.Auth = "on"
		c.APIKeys = []string{testKey}
	})
	if _, resp, err := e.dial("/native", nil); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("dial /native without a key: %v, want 401", err)
	}
	owner, pk := key32(), key32()
	e.cache(account(owner, pk, 5, []byte{1, 2}))
	w, _, err := e.dial("/native?api-key="+testKey, nil)
	if err != nil {
		t.Fatalf("dial /native: %v", err)
	}
	w.send(`{"op":"subscribe","id":"a","accounts":["` + base58.Encode(pk) + `"],"snapshot":true}`)
	type frame struct {
		Type    string `json:"type"`
		Account struct {
			Slot uint64 `json:"slot"`
		} `json:"account"`
	}
	next := func() frame {
		var f frame
		s := w.read()
		if err := json.Unmarshal([]byte(s), &f); err != nil {
			t.Fatalf("frame %s: %v", s, err)
		}
		return f
	}
	for _, want := range []string{"subscribed", "snapshot", "snapshotEnd"} {
		if f := next(); f.Type != want {
			t.Fatalf("got %+v, want %s", f, want)
		}
	}
	e.publish(account(owner, pk, 6, []byte{3}))
	if f := next(); f.Type != "update" || f.Account.Slot != 6 {
		t.Fatalf("got %+v, want the update at slot 6", f)
	}
	// Redis still holds slot 5; a read after the delivery is not older.
	_, body := httpPost(t, e.http+"/?api-key="+testKey, `{"jsonrpc":"2.0","id":1,"method":"getAccountInfo","params":["`+
		base58.Encode(pk)+`",{"encoding":"base64"}]}`, nil)
	if !strings.Contains(body, `"data":["Aw==","base64"]`) {
		t.Fatalf("getAccountInfo after the native update: %s", body)
	}
}

// TestNativeLimitsFromConfig: GATEWAY_NATIVE_MAX_SUBSCRIPTIONS reaches the
// native handler.
func TestNativeLimitsFromConfig(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.NativeMaxSubs = 1 })
	w, _, err := e.dial("/native", nil)
	if err != nil {
		t.Fatalf("dial /native: %v", err)
	}
	w.send(`{"op":"subscribe","id":"a","accounts":["` + base58.Encode(key32()) + `"]}`)
	w.send(`{"op":"subscribe","id":"b","accounts":["` + base58.Encode(key32()) + `"]}`)
	var types []string
	for len(types) < 2 {
		var f struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		}
		s := w.read()
		if err := json.Unmarshal([]byte(s), &f); err != nil {
			t.Fatalf("frame %s: %v", s, err)
		}
		types = append(types, f.Type+":"+f.ID)
	}
	// a's "subscribed" may come after b's refusal: a is set up asynchronously.
	if !slices.Contains(types, "subscribed:a") || !slices.Contains(types, "error:b") {
		t.Fatalf("frames %v, want a subscribed and b refused at the configured limit of 1", types)
	}
}
