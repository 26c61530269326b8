package pipeline_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/pkg/bus"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
	"github.com/firehole/firehole/services/parser/internal/pipeline"
)

// solanaNode answers getMultipleAccounts (base64) from accounts, as agave does.
type solanaNode struct {
	mu       sync.Mutex
	accounts map[string][]byte // base58 pubkey → SPL Token account data
	asked    []string
}

func (n *solanaNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Params []json.RawMessage `json:"params"`
	}
	var keys []string
	if json.NewDecoder(r.Body).Decode(&req) != nil || len(req.Params) == 0 || json.Unmarshal(req.Params[0], &keys) != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.asked = append(n.asked, keys...)
	tokenOwner := tokenProgram()
	vals := make([]any, len(keys))
	for i, k := range keys {
		if d, ok := n.accounts[k]; ok {
			vals[i] = map[string]any{"data": []string{base64.StdEncoding.EncodeToString(d), "base64"}, "executable": false,
				"lamports": 1461600, "owner": base58.Encode(tokenOwner[:]), "rentEpoch": uint64(18446744073709551615), "space": len(d)}
		}
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": 1,
		"result": map[string]any{"context": map[string]any{"slot": 400}, "value": vals}})
}

// A token account whose mint never shows in the stream (a mint that has not
// changed since the system started) is decoded once the RPC node has
// answered for its mint: AWAITING_MINT first, then the re-decoded copy.
func TestMintFromSolanaRPC(t *testing.T) {
	t.Parallel()
	mint, holder, acct := key(t), key(t), key(t)
	node := &solanaNode{accounts: map[string][]byte{base58.Encode(mint[:]): mintData(6, 5_000_000)}}
	srv := httptest.NewServer(node)
	t.Cleanup(srv.Close)

	e := newEnv(t)
	rep := e.start(replicaOpts{mintRPC: srv.URL})
	r := e.reader("")
	id := e.publishRaw(update(tokenProgram(), acct, tokenAccountData(mint, holder, 1_500_000), 300))
	first := r.next(wait)
	if first.msg.GetStatus() != fireholev1.DecodeStatus_DECODE_STATUS_AWAITING_MINT {
		t.Fatalf("first copy %v, want AWAITING_MINT", first.msg.GetStatus())
	}
	re := r.next(wait)
	if re.header.Get(bus.HeaderMsgID) != id+pipeline.RedecodeSuffix || re.msg.GetStatus() != fireholev1.DecodeStatus_DECODE_STATUS_OK {
		t.Fatalf("got %s %v (%s), want %s OK", re.header.Get(bus.HeaderMsgID), re.msg.GetStatus(), re.msg.GetError(), id+pipeline.RedecodeSuffix)
	}
	contains(t, string(re.msg.GetParsed()), `"decimals":6`, `"uiAmountString":"1.5"`)
	if n := sum(t, rep, "firehole_parser_mint_rpc_lookups_total"); n != 1 {
		t.Errorf("rpc lookups %v, want 1", n)
	}

	// The mint is known now: a second account of it decodes at once.
	other := key(t)
	e.publishRaw(update(tokenProgram(), other, tokenAccountData(mint, holder, 7), 301))
	if got := r.next(wait); got.msg.GetStatus() != fireholev1.DecodeStatus_DECODE_STATUS_OK {
		t.Fatalf("second account %v", got.msg.GetStatus())
	}
	r.none(300 * time.Millisecond)
	node.mu.Lock()
	defer node.mu.Unlock()
	if len(node.asked) != 1 {
		t.Errorf("node asked for %v, want the mint once", node.asked)
	}
}

// failingLookup is an outside mint store that is down.
type failingLookup struct{ calls atomic.Int64 }

func (f *failingLookup) Account(context.Context, [32]byte) ([32]byte, []byte, uint64, bool, error) {
	f.calls.Add(1)
	return [32]byte{}, nil, 0, false, errors.New("redis: connection refused")
}

// After one failed outside lookup the partition does not wait on the store
// again for a while: the next accounts of unknown mints go out at once.
func TestFailedMintLookupPausesLookups(t *testing.T) {
	t.Parallel()
	lookup := &failingLookup{}
	frozen := time.Unix(1_800_000_000, 0) // the pause never ends in this test
	e := newEnv(t)
	rep := e.start(replicaOpts{lookup: lookup, now: func() time.Time { return frozen }})
	r := e.reader("")
	holder := key(t)
	// One at a time: the accounts fall in different partitions, whose
	// workers run at once, and two lookups started together both go to the
	// store. The pause starts when the first lookup fails, before its
	// account is published.
	for i := range 3 {
		e.publishRaw(update(tokenProgram(), key(t), tokenAccountData(key(t), holder, 1), uint64(500+i)))
		if got := r.next(wait); got.msg.GetStatus() != fireholev1.DecodeStatus_DECODE_STATUS_AWAITING_MINT {
			t.Fatalf("status %v, want AWAITING_MINT", got.msg.GetStatus())
		}
	}
	if n := lookup.calls.Load(); n != 1 {
		t.Errorf("store asked %d times, want once before the pause", n)
	}
	if n := sum(t, rep, "firehole_parser_mint_lookups_total"); n != 1 {
		t.Errorf("lookup errors counted %v, want 1", n)
	}
}
