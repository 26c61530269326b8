package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/encoding/protowire"
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
	p         *Parser
	idx, part int
	pub       *bus.Publisher
	consumer  string // durable name of the partition's consumer
	acks      *acker
	failures  atomic.Int64 // rewinds since the last settled message
	// nextDelivery is the consumer sequence the next message must carry:
	// with AckAll a delivery lost in between (a reconnect) or a consumer
	// that went back (a server restart, another client on the consumer)
	// must stop the acks, or the next ack would settle it unprocessed.
	nextDelivery uint64
	maxInFlight  int
	in           chan jetstream.Msg // delivered by the consumer, handled by the worker
	wake         chan [32]byte
	rescan       atomic.Bool
	pendingN     atomic.Int64 // pending.len() for the gauge
	pending      *pendingSet
	log          zerolog.Logger
	buf          []byte
	counts       map[countKey]prometheus.Counter
	scratch      fireholev1.DecodedAccount
	decodedAt    timestamppb.Timestamp
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
		w.settle(w.acks.take())
	}()

	cc, err := w.consume(c)
	if err != nil {
		return err
	}
	defer func() { w.stopConsuming(cc) }()
	closed := cc.Closed()
	started <- struct{}{}

	tick := time.NewTicker(min(w.p.opts.Sweep, 250*time.Millisecond))
	defer tick.Stop()
	lastSweep := w.p.opts.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case msg := <-w.in:
			w.handle(ctx, msg)
		case mint := <-w.wake:
			w.redecode(ctx, mint)
		case <-closed:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("consume partition %s: %w", partitionLabel(w.part), jetstream.ErrMsgIteratorClosed)
		case <-tick.C:
			if now := w.p.opts.Now(); now.Sub(lastSweep) >= w.p.opts.Sweep {
				lastSweep = now
				w.sweep(ctx, now)
			}
		}
		if w.acks.hasFailed() {
			w.stopConsuming(cc)
			if err := w.rewind(ctx); err != nil {
				return nil // ctx ended
			}
			next, err := w.consume(c)
			if err != nil {
				return err // cc, already stopped, stays for the deferred stop
			}
			cc, closed = next, next.Closed()
		}
	}
}

// consume starts pulling the partition's messages into w.in.
func (w *worker) consume(c jetstream.Consumer) (jetstream.ConsumeContext, error) {
	// Every start follows a reset to the ack floor, which numbers deliveries
	// from 1 again.
	w.nextDelivery = 1
	// A 2 s idle heartbeat (the library's default is half the 30 s pull
	// expiry) notices a pull request the server no longer serves within
	// 4 s instead of 30 s.
	cc, err := c.Consume(func(msg jetstream.Msg) { w.in <- msg },
		jetstream.PullMaxMessages(w.p.opts.Batch), jetstream.PullHeartbeat(2*time.Second))
	if err != nil {
		return nil, fmt.Errorf("consume partition %s: %w", partitionLabel(w.part), err)
	}
	return cc, nil
}

// stopConsuming stops cc and drops what it delivered but the worker has not
// handled: those messages are not settled and come again after the consumer
// is reset to its ack floor (rewind, or the next start).
func (w *worker) stopConsuming(cc jetstream.ConsumeContext) {
	cc.Stop()
	for {
		select {
		case <-w.in:
		case <-cc.Closed():
			for {
				select {
				case <-w.in:
				default:
					return
				}
			}
		}
	}
}

// rewind recovers from a raw message that could not be republished: once
// nothing is in flight (so every message before the failed one is settled)
// it waits a growing delay and resets the consumer to its ack floor, so the
// failed message and everything after it are delivered again, in order.
func (w *worker) rewind(ctx context.Context) error {
	for w.pub.InFlight() > 0 {
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return err
		}
	}
	w.settle(w.acks.take())
	n := w.failures.Add(1)
	if err := sleep(ctx, w.p.policy.NakDelay(uint64(n))); err != nil {
		return err
	}
	for {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := w.p.js.ResetConsumer(rctx, bus.StreamRaw, w.consumer)
		cancel()
		if err == nil {
			break
		}
		w.log.Warn().Err(err).Str("consumer", w.consumer).Msg("reset consumer to its ack floor")
		if err := sleep(ctx, time.Second); err != nil {
			return err
		}
	}
	w.acks.reset()
	w.p.metrics.rewinds.Inc()
	w.log.Warn().Int64("attempt", n).Msg("rewound the partition to its ack floor")
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// settle acks msg, which settles n raw messages (AckAll).
func (w *worker) settle(msg jetstream.Msg, n int) {
	if msg == nil {
		return
	}
	w.p.policy.AckAll(msg, n)
	if n > 0 {
		w.failures.Store(0)
	}
}

// fail stops settling the partition after a raw message could not be
// republished; the worker rewinds it.
func (w *worker) fail(msg jetstream.Msg, err error) {
	w.acks.fail()
	w.log.Warn().Err(err).Str("subject", msg.Subject()).Msg("raw message not republished; rewinding the partition")
}

// sweep re-checks the pending set: every mint after a missed wake-up, and
// the outside store for mints whose back-off has passed.
func (w *worker) sweep(ctx context.Context, now time.Time) {
	rescan := w.rescan.Swap(false)
	fetches := 0
	// Lookups run on the partition's goroutine: no new one starts after
	// sweepBudget in a sweep (the rest wait for the next), so a slow store
	// holds it for at most sweepBudget + lookupTimeout.
	start := time.Now()
	for _, mint := range w.pending.mints() {
		if rescan && w.p.mints.Known(mint) {
			w.redecode(ctx, mint)
			continue
		}
		if ask := w.p.opts.AskMint; ask != nil {
			ask(mint) // the lookup keeps its own back-off
		}
		if fetches < 64 && time.Since(start) < sweepBudget && w.p.lookupUp(now) && w.pending.shouldFetch(mint, now) {
			fetches++
			if w.fetch(ctx, mint) {
				w.p.mintKnown(mint)
				w.redecode(ctx, mint)
			}
		}
	}
	w.pendingN.Store(int64(w.pending.len()))
}

// Outside mint lookups run on the worker's goroutine, so a slow or failing
// store must not hold the partition: each lookup gets lookupTimeout, and
// after a failure none is tried for lookupPause (the accounts are kept and
// the sweep tries again; an asynchronous AskMint lookup is not affected).
const (
	lookupTimeout = 500 * time.Millisecond
	lookupPause   = 5 * time.Second
	sweepBudget   = time.Second
)

func (w *worker) fetch(ctx context.Context, mint [32]byte) bool {
	fctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	ok, err := w.p.mints.Fetch(fctx, mint)
	cancel()
	switch {
	case errors.Is(err, mints.ErrNoLookup):
	case err != nil:
		w.p.metrics.mintLookups.WithLabelValues("error").Inc()
		w.p.lookupDownUntil.Store(w.p.opts.Now().Add(lookupPause).UnixNano())
		w.log.Debug().Err(err).Msg("mint lookup")
	case ok:
		w.p.metrics.mintLookups.WithLabelValues("found").Inc()
	default:
		w.p.metrics.mintLookups.WithLabelValues("missing").Inc()
	}
	return ok
}

// handle decodes and republishes one raw message; the message is settled
// by the publisher's completion or, if it is dead-lettered, here (acker).
func (w *worker) handle(ctx context.Context, msg jetstream.Msg) {
	start := time.Now()
	if md, err := msg.Metadata(); err == nil {
		if d := md.Sequence.Consumer; d != w.nextDelivery {
			// Not handled: it comes again after the rewind.
			w.fail(msg, fmt.Errorf("delivery %d where %d was next", d, w.nextDelivery))
			return
		}
		w.nextDelivery++
	}
	ticket := w.acks.add(msg)
	u := new(fireholev1.AccountUpdate)
	if err := proto.Unmarshal(msg.Data(), u); err != nil {
		w.deadLetter(ctx, msg, ticket, fmt.Errorf("unmarshal account update: %w", err))
		return
	}
	if len(u.GetPubkey()) != 32 || len(u.GetOwner()) != 32 {
		w.deadLetter(ctx, msg, ticket, fmt.Errorf("account update: pubkey has %d bytes and owner %d, want 32", len(u.GetPubkey()), len(u.GetOwner())))
		return
	}
	id := msg.Headers().Get(bus.HeaderMsgID)
	if id == "" {
		id = bus.AccountMsgID(u)
	}
	var owner, pubkey [32]byte
	copy(owner[:], u.GetOwner())
	copy(pubkey[:], u.GetPubkey())

	if owner == solana.SysvarOwnerID && pubkey == solana.SysvarClockID {
		if ts, ok := solana.ClockUnixTimestamp(u.GetData()); ok {
			w.p.clock.Store(ts)
		}
	}
	if u.GetDataSlice() == nil && w.p.mints.Learn(owner, pubkey, u.GetData(), u.GetSlot()) {
		w.p.mintKnown(pubkey)
	}
	w.pending.supersede(pubkey, u)

	d := w.decode(ctx, u, owner, pubkey, id, false)
	out := w.message(d, id, msg.Data(), msg.Subject())
	w.p.metrics.decodeTime.Observe(time.Since(start).Seconds())
	w.count(d)
	err := w.pub.Publish(ctx, out, func(_ *jetstream.PubAck, err error) {
		release(out)
		switch {
		case err == nil:
			w.p.metrics.published.Inc()
			w.settle(w.acks.complete(ticket, false))
		case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
			// Shutting down: not settled, so redelivered (the next run
			// resets the consumer to its ack floor).
		default:
			w.fail(msg, fmt.Errorf("publish decoded account: %w", err))
		}
	})
	if err != nil {
		return // ctx ended; redelivered later
	}
	w.pendingN.Store(int64(w.pending.len()))
}

// deadLetter copies a message that can never be decoded to the dead-letter
// subject; it is then settled with the messages around it.
func (w *worker) deadLetter(ctx context.Context, msg jetstream.Msg, ticket uint64, cause error) {
	if err := w.p.policy.PublishDeadLetter(ctx, msg, cause); err != nil {
		w.fail(msg, fmt.Errorf("dead-letter: %w", err))
		return
	}
	w.settle(w.acks.complete(ticket, true))
}

// decode turns u into its decoded form. For a token account whose mint is
// unknown it tries the outside store once (subject to back-off) and, failing
// that, keeps u pending unless redecoding already.
func (w *worker) decode(ctx context.Context, u *fireholev1.AccountUpdate, owner, pubkey [32]byte, id string, redecoding bool) *fireholev1.DecodedAccount {
	// d and its timestamp are the worker's scratch: marshalled by the caller
	// before the next decode.
	d := &w.scratch
	d.Reset()
	w.decodedAt.Reset()
	now := w.p.opts.Now()
	w.decodedAt.Seconds, w.decodedAt.Nanos = now.Unix(), int32(now.Nanosecond())
	d.Account, d.DecodedAt = u, &w.decodedAt
	if u.GetDataSlice() != nil {
		d.Status = fireholev1.DecodeStatus_DECODE_STATUS_ERROR
		d.Error = "data is a slice of the account; not decoded"
		d.Program = "unknown"
		return d
	}
	acc := decoders.Account{Owner: owner, Pubkey: pubkey, Data: u.GetData(), UnixTimestamp: w.p.unixTimestamp()}
	res, err := w.p.dec.Decode(w.buf[:0], acc)
	var am *decoders.AwaitingMintError
	if errors.As(err, &am) && !redecoding && w.p.lookupUp(now) && w.pending.shouldFetch(am.Mint, now) && w.fetch(ctx, am.Mint) {
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
		if !w.pending.has(e.update.GetPubkey()) { // refused for room, not for a newer kept update
			w.p.metrics.pendingDrop.Inc()
		}
		return
	}
	if newMint {
		w.p.await(e.mint, w.idx)
		if ask := w.p.opts.AskMint; ask != nil {
			ask(e.mint)
		}
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
		out := w.message(d, e.msgID+RedecodeSuffix, nil, "")
		err := w.pub.Publish(ctx, out, func(_ *jetstream.PubAck, err error) {
			release(out)
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

// message is the decoded account on its subject with the contract's
// headers. raw, when not nil, is the wire form of d.Account (the raw
// message's payload, already checked by unmarshalling it) and is copied into
// the decoded message as is instead of being marshalled again; rawSubject,
// when not empty, is the raw message's subject, whose tokens after the root
// are those of the decoded subject. The payload buffer comes from bufPool;
// give it back with release once the publish is complete.
func (w *worker) message(d *fireholev1.DecodedAccount, id string, raw []byte, rawSubject string) *nats.Msg {
	u := d.GetAccount()
	bp := bufPool.Get().(*[]byte)
	data, err := marshalDecoded((*bp)[:0], d, raw)
	if err != nil {
		// Marshalling a message we built cannot fail short of a bug; publish
		// it without the decoded form rather than lose the update.
		d.Parsed, d.Status, d.Error = nil, fireholev1.DecodeStatus_DECODE_STATUS_ERROR, "marshal: "+err.Error()
		data, _ = marshalDecoded((*bp)[:0], d, nil)
	}
	if limit := w.p.maxPayload; limit > 0 && int64(len(data))+payloadHeadroom > limit && d.Parsed != nil {
		// Never fatal: the update goes out with its raw account and the error.
		d.Parsed, d.JsonParsed, d.Status = nil, false, fireholev1.DecodeStatus_DECODE_STATUS_ERROR
		d.Error = fmt.Sprintf("decoded message of %d bytes is over the server's max payload of %d", len(data), limit)
		data, _ = marshalDecoded(data[:0], d, raw)
	}
	*bp = data
	subject := ""
	if rest, ok := strings.CutPrefix(rawSubject, bus.RawAccountRoot); ok {
		subject = bus.DecodedAccountRoot + rest
	} else {
		subject = bus.DecodedAccountSubject(u.GetOwner(), u.GetPubkey())
	}
	m := &nats.Msg{Subject: subject, Data: data, Header: make(nats.Header, 7)}
	nums := strconv.AppendUint(make([]byte, 0, 40), u.GetSlot(), 10)
	slotLen := len(nums)
	nums = strconv.AppendUint(nums, u.GetWriteVersion(), 10)
	numStr := string(nums)
	vals := make([]string, 6)
	vals[0], vals[1], vals[2] = id, numStr[:slotLen], numStr[slotLen:]
	vals[3], vals[4], vals[5] = bus.CommitmentToken(u.GetCommitment()), StatusToken(d.GetStatus()), u.GetSource()
	m.Header[bus.HeaderMsgID] = vals[0:1:1]
	m.Header[bus.HeaderSlot] = vals[1:2:2]
	m.Header[bus.HeaderWriteVersion] = vals[2:3:3]
	m.Header[bus.HeaderCommitment] = vals[3:4:4]
	m.Header[bus.HeaderStatus] = vals[4:5:5]
	if vals[5] != "" {
		m.Header[bus.HeaderSource] = vals[5:6:6]
	}
	return m
}

// payloadHeadroom is kept below the server's max payload for the headers.
const payloadHeadroom = 1024

// bufPool holds payload buffers of decoded messages.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// release gives m's payload buffer back once m is no longer published.
func release(m *nats.Msg) {
	if cap(m.Data) > 64<<10 {
		return
	}
	b := m.Data[:0]
	m.Data = nil
	bufPool.Put(&b)
}

// marshalDecoded appends the wire form of d to buf; with raw it writes raw
// as field 1 (account) and marshals only the other fields.
func marshalDecoded(buf []byte, d *fireholev1.DecodedAccount, raw []byte) ([]byte, error) {
	if raw == nil {
		return proto.MarshalOptions{}.MarshalAppend(buf, d)
	}
	acc := d.Account
	d.Account = nil
	buf = protowire.AppendTag(buf, 1, protowire.BytesType)
	buf = protowire.AppendBytes(buf, raw)
	buf, err := proto.MarshalOptions{}.MarshalAppend(buf, d)
	d.Account = acc
	return buf, err
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
