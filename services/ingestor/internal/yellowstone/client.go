// Package yellowstone is the ingestor's Yellowstone Geyser gRPC client: it
// keeps one Subscribe stream open, answers server pings and sends its own,
// tracks the last slot seen complete, and reconnects with capped exponential
// backoff, resuming with from_slot. When the server cannot replay that far it
// goes on live and reports the missed slots as a Gap.
package yellowstone

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/firehole/firehole/proto/geyser"
	"github.com/firehole/firehole/services/ingestor/internal/metrics"
)

// SlotsFilterName is the ingestor's own slot filter; it is always added to
// the request so the client knows which slots it has seen complete.
const SlotsFilterName = "__firehole_slots"

// Handler receives the stream's account and slot updates, one at a time from
// one goroutine. A call may block (backpressure): the client then stops
// reading and gRPC flow control slows the server. u is only valid during the
// call. An error other than the context's stops the client.
type Handler interface {
	HandleUpdate(ctx context.Context, u *geyser.SubscribeUpdate) error
	HandleGap(ctx context.Context, g Gap) error
}

// Recorder, when set, is given every update received (capture files).
type Recorder interface {
	Record(u *geyser.SubscribeUpdate) error
}

// Gap says that slots From..To (inclusive) may be missing from the stream.
type Gap struct {
	From, To uint64
	Reason   string
}

// Options configure a Client.
type Options struct {
	Request        *geyser.SubscribeRequest // filters and commitment; from_slot and ping are managed here
	SilenceTimeout time.Duration            // reconnect when Recv waits this long
	PingInterval   time.Duration            // the client's own pings
	BackoffMin     time.Duration
	BackoffMax     time.Duration
	FromSlotMargin uint64
	// ResumeSlot, when not 0, is a slot already complete downstream (read
	// from JetStream at start): the first stream resumes from it as after a
	// reconnect, so a restart of the process loses nothing the server can
	// still replay and reports a gap for what it cannot.
	ResumeSlot   uint64
	ResumeSlotAt time.Time // when ResumeSlot was seen complete, if known
	// DuplicateWindow is JetStream's de-duplication window; a resume that
	// replays older updates is logged, as those are stored a second time.
	DuplicateWindow time.Duration
	Recorder        Recorder
	Jitter          func() float64 // in [0,1); nil uses math/rand
}

// Client is one Yellowstone subscription. Run it once.
type Client struct {
	api     geyser.GeyserClient
	opts    Options
	handler Handler
	log     zerolog.Logger
	m       *metrics.Metrics

	commitment geyser.CommitmentLevel
	lastFull   uint64 // highest slot seen complete at the commitment; 0 = none
	lastFullAt time.Time
	live       bool // the server cannot replay: next session subscribes without from_slot
	gap        *Gap // open gap waiting for the first slot after reconnect
	connected  atomic.Bool
	pingID     int32
	recvSince  atomic.Int64 // unix nanos when the pending Recv started; 0 when not in Recv

	recordFailures uint64 // consecutive capture write failures (session goroutine only)
}

// errSilence ends a session whose server sent nothing for SilenceTimeout.
var errSilence = errors.New("no message within the silence timeout")

// New returns a client on conn.
func New(conn grpc.ClientConnInterface, opts Options, h Handler, log zerolog.Logger, m *metrics.Metrics) *Client {
	if opts.Jitter == nil {
		opts.Jitter = rand.Float64
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = 10 * time.Second
	}
	return &Client{
		api:        geyser.NewGeyserClient(conn),
		opts:       opts,
		handler:    h,
		log:        log.With().Str("component", "yellowstone").Logger(),
		m:          m,
		commitment: opts.Request.GetCommitment(),
		lastFull:   opts.ResumeSlot,
		lastFullAt: opts.ResumeSlotAt,
	}
}

// FullStatus is the slot status that marks a slot complete at commitment c.
func FullStatus(c geyser.CommitmentLevel) geyser.SlotStatus {
	switch c {
	case geyser.CommitmentLevel_CONFIRMED:
		return geyser.SlotStatus_SLOT_CONFIRMED
	case geyser.CommitmentLevel_FINALIZED:
		return geyser.SlotStatus_SLOT_FINALIZED
	}
	return geyser.SlotStatus_SLOT_PROCESSED
}

// Connected reports whether a stream is open and has delivered a message.
func (c *Client) Connected() bool { return c.connected.Load() }

// LastFullSlot is the highest slot seen complete (the resume point before the margin).
// Only meaningful from the Run goroutine or after Run returned.
func (c *Client) LastFullSlot() uint64 { return c.lastFull }

// Run keeps a stream open until ctx ends (returns nil) or the handler fails.
func (c *Client) Run(ctx context.Context) error {
	c.checkResumeSlot(ctx)
	attempt := 0
	for {
		req := c.request()
		received, err := c.session(ctx, req)
		c.connected.Store(false)
		c.m.Connected.Set(0)
		if ctx.Err() != nil {
			return nil
		}
		var herr handlerError
		if errors.As(err, &herr) {
			return herr.err
		}
		if req.FromSlot != nil && fromSlotUnavailable(err) {
			from := c.lastFull + 1
			c.live = true
			if c.gap == nil || from < c.gap.From {
				c.gap = &Gap{From: from, Reason: "resume from_slot unavailable: " + status.Convert(err).Message()}
			}
			c.m.Reconnects.WithLabelValues("from_slot_unavailable").Inc()
			c.log.Warn().Err(err).Uint64("from_slot", req.GetFromSlot()).Uint64("gap_from", c.gap.From).
				Msg("server cannot replay from the resume slot; continuing live and reporting a gap")
			continue
		}
		if received {
			attempt = 0
		}
		reason := reconnectReason(err)
		c.m.Reconnects.WithLabelValues(reason).Inc()
		wait := c.backoff(attempt)
		attempt++
		c.log.Warn().Err(err).Str("reason", reason).Dur("backoff", wait).Uint64("last_full_slot", c.lastFull).Msg("stream ended; reconnecting")
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// resumeAheadTolerance is how far (in slots, about a minute) a resume point
// may lie ahead of the server's slot; a lagging endpoint of the same chain
// catches up within it.
const resumeAheadTolerance = 150

// checkResumeSlot drops a resume point (from JetStream) that lies well ahead
// of the server's current slot: the stream was filled from another chain or a
// simulator that started over, and a from_slot in the future would wait
// for hours. A server without GetSlot keeps the resume point.
func (c *Client) checkResumeSlot(ctx context.Context) {
	if c.lastFull == 0 {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	commitment := c.commitment
	resp, err := c.api.GetSlot(cctx, &geyser.GetSlotRequest{Commitment: &commitment})
	if err != nil {
		c.log.Debug().Err(err).Msg("get slot; keeping the resume point")
		return
	}
	if resp.GetSlot()+resumeAheadTolerance < c.lastFull {
		c.log.Warn().Uint64("resume_slot", c.lastFull).Uint64("server_slot", resp.GetSlot()).
			Msg("resume point is ahead of the server; starting live")
		c.lastFull = 0
	}
}

// backoff is min(BackoffMax, BackoffMin·2^attempt), with the upper half jittered.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.opts.BackoffMin
	for i := 0; i < attempt && d < c.opts.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, c.opts.BackoffMax)
	return d/2 + time.Duration(c.opts.Jitter()*float64(d/2))
}

// request is the configured request plus the slot filter and, when resuming, from_slot.
func (c *Client) request() *geyser.SubscribeRequest {
	req := proto.Clone(c.opts.Request).(*geyser.SubscribeRequest)
	if req.Slots == nil {
		req.Slots = map[string]*geyser.SubscribeRequestFilterSlots{}
	}
	req.Slots[SlotsFilterName] = &geyser.SubscribeRequestFilterSlots{}
	if c.lastFull > 0 && !c.live {
		from := uint64(0)
		if c.lastFull > c.opts.FromSlotMargin {
			from = c.lastFull - c.opts.FromSlotMargin
		}
		req.FromSlot = &from
		if w := c.opts.DuplicateWindow; w > 0 && !c.lastFullAt.IsZero() && time.Since(c.lastFullAt) > w {
			c.log.Warn().Uint64("from_slot", from).Dur("since_last_slot", time.Since(c.lastFullAt)).Dur("duplicate_window", w).
				Msg("resume replays updates older than the de-duplication window; they are stored again (consumers are idempotent)")
		}
	}
	return req
}

type handlerError struct{ err error }

func (e handlerError) Error() string { return e.err.Error() }
func (e handlerError) Unwrap() error { return e.err }

// session runs one Subscribe stream until it fails. received reports whether
// the server delivered anything (which resets the backoff).
func (c *Client) session(ctx context.Context, req *geyser.SubscribeRequest) (received bool, err error) {
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stream, err := c.api.Subscribe(sctx)
	if err != nil {
		return false, fmt.Errorf("open subscribe stream: %w", err)
	}
	if err := stream.Send(req); err != nil {
		_, rerr := stream.Recv() // the real status is on the receive side
		return false, fmt.Errorf("send subscribe request: %w", errors.Join(err, rerr))
	}
	c.log.Info().Uint64("from_slot", req.GetFromSlot()).Bool("resume", req.FromSlot != nil).
		Str("commitment", c.commitment.String()).Msg("subscribed")

	pings := make(chan int32, 4)
	var wg sync.WaitGroup
	wg.Go(func() { c.sendLoop(sctx, stream, pings) })
	wg.Go(func() { c.watchSilence(sctx, cancel) })
	defer wg.Wait()
	defer cancel(nil)

	for {
		c.recvSince.Store(time.Now().UnixNano())
		u, err := stream.Recv()
		c.recvSince.Store(0)
		if err != nil {
			if cause := context.Cause(sctx); errors.Is(cause, errSilence) {
				return received, errSilence
			}
			return received, err
		}
		if !received {
			received = true
			c.connected.Store(true)
			c.m.Connected.Set(1)
		}
		if c.opts.Recorder != nil {
			if rerr := c.opts.Recorder.Record(u); rerr != nil {
				// Once per run of failures, not once per update (a full
				// disk would otherwise log tens of thousands of lines a second).
				if c.recordFailures == 0 {
					c.log.Warn().Err(rerr).Msg("record update; further capture errors are counted until it works again")
				}
				c.recordFailures++
			} else if c.recordFailures > 0 {
				c.log.Info().Uint64("failed", c.recordFailures).Msg("capture recording works again")
				c.recordFailures = 0
			}
		}
		if err := c.dispatch(sctx, u, pings); err != nil {
			if ctx.Err() != nil {
				return received, ctx.Err()
			}
			return received, handlerError{err}
		}
	}
}

func (c *Client) dispatch(ctx context.Context, u *geyser.SubscribeUpdate, pings chan<- int32) error {
	switch x := u.UpdateOneof.(type) {
	case *geyser.SubscribeUpdate_Account:
		if x.Account != nil && c.gap != nil {
			to := x.Account.GetSlot()
			if c.commitment != geyser.CommitmentLevel_PROCESSED && to > 0 {
				// Above processed the server sends a slot's accounts together
				// once the slot reaches the commitment: this slot is whole.
				to--
			}
			if err := c.closeGap(ctx, to); err != nil {
				return err
			}
		}
		return c.handler.HandleUpdate(ctx, u)
	case *geyser.SubscribeUpdate_Slot:
		s := x.Slot
		if s == nil {
			c.m.BadInput.WithLabelValues(metrics.ReasonNilSlot).Inc()
			return nil
		}
		if c.gap != nil {
			// Whether this slot's accounts came before we joined is unknown: count it as missed.
			if err := c.closeGap(ctx, s.GetSlot()); err != nil {
				return err
			}
		}
		if fullAt(c.commitment, s.GetStatus()) && s.GetSlot() > c.lastFull {
			c.lastFull = s.GetSlot()
			c.lastFullAt = time.Now()
			c.m.LastFullSlot.Set(float64(c.lastFull))
		}
		return c.handler.HandleUpdate(ctx, u)
	case *geyser.SubscribeUpdate_Ping:
		c.pingID++
		select {
		case pings <- c.pingID:
			c.m.PingsAnswered.Inc()
		default: // a ping is already queued; one answer is enough
		}
		return nil
	case *geyser.SubscribeUpdate_Pong, *geyser.SubscribeUpdate_BlockMeta:
		return nil
	default:
		c.m.BadInput.WithLabelValues(metrics.ReasonUnknownUpdate).Inc()
		return nil
	}
}

// closeGap reports the open gap as ending at to (inclusive) and goes back
// to resuming with from_slot on later reconnects.
func (c *Client) closeGap(ctx context.Context, to uint64) error {
	g := *c.gap
	c.gap = nil
	c.live = false
	g.To = to
	if g.To < g.From {
		c.log.Info().Uint64("from", g.From).Uint64("first_slot", to).Msg("live stream starts at the resume point; no gap")
		return nil
	}
	c.m.Gaps.Inc()
	c.m.GapSlots.Add(float64(g.To - g.From + 1))
	c.log.Warn().Uint64("from_slot", g.From).Uint64("to_slot", g.To).Str("reason", g.Reason).Msg("gap in the stream")
	return c.handler.HandleGap(ctx, g)
}

// fullAt reports whether a slot status means the slot is complete at the
// subscribed commitment.
func fullAt(c geyser.CommitmentLevel, s geyser.SlotStatus) bool {
	switch c {
	case geyser.CommitmentLevel_CONFIRMED:
		return s == geyser.SlotStatus_SLOT_CONFIRMED || s == geyser.SlotStatus_SLOT_FINALIZED
	case geyser.CommitmentLevel_FINALIZED:
		return s == geyser.SlotStatus_SLOT_FINALIZED
	default:
		return s == geyser.SlotStatus_SLOT_PROCESSED || s == geyser.SlotStatus_SLOT_CONFIRMED || s == geyser.SlotStatus_SLOT_FINALIZED
	}
}

// sendLoop is the stream's only sender after the first request: answers to
// server pings and the client's own periodic pings.
func (c *Client) sendLoop(ctx context.Context, stream grpc.BidiStreamingClient[geyser.SubscribeRequest, geyser.SubscribeUpdate], pings <-chan int32) {
	t := time.NewTicker(c.opts.PingInterval)
	defer t.Stop()
	var own int32 = 1 << 30 // own ping ids, apart from the answers
	for {
		var id int32
		select {
		case <-ctx.Done():
			return
		case id = <-pings:
		case <-t.C:
			own++
			id = own
		}
		if err := stream.Send(&geyser.SubscribeRequest{Ping: &geyser.SubscribeRequestPing{Id: id}}); err != nil {
			return // the receive side sees the stream's status
		}
	}
}

// watchSilence cancels the session when Recv has waited longer than the
// silence timeout. Time spent in the handler (backpressure) does not count.
func (c *Client) watchSilence(ctx context.Context, cancel context.CancelCauseFunc) {
	if c.opts.SilenceTimeout <= 0 {
		return
	}
	t := time.NewTicker(max(c.opts.SilenceTimeout/8, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			since := c.recvSince.Load()
			if since != 0 && now.UnixNano()-since > int64(c.opts.SilenceTimeout) {
				cancel(errSilence)
				return
			}
		}
	}
}

// fromSlotUnavailable reports the server's answers to a from_slot it cannot
// serve: OUT_OF_RANGE (too old) or "from_slot is not supported" (no replay).
func fromSlotUnavailable(err error) bool {
	st, ok := status.FromError(err)
	if !ok {
		return false
	}
	return st.Code() == codes.OutOfRange || strings.Contains(st.Message(), "from_slot is not supported")
}

func reconnectReason(err error) string {
	switch {
	case errors.Is(err, errSilence):
		return "silence"
	case err == nil:
		return "eof"
	}
	if st, ok := status.FromError(err); ok {
		return strings.ToLower(st.Code().String())
	}
	if strings.Contains(err.Error(), "EOF") {
		return "eof"
	}
	return "other"
}
