package backfill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/pkg/solanarpc"
)

// Client calls a Solana JSON-RPC node. It is safe for concurrent use.
type Client struct {
	url     string
	http    *http.Client
	timeout time.Duration
}

// NewClient returns a client of the node at url; timeout bounds each request,
// reading the whole response included.
func NewClient(url string, timeout time.Duration) *Client {
	return &Client{url: url, http: &http.Client{}, timeout: timeout}
}

// RPCError is a JSON-RPC error object answered by the node.
type RPCError = solanarpc.Error

// Account is one account of a getProgramAccounts answer, decoded.
type Account struct {
	Pubkey     []byte // 32 bytes
	Owner      []byte // 32 bytes
	Lamports   uint64
	Executable bool
	RentEpoch  uint64
	Data       []byte
}

// ProgramAccountsRequest is one getProgramAccounts call.
type ProgramAccountsRequest struct {
	Program    string          // base58
	Commitment string          // processed, confirmed or finalized
	Filters    json.RawMessage // JSON array sent as is; nil for none
	// FallbackSlot gives the slot to use when the answer has no context
	// before its accounts. It must be a slot read before the request: a lower
	// slot is safe (later streamed writes win), a higher one is not.
	FallbackSlot func() (uint64, error)
	// Account is called for every well-formed account, in order, on the
	// calling goroutine; an error stops the request and is returned.
	Account func(slot uint64, a *Account) error
	// Bad is called for every entry that is skipped, with its pubkey as the
	// node wrote it ("" when missing) and why.
	Bad func(pubkey, reason string)
}

// ProgramAccountsResult says which slot the accounts were published at.
type ProgramAccountsResult struct {
	Slot        uint64
	FromContext bool // the slot is the answer's context slot (else FallbackSlot's)
}

// ProgramAccounts calls getProgramAccounts with base64 data and context and
// decodes the answer as it arrives, one account at a time: the body (which
// may hold millions of accounts) is never in memory as a whole.
func (c *Client) ProgramAccounts(parent context.Context, r ProgramAccountsRequest) (ProgramAccountsResult, error) {
	ctx, cancel := context.WithTimeout(parent, c.timeout)
	defer cancel()
	opts := map[string]any{"encoding": "base64", "commitment": r.Commitment, "withContext": true}
	if len(r.Filters) > 0 {
		opts["filters"] = r.Filters
	}
	body, err := solanarpc.Post(ctx, c.http, c.url, "getProgramAccounts", []any{r.Program, opts})
	if err != nil {
		return ProgramAccountsResult{}, err
	}
	defer body.Close()
	pr := &pgaReader{dec: json.NewDecoder(body), req: r}
	if err := pr.response(); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) && parent.Err() == nil {
			return pr.res, fmt.Errorf("read response: no complete answer within -timeout %s: %w", c.timeout, err)
		}
		return pr.res, err
	}
	return pr.res, nil
}

// Slot calls getSlot at the commitment.
func (c *Client) Slot(ctx context.Context, commitment string) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, min(c.timeout, time.Minute))
	defer cancel()
	var slot uint64
	if err := solanarpc.Call(ctx, c.http, c.url, "getSlot", []any{map[string]string{"commitment": commitment}}, 1<<20, &slot); err != nil {
		return 0, err
	}
	return slot, nil
}

// pgaReader walks a getProgramAccounts answer with the Decoder's token API:
// {"jsonrpc":…,"result":{"context":{"slot":N},"value":[entry,…]},"id":…}, or
// {"error":{…}}. Each entry is decoded alone.
type pgaReader struct {
	dec *json.Decoder
	req ProgramAccountsRequest
	res ProgramAccountsResult
}

func (r *pgaReader) response() error {
	if err := r.expect('{'); err != nil {
		return err
	}
	gotResult := false
	for r.dec.More() {
		key, err := r.key()
		if err != nil {
			return err
		}
		switch key {
		case "error":
			var e RPCError
			if err := r.dec.Decode(&e); err != nil {
				return fmt.Errorf("read error object: %w", err)
			}
			return &e
		case "result":
			if err := r.result(); err != nil {
				return err
			}
			gotResult = true
		default:
			if err := r.skip(); err != nil {
				return err
			}
		}
	}
	if !gotResult {
		return errors.New("response has neither result nor error")
	}
	return r.expect('}')
}

// result reads {"context":{…},"value":[…]} (in either order), or a bare
// array from a node that ignored withContext.
func (r *pgaReader) result() error {
	t, err := r.dec.Token()
	if err != nil {
		return fmt.Errorf("read result: %w", err)
	}
	switch t {
	case json.Delim('['):
		if err := r.useFallbackSlot(); err != nil {
			return err
		}
		return r.entries()
	case json.Delim('{'):
	default:
		return fmt.Errorf("result is %v, want an object with context and value", t)
	}
	haveContext, haveValue := false, false
	for r.dec.More() {
		key, err := r.key()
		if err != nil {
			return err
		}
		switch key {
		case "context":
			var c struct {
				Slot *uint64 `json:"slot"`
			}
			if err := r.dec.Decode(&c); err != nil {
				return fmt.Errorf("read context: %w", err)
			}
			if c.Slot == nil {
				return errors.New("context has no slot")
			}
			if !haveValue {
				r.res = ProgramAccountsResult{Slot: *c.Slot, FromContext: true}
				haveContext = true
			}
		case "value":
			if !haveContext {
				if err := r.useFallbackSlot(); err != nil {
					return err
				}
			}
			if err := r.expect('['); err != nil {
				return fmt.Errorf("value: %w", err)
			}
			if err := r.entries(); err != nil {
				return err
			}
			haveValue = true
		default:
			if err := r.skip(); err != nil {
				return err
			}
		}
	}
	if !haveValue {
		return errors.New("result has no value")
	}
	return r.expect('}')
}

func (r *pgaReader) useFallbackSlot() error {
	if r.req.FallbackSlot == nil {
		return errors.New("accounts came before the context slot and no getSlot slot is known")
	}
	slot, err := r.req.FallbackSlot()
	if err != nil {
		return fmt.Errorf("accounts came before the context slot, and getSlot before the request failed: %w", err)
	}
	r.res = ProgramAccountsResult{Slot: slot}
	return nil
}

// rpcKeyedAccount is one entry as agave writes it (UiAccount, base64).
type rpcKeyedAccount struct {
	Pubkey  string `json:"pubkey"`
	Account *struct {
		Lamports   *uint64  `json:"lamports"`
		Data       []string `json:"data"`
		Owner      string   `json:"owner"`
		Executable *bool    `json:"executable"`
		RentEpoch  *uint64  `json:"rentEpoch"`
	} `json:"account"`
}

// entries reads the accounts after the array's '[' up to and including ']'.
func (r *pgaReader) entries() error {
	for r.dec.More() {
		var e rpcKeyedAccount
		err := r.dec.Decode(&e)
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typeErr):
			// The Decoder has consumed the whole entry: skip it.
			r.bad(e.Pubkey, fmt.Sprintf("%s: want %s, got %s", typeErr.Field, typeErr.Type, typeErr.Value))
			continue
		case err != nil:
			return fmt.Errorf("read accounts: %w", err)
		}
		a, reason := convert(&e)
		if reason != "" {
			r.bad(e.Pubkey, reason)
			continue
		}
		if err := r.req.Account(r.res.Slot, a); err != nil {
			return err
		}
	}
	return r.expect(']')
}

func (r *pgaReader) bad(pubkey, reason string) {
	if r.req.Bad != nil {
		r.req.Bad(pubkey, reason)
	}
}

// convert checks an entry; reason is "" when it is good.
func convert(e *rpcKeyedAccount) (a *Account, reason string) {
	pk, err := base58.Decode32(e.Pubkey)
	if err != nil {
		return nil, fmt.Sprintf("pubkey: %v", err)
	}
	x := e.Account
	switch {
	case x == nil:
		return nil, "account missing"
	case x.Lamports == nil:
		return nil, "lamports missing"
	case x.Executable == nil:
		return nil, "executable missing"
	case x.RentEpoch == nil:
		return nil, "rentEpoch missing"
	}
	owner, data, err := (&solanarpc.Account{Data: x.Data, Owner: x.Owner}).Decode()
	if err != nil {
		return nil, err.Error()
	}
	return &Account{
		Pubkey: pk[:], Owner: owner[:], Lamports: *x.Lamports, Executable: *x.Executable,
		RentEpoch: *x.RentEpoch, Data: data,
	}, ""
}

func (r *pgaReader) key() (string, error) {
	t, err := r.dec.Token()
	if err != nil {
		return "", fmt.Errorf("read response: %w", err)
	}
	k, ok := t.(string)
	if !ok {
		return "", fmt.Errorf("read response: want a key, got %v", t)
	}
	return k, nil
}

func (r *pgaReader) expect(d json.Delim) error {
	t, err := r.dec.Token()
	if err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	if t != d {
		return fmt.Errorf("read response: want %q, got %v", d, t)
	}
	return nil
}

// skip reads one value of any kind token by token.
func (r *pgaReader) skip() error {
	depth := 0
	for {
		t, err := r.dec.Token()
		if err != nil {
			return fmt.Errorf("read response: %w", err)
		}
		switch t {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}
