package solanarpc

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// node answers every request with the body and status set for its method,
// after checking the request is JSON-RPC 2.0.
func node(t *testing.T, answers map[string]struct {
	status int
	body   string
}) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			JSONRPC string          `json:"jsonrpc"`
			Method  string          `json:"method"`
			Params  json.RawMessage `json:"params"`
			ID      uint64          `json:"id"`
		}
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &req); err != nil || req.JSONRPC != "2.0" || req.ID == 0 || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("bad request %s: %v", b, err)
		}
		a := answers[req.Method]
		w.WriteHeader(a.status)
		_, _ = w.Write([]byte(a.body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestCall(t *testing.T) {
	url := node(t, map[string]struct {
		status int
		body   string
	}{
		"getSlot":        {200, `{"jsonrpc":"2.0","result":42,"id":1}`},
		"getBalance":     {200, `{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid param: WrongSize"},"id":1}`},
		"getVersion":     {500, `{"jsonrpc":"2.0","error":{"code":-32603,"message":"Internal error"},"id":1}`},
		"getHealth":      {503, `node is behind`},
		"getBlockHeight": {200, `{"jsonrpc":"2.0","result":null,"id":1}`},
		"getEpochInfo":   {200, `{"jsonrpc":"2.0","result":{"epoch":` + strings.Repeat("1", 100) + `},"id":1}`},
		"getFirstSlot":   {200, `not json`},
		"getIdentity":    {200, `{"jsonrpc":"2.0","result":"not a number","id":1}`},
	})
	ctx := context.Background()
	var slot uint64
	if err := Call(ctx, http.DefaultClient, url, "getSlot", []any{}, 1<<10, &slot); err != nil || slot != 42 {
		t.Fatalf("getSlot: %d %v", slot, err)
	}
	var rpcErr *Error
	if err := Call(ctx, http.DefaultClient, url, "getBalance", []any{"x"}, 1<<10, &slot); !errors.As(err, &rpcErr) || rpcErr.Code != -32602 {
		t.Errorf("error object: %v", err)
	}
	if err := Call(ctx, http.DefaultClient, url, "getVersion", nil, 1<<10, &slot); !errors.As(err, &rpcErr) || rpcErr.Code != -32603 || !strings.Contains(err.Error(), "500") {
		t.Errorf("HTTP 500 with an error object: %v", err)
	}
	for method, want := range map[string]string{
		"getHealth": "node is behind", "getBlockHeight": "no result", "getFirstSlot": "decode", "getIdentity": "decode getIdentity result",
	} {
		if err := Call(ctx, http.DefaultClient, url, method, nil, 1<<10, &slot); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error with %q", method, err, want)
		}
	}
	if err := Call(ctx, http.DefaultClient, url, "getEpochInfo", nil, 64, &slot); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the limit: %v", err)
	}
}

func TestAccountDecode(t *testing.T) {
	good := Account{Data: []string{"AQID", "base64"}, Owner: "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"}
	owner, data, err := good.Decode()
	if err != nil || string(data) != "\x01\x02\x03" || owner[0] != 6 {
		t.Fatalf("decode: %x %x %v", owner, data, err)
	}
	for _, a := range []Account{
		{Data: []string{"AQID", "base58"}, Owner: good.Owner},
		{Data: []string{"!!", "base64"}, Owner: good.Owner},
		{Data: []string{"AQID"}, Owner: good.Owner},
		{Data: []string{"AQID", "base64"}, Owner: "0OIl"},
	} {
		if _, _, err := a.Decode(); err == nil {
			t.Errorf("%+v decoded", a)
		}
	}
}
