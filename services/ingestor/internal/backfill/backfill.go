// Package backfill loads the current accounts of programs from a Solana
// JSON-RPC node (getProgramAccounts) into the raw stream, so that a fresh
// Firehole knows the accounts Geyser will not mention until they change.
//
// Each account becomes an AccountUpdate with source "backfill",
// write_version 0 and the answer's context slot, published like the
// streaming ingestor publishes (same subject, message id and headers) through
// the bounded bus.Publisher. A streamed write at the same or a later slot wins
// over it downstream; write_version 0 loses to every streamed write of its
// slot, which is right because the stream carries all of them in order.
package backfill

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/firehole/firehole/pkg/bus"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
)

// Publisher is the bounded JetStream publisher (bus.Publisher): Publish
// blocks while too many messages are unacknowledged, and done is called
// once per message from another goroutine.
type Publisher interface {
	Publish(ctx context.Context, msg *nats.Msg, done func(*jetstream.PubAck, error)) error
}

// RPC is the part of the node client a backfill uses (Client).
type RPC interface {
	Slot(ctx context.Context, commitment string) (uint64, error)
	ProgramAccounts(ctx context.Context, r ProgramAccountsRequest) (ProgramAccountsResult, error)
}

// Options say what to load.
type Options struct {
	Programs   []string // base58
	Filters    json.RawMessage
	Commitment fireholev1.Commitment
	Now        func() time.Time
}

// Backfiller runs one backfill. Run is called once.
type Backfiller struct {
	rpc  RPC
	pub  Publisher
	o    Options
	log  zerolog.Logger
	comm string

	pending    sync.WaitGroup
	acked      atomic.Uint64
	duplicates atomic.Uint64
	failed     atomic.Uint64
}

// New returns a Backfiller reading from rpc and publishing through pub
// (whose Run must be going until Run here returns).
func New(rpc RPC, pub Publisher, o Options, log zerolog.Logger) *Backfiller {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Backfiller{rpc: rpc, pub: pub, o: o, log: log.With().Str("component", "backfill").Logger(), comm: bus.CommitmentToken(o.Commitment)}
}

// ProgramSummary is what one program's request gave.
type ProgramSummary struct {
	Program         string
	Slot            uint64
	SlotFromContext bool // else the getSlot slot read before the request
	Accounts        int  // well-formed accounts published (sent; see Summary for acks)
	Skipped         int  // malformed entries
}

// Summary is the outcome of a run.
type Summary struct {
	Programs   []ProgramSummary
	Published  uint64 // acknowledged by JetStream
	Duplicates uint64 // of those, already in the stream (same message id)
	Failed     uint64 // not stored
	Skipped    int
	Duration   time.Duration
}

// Run loads every program in turn and waits until JetStream acknowledged
// every account. It stops at the first RPC or publish error; malformed
// entries are skipped. The summary counts what was done either way.
func (b *Backfiller) Run(ctx context.Context) (Summary, error) {
	start := b.o.Now()
	var s Summary
	var runErr error
	for _, program := range b.o.Programs {
		ps, err := b.program(ctx, program)
		s.Programs = append(s.Programs, ps)
		s.Skipped += ps.Skipped
		if err != nil {
			runErr = fmt.Errorf("backfill program %s: %w", program, err)
			break
		}
	}
	// Every account sent must be acknowledged before the process ends.
	waited := make(chan struct{})
	go func() { b.pending.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-ctx.Done():
		if runErr == nil {
			runErr = fmt.Errorf("wait for acknowledgements: %w", ctx.Err())
		}
	}
	s.Published, s.Duplicates, s.Failed = b.acked.Load(), b.duplicates.Load(), b.failed.Load()
	s.Duration = b.o.Now().Sub(start)
	if runErr == nil && s.Failed > 0 {
		runErr = fmt.Errorf("%d accounts were not stored in JetStream", s.Failed)
	}
	return s, runErr
}

func (b *Backfiller) program(ctx context.Context, program string) (ProgramSummary, error) {
	ps := ProgramSummary{Program: program}
	log := b.log.With().Str("program", program).Logger()
	// The fallback slot must be read before the request: a lower slot is safe.
	slotBefore, slotErr := b.rpc.Slot(ctx, b.comm)
	if slotErr != nil {
		log.Warn().Err(slotErr).Msg("getSlot before getProgramAccounts; needed only if the answer has no context first")
	}
	log.Info().Str("commitment", b.comm).RawJSON("filters", filtersForLog(b.o.Filters)).Msg("getProgramAccounts")
	res, err := b.rpc.ProgramAccounts(ctx, ProgramAccountsRequest{
		Program:      program,
		Commitment:   b.comm,
		Filters:      b.o.Filters,
		FallbackSlot: func() (uint64, error) { return slotBefore, slotErr },
		Account: func(slot uint64, a *Account) error {
			if err := b.publish(ctx, slot, a); err != nil {
				return err
			}
			ps.Accounts++
			return nil
		},
		Bad: func(pubkey, reason string) {
			ps.Skipped++
			log.Warn().Str("pubkey", pubkey).Str("reason", reason).Msg("malformed account skipped")
		},
	})
	ps.Slot, ps.SlotFromContext = res.Slot, res.FromContext
	if err != nil {
		return ps, err
	}
	ev := log.Info()
	if !res.FromContext {
		ev = log.Warn().Str("slot_source", "getSlot")
	}
	ev.Uint64("slot", ps.Slot).Int("accounts", ps.Accounts).Int("skipped", ps.Skipped).Msg("program loaded")
	return ps, nil
}

func filtersForLog(f json.RawMessage) json.RawMessage {
	if len(f) == 0 {
		return json.RawMessage("null")
	}
	return f
}

// Message is the raw account message of a backfilled account: subject,
// Nats-Msg-Id and headers exactly as the streaming ingestor sets them for an
// update with the same fields.
func Message(u *fireholev1.AccountUpdate) (*nats.Msg, error) {
	body, err := proto.Marshal(u)
	if err != nil {
		return nil, fmt.Errorf("encode account update: %w", err)
	}
	subject, id := bus.RawAccountSubjectAndMsgID(u)
	msg := &nats.Msg{Subject: subject, Data: body, Header: nats.Header{}}
	msg.Header[bus.HeaderMsgID] = []string{id}
	msg.Header[bus.HeaderSlot] = []string{strconv.FormatUint(u.GetSlot(), 10)}
	msg.Header[bus.HeaderWriteVersion] = []string{strconv.FormatUint(u.GetWriteVersion(), 10)}
	msg.Header[bus.HeaderCommitment] = []string{bus.CommitmentToken(u.GetCommitment())}
	msg.Header[bus.HeaderSource] = []string{u.GetSource()}
	return msg, nil
}

func (b *Backfiller) publish(ctx context.Context, slot uint64, a *Account) error {
	u := &fireholev1.AccountUpdate{
		Pubkey:       a.Pubkey,
		Owner:        a.Owner,
		Lamports:     a.Lamports,
		Executable:   a.Executable,
		RentEpoch:    a.RentEpoch,
		Data:         a.Data,
		WriteVersion: 0,
		Slot:         slot,
		Commitment:   b.o.Commitment,
		Source:       Source,
		IngestedAt:   timestamppb.New(b.o.Now()),
	}
	msg, err := Message(u)
	if err != nil {
		return err
	}
	b.pending.Add(1)
	if err := b.pub.Publish(ctx, msg, b.done(msg.Subject)); err != nil {
		b.pending.Done()
		return fmt.Errorf("publish %s: %w", msg.Subject, err)
	}
	return nil
}

// done runs on the publisher's goroutine once the message is stored (or the
// publisher gave up on it).
func (b *Backfiller) done(subject string) func(*jetstream.PubAck, error) {
	return func(ack *jetstream.PubAck, err error) {
		defer b.pending.Done()
		if err != nil {
			b.failed.Add(1)
			b.log.Warn().Err(err).Str("subject", subject).Msg("account not published")
			return
		}
		b.acked.Add(1)
		if ack != nil && ack.Duplicate {
			b.duplicates.Add(1)
		}
	}
}

// Print writes the summary for a person: one line per program and a total.
func (s Summary) Print(w io.Writer) {
	for _, p := range s.Programs {
		from := "context"
		if !p.SlotFromContext {
			from = "getSlot"
		}
		fmt.Fprintf(w, "program %s: slot %d (%s), %d accounts, %d skipped\n", p.Program, p.Slot, from, p.Accounts, p.Skipped)
	}
	fmt.Fprintf(w, "backfill: %d programs, %d accounts published (%d already in the stream), %d skipped, %d not stored, slots %s, %s\n",
		len(s.Programs), s.Published, s.Duplicates, s.Skipped, s.Failed, s.slots(), s.Duration.Round(time.Millisecond))
}

func (s Summary) slots() string {
	if len(s.Programs) == 0 {
		return "-"
	}
	lo, hi := s.Programs[0].Slot, s.Programs[0].Slot
	for _, p := range s.Programs[1:] {
		lo, hi = min(lo, p.Slot), max(hi, p.Slot)
	}
	if lo == hi {
		return strconv.FormatUint(lo, 10)
	}
	return fmt.Sprintf("%d..%d", lo, hi)
}
