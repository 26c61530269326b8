package pipeline

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
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
	"github.com/firehole/firehole/services/parser/internal/decoders"
	"github.com/firehole/firehole/services/parser/internal/mints"
)

// RedecodeSuffix is appended to the raw message id of a token account
// republished after its mint arrived.
const RedecodeSuffix = ":m"

// worker consumes one partition in order. Everything but wake and rescan is
// owned by the worker goroutine.
type worker struct {
	p           *Parser
	idx, part   int
	pub         *bus.Publisher
	maxInFlight int
	wake        chan [32]byte
	rescan      atomic.Bool
	pendingN    atomic.Int64 // pending.len() for the gauge
	pending     *pendingSet
	log         zerolog.Logger
	buf         []byte
	counts      map[countKey]prometheus.Counter
}

type countKey struct {
	program, accountType string
	status               fireholev1.DecodeStatus
}

func (w *worker) run(ctx context.Context, c jetstream.Consumer, started chan<- struct{}) error {
	pubCtx, stopPub := context.WithCancel(context.WithoutCancel(ctx))
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		_ = w.pub.Run(pubCtx)
	}()
	defer func() {
		stopPub() // the publisher waits a bounded time for what is in flight
		<-pubDone
	}()

	it, err := c.Messages(jetstream.PullMaxMessages(w.p.opts.Batch))
	if err != nil {
		return fmt.Errorf("consume partition %d: %w", w.part, err)
	}
	defer it.Stop()
	started <- struct{}{}
	go func() {
		<-ctx.Done()
		it.Stop()
	}()

	lastSweep := w.p.opts.Now()
	for {
		msg, err := it.Next(jetstream.NextMaxWait(250 * time.Millisecond))
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case err == nil:
			w.handle(ctx, msg)
		case errors.Is(err, jetstream.ErrMsgIteratorClosed):
			return fmt.Errorf("consume partition %d: %w", w.part, err)
		}
		w.drainWake(ctx)
		if now := w.p.opts.Now(); now.Sub(lastSweep) >= w.p.opts.Sweep {
			lastSweep = now
			w.sweep(ctx, now)
		}
	}
}

func (w *worker) drainWake(ctx context.Context) {
	for {
		select {
		case mint := <-w.wake:
			w.redecode(ctx, mint)
		default:
			return
		}
	}
}

// sweep re-checks the pending set: every mint after a missed wake-up, and
// the outside store for mints whose back-off has passed.
func (w *worker) sweep(ctx context.Context, now time.Time) {
	rescan := w.rescan.Swap(false)
	fetches := 0
	for _, mint := range w.pending.mints() {
		if rescan && w.p.mints.Known(mint) {
			w.redecode(ctx, mint)
			continue
		}
		if fetches < 64 && w.pending.shouldFetch(mint, now) {
			fetches++
			if w.fetch(ctx, mint) {
				w.p.mintKnown(mint)
				w.redecode(ctx, mint)
			}
		}
	}
	w.pendingN.Store(int64(w.pending.len()))
}

func (w *worker) fetch(ctx context.Context, mint [32]byte) bool {
	fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	ok, err := w.p.mints.Fetch(fctx, mint)
	cancel()
	switch {
	case errors.Is(err, mints.ErrNoLookup):
	case err != nil:
		w.p.metrics.mintLookups.WithLabelValues("error").Inc()
		w.log.Debug().Err(err).Msg("mint lookup")
	case ok:
		w.p.metrics.mintLookups.WithLabelValues("found").Inc()
	default:
		w.p.metrics.mintLookups.WithLabelValues("missing").Inc()
	}
	return ok
}

// handle decodes and republishes one raw message; the message is settled
// by the publisher's completion (ack) or here (dead letter).
func (w *worker) handle(ctx context.Context, msg jetstream.Msg) {
	start := time.Now()
	u := new(fireholev1.AccountUpdate)
	if err := proto.Unmarshal(msg.Data(), u); err != nil {
		w.p.policy.DeadLetter(ctx, msg, fmt.Errorf("unmarshal account update: %w", err))
		return
	}
	if len(u.GetPubkey()) != 32 || len(u.GetOwner()) != 32 {
		w.p.policy.DeadLetter(ctx, msg, fmt.Errorf("account update: pubkey has %d bytes and owner %d, want 32", len(u.GetPubkey()), len(u.GetOwner())))
		return
	}
	id := msg.Headers().Get(bus.HeaderMsgID)
	if id == "" {
		id = bus.AccountMsgID(u)
	}
	var owner, pubkey [32]byte
	copy(owner[:], u.GetOwner())
	copy(pubkey[:], u.GetPubkey())

	if owner == solana.SysvarOwnerID && pubkey == solana.SysvarClockID && len(u.GetData()) >= 40 {
		// Clock: slot, epoch_start_timestamp, epoch, leader_schedule_epoch, unix_timestamp.
		w.p.clock.Store(int64(binary.LittleEndian.Uint64(u.GetData()[32:40])))
	}
	if u.GetDataSlice() == nil && w.p.mints.Learn(owner, pubkey, u.GetData(), u.GetSlot()) {
		w.p.mintKnown(pubkey)
	}
	w.pending.supersede(pubkey, u)

	d := w.decode(ctx, u, owner, pubkey, id, false)
	out := w.message(d, id)
	w.p.metrics.decodeTime.Observe(time.Since(start).Seconds())
	w.count(d)
	err := w.pub.Publish(ctx, out, func(_ *jetstream.PubAck, err error) {
		switch {
		case err == nil:
			w.p.metrics.published.Inc()
			w.p.policy.Ack(msg)
		case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
			// Shutting down: the raw message is redelivered after AckWait.
		default:
			w.p.policy.Retry(msg, fmt.Errorf("publish decoded account: %w", err))
		}
	})
	if err != nil {
		return // ctx ended; redelivered later
	}
	w.pendingN.Store(int64(w.pending.len()))
}

// decode turns u into its decoded form. For a token account whose mint is
// unknown it tries the outside store once (subject to back-off) and, failing
// that, keeps u pending unless redecoding already.
func (w *worker) decode(ctx context.Context, u *fireholev1.AccountUpdate, owner, pubkey [32]byte, id string, redecoding bool) *fireholev1.DecodedAccount {
	d := &fireholev1.DecodedAccount{Account: u, DecodedAt: timestamppb.New(w.p.opts.Now())}
	if u.GetDataSlice() != nil {
		d.Status = fireholev1.DecodeStatus_DECODE_STATUS_ERROR
		d.Error = "data is a slice of the account; not decoded"
		d.Program = "unknown"
		return d
	}
	acc := decoders.Account{Owner: owner, Pubkey: pubkey, Data: u.GetData(), UnixTimestamp: w.p.unixTimestamp()}
	res, err := w.p.dec.Decode(w.buf[:0], acc)
	var am *decoders.AwaitingMintError
	if errors.As(err, &am) && !redecoding && w.pending.shouldFetch(am.Mint, w.p.opts.Now()) && w.fetch(ctx, am.Mint) {
		w.p.mintKnown(am.Mint)
		res, err = w.p.dec.Decode(w.buf[:0], acc)
	}
	d.Program, d.AccountType = res.Program, res.AccountType
	switch {
	case err == nil:
		w.buf = res.Parsed[:0]
		d.Status = fireholev1.DecodeStatus_DECODE_STATUS_OK
		d.Parsed, d.JsonParsed = res.Parsed, res.JSONParsed
	case errors.Is(err, decoders.ErrUnknownProgram):
		d.Status = fireholev1.DecodeStatus_DECODE_STATUS_UNKNOWN_PROGRAM
		d.Program = ""
		d.Error = err.Error()
	case errors.Is(err, decoders.ErrNotParsable):
		d.Status = fireholev1.DecodeStatus_DECODE_STATUS_NOT_PARSABLE
		d.Error = err.Error()
	case errors.As(err, &am):
		d.Status = fireholev1.DecodeStatus_DECODE_STATUS_AWAITING_MINT
		d.Error = err.Error()
		w.keep(&pendingEntry{update: u, msgID: id, mint: am.Mint})
	default:
		d.Status = fireholev1.DecodeStatus_DECODE_STATUS_ERROR
		d.Error = err.Error()
	}
	return d
}

// keep adds e to the pending set and registers for its mint's arrival.
func (w *worker) keep(e *pendingEntry) {
	kept, newMint := w.pending.add(e, w.p.opts.Now())
	if !kept {
		if w.pending.len() >= w.pending.max {
			w.p.metrics.pendingDrop.Inc()
		}
		return
	}
	if newMint {
		w.p.await(e.mint, w.idx)
		// The mint may have arrived between the decode and the registration.
		if w.p.mints.Known(e.mint) {
			w.rescan.Store(true)
		}
	}
}

// redecode decodes the accounts waiting for mint again and republishes
// those that no longer wait, under "<id>:m".
func (w *worker) redecode(ctx context.Context, mint [32]byte) {
	for _, e := range w.pending.take(mint) {
		var owner, pubkey [32]byte
		copy(owner[:], e.update.GetOwner())
		copy(pubkey[:], e.update.GetPubkey())
		d := w.decode(ctx, e.update, owner, pubkey, e.msgID, true)
		if d.Status == fireholev1.DecodeStatus_DECODE_STATUS_AWAITING_MINT {
			continue // kept again by decode
		}
		w.count(d)
		w.p.metrics.redecoded.Inc()
		err := w.pub.Publish(ctx, w.message(d, e.msgID+RedecodeSuffix), func(_ *jetstream.PubAck, err error) {
			if err == nil {
				w.p.metrics.published.Inc()
				return
			}
			w.log.Warn().Err(err).Str("pubkey", base58.Encode(pubkey[:])).Msg("publish re-decoded account")
		})
		if err != nil {
			return
		}
	}
	w.pendingN.Store(int64(w.pending.len()))
}

// message is the decoded account on its subject with the contract's headers.
func (w *worker) message(d *fireholev1.DecodedAccount, id string) *nats.Msg {
	u := d.GetAccount()
	data, err := proto.Marshal(d)
	if err != nil {
		// Marshalling a message we built cannot fail short of a bug; publish
		// it without the decoded form rather than lose the update.
		d.Parsed, d.Status, d.Error = nil, fireholev1.DecodeStatus_DECODE_STATUS_ERROR, "marshal: "+err.Error()
		data, _ = proto.Marshal(d)
	}
	m := &nats.Msg{
		Subject: bus.DecodedAccountSubject(u.GetOwner(), u.GetPubkey()),
		Data:    data,
		Header:  make(nats.Header, 7),
	}
	m.Header[bus.HeaderMsgID] = []string{id}
	m.Header[bus.HeaderSlot] = []string{strconv.FormatUint(u.GetSlot(), 10)}
	m.Header[bus.HeaderWriteVersion] = []string{strconv.FormatUint(u.GetWriteVersion(), 10)}
	m.Header[bus.HeaderCommitment] = []string{bus.CommitmentToken(u.GetCommitment())}
	m.Header[bus.HeaderStatus] = []string{StatusToken(d.GetStatus())}
	if s := u.GetSource(); s != "" {
		m.Header[bus.HeaderSource] = []string{s}
	}
	return m
}

// StatusToken is the Firehole-Decode-Status header value of the contract:
// the enum name without its prefix ("OK", "UNKNOWN_PROGRAM", "ERROR",
// "AWAITING_MINT").
func StatusToken(s fireholev1.DecodeStatus) string {
	name, ok := fireholev1.DecodeStatus_name[int32(s)]
	if !ok {
		return "UNSPECIFIED"
	}
	return strings.TrimPrefix(name, "DECODE_STATUS_")
}

func (w *worker) count(d *fireholev1.DecodedAccount) {
	program, typ := d.GetProgram(), d.GetAccountType()
	if d.GetStatus() == fireholev1.DecodeStatus_DECODE_STATUS_UNKNOWN_PROGRAM || program == "" {
		program = "unknown"
	}
	k := countKey{program, typ, d.GetStatus()}
	c, ok := w.counts[k]
	if !ok {
		c = w.p.metrics.decoded.WithLabelValues(program, typ, strings.ToLower(StatusToken(d.GetStatus())))
		w.counts[k] = c
	}
	c.Inc()
	switch d.GetStatus() {
	case fireholev1.DecodeStatus_DECODE_STATUS_ERROR:
		w.p.metrics.decodeErrors.WithLabelValues(program).Inc()
	case fireholev1.DecodeStatus_DECODE_STATUS_AWAITING_MINT:
		w.p.metrics.awaitingMint.Inc()
	}
}
