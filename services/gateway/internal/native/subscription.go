package native

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/firehole/firehole/pkg/accountcache"
	"github.com/firehole/firehole/pkg/bus"
	"github.com/firehole/firehole/pkg/solana"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
)

// version orders the states of one account: (slot, write_version), and at
// an equal pair a successful decode beats an unsuccessful one (the re-decode
// after a mint arrived), as in Redis and Postgres.
type version struct {
	slot, wv uint64
	ok       bool
}

func versionOf(d *fireholev1.DecodedAccount) version {
	a := d.GetAccount()
	return version{slot: a.GetSlot(), wv: a.GetWriteVersion(), ok: d.GetStatus() == fireholev1.DecodeStatus_DECODE_STATUS_OK}
}

func (v version) newer(than version) bool {
	return accountcache.NewerVersion(v.slot, v.wv, v.ok, than.slot, than.wv, than.ok)
}

// subscription is one subscribe on one connection. Its goroutine reads the
// snapshot and then starts an ordered JetStream consumer; deliveries run on
// that consumer's goroutine and only ever push (never wait) to the sender.
type subscription struct {
	id        string
	spec      *spec
	gapOnSlow bool
	cancel    context.CancelFunc
	done      chan struct{}

	// taken is the cursor of the last frame of this subscription that the
	// writer took off the queue (guarded by the sender's mutex): the
	// resume point a slow-consumer gap notice carries.
	taken uint64

	// Owned by the delivery goroutine: the merge window. Until the
	// consumer passes mergeUntil, an update is sent only if it is newer
	// than what was already sent for its account (snapshot or live).
	sent       map[[32]byte]version
	mergeUntil uint64
	// Messages up to replayUntil (the stream's last sequence when the
	// consumer started) are history: they wait for queue space instead of
	// counting as a slow client, so a large resume or merge window
	// replays at the client's pace. Only this subscription waits.
	replayUntil uint64
	ctx         context.Context

	// members are the accounts a token subscription currently matches
	// (snapshot and live). An update that makes a member stop matching
	// (closed, or moved to another owner or mint) is still delivered, once,
	// so the client learns that it left.
	members map[[32]byte]struct{}

	// mu makes stopping wait for a delivery in progress, so nothing is
	// queued for the subscription after it ended.
	mu      sync.Mutex
	stopped bool
}

// subjects are the FIREHOLE_DECODED filter subjects of a spec. Selector
// kinds never mix, so the subjects never overlap.
func (s *spec) subjects() []string {
	var out []string
	for _, p := range s.programs {
		out = append(out, bus.AccountFilter(bus.DecodedAccountRoot, p, "", -1))
	}
	for _, a := range s.accounts {
		out = append(out, bus.AccountFilter(bus.DecodedAccountRoot, "", a, -1))
	}
	if s.token() {
		for _, id := range [][32]byte{solana.TokenProgramID, solana.Token2022ProgramID} {
			out = append(out, bus.AccountFilter(bus.DecodedAccountRoot, b58(id[:]), "", -1))
		}
	}
	return out
}

func b58(k []byte) string { return string(appendKey(nil, k)) }

// SPL Token account layout: mint at 0, owner at 32; 165 bytes, or longer
// with account type 2 at 165 (Token-2022 extensions).
func tokenAccount(data []byte) (mint, owner []byte, ok bool) {
	if len(data) < 165 || len(data) > 165 && data[165] != 2 {
		return nil, nil, false
	}
	return data[0:32], data[32:64], true
}

// matches applies every condition of the spec except the subject selection.
func (s *spec) matches(d *fireholev1.DecodedAccount) bool {
	data := d.GetAccount().GetData()
	if s.token() {
		mint, owner, ok := tokenAccount(data)
		if !ok {
			return false
		}
		if s.tokenOwner != nil && string(owner) != string(s.tokenOwner) {
			return false
		}
		if s.tokenMint != nil && string(mint) != string(s.tokenMint) {
			return false
		}
	}
	return s.filters.Match(data) && matchWhere(d, s.where)
}

// run is the subscription's goroutine.
func (h *handler) runSubscription(ctx context.Context, c *connection, sub *subscription) {
	defer close(sub.done)
	err := h.serve(ctx, c, sub)
	if err == nil || ctx.Err() != nil {
		return
	}
	h.log.Warn().Err(err).Str("sub", sub.id).Msg("subscription ended")
	if c.remove(sub) {
		h.m.subscriptions.Dec()
	}
	c.send.push(frame{b: errorFrame(sub.id, errInternal, err.Error())})
}

func (h *handler) serve(ctx context.Context, c *connection, sub *subscription) error {
	sp := sub.spec
	stream, err := h.d.JS.Stream(ctx, h.d.Stream)
	if err != nil {
		return fmt.Errorf("look up stream %s: %w", h.d.Stream, err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("read stream %s: %w", h.d.Stream, err)
	}
	var start uint64 // first sequence to deliver live
	aheadBy := uint64(0)
	switch {
	case sp.hasCursor && sp.cursor > info.State.LastSeq:
		// A cursor the stream never reached: another stream, or one
		// that was recreated. Continue from now and say so.
		aheadBy = sp.cursor - info.State.LastSeq
		start = info.State.LastSeq + 1
	case sp.hasCursor:
		start = sp.cursor + 1
	case sp.snapshot:
		start, err = h.snapshotStart(ctx, stream, info.State.LastSeq, sp.token())
		if err != nil {
			return err
		}
	default:
		start = info.State.LastSeq + 1
	}
	c.setCursor(sub, start-1)
	c.send.push(frame{b: subscribedFrame(sub.id, start-1)})
	if aheadBy > 0 {
		h.m.gaps.WithLabelValues("cursor").Inc()
		c.send.push(frame{b: gapFrame(sub.id, "cursor ahead of stream", start-1), sub: sub, cursor: start - 1, hasCur: true})
	}

	if sp.token() {
		sub.members = map[[32]byte]struct{}{}
	}
	if sp.snapshot && !sp.hasCursor {
		sub.sent = map[[32]byte]version{}
		n, err := h.snapshot(ctx, c, sub, start-1)
		if err != nil {
			return err
		}
		h.m.snapshotAccounts.Add(float64(n))
		if !c.send.pushWait(ctx, frame{b: snapshotEndFrame(sub.id, n, start-1), sub: sub, cursor: start - 1, hasCur: true}) {
			return nil
		}
		// Redis and Postgres can hold nothing newer than the stream's last
		// message now: past it, live updates cannot repeat the snapshot.
		if info, err = stream.Info(ctx); err != nil {
			return fmt.Errorf("read stream %s: %w", h.d.Stream, err)
		}
		sub.mergeUntil = info.State.LastSeq
	}

	sub.replayUntil = info.State.LastSeq
	if info.State.FirstSeq > start {
		// Retention already removed what the client needs.
		h.m.gaps.WithLabelValues("retention").Inc()
		from := info.State.FirstSeq - 1
		c.send.push(frame{b: gapFrame(sub.id, "retention", from), sub: sub, cursor: from, hasCur: true})
		start = info.State.FirstSeq
	}

	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects:    sp.subjects(),
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       start,
		InactiveThreshold: 30 * time.Second,
	})
	if err != nil {
		return fmt.Errorf("create consumer: %w", err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) { h.deliver(c, sub, m) },
		jetstream.PullMaxMessages(h.d.Limits.PullBatch))
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	<-ctx.Done()
	cc.Stop()
	sub.mu.Lock()
	sub.stopped = true
	sub.mu.Unlock()
	return nil
}

// snapshotStart is the first stream sequence whose effect the snapshot
// stores may not hold yet: one past the ack floor of the durable consumer
// that feeds them (everything at or below it has been written). Without
// that consumer it is one past the stream's last sequence.
func (h *handler) snapshotStart(ctx context.Context, stream jetstream.Stream, last uint64, token bool) (uint64, error) {
	floor := last
	names := []string{h.d.CacherConsumer}
	if token {
		names = append(names, h.d.PersisterConsumer)
	}
	for _, name := range names {
		if name == "" {
			continue
		}
		cons, err := stream.Consumer(ctx, name)
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("look up consumer %s: %w", name, err)
		}
		floor = min(floor, cons.CachedInfo().AckFloor.Stream)
	}
	return floor + 1, nil
}

// deliver handles one live message on the consumer's goroutine.
func (h *handler) deliver(c *connection, sub *subscription, m jetstream.Msg) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.stopped {
		return
	}
	md, err := m.Metadata()
	if err != nil {
		return
	}
	seq := md.Sequence.Stream
	var d fireholev1.DecodedAccount
	if err := proto.Unmarshal(m.Data(), &d); err != nil {
		h.m.badMessages.Inc()
		return
	}
	acc := d.GetAccount()
	if len(acc.GetPubkey()) != 32 {
		h.m.badMessages.Inc()
		return
	}
	h.d.Recent.Note(m.Data(), &d)
	if sub.sent != nil {
		if seq > sub.mergeUntil {
			sub.sent = nil
		} else {
			k := [32]byte(acc.GetPubkey())
			v := versionOf(&d)
			if prev, ok := sub.sent[k]; ok && !v.newer(prev) {
				h.m.mergeSkipped.Inc()
				return
			}
			sub.sent[k] = v
		}
	}
	if !sub.spec.matches(&d) {
		if sub.members == nil {
			return
		}
		k := [32]byte(acc.GetPubkey())
		if _, ok := sub.members[k]; !ok {
			return
		}
		delete(sub.members, k)
	} else if sub.members != nil {
		sub.members[[32]byte(acc.GetPubkey())] = struct{}{}
	}
	b := accountFrame("update", sub.id, appendAccount(nil, &d, sub.spec.encoding), acc.GetSlot(), seq)
	f := frame{b: b, sub: sub, cursor: seq, hasCur: true}
	if seq <= sub.replayUntil {
		c.send.pushWait(sub.ctx, f)
		return
	}
	c.send.push(f)
}
