package pubsub

import (
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"

	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
	"github.com/firehole/firehole/services/gateway/internal/conn"
	"github.com/firehole/firehole/services/gateway/internal/hub"
	"github.com/firehole/firehole/services/gateway/internal/metrics"
	"github.com/firehole/firehole/services/gateway/internal/uiaccount"
)

type countSender struct{ n, bytes int }

func (s *countSender) Send(p []byte) bool { s.n++; s.bytes += len(p); return true }
func (s *countSender) SendFrame(f conn.Frame) bool {
	s.n++
	s.bytes += len(f.Wire())
	return true
}

// BenchmarkDeliverFanout is the hub → subscription → connection path of one
// notification to 1,000 connections sharing one programSubscribe: decode
// once, frame once, queue 1,000 times. Reported per notification.
func BenchmarkDeliverFanout(b *testing.B) {
	srv := New(Config{Commitment: fireholev1.Commitment_COMMITMENT_CONFIRMED}, nil, zerolog.Nop(), metrics.New(prometheus.NewRegistry()))
	var owner [32]byte
	owner[0] = 7
	sub := newSubscription(srv, &spec{kind: kindProgram, key: owner, enc: uiaccount.Base64,
		commitment: fireholev1.Commitment_COMMITMENT_CONFIRMED}, 1, "k")
	senders := make([]*countSender, 1000)
	for i := range senders {
		senders[i] = &countSender{}
		sub.addSession(srv.NewSession(senders[i], nil))
	}
	a := &fireholev1.DecodedAccount{Account: &fireholev1.AccountUpdate{Pubkey: make([]byte, 32), Owner: owner[:], Lamports: 1,
		Data: make([]byte, 165), Slot: 9, Commitment: fireholev1.Commitment_COMMITMENT_CONFIRMED}}
	data, err := proto.Marshal(a)
	if err != nil {
		b.Fatal(err)
	}
	msg := &nats.Msg{Subject: "s", Data: data}
	b.ReportAllocs()
	for b.Loop() {
		sub.Deliver(hub.NewMessage(msg))
	}
	if senders[999].n != b.N {
		b.Fatalf("last connection got %d of %d", senders[999].n, b.N)
	}
}
