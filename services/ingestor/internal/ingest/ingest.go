// Package ingest turns Geyser updates into Firehole bus messages and
// publishes them to JetStream: AccountUpdate on the raw account subject,
// SlotUpdate on the slot subject, GapEvent on the gap subject. It is the hot
// path: message buffers are pooled and returned when JetStream acknowledges.
package ingest

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/pkg/bus"
	"github.com/firehole/firehole/pkg/solana"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
	"github.com/firehole/firehole/proto/geyser"
	"github.com/firehole/firehole/services/ingestor/internal/metrics"
	"github.com/firehole/firehole/services/ingestor/internal/yellowstone"
)

// Publisher is the bounded JetStream publisher (bus.Publisher). Publish
// blocks while too many messages are unacknowledged.
type Publisher interface {
	Publish(ctx context.Context, msg *nats.Msg, done func(*jetstream.PubAck, error)) error
}

// Options configure an Ingester.
type Options struct {
	Source     string
	Commitment fireholev1.Commitment
	// DataSlices are the request's accounts_data_slice; with one slice the
	// messages carry it as data_slice, with several the data is their
	// concatenation and data_slice spans from the first offset over the
	// total length.
	DataSlices []*geyser.SubscribeRequestAccountsDataSlice
	// Programs get their own metric label (base58); others count as "other".
	Programs [][32]byte
	Now      func() time.Time
}

// Ingester converts and publishes. HandleUpdate and HandleGap are called from
// one goroutine (the Yellowstone client); completions run on the publisher's.
type Ingester struct {
	pub        Publisher
	log        zerolog.Logger
	m          *metrics.Metrics
	source     string
	commitment fireholev1.Commitment
	commitTok  string
	slice      *fireholev1.DataSlice
	now        func() time.Time

	programs map[[32]byte]*programCounters
	other    *programCounters
	jobs     sync.Pool
	marshal  proto.MarshalOptions
}

type programCounters struct {
	received, published prometheus.Counter
}

// New returns an Ingester publishing through pub.
func New(pub Publisher, o Options, log zerolog.Logger, m *metrics.Metrics) *Ingester {
	if o.Now == nil {
		o.Now = time.Now
	}
	in := &Ingester{
		pub:        pub,
		log:        log.With().Str("component", "ingest").Logger(),
		m:          m,
		source:     o.Source,
		commitment: o.Commitment,
		commitTok:  bus.CommitmentToken(o.Commitment),
		now:        o.Now,
		programs:   map[[32]byte]*programCounters{},
		marshal:    proto.MarshalOptions{Deterministic: false},
	}
	if n := len(o.DataSlices); n > 0 {
		var total uint64
		for _, s := range o.DataSlices {
			total += s.GetLength()
		}
		in.slice = &fireholev1.DataSlice{Offset: o.DataSlices[0].GetOffset(), Length: total}
	}
	counters := func(label string) *programCounters {
		return &programCounters{received: m.Received.WithLabelValues(label), published: m.Published.WithLabelValues(label)}
	}
	for _, p := range append(KnownPrograms(), o.Programs...) {
		if _, ok := in.programs[p]; !ok {
			in.programs[p] = counters(base58.Encode32(&p))
		}
	}
	in.other = counters("other")
	in.jobs.New = func() any { return in.newJob() }
	return in
}

// KnownPrograms are the owners that always get their own metric label.
func KnownPrograms() [][32]byte {
	return [][32]byte{
		solana.SystemProgramID, solana.TokenProgramID, solana.Token2022ProgramID, solana.StakeProgramID,
		solana.VoteProgramID, solana.AddressLookupTableProgramID, solana.BPFLoaderUpgradeableID,
		solana.ConfigProgramID, solana.SysvarOwnerID,
	}
}

// job is one account message in flight; it is pooled with its buffers and
// its completion callback, and returned to the pool on acknowledgement.
type job struct {
	in       *Ingester
	msg      nats.Msg
	upd      fireholev1.AccountUpdate
	ingested timestamppb.Timestamp
	buf      []byte
	hdr      [4][]string // header value slices reused across messages
	prog     *programCounters
	recvAt   time.Time
	created  time.Time
	done     func(*jetstream.PubAck, error)
}

func (in *Ingester) newJob() *job {
	j := &job{in: in}
	j.msg.Header = nats.Header{}
	for i := range j.hdr {
		j.hdr[i] = make([]string, 1)
	}
	j.msg.Header[bus.HeaderMsgID] = j.hdr[0]
	j.msg.Header[bus.HeaderSlot] = j.hdr[1]
	j.msg.Header[bus.HeaderWriteVersion] = j.hdr[2]
	j.msg.Header[bus.HeaderCommitment] = j.hdr[3]
	j.msg.Header[bus.HeaderSource] = []string{in.source}
	j.hdr[3][0] = in.commitTok
	j.done = j.complete
	return j
}

// HandleUpdate publishes account and slot updates; anything else is ignored.
// Malformed updates are counted and skipped. It blocks while the publisher
// is at its in-flight bound.
func (in *Ingester) HandleUpdate(ctx context.Context, u *geyser.SubscribeUpdate) error {
	switch x := u.GetUpdateOneof().(type) {
	case *geyser.SubscribeUpdate_Account:
		return in.account(ctx, x.Account, u.GetCreatedAt())
	case *geyser.SubscribeUpdate_Slot:
		return in.slot(ctx, x.Slot, u.GetCreatedAt())
	}
	return nil
}

// Convert fills dst from a Geyser account update; it reports the bad-input
// reason when the update cannot be converted. dst's Data aliases src's.
func Convert(dst *fireholev1.AccountUpdate, src *geyser.SubscribeUpdateAccount, createdAt *timestamppb.Timestamp) (reason string, ok bool) {
	info := src.GetAccount()
	if src == nil || info == nil {
		return metrics.ReasonNilAccount, false
	}
	if len(info.GetPubkey()) != 32 {
		return metrics.ReasonPubkeyLength, false
	}
	if len(info.GetOwner()) != 32 {
		return metrics.ReasonOwnerLength, false
	}
	dst.Pubkey = info.Pubkey
	dst.Owner = info.Owner
	dst.Lamports = info.Lamports
	dst.Executable = info.Executable
	dst.RentEpoch = info.RentEpoch
	dst.Data = info.Data
	dst.WriteVersion = info.WriteVersion
	dst.TxnSignature = info.TxnSignature
	dst.Slot = src.GetSlot()
	dst.IsStartup = src.GetIsStartup()
	dst.CreatedAt = createdAt
	return "", true
}

func (in *Ingester) account(ctx context.Context, a *geyser.SubscribeUpdateAccount, createdAt *timestamppb.Timestamp) error {
	recvAt := in.now()
	j := in.jobs.Get().(*job)
	u := &j.upd
	if reason, ok := Convert(u, a, createdAt); !ok {
		in.m.BadInput.WithLabelValues(reason).Inc()
		in.release(j)
		return nil
	}
	u.Commitment = in.commitment
	u.Source = in.source
	u.DataSlice = in.slice
	j.ingested.Seconds, j.ingested.Nanos = recvAt.Unix(), int32(recvAt.Nanosecond())
	u.IngestedAt = &j.ingested

	var owner [32]byte
	copy(owner[:], u.Owner)
	j.prog = in.programs[owner]
	if j.prog == nil {
		j.prog = in.other
	}
	j.prog.received.Inc()

	var err error
	j.buf, err = in.marshal.MarshalAppend(j.buf[:0], u)
	if err != nil { // only for invalid UTF-8 in strings, which we set ourselves
		in.m.BadInput.WithLabelValues(metrics.ReasonPublish).Inc()
		in.release(j)
		return nil
	}
	j.msg.Subject, j.hdr[0][0] = bus.RawAccountSubjectAndMsgID(u)
	j.msg.Data = j.buf
	j.msg.Reply = ""
	j.hdr[1][0] = strconv.FormatUint(u.Slot, 10)
	j.hdr[2][0] = strconv.FormatUint(u.WriteVersion, 10)
	j.recvAt = recvAt
	j.created = time.Time{}
	if createdAt != nil {
		j.created = createdAt.AsTime()
	}
	// The protobuf bytes are what travels; drop references into the Geyser message.
	u.Pubkey, u.Owner, u.Data, u.TxnSignature, u.CreatedAt = nil, nil, nil, nil, nil
	if err := in.pub.Publish(ctx, &j.msg, j.done); err != nil {
		in.release(j)
		return err
	}
	return nil
}

// complete runs on the publisher's goroutine when JetStream acknowledged the
// message (or the publisher gave up on it).
func (j *job) complete(_ *jetstream.PubAck, err error) {
	in := j.in
	if err != nil {
		kind := "permanent"
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			kind = "shutdown"
		}
		in.m.PublishErrors.WithLabelValues(kind).Inc()
		if kind == "permanent" {
			in.log.Warn().Err(err).Str("subject", j.msg.Subject).Msg("account update not published")
		} else {
			// Up to MAX_IN_FLIGHT of these at shutdown: counted, not logged one by one.
			in.log.Debug().Err(err).Str("subject", j.msg.Subject).Msg("account update not published before shutdown")
		}
	} else {
		now := in.now()
		j.prog.published.Inc()
		in.m.PublishLatency.Observe(now.Sub(j.recvAt).Seconds())
		if !j.created.IsZero() {
			in.m.IngestLatency.Observe(now.Sub(j.created).Seconds())
		}
	}
	in.release(j)
}

func (in *Ingester) release(j *job) {
	if cap(j.buf) > 1<<20 {
		j.buf = nil // do not keep one huge account's buffer forever
	}
	j.msg.Data = nil
	j.msg.Subject = ""
	j.prog = nil
	in.jobs.Put(j)
}

// SlotStatus maps a Geyser slot status to the bus enum (same numbers).
func SlotStatus(s geyser.SlotStatus) fireholev1.SlotStatus { return fireholev1.SlotStatus(s) }

func (in *Ingester) slot(ctx context.Context, s *geyser.SubscribeUpdateSlot, createdAt *timestamppb.Timestamp) error {
	if s == nil {
		in.m.BadInput.WithLabelValues(metrics.ReasonNilSlot).Inc()
		return nil
	}
	su := &fireholev1.SlotUpdate{
		Slot:       s.GetSlot(),
		Parent:     s.Parent,
		Status:     SlotStatus(s.GetStatus()),
		DeadError:  s.GetDeadError(),
		Source:     in.source,
		CreatedAt:  createdAt,
		IngestedAt: timestamppb.New(in.now()),
	}
	status := bus.SlotStatusToken(su.Status)
	in.m.LastSlot.WithLabelValues(status).Set(float64(su.Slot))
	body, err := proto.Marshal(su)
	if err != nil {
		in.m.BadInput.WithLabelValues(metrics.ReasonPublish).Inc()
		return nil
	}
	msg := nats.NewMsg(bus.SlotSubject(su.Status))
	msg.Data = body
	msg.Header.Set(bus.HeaderMsgID, bus.SlotMsgID(su))
	msg.Header.Set(bus.HeaderSlot, strconv.FormatUint(su.Slot, 10))
	msg.Header.Set(bus.HeaderSource, in.source)
	counter := in.m.SlotsPublished.WithLabelValues(status)
	return in.pub.Publish(ctx, msg, func(_ *jetstream.PubAck, err error) {
		if err != nil {
			in.m.PublishErrors.WithLabelValues("slot").Inc()
			return
		}
		counter.Inc()
	})
}

// HandleGap publishes a GapEvent. The gap is counted and logged by the client.
func (in *Ingester) HandleGap(ctx context.Context, g yellowstone.Gap) error {
	ev := &fireholev1.GapEvent{
		Source:     in.source,
		FromSlot:   g.From,
		ToSlot:     g.To,
		Reason:     g.Reason,
		DetectedAt: timestamppb.New(in.now()),
	}
	body, err := proto.Marshal(ev)
	if err != nil {
		return err
	}
	msg := nats.NewMsg(bus.GapSubject)
	msg.Data = body
	msg.Header.Set(bus.HeaderMsgID, bus.GapMsgID(ev))
	msg.Header.Set(bus.HeaderSource, in.source)
	msg.Header.Set(bus.HeaderSlot, strconv.FormatUint(g.From, 10))
	return in.pub.Publish(ctx, msg, func(_ *jetstream.PubAck, err error) {
		if err != nil {
			in.m.PublishErrors.WithLabelValues("gap").Inc()
			in.log.Error().Err(err).Uint64("from_slot", g.From).Uint64("to_slot", g.To).Msg("gap event not published")
		}
	})
}
