package backfill

import (
	"context"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
	"github.com/firehole/firehole/proto/geyser"
	"github.com/firehole/firehole/services/ingestor/internal/ingest"
	"github.com/firehole/firehole/services/ingestor/internal/metrics"
)

// capture keeps a copy of each message published (the ingester reuses its
// messages once acknowledged).
type capture struct{ msgs []*nats.Msg }

func (c *capture) Publish(_ context.Context, m *nats.Msg, done func(*jetstream.PubAck, error)) error {
	cp := &nats.Msg{Subject: m.Subject, Data: append([]byte(nil), m.Data...), Header: nats.Header{}}
	for k, v := range m.Header {
		cp.Header[k] = append([]string(nil), v...)
	}
	c.msgs = append(c.msgs, cp)
	done(&jetstream.PubAck{}, nil)
	return nil
}

// The backfill's message for an account is the streaming ingestor's message
// for the same write with write_version 0 and source "backfill": same
// subject, same headers, same protobuf fields.
func TestMessageIsTheIngestorsMessage(t *testing.T) {
	var pk, owner [32]byte
	pk[0], owner[0] = 7, 9
	now := time.Unix(1_700_000_000, 42)
	for _, c := range []fireholev1.Commitment{fireholev1.Commitment_COMMITMENT_PROCESSED, fireholev1.Commitment_COMMITMENT_CONFIRMED, fireholev1.Commitment_COMMITMENT_FINALIZED} {
		var ing capture
		m := metrics.New(prometheus.NewRegistry(), func() float64 { return 0 })
		in := ingest.New(&ing, ingest.Options{Source: Source, Commitment: c, Now: func() time.Time { return now }}, zerolog.Nop(), m)
		err := in.HandleUpdate(context.Background(), &geyser.SubscribeUpdate{UpdateOneof: &geyser.SubscribeUpdate_Account{
			Account: &geyser.SubscribeUpdateAccount{Slot: 123, Account: &geyser.SubscribeUpdateAccountInfo{
				Pubkey: pk[:], Owner: owner[:], Lamports: 5, Executable: true, RentEpoch: math.MaxUint64, Data: []byte{1, 2, 3},
			}},
		}})
		if err != nil || len(ing.msgs) != 1 {
			t.Fatalf("ingester: %v, %d messages", err, len(ing.msgs))
		}
		want := ing.msgs[0]

		got, err := Message(&fireholev1.AccountUpdate{Pubkey: pk[:], Owner: owner[:], Lamports: 5, Executable: true,
			RentEpoch: math.MaxUint64, Data: []byte{1, 2, 3}, Slot: 123, Commitment: c, Source: Source, IngestedAt: timestamppb.New(now)})
		if err != nil {
			t.Fatal(err)
		}
		if got.Subject != want.Subject || !reflect.DeepEqual(got.Header, want.Header) {
			t.Errorf("%v: backfill %s %v, ingestor %s %v", c, got.Subject, got.Header, want.Subject, want.Header)
		}
		var gu, wu fireholev1.AccountUpdate
		if proto.Unmarshal(got.Data, &gu) != nil || proto.Unmarshal(want.Data, &wu) != nil || !proto.Equal(&gu, &wu) {
			t.Errorf("%v: backfill update %v, ingestor update %v", c, &gu, &wu)
		}
	}
}
