// Package solanarpc is the small Solana JSON-RPC client the services share
// for what they read from a node: one request, its answer or the node's
// error object, and accounts in the base64 UiAccount form.
package solanarpc

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/firehole/firehole/pkg/base58"
)

// Error is a JSON-RPC error object answered by the node.
type Error struct {
	Code    int64           `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func (e *Error) Error() string { return fmt.Sprintf("rpc error %d: %s", e.Code, e.Message) }

// ErrTooLarge is returned by Call when the answer is over its limit.
var ErrTooLarge = errors.New("answer larger than the size limit")

var ids atomic.Uint64

// Post sends one JSON-RPC request to the node at url and returns the body
// of a 200 answer (the caller reads and closes it). Any other status is an
// error, carrying the node's error object when it sent one.
func Post(ctx context.Context, client *http.Client, url, method string, params any) (io.ReadCloser, error) {
	req, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": ids.Add(1), "method": method, "params": params})
	if err != nil {
		return nil, fmt.Errorf("encode %s request: %w", method, err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(req))
	if err != nil {
		return nil, fmt.Errorf("make %s request: %w", method, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		var e struct {
			Error *Error `json:"error"`
		}
		if json.Unmarshal(snippet, &e) == nil && e.Error != nil {
			return nil, fmt.Errorf("%s: http %s: %w", method, resp.Status, e.Error)
		}
		return nil, fmt.Errorf("%s: http %s: %s", method, resp.Status, strings.TrimSpace(string(snippet)))
	}
	return resp.Body, nil
}

// Call is Post for answers of at most limit bytes: it decodes the result
// into result, and returns the node's error object as *Error, ErrTooLarge
// for a longer answer, and an error for an answer without a result.
func Call(ctx context.Context, client *http.Client, url, method string, params any, limit int64, result any) error {
	body, err := Post(ctx, client, url, method, params)
	if err != nil {
		return err
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return fmt.Errorf("read %s answer: %w", method, err)
	}
	if int64(len(b)) > limit {
		return fmt.Errorf("%s: %w", method, ErrTooLarge)
	}
	var resp struct {
		Result json.RawMessage `json:"result"`
		Error  *Error          `json:"error"`
	}
	if err := json.Unmarshal(b, &resp); err != nil {
		return fmt.Errorf("decode %s answer: %w", method, err)
	}
	if resp.Error != nil {
		return fmt.Errorf("%s: %w", method, resp.Error)
	}
	if len(resp.Result) == 0 || string(resp.Result) == "null" {
		return fmt.Errorf("%s answer has no result", method)
	}
	if err := json.Unmarshal(resp.Result, result); err != nil {
		return fmt.Errorf("decode %s result: %w", method, err)
	}
	return nil
}

// Account is an account as getAccountInfo and getMultipleAccounts return it
// with "encoding":"base64".
type Account struct {
	Data  []string `json:"data"`
	Owner string   `json:"owner"`
}

// Decode returns the account's owner and data, failing on anything that is
// not base64 data and a base58 32-byte owner.
func (a *Account) Decode() (owner [32]byte, data []byte, err error) {
	if len(a.Data) != 2 || a.Data[1] != "base64" {
		return owner, nil, errors.New(`data is not [<base64>, "base64"]`)
	}
	if data, err = base64.StdEncoding.DecodeString(a.Data[0]); err != nil {
		return owner, nil, fmt.Errorf("data: %w", err)
	}
	if owner, err = base58.Decode32(a.Owner); err != nil {
		return owner, nil, fmt.Errorf("owner %q: %w", a.Owner, err)
	}
	return owner, data, nil
}
