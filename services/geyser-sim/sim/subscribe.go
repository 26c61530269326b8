package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/firehole/firehole/proto/geyser"
	"github.com/firehole/firehole/services/geyser-sim/sim/world"
)

var errLagged = status.Error(codes.Internal, "lagged to send an update")

// filterUpdate is a new filter set and where the client's cursor restarts.
type filterUpdate struct {
	fs     *filterSet
	cursor uint64
	replay uint64 // head when the filter arrived: lag is not counted before it
}

// client is one Subscribe stream.
type client struct {
	s      *Server
	stream geyser.Geyser_SubscribeServer

	pending atomic.Pointer[filterUpdate]
	kick    chan struct{}
	pongs   chan int32
	cursor  atomic.Uint64
	replay  atomic.Uint64

	fs           *filterSet
	minSlot      uint64
	prefixes     map[uint64][]byte
	raw          rawUpdate
	wantSnapshot bool
}

// Subscribe streams updates matching the client's latest filter set.
func (s *Server) Subscribe(stream geyser.Geyser_SubscribeServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	c := &client{s: s, stream: stream, kick: make(chan struct{}, 1), pongs: make(chan int32, 16)}
	c.cursor.Store(s.ring.headSeq())
	s.metrics.subscribers.Inc()
	defer s.metrics.subscribers.Dec()

	if md, _ := metadata.FromIncomingContext(ctx); len(md.Get("x-request-snapshot")) > 0 && md.Get("x-request-snapshot")[0] == "true" {
		c.wantSnapshot = true
	}

	errc := make(chan error, 2)
	go func() { errc <- c.recvLoop(ctx) }()
	go func() { errc <- c.sendLoop(ctx) }()

	lagTick := time.NewTicker(100 * time.Millisecond)
	defer lagTick.Stop()
	for {
		select {
		case err := <-errc:
			if err != nil {
				s.metrics.disconnect(err)
			}
			return err
		case <-lagTick.C:
			if c.lagging() {
				s.metrics.disconnect(errLagged)
				return errLagged
			}
		}
	}
}

// lagging reports whether the client fell more than ChannelCapacity
// messages behind the live head (replayed history does not count).
func (c *client) lagging() bool {
	cur := c.cursor.Load()
	if cur < c.replay.Load() {
		return false
	}
	return c.s.ring.headSeq()-cur > uint64(c.s.cfg.ChannelCapacity)
}

func (c *client) recvLoop(ctx context.Context) error {
	for {
		req, err := c.stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				// The client closed its side; keep streaming to it.
				<-ctx.Done()
				return nil
			}
			return err
		}
		if req.Ping != nil {
			select {
			case c.pongs <- req.Ping.Id:
			case <-ctx.Done():
				return nil
			}
			c.poke()
			continue
		}
		fs, err := compileFilter(req)
		if err != nil {
			return err
		}
		fu, err := c.s.position(fs)
		if err != nil {
			return err
		}
		c.pending.Store(fu)
		c.poke()
	}
}

func (c *client) poke() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// position finds where a client with fs starts: the head, or the first
// event of from_slot.
func (s *Server) position(fs *filterSet) (*filterUpdate, error) {
	r := s.ring
	r.mu.RLock()
	defer r.mu.RUnlock()
	head := r.head()
	if fs.fromSlot == nil {
		return &filterUpdate{fs: fs, cursor: head, replay: head}, nil
	}
	if s.cfg.RingSlots == 0 {
		return nil, status.Error(codes.Internal, "from_slot is not supported")
	}
	from := *fs.fromSlot
	if first := s.firstAvailableLocked(); from < first {
		return nil, status.Errorf(codes.OutOfRange, "broadcast from %d is not available, last available: %d", from, first)
	}
	return &filterUpdate{fs: fs, cursor: r.startAt(from), replay: head}, nil
}

func (c *client) apply(fu *filterUpdate) {
	c.fs = fu.fs
	c.prefixes = map[uint64][]byte{}
	c.minSlot = 0
	if fu.fs.fromSlot != nil {
		c.minSlot = *fu.fs.fromSlot
	}
	c.replay.Store(fu.replay)
	c.cursor.Store(fu.cursor)
}

func (c *client) sendLoop(ctx context.Context) error {
	ping := time.NewTicker(c.s.cfg.PingInterval)
	defer ping.Stop()
	buf := make([]event, 512)
	for {
		if fu := c.pending.Swap(nil); fu != nil {
			c.apply(fu)
			if c.wantSnapshot {
				c.wantSnapshot = false
				if err := c.sendSnapshot(); err != nil {
					return err
				}
			}
		}
		if err := c.drainPongs(); err != nil {
			return err
		}
		select {
		case <-ping.C:
			if err := c.sendPing(); err != nil {
				return err
			}
		default:
		}
		if c.fs == nil { // nothing asked for yet: stay at the head
			c.cursor.Store(c.s.ring.headSeq())
		}
		cur := c.cursor.Load()
		n, lagged, wait := c.s.ring.read(cur, buf)
		if lagged {
			return errLagged
		}
		if n == 0 {
			if wait == nil {
				continue
			}
			select {
			case <-ctx.Done():
				return nil
			case <-wait:
			case <-c.kick:
			case <-ping.C:
				if err := c.sendPing(); err != nil {
					return err
				}
			}
			continue
		}
		for i := range buf[:n] {
			if c.fs != nil {
				if err := c.handle(&buf[i]); err != nil {
					return err
				}
			}
			cur++
			c.cursor.Store(cur)
			if c.pending.Load() != nil {
				break
			}
		}
		clear(buf[:n])
	}
}

func (c *client) drainPongs() error {
	for {
		select {
		case id := <-c.pongs:
			if err := c.sendMsg(&geyser.SubscribeUpdate{UpdateOneof: &geyser.SubscribeUpdate_Pong{Pong: &geyser.SubscribeUpdatePong{Id: id}}, CreatedAt: timestamppb.Now()}); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

func (c *client) sendPing() error {
	return c.sendMsg(&geyser.SubscribeUpdate{UpdateOneof: &geyser.SubscribeUpdate_Ping{Ping: &geyser.SubscribeUpdatePing{}}, CreatedAt: timestamppb.Now()})
}

func (c *client) sendMsg(m *geyser.SubscribeUpdate) error {
	if err := c.stream.Send(m); err != nil {
		return fmt.Errorf("send update: %w", err)
	}
	return nil
}

func (c *client) handle(ev *event) error {
	fs := c.fs
	if ev.slot < c.minSlot {
		return nil
	}
	processed := fs.commitment == geyser.CommitmentLevel_PROCESSED
	switch ev.kind {
	case evAccount:
		if processed {
			return c.sendAccount(ev.acct)
		}
	case evMeta:
		if processed && len(fs.metas) > 0 {
			return c.sendRaw(appendFilters(nil, fs.metas), ev.enc)
		}
	case evSlot:
		if !processed && ev.status == commitmentStatus(fs.commitment) {
			if e := c.s.ring.slotEntry(ev.slot); e != nil {
				for _, u := range e.accounts {
					if err := c.sendAccount(u); err != nil {
						return err
					}
				}
				if len(fs.metas) > 0 && e.meta != nil {
					if err := c.sendRaw(appendFilters(nil, fs.metas), e.meta); err != nil {
						return err
					}
				}
			}
		}
		if names := fs.slotNames(ev.status); len(names) > 0 {
			return c.sendRaw(appendFilters(nil, names), ev.enc)
		}
	}
	return nil
}

func (c *client) sendAccount(u *acctUpdate) error {
	mask := c.fs.matchAccount(u)
	if mask == 0 {
		return nil
	}
	prefix, ok := c.prefixes[mask]
	if !ok {
		prefix = appendFilters(nil, c.fs.namesOf(mask))
		c.prefixes[mask] = prefix
	}
	body := u.enc
	if c.fs.slices != nil {
		f := u.fields()
		data := sliceData(nil, u.data, c.fs.slices)
		body = appendAccount(nil, &f, data, nil)
	}
	return c.sendRaw(prefix, body)
}

// sendRaw sends prefix+body; neither may change afterwards (grpc writes
// them after SendMsg returns).
func (c *client) sendRaw(prefix, body []byte) error {
	c.raw = rawUpdate{prefix: prefix, body: body}
	if err := c.stream.SendMsg(&c.raw); err != nil {
		return fmt.Errorf("send update: %w", err)
	}
	c.s.metrics.sent.Inc()
	return nil
}

// sendSnapshot sends every matching account's current state with
// is_startup set (asked for with the x-request-snapshot: true header), then
// continues from the head the snapshot was taken at, so nothing is missed
// or repeated between the two.
func (c *client) sendSnapshot() error {
	if c.s.world == nil {
		return nil
	}
	r := c.s.ring
	var snap []*acctUpdate
	r.mu.Lock()
	slot := r.cur
	now := time.Now()
	c.s.world.Snapshot(func(u *world.Update) {
		a := u.Account
		f := acctFields{pubkey: a.Pubkey[:], owner: a.Owner[:], data: a.Data, lamports: a.Lamports,
			rentEpoch: world.RentEpochExempt, wv: u.WriteVersion, slot: slot, startup: true, created: now}
		u2 := &acctUpdate{}
		appendAccount(nil, &f, a.Data, u2)
		snap = append(snap, u2)
	})
	c.cursor.Store(r.head())
	r.mu.Unlock()
	for _, u := range snap {
		if err := c.sendAccount(u); err != nil {
			return err
		}
	}
	return nil
}
