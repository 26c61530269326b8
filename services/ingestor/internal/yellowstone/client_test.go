package yellowstone

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/firehole/firehole/proto/geyser"
	"github.com/firehole/firehole/services/ingestor/internal/geyserfake"
	"github.com/firehole/firehole/services/ingestor/internal/metrics"
)

// recorder is a Handler that keeps what it is given.
type recorder struct {
	mu      sync.Mutex
	updates []*geyser.SubscribeUpdate
	gaps    []Gap
	block   chan struct{} // when set, HandleUpdate waits on it
	changed chan struct{}
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{}, 1)} }

func (r *recorder) HandleUpdate(ctx context.Context, u *geyser.SubscribeUpdate) error {
	if r.block != nil {
		select {
		case <-r.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.mu.Lock()
	r.updates = append(r.updates, proto.Clone(u).(*geyser.SubscribeUpdate))
	r.mu.Unlock()
	r.notify()
	return nil
}

func (r *recorder) HandleGap(_ context.Context, g Gap) error {
	r.mu.Lock()
	r.gaps = append(r.gaps, g)
	r.mu.Unlock()
	r.notify()
	return nil
}

func (r *recorder) notify() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// waitFor polls cond (under the recorder's lock) until it holds or 10s pass.
func (r *recorder) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		ok := cond()
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.changed:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func acct(slot uint64, key byte) *geyser.SubscribeUpdate {
	pk, owner := make([]byte, 32), make([]byte, 32)
	pk[0], owner[0] = key, 6
	return &geyser.SubscribeUpdate{UpdateOneof: &geyser.SubscribeUpdate_Account{Account: &geyser.SubscribeUpdateAccount{
		Slot: slot, Account: &geyser.SubscribeUpdateAccountInfo{Pubkey: pk, Owner: owner, Lamports: 1, WriteVersion: slot},
	}}}
}

func slotUpd(slot uint64, st geyser.SlotStatus) *geyser.SubscribeUpdate {
	return &geyser.SubscribeUpdate{UpdateOneof: &geyser.SubscribeUpdate_Slot{Slot: &geyser.SubscribeUpdateSlot{Slot: slot, Status: st}}}
}

// slots sends one account and the processed status for each slot in from..to.
func slots(s *geyserfake.Stream, from, to uint64) error {
	for sl := from; sl <= to; sl++ {
		if err := s.Send(acct(sl, byte(sl))); err != nil {
			return err
		}
		if err := s.Send(slotUpd(sl, geyser.SlotStatus_SLOT_PROCESSED)); err != nil {
			return err
		}
	}
	return nil
}

func startClient(t *testing.T, addr string, o Options, h Handler) (*Client, *metrics.Metrics) {
	t.Helper()
	RegisterCompressors()
	conn, err := Dial(DialOptions{Target: addr, XToken: "secret", KeepaliveTime: 10 * time.Second, KeepaliveTimeout: time.Second, MaxRecvBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if o.Request == nil {
		o.Request = &geyser.SubscribeRequest{Accounts: map[string]*geyser.SubscribeRequestFilterAccounts{"firehole": {}}}
	}
	if o.SilenceTimeout == 0 {
		o.SilenceTimeout = 10 * time.Second
	}
	o.BackoffMin, o.BackoffMax = 5*time.Millisecond, 20*time.Millisecond
	if o.FromSlotMargin == 0 {
		o.FromSlotMargin = 2
	}
	m := metrics.New(nil, nil)
	c := New(conn, o, h, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel), m)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return c, m
}

func TestResumeFromLastFullSlot(t *testing.T) {
	t.Parallel()
	srv := geyserfake.Start(t, func(s *geyserfake.Stream) error {
		if s.N == 0 {
			if err := slots(s, 10, 20); err != nil {
				return err
			}
			// An account of slot 21 without its status: 21 is not complete.
			if err := s.Send(acct(21, 99)); err != nil {
				return err
			}
			return status.Error(codes.Unavailable, "server going away")
		}
		return geyserfake.Hold(s)
	})
	srv.RequireToken("secret")
	h := newRecorder()
	_, m := startClient(t, srv.Addr, Options{}, h)
	h.waitFor(t, "second stream", func() bool { return len(srv.Requests()) >= 2 })

	reqs := srv.Requests()
	if reqs[0].FromSlot != nil {
		t.Errorf("first request has from_slot %d; want live", reqs[0].GetFromSlot())
	}
	if reqs[1].FromSlot == nil || reqs[1].GetFromSlot() != 18 {
		t.Errorf("resume from_slot = %v; want 20-2 = 18", reqs[1].FromSlot)
	}
	for i, r := range reqs {
		if _, ok := r.GetSlots()[SlotsFilterName]; !ok {
			t.Errorf("request %d has no %s slot filter", i, SlotsFilterName)
		}
		if _, ok := r.GetAccounts()["firehole"]; !ok {
			t.Errorf("request %d lost the configured account filter", i)
		}
	}
	if got := testutil.ToFloat64(m.Reconnects.WithLabelValues("unavailable")); got != 1 {
		t.Errorf("reconnects{unavailable} = %v; want 1", got)
	}
	h.waitFor(t, "23 updates", func() bool { return len(h.updates) == 23 })
}

func TestGapWhenResumeUnavailable(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		commitment geyser.CommitmentLevel
		first      *geyser.SubscribeUpdate // first update of the live stream
		wantTo     uint64
	}{
		{"out of range, processed account", status.Error(codes.OutOfRange, "broadcast from 18 is not available, last available: 40"),
			geyser.CommitmentLevel_PROCESSED, acct(50, 1), 50},
		{"not supported, confirmed account", status.Error(codes.Internal, "from_slot is not supported"),
			geyser.CommitmentLevel_CONFIRMED, acct(50, 1), 49},
		{"out of range, slot first", status.Error(codes.OutOfRange, "too old"),
			geyser.CommitmentLevel_CONFIRMED, slotUpd(50, geyser.SlotStatus_SLOT_PROCESSED), 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			full := geyser.SlotStatus_SLOT_PROCESSED
			if tt.commitment == geyser.CommitmentLevel_CONFIRMED {
				full = geyser.SlotStatus_SLOT_CONFIRMED
			}
			srv := geyserfake.Start(t, func(s *geyserfake.Stream) error {
				switch {
				case s.N == 0:
					for sl := uint64(10); sl <= 20; sl++ {
						if err := s.Send(slotUpd(sl, full)); err != nil {
							return err
						}
					}
					return status.Error(codes.Unavailable, "restart")
				case s.Request.FromSlot != nil && s.N == 1:
					return tt.err
				case s.N == 2:
					if err := s.Send(tt.first); err != nil {
						return err
					}
					if err := s.Send(slotUpd(51, full)); err != nil {
						return err
					}
					return status.Error(codes.Unavailable, "restart again")
				}
				return geyserfake.Hold(s)
			})
			h := newRecorder()
			c := geyser.CommitmentLevel(tt.commitment)
			_, m := startClient(t, srv.Addr, Options{Request: &geyser.SubscribeRequest{
				Accounts:   map[string]*geyser.SubscribeRequestFilterAccounts{"firehole": {}},
				Commitment: &c,
			}}, h)
			h.waitFor(t, "gap", func() bool { return len(h.gaps) == 1 })
			h.waitFor(t, "fourth stream", func() bool { return len(srv.Requests()) >= 4 })
			reqs := srv.Requests()
			if reqs[2].FromSlot != nil {
				t.Errorf("stream after %v resumed with from_slot %d; want live", tt.err, reqs[2].GetFromSlot())
			}
			if reqs[3].FromSlot == nil || reqs[3].GetFromSlot() != 49 {
				t.Errorf("stream after the gap: from_slot %v; want 51-2 = 49", reqs[3].FromSlot)
			}
			h.mu.Lock()
			g := h.gaps[0]
			h.mu.Unlock()
			if g.From != 21 || g.To != tt.wantTo || g.Reason == "" {
				t.Errorf("gap = %+v; want 21..%d with a reason", g, tt.wantTo)
			}
			if got := testutil.ToFloat64(m.Gaps); got != 1 {
				t.Errorf("gaps metric = %v", got)
			}
			if got := testutil.ToFloat64(m.GapSlots); got != float64(tt.wantTo-21+1) {
				t.Errorf("gap slots metric = %v", got)
			}
		})
	}
}

func TestResumeSlotAtStart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		serverSlot uint64 // 0: GetSlot unimplemented
		want       *uint64
	}{
		{"behind the server", 5000, ptr(uint64(998))},
		{"server cannot tell", 0, ptr(uint64(998))},
		{"slightly ahead of a lagging server", 900, ptr(uint64(998))},
		{"far ahead of the server (new chain)", 500, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := geyserfake.Start(t, geyserfake.Hold)
			srv.Slot.Store(tt.serverSlot)
			startClient(t, srv.Addr, Options{ResumeSlot: 1000}, newRecorder())
			h := newRecorder()
			h.waitFor(t, "a stream", func() bool { return len(srv.Requests()) == 1 })
			got := srv.Requests()[0].FromSlot
			if (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want {
				t.Errorf("from_slot = %v; want %v", fmtPtr(got), fmtPtr(tt.want))
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func fmtPtr(p *uint64) string {
	if p == nil {
		return "none (live)"
	}
	return strconv.FormatUint(*p, 10)
}

func TestPings(t *testing.T) {
	t.Parallel()
	gotAnswer := make(chan int32, 1)
	gotOwn := make(chan int32, 1)
	srv := geyserfake.Start(t, func(s *geyserfake.Stream) error {
		if err := s.Send(&geyser.SubscribeUpdate{UpdateOneof: &geyser.SubscribeUpdate_Ping{Ping: &geyser.SubscribeUpdatePing{}}}); err != nil {
			return err
		}
		for {
			select {
			case id := <-s.Pings:
				if id < 1<<30 {
					select {
					case gotAnswer <- id:
					default:
					}
				} else {
					select {
					case gotOwn <- id:
					default:
					}
				}
			case <-s.Context().Done():
				return nil
			}
		}
	})
	_, m := startClient(t, srv.Addr, Options{PingInterval: 50 * time.Millisecond}, newRecorder())
	for name, ch := range map[string]chan int32{"answer to the server's ping": gotAnswer, "own periodic ping": gotOwn} {
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s", name)
		}
	}
	if got := testutil.ToFloat64(m.PingsAnswered); got != 1 {
		t.Errorf("pings answered = %v; want 1", got)
	}
}

func TestSilenceReconnects(t *testing.T) {
	t.Parallel()
	srv := geyserfake.Start(t, func(s *geyserfake.Stream) error {
		if err := s.Send(slotUpd(7, geyser.SlotStatus_SLOT_PROCESSED)); err != nil {
			return err
		}
		return geyserfake.Hold(s) // then nothing: the client must give up on us
	})
	h := newRecorder()
	_, m := startClient(t, srv.Addr, Options{SilenceTimeout: 150 * time.Millisecond}, h)
	h.waitFor(t, "reconnect after silence", func() bool { return len(srv.Requests()) >= 2 })
	if got := testutil.ToFloat64(m.Reconnects.WithLabelValues("silence")); got < 1 {
		t.Errorf("reconnects{silence} = %v", got)
	}
	if got := srv.Requests()[1].GetFromSlot(); got != 5 {
		t.Errorf("from_slot = %d; want 5", got)
	}
}

func TestBackpressureIsNotSilence(t *testing.T) {
	t.Parallel()
	srv := geyserfake.Start(t, func(s *geyserfake.Stream) error {
		if err := slots(s, 1, 3); err != nil {
			return err
		}
		return geyserfake.Hold(s)
	})
	h := newRecorder()
	h.block = make(chan struct{})
	_, m := startClient(t, srv.Addr, Options{SilenceTimeout: 100 * time.Millisecond}, h)
	time.Sleep(500 * time.Millisecond) // five silence timeouts while the handler is blocked
	close(h.block)
	h.waitFor(t, "all updates", func() bool { return len(h.updates) >= 6 })
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("%d streams; a blocked handler must not look like a silent server", n)
	}
	if got := testutil.ToFloat64(m.Reconnects.WithLabelValues("silence")); got != 0 {
		t.Errorf("reconnects{silence} = %v; want 0", got)
	}
}

func TestBadInputSkipped(t *testing.T) {
	t.Parallel()
	srv := geyserfake.Start(t, func(s *geyserfake.Stream) error {
		for _, u := range []*geyser.SubscribeUpdate{
			{}, // no oneof set (an update kind this proto does not know)
			{Filters: []string{"firehole"}},
			acct(3, 3),
		} {
			if err := s.Send(u); err != nil {
				return err
			}
		}
		return geyserfake.Hold(s)
	})
	h := newRecorder()
	_, m := startClient(t, srv.Addr, Options{}, h)
	h.waitFor(t, "the good update", func() bool { return len(h.updates) == 1 })
	if got := testutil.ToFloat64(m.BadInput.WithLabelValues(metrics.ReasonUnknownUpdate)); got != 2 {
		t.Errorf("bad input unknown_update = %v; want 2", got)
	}
}

func TestWrongTokenKeepsRetrying(t *testing.T) {
	t.Parallel()
	srv := geyserfake.Start(t, geyserfake.Hold)
	srv.RequireToken("other")
	h := newRecorder()
	_, m := startClient(t, srv.Addr, Options{}, h)
	h.waitFor(t, "two refusals", func() bool {
		return testutil.ToFloat64(m.Reconnects.WithLabelValues("unauthenticated")) >= 2
	})
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	c := &Client{opts: Options{BackoffMin: 100 * time.Millisecond, BackoffMax: time.Second}}
	tests := []struct {
		attempt  int
		jitter   float64
		min, max time.Duration
	}{
		{0, 0, 50 * time.Millisecond, 50 * time.Millisecond},
		{0, 0.999, 50 * time.Millisecond, 100 * time.Millisecond},
		{1, 0, 100 * time.Millisecond, 100 * time.Millisecond},
		{3, 0.5, 600 * time.Millisecond, 600 * time.Millisecond},
		{4, 0, 500 * time.Millisecond, 500 * time.Millisecond}, // capped at 1s, half of it fixed
		{60, 0.999, 500 * time.Millisecond, time.Second},
	}
	for _, tt := range tests {
		c.opts.Jitter = func() float64 { return tt.jitter }
		if got := c.backoff(tt.attempt); got < tt.min || got > tt.max {
			t.Errorf("backoff(%d, jitter %v) = %v; want %v..%v", tt.attempt, tt.jitter, got, tt.min, tt.max)
		}
	}
}

func TestReconnectReason(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want string
	}{
		{errSilence, "silence"},
		{status.Error(codes.Unavailable, "x"), "unavailable"},
		{status.Error(codes.Internal, "lagged to send an update"), "internal"},
		{errors.New("unexpected EOF"), "eof"},
		{errors.New("boom"), "other"},
	}
	for _, tt := range tests {
		if got := reconnectReason(tt.err); got != tt.want {
			t.Errorf("reconnectReason(%v) = %q; want %q", tt.err, got, tt.want)
		}
	}
}
