package rpc

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
	"github.com/firehole/firehole/services/gateway/internal/metrics"
)

// memCache is a Cache (with the one-round-trip ability) over one account.
type memCache struct{ a *fireholev1.DecodedAccount }

func (m memCache) Get(context.Context, string) (*fireholev1.DecodedAccount, error) { return m.a, nil }
func (m memCache) MGet(_ context.Context, ks []string) ([]*fireholev1.DecodedAccount, error) {
	out := make([]*fireholev1.DecodedAccount, len(ks))
	for i := range out {
		out[i] = m.a
	}
	return out, nil
}
func (m memCache) LatestSlot(context.Context, string) (uint64, error) { return 100, nil }
func (m memCache) GetWithSlot(context.Context, string, string) (*fireholev1.DecodedAccount, uint64, error) {
	return m.a, 100, nil
}

// BenchmarkGetAccountInfo is the gateway's own CPU per getAccountInfo over
// HTTP (handler only, store in memory): what is left once Redis answers.
func BenchmarkGetAccountInfo(b *testing.B) {
	a := &fireholev1.DecodedAccount{Account: &fireholev1.AccountUpdate{Pubkey: make([]byte, 32), Owner: make([]byte, 32),
		Lamports: 1, Data: make([]byte, 165), Slot: 90, Commitment: fireholev1.Commitment_COMMITMENT_CONFIRMED}}
	h := New(Config{Commitment: fireholev1.Commitment_COMMITMENT_CONFIRMED}, memCache{a: a}, nil, zerolog.Nop(), metrics.New(prometheus.NewRegistry()))
	body := []byte(`{"jsonrpc":"2.0","id":1,"method":"getAccountInfo","params":["11111111111111111111111111111111",{"encoding":"base64"}]}`)
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}
