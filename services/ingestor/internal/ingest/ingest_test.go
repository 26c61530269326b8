package ingest

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/pkg/bus"
	"github.com/firehole/firehole/pkg/bus/bustest"
	"github.com/firehole/firehole/pkg/solana"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
	"github.com/firehole/firehole/proto/geyser"
	"github.com/firehole/firehole/services/ingestor/internal/metrics"
	"github.com/firehole/firehole/services/ingestor/internal/yellowstone"
)

// captured is a published message, copied before the publisher's callback
// returns the original to the pool.
type captured struct {
	subject string
	header  nats.Header
	data    []byte
}

// fakePublisher acknowledges every message at once.
type fakePublisher struct {
	mu   sync.Mutex
	msgs []captured
	err  error // given to done when set
}

func (p *fakePublisher) Publish(_ context.Context, m *nats.Msg, done func(*jetstream.PubAck, error)) error {
	h := nats.Header{}
	for k, v := range m.Header {
		h[k] = append([]string(nil), v...)
	}
	p.mu.Lock()
	p.msgs = append(p.msgs, captured{m.Subject, h, bytes.Clone(m.Data)})
	p.mu.Unlock()
	if done != nil {
		if p.err != nil {
			done(nil, p.err)
		} else {
			done(&jetstream.PubAck{}, nil)
		}
	}
	return nil
}

func key(b byte) []byte {
	k := make([]byte, 32)
	for i := range k {
		k[i] = b + byte(i)
	}
	return k
}

func accountUpdate(slot uint64, pubkey, owner []byte, data []byte) *geyser.SubscribeUpdate {
	sig := bytes.Repeat([]byte{9}, 64)
	return &geyser.SubscribeUpdate{
		Filters:   []string{"firehole"},
		CreatedAt: timestamppb.New(time.Unix(1700000000, 5)),
		UpdateOneof: &geyser.SubscribeUpdate_Account{Account: &geyser.SubscribeUpdateAccount{
			Slot: slot,
			Account: &geyser.SubscribeUpdateAccountInfo{
				Pubkey: pubkey, Owner: owner, Lamports: 2039280, RentEpoch: ^uint64(0),
				Data: data, WriteVersion: 77 + slot, TxnSignature: sig,
			},
		}},
	}
}

func newIngester(pub Publisher, o Options) (*Ingester, *metrics.Metrics) {
	m := metrics.New(nil, nil)
	if o.Source == "" {
		o.Source = "test"
	}
	if o.Commitment == 0 {
		o.Commitment = fireholev1.Commitment_COMMITMENT_CONFIRMED
	}
	return New(pub, o, zerolog.Nop(), m), m
}

func TestAccountMessage(t *testing.T) {
	t.Parallel()
	pub := &fakePublisher{}
	now := time.Unix(1700000001, 0)
	in, m := newIngester(pub, Options{Now: func() time.Time { return now }})
	owner := solana.TokenProgramID
	u := accountUpdate(300, key(1), owner[:], []byte("token account bytes"))
	if err := in.HandleUpdate(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	if len(pub.msgs) != 1 {
		t.Fatalf("%d messages", len(pub.msgs))
	}
	msg := pub.msgs[0]
	if want := bus.RawAccountSubject(owner[:], key(1)); msg.subject != want {
		t.Errorf("subject %q; want %q", msg.subject, want)
	}
	var got fireholev1.AccountUpdate
	if err := proto.Unmarshal(msg.data, &got); err != nil {
		t.Fatal(err)
	}
	want := &fireholev1.AccountUpdate{
		Pubkey: key(1), Owner: owner[:], Lamports: 2039280, RentEpoch: ^uint64(0),
		Data: []byte("token account bytes"), WriteVersion: 377, TxnSignature: bytes.Repeat([]byte{9}, 64),
		Slot: 300, Commitment: fireholev1.Commitment_COMMITMENT_CONFIRMED, Source: "test",
		CreatedAt: timestamppb.New(time.Unix(1700000000, 5)), IngestedAt: timestamppb.New(now),
	}
	if !proto.Equal(&got, want) {
		t.Errorf("message\n got %v\nwant %v", &got, want)
	}
	headers := map[string]string{
		bus.HeaderMsgID:        bus.AccountMsgID(want),
		bus.HeaderSlot:         "300",
		bus.HeaderWriteVersion: "377",
		bus.HeaderCommitment:   "confirmed",
		bus.HeaderSource:       "test",
	}
	for k, v := range headers {
		if g := msg.header.Get(k); g != v {
			t.Errorf("header %s = %q; want %q", k, g, v)
		}
	}
	label := base58.Encode(owner[:])
	if got := testutil.ToFloat64(m.Received.WithLabelValues(label)); got != 1 {
		t.Errorf("received{%s} = %v", label, got)
	}
	if got := testutil.ToFloat64(m.Published.WithLabelValues(label)); got != 1 {
		t.Errorf("published{%s} = %v", label, got)
	}
	if got := testutil.CollectAndCount(m.IngestLatency); got != 1 {
		t.Errorf("ingest latency series = %v", got)
	}
}

func TestBufferReuseKeepsMessagesApart(t *testing.T) {
	t.Parallel()
	pub := &fakePublisher{}
	in, _ := newIngester(pub, Options{})
	// A big then a small message through the same pooled job: the small one
	// must not carry the big one's tail.
	if err := in.HandleUpdate(context.Background(), accountUpdate(1, key(1), key(2), bytes.Repeat([]byte{1}, 4096))); err != nil {
		t.Fatal(err)
	}
	if err := in.HandleUpdate(context.Background(), accountUpdate(2, key(3), key(2), []byte{7})); err != nil {
		t.Fatal(err)
	}
	var second fireholev1.AccountUpdate
	if err := proto.Unmarshal(pub.msgs[1].data, &second); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(second.Data, []byte{7}) || !bytes.Equal(second.Pubkey, key(3)) || second.Slot != 2 {
		t.Errorf("second message = %v", &second)
	}
	if pub.msgs[0].header.Get(bus.HeaderMsgID) == pub.msgs[1].header.Get(bus.HeaderMsgID) {
		t.Error("two different updates share a message id")
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		update *geyser.SubscribeUpdate
		reason string
	}{
		{"nil account", &geyser.SubscribeUpdate{UpdateOneof: &geyser.SubscribeUpdate_Account{Account: &geyser.SubscribeUpdateAccount{Slot: 1}}}, metrics.ReasonNilAccount},
		{"short pubkey", accountUpdate(1, key(1)[:31], key(2), nil), metrics.ReasonPubkeyLength},
		{"long owner", accountUpdate(1, key(1), append(key(2), 0), nil), metrics.ReasonOwnerLength},
		{"empty pubkey", accountUpdate(1, nil, key(2), nil), metrics.ReasonPubkeyLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pub := &fakePublisher{}
			in, m := newIngester(pub, Options{})
			if err := in.HandleUpdate(context.Background(), tt.update); err != nil {
				t.Fatal(err)
			}
			if len(pub.msgs) != 0 {
				t.Errorf("bad input was published: %v", pub.msgs[0].subject)
			}
			if got := testutil.ToFloat64(m.BadInput.WithLabelValues(tt.reason)); got != 1 {
				t.Errorf("bad_input{%s} = %v", tt.reason, got)
			}
		})
	}
}

func TestProgramLabelsBounded(t *testing.T) {
	t.Parallel()
	custom := [32]byte(key(40))
	in, m := newIngester(&fakePublisher{}, Options{Programs: [][32]byte{custom}})
	for i := range 50 {
		if err := in.HandleUpdate(context.Background(), accountUpdate(1, key(1), key(byte(100+i)), nil)); err != nil {
			t.Fatal(err)
		}
	}
	if err := in.HandleUpdate(context.Background(), accountUpdate(1, key(1), custom[:], nil)); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(m.Received.WithLabelValues("other")); got != 50 {
		t.Errorf("received{other} = %v; want 50", got)
	}
	if got := testutil.ToFloat64(m.Received.WithLabelValues(base58.Encode(custom[:]))); got != 1 {
		t.Errorf("configured program label = %v; want 1", got)
	}
	if n := testutil.CollectAndCount(m.Received); n != len(KnownPrograms())+2 {
		t.Errorf("%d received series; want known + configured + other = %d", n, len(KnownPrograms())+2)
	}
}

func TestDataSlice(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		slices []*geyser.SubscribeRequestAccountsDataSlice
		want   *fireholev1.DataSlice
	}{
		{"none", nil, nil},
		{"one", []*geyser.SubscribeRequestAccountsDataSlice{{Offset: 32, Length: 32}}, &fireholev1.DataSlice{Offset: 32, Length: 32}},
		{"two", []*geyser.SubscribeRequestAccountsDataSlice{{Offset: 0, Length: 32}, {Offset: 64, Length: 8}}, &fireholev1.DataSlice{Offset: 0, Length: 40}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pub := &fakePublisher{}
			in, _ := newIngester(pub, Options{DataSlices: tt.slices})
			if err := in.HandleUpdate(context.Background(), accountUpdate(1, key(1), key(2), []byte{1, 2})); err != nil {
				t.Fatal(err)
			}
			var got fireholev1.AccountUpdate
			if err := proto.Unmarshal(pub.msgs[0].data, &got); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got.DataSlice, tt.want) {
				t.Errorf("data_slice = %v; want %v", got.DataSlice, tt.want)
			}
		})
	}
}

func TestPublishErrorCounted(t *testing.T) {
	t.Parallel()
	in, m := newIngester(&fakePublisher{err: context.Canceled}, Options{})
	if err := in.HandleUpdate(context.Background(), accountUpdate(1, key(1), key(2), nil)); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(m.PublishErrors.WithLabelValues("shutdown")); got != 1 {
		t.Errorf("publish_errors{shutdown} = %v", got)
	}
}

// TestJetStream publishes through the real bounded publisher into an
// in-process JetStream: accounts, slots and a gap land on their subjects,
// and a replayed account update is stored once.
func TestJetStream(t *testing.T) {
	t.Parallel()
	_, nc, js := bustest.StartWithStreams(t)
	pub, err := bus.NewPublisher(nc, bus.PublisherOptions{MaxInFlight: 8})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = pub.Run(ctx) }()
	in, m := newIngester(pub, Options{Source: "sim-a"})

	owner := solana.TokenProgramID
	for i := range 20 {
		if err := in.HandleUpdate(ctx, accountUpdate(uint64(100+i), key(byte(i)), owner[:], []byte{byte(i)})); err != nil {
			t.Fatal(err)
		}
	}
	// Replayed after a resume, with another write_version and created_at: same semantic id.
	replay := accountUpdate(105, key(5), owner[:], []byte{5})
	replay.GetAccount().GetAccount().WriteVersion = 999999
	replay.CreatedAt = timestamppb.Now()
	if err := in.HandleUpdate(ctx, replay); err != nil {
		t.Fatal(err)
	}
	parent := uint64(119)
	if err := in.HandleUpdate(ctx, &geyser.SubscribeUpdate{UpdateOneof: &geyser.SubscribeUpdate_Slot{Slot: &geyser.SubscribeUpdateSlot{
		Slot: 120, Parent: &parent, Status: geyser.SlotStatus_SLOT_CONFIRMED}}}); err != nil {
		t.Fatal(err)
	}
	if err := in.HandleGap(ctx, yellowstone.Gap{From: 121, To: 130, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for pub.InFlight() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}

	stream, err := js.Stream(ctx, bus.StreamRaw)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(bus.RawRoot+".>"))
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 22 {
		t.Errorf("stream holds %d messages; want 20 accounts + 1 slot + 1 gap (replay de-duplicated)", info.State.Msgs)
	}
	slotMsg, err := stream.GetLastMsgForSubject(ctx, bus.SlotSubject(fireholev1.SlotStatus_SLOT_STATUS_CONFIRMED))
	if err != nil {
		t.Fatal(err)
	}
	var su fireholev1.SlotUpdate
	if err := proto.Unmarshal(slotMsg.Data, &su); err != nil {
		t.Fatal(err)
	}
	if su.Slot != 120 || su.GetParent() != 119 || su.Source != "sim-a" || su.IngestedAt == nil {
		t.Errorf("slot update = %v", &su)
	}
	gapMsg, err := stream.GetLastMsgForSubject(ctx, bus.GapSubject)
	if err != nil {
		t.Fatal(err)
	}
	var g fireholev1.GapEvent
	if err := proto.Unmarshal(gapMsg.Data, &g); err != nil {
		t.Fatal(err)
	}
	if g.FromSlot != 121 || g.ToSlot != 130 || g.Source != "sim-a" || g.Reason != "test" {
		t.Errorf("gap = %v", &g)
	}
	if got := testutil.ToFloat64(m.Published.WithLabelValues(base58.Encode(owner[:]))); got != 21 {
		t.Errorf("published = %v; want 21 (the duplicate is acknowledged too)", got)
	}
}
