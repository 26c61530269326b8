// Package backfilltest is a fake Solana JSON-RPC node for backfill tests: it
// answers getSlot and getProgramAccounts (base64, withContext) the way agave
// writes them, streaming the accounts, and records every request.
package backfilltest

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	"github.com/firehole/firehole/pkg/base58"
)

// Account is one account the node serves.
type Account struct {
	Pubkey, Owner [32]byte
	Lamports      uint64
	Executable    bool
	RentEpoch     uint64
	Data          []byte
}

// JSON is the entry as agave writes it: RpcKeyedAccount {pubkey, account}
// with UiAccount {lamports, data, owner, executable, rentEpoch, space}.
func (a Account) JSON() string {
	return fmt.Sprintf(`{"pubkey":"%s","account":{"lamports":%d,"data":["%s","base64"],"owner":"%s","executable":%t,"rentEpoch":%d,"space":%d}}`,
		base58.Encode32(&a.Pubkey), a.Lamports, base64.StdEncoding.EncodeToString(a.Data), base58.Encode32(&a.Owner),
		a.Executable, a.RentEpoch, len(a.Data))
}

// Request is a JSON-RPC request the node received.
type Request struct {
	Method string
	Params []json.RawMessage
}

// Node is the fake node. Set its fields before the first request; they are
// read under its lock.
type Node struct {
	URL string

	mu sync.Mutex
	// Entries per program (base58): raw JSON entries, written as they are
	// (Account.JSON for good ones).
	Entries map[string][]string
	Slot    uint64 // context slot of getProgramAccounts
	GetSlot uint64 // answer of getSlot
	// ValueFirst writes "value" before "context" (agave does not).
	ValueFirst bool
	// Error, when set, is answered instead of a result (code, message).
	Error *struct {
		Code    int
		Message string
	}
	// HTTPStatus, when not 0 or 200, is answered with a plain text body.
	HTTPStatus int
	// After, when set, is called once from the handler after AfterEntries
	// entries of an answer were written and flushed; the rest follows when
	// it returns.
	AfterEntries int
	After        func()

	requests []Request
}

// Start serves a node until the test ends.
func Start(t testing.TB) *Node {
	t.Helper()
	n := &Node{Entries: map[string][]string{}}
	srv := httptest.NewServer(http.HandlerFunc(n.serve))
	t.Cleanup(srv.Close)
	n.URL = srv.URL
	return n
}

// Set changes the node under its lock.
func (n *Node) Set(f func(n *Node)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	f(n)
}

// Requests returns the requests received so far, in order.
func (n *Node) Requests() []Request {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Request(nil), n.requests...)
}

func (n *Node) serve(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID     json.RawMessage   `json:"id"`
		Method string            `json:"method"`
		Params []json.RawMessage `json:"params"`
	}
	if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&req) != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	n.mu.Lock()
	n.requests = append(n.requests, Request{Method: req.Method, Params: req.Params})
	status, rpcErr := n.HTTPStatus, n.Error
	slot, getSlot, valueFirst := n.Slot, n.GetSlot, n.ValueFirst
	afterN, after := n.AfterEntries, n.After
	var entries []string
	if req.Method == "getProgramAccounts" && len(req.Params) > 0 {
		var program string
		_ = json.Unmarshal(req.Params[0], &program)
		entries = n.Entries[program]
	}
	n.mu.Unlock()

	if status != 0 && status != http.StatusOK {
		http.Error(w, "Internal Server Error", status)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	id := string(req.ID)
	if rpcErr != nil {
		fmt.Fprintf(w, `{"jsonrpc":"2.0","error":{"code":%d,"message":%q},"id":%s}`+"\n", rpcErr.Code, rpcErr.Message, id)
		return
	}
	switch req.Method {
	case "getSlot":
		fmt.Fprintf(w, `{"jsonrpc":"2.0","result":%d,"id":%s}`+"\n", getSlot, id)
	case "getProgramAccounts":
		bw := bufio.NewWriterSize(w, 64<<10)
		context := `"context":{"apiVersion":"2.2.7","slot":` + strconv.FormatUint(slot, 10) + `}`
		bw.WriteString(`{"jsonrpc":"2.0","result":{`)
		if !valueFirst {
			bw.WriteString(context + ",")
		}
		bw.WriteString(`"value":[`)
		for i, e := range entries {
			if i > 0 {
				bw.WriteByte(',')
			}
			bw.WriteString(e)
			if after != nil && i+1 == afterN {
				bw.Flush()
				w.(http.Flusher).Flush()
				after()
			}
		}
		bw.WriteString("]")
		if valueFirst {
			bw.WriteString("," + context)
		}
		bw.WriteString(`},"id":` + id + "}\n")
		bw.Flush()
	default:
		fmt.Fprintf(w, `{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":%s}`+"\n", id)
	}
}
