// Package sim is a Yellowstone-compatible Geyser gRPC server fed by a
// deterministic simulated world (package world) or by a replayed capture.
//
// It is importable so that tests, the dev command and benchmarks can embed
// it: New builds a Server, Run drives slots and updates until its context
// ends, and Serve exposes the Geyser service on any number of listeners, one
// after another or at once; the world and the replay ring outlive them.
package sim

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/pkg/capture"
	"github.com/firehole/firehole/proto/geyser"
	"github.com/firehole/firehole/services/geyser-sim/sim/world"
)

// Version is reported by GetVersion.
const Version = "0.1.0"

// finalizeDistance is how many slots after processed a slot is finalized.
const finalizeDistance = 32

// Config sets up a Server. Zero values take the defaults noted.
type Config struct {
	Seed      int64
	StartSlot uint64 // first slot; default 1000
	// SlotInterval is the time per slot; default 400ms.
	SlotInterval time.Duration
	// Rate is the target account updates per second; 0 = light traffic (about 250/s).
	Rate int
	// RingSlots is how many slots from_slot can reach back (the reference
	// server's default is 150); 0 disables from_slot ("from_slot is not
	// supported"). Commitment buffering keeps at least 40 slots regardless.
	RingSlots int
	XToken    string
	// PingInterval between server pings on each stream; default 10s.
	PingInterval time.Duration
	// WriteVersionBase offsets write_version, so two sims with one seed
	// differ in it as two validators do.
	WriteVersionBase              uint64
	Mints, TokenAccounts, Wallets int
	ReplayFile                    string // replay this capture instead of generating
	RecordFile                    string // record every generated update here (".zst" compresses)
	// ChannelCapacity is how many messages a client may fall behind before
	// its stream ends with "lagged to send an update"; default 250000.
	ChannelCapacity int
}

func (c Config) withDefaults() Config {
	if c.StartSlot == 0 {
		c.StartSlot = 1000
	}
	if c.SlotInterval <= 0 {
		c.SlotInterval = 400 * time.Millisecond
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 10 * time.Second
	}
	if c.ChannelCapacity <= 0 {
		c.ChannelCapacity = 250_000
	}
	return c
}

// Server is the simulator. Its methods are safe for concurrent use.
type Server struct {
	geyser.UnimplementedGeyserServer

	cfg     Config
	log     zerolog.Logger
	world   *world.World
	ring    *ring
	metrics *metrics
	rec     *capture.Writer // owned by the Run goroutine
	// firstSlotOfFile is the first slot of the replayed capture (Run goroutine).
	firstSlotOfFile uint64
}

// New builds a Server; nothing runs until Run and Serve.
func New(cfg Config, log zerolog.Logger) (*Server, error) {
	cfg = cfg.withDefaults()
	if cfg.Rate < 0 {
		return nil, fmt.Errorf("new simulator: rate %d is negative", cfg.Rate)
	}
	if cfg.RingSlots < 0 {
		return nil, fmt.Errorf("new simulator: ring slots %d is negative", cfg.RingSlots)
	}
	// The ring keeps a margin beyond what from_slot may name, so a client
	// replaying from the oldest advertised slot is not overtaken at once.
	retain := uint64(cfg.RingSlots + cfg.RingSlots/4 + 8)
	s := &Server{
		cfg:     cfg,
		log:     log.With().Str("component", "geyser-sim").Logger(),
		ring:    newRing(retain),
		metrics: newMetrics(),
	}
	if est := ringBytesEstimate(cfg, retain); est > 1<<30 {
		s.log.Warn().Uint64("ring_slots", retain).Int("rate", cfg.Rate).Uint64("estimated_bytes", est).
			Msg("replay ring will hold over 1 GiB; lower RING_SLOTS or RATE")
	}
	if cfg.ReplayFile == "" {
		s.world = world.New(world.Config{Seed: cfg.Seed, Mints: cfg.Mints, TokenAccounts: cfg.TokenAccounts,
			Wallets: cfg.Wallets, WriteVersionBase: cfg.WriteVersionBase})
	}
	return s, nil
}

// Collectors are the Server's Prometheus metrics, for the caller to register.
func (s *Server) Collectors() []prometheus.Collector { return s.metrics.collectors() }

// Slot is the newest processed slot (0 before the first).
func (s *Server) Slot() uint64 {
	s.ring.mu.RLock()
	defer s.ring.mu.RUnlock()
	return s.ring.latest[geyser.SlotStatus_SLOT_PROCESSED]
}

// World is the simulated world (nil when replaying). Only read it between
// Run's steps, e.g. after Run returned.
func (s *Server) World() *world.World { return s.world }

// Updates returns what the ring holds for slots fromSlot..toSlot, in the
// order a processed-level subscriber without filters receives it: account,
// slot and block meta updates (filters left empty).
func (s *Server) Updates(fromSlot, toSlot uint64) []*geyser.SubscribeUpdate {
	s.ring.mu.RLock()
	defer s.ring.mu.RUnlock()
	var out []*geyser.SubscribeUpdate
	for i := range s.ring.events {
		ev := &s.ring.events[i]
		if ev.slot < fromSlot || ev.slot > toSlot {
			continue
		}
		enc := ev.enc
		if ev.kind == evAccount {
			enc = ev.acct.enc
		}
		u := &geyser.SubscribeUpdate{}
		if err := proto.Unmarshal(enc, u); err != nil {
			panic("sim: ring holds an undecodable update: " + err.Error())
		}
		out = append(out, u)
	}
	return out
}

// Run drives the world (or the replay) until ctx ends; it returns nil then.
func (s *Server) Run(ctx context.Context) error {
	if s.cfg.RecordFile != "" {
		f, err := capture.Create(s.cfg.RecordFile)
		if err != nil {
			return fmt.Errorf("start recording: %w", err)
		}
		s.rec = f.Writer
		defer func() {
			if err := f.Close(); err != nil {
				s.log.Error().Err(err).Str("file", s.cfg.RecordFile).Msg("close recording")
			}
		}()
	}
	var err error
	if s.cfg.ReplayFile != "" {
		err = s.replay(ctx)
	} else {
		err = s.generate(ctx)
	}
	if errors.Is(err, context.Canceled) || ctx.Err() != nil && err == ctx.Err() {
		return nil
	}
	return err
}

// ringBytesEstimate is what the ring holds at full depth, at about 550
// bytes per account update (measured by BenchmarkLive).
func ringBytesEstimate(cfg Config, retain uint64) uint64 {
	s := Server{cfg: cfg}
	return uint64(s.updatesPerSlot()) * (retain + finalizeDistance + 8) * 550
}

// updatesPerSlot is the generator's per-slot quota.
func (s *Server) updatesPerSlot() int {
	if s.cfg.Rate == 0 {
		return max(1, int(250*s.cfg.SlotInterval/time.Second))
	}
	return max(1, int(int64(s.cfg.Rate)*int64(s.cfg.SlotInterval)/int64(time.Second)))
}

// emitter returns the world's emit callback, stamping updates with *slot.
func (s *Server) emitter(slot *uint64) func(*world.Update) {
	var f acctFields
	return func(u *world.Update) {
		a := u.Account
		f = acctFields{pubkey: a.Pubkey[:], owner: a.Owner[:], data: a.Data, sig: u.Signature, hasSig: u.Signature != nil,
			lamports: a.Lamports, rentEpoch: world.RentEpochExempt, wv: u.WriteVersion, slot: *slot, created: time.Now()}
		au := s.ring.addAccount(&f)
		s.record(au.enc)
	}
}

// produce runs transactions at slot until done reaches quota, and returns
// the new done count.
func (s *Server) produce(slot uint64, done, quota int, emit func(*world.Update)) int {
	s.ring.mu.Lock()
	start := done
	for done < quota {
		done += s.world.Tx(slot, emit)
	}
	s.ring.signal()
	s.ring.mu.Unlock()
	s.metrics.generated.Add(float64(done - start))
	return done
}

// beginSlot reseeds the world for slot (emitting genesis on the first) and
// logs the slot's first-shred and bank-created statuses.
func (s *Server) beginSlot(slot uint64, first bool, emit func(*world.Update)) {
	r := s.ring
	r.mu.Lock()
	now := timestamppb.Now()
	parent := s.parentOf(slot)
	s.record(r.addSlot(slot, parent, geyser.SlotStatus_SLOT_FIRST_SHRED_RECEIVED, now))
	s.record(r.addSlot(slot, parent, geyser.SlotStatus_SLOT_CREATED_BANK, now))
	s.world.BeginSlot(slot)
	if first {
		s.world.Genesis(emit)
	}
	r.signal()
	r.mu.Unlock()
}

func (s *Server) parentOf(slot uint64) *uint64 {
	if slot <= s.cfg.StartSlot {
		return nil
	}
	p := slot - 1
	return &p
}

func (s *Server) generate(ctx context.Context) error {
	perSlot := s.updatesPerSlot()
	ticks := int(min(max(s.cfg.SlotInterval/(10*time.Millisecond), 1), 40))
	start := time.Now()
	slot := s.cfg.StartSlot
	emit := s.emitter(&slot)
	s.log.Info().Uint64("slot", slot).Int("updates_per_slot", perSlot).Dur("slot_interval", s.cfg.SlotInterval).Msg("generating")
	for n := 0; ; n++ {
		s.beginSlot(slot, n == 0, emit)
		done := 0
		for t := 1; t <= ticks; t++ {
			due := start.Add(time.Duration(n)*s.cfg.SlotInterval + time.Duration(t)*s.cfg.SlotInterval/time.Duration(ticks))
			if d := time.Until(due); d > 0 {
				timer := time.NewTimer(d)
				select {
				case <-ctx.Done():
					timer.Stop()
					return s.flushRecord(ctx.Err())
				case <-timer.C:
				}
			} else if ctx.Err() != nil {
				return s.flushRecord(ctx.Err())
			}
			done = s.produce(slot, done, perSlot*t/ticks, emit)
		}
		s.endSlot(slot)
		slot++
	}
}

// endSlot logs the slot's processed status and block meta, and the statuses
// it implies for older slots.
func (s *Server) endSlot(slot uint64) {
	now := timestamppb.Now()
	r := s.ring
	r.mu.Lock()
	parent := s.parentOf(slot)
	s.record(r.addSlot(slot, parent, geyser.SlotStatus_SLOT_COMPLETED, now))
	s.record(r.addSlot(slot, parent, geyser.SlotStatus_SLOT_PROCESSED, now))
	meta := &geyser.SubscribeUpdateBlockMeta{
		Slot: slot, Blockhash: s.blockhash(slot), ParentSlot: slot - 1, ParentBlockhash: s.blockhash(slot - 1),
		BlockTime: &geyser.UnixTimestamp{Timestamp: now.Seconds}, BlockHeight: &geyser.BlockHeight{BlockHeight: blockHeight(slot)},
		ExecutedTransactionCount: uint64(len(r.entry(slot).accounts) / 2), EntriesCount: 64,
	}
	s.record(r.addMeta(meta, now))
	if slot > s.cfg.StartSlot {
		s.record(r.addSlot(slot-1, nil, geyser.SlotStatus_SLOT_CONFIRMED, now))
	}
	if slot >= s.cfg.StartSlot+finalizeDistance {
		s.record(r.addSlot(slot-finalizeDistance, nil, geyser.SlotStatus_SLOT_FINALIZED, now))
	}
	r.signal()
	r.mu.Unlock()
	s.metrics.slot.Set(float64(slot))
}

func (s *Server) record(enc []byte) {
	if s.rec == nil {
		return
	}
	if err := s.rec.WriteRaw(enc); err != nil {
		s.log.Error().Err(err).Msg("recording stopped")
		s.rec = nil
	}
}

func (s *Server) flushRecord(err error) error {
	if s.rec != nil {
		if ferr := s.rec.Flush(); ferr != nil {
			s.log.Error().Err(ferr).Msg("flush recording")
		}
	}
	return err
}

func (s *Server) blockhash(slot uint64) string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:], uint64(s.cfg.Seed))
	binary.LittleEndian.PutUint64(b[8:], slot)
	h := sha256.Sum256(b[:])
	return base58.Encode32(&h)
}

// blockHeight pretends one slot in twenty is skipped.
func blockHeight(slot uint64) uint64 { return slot - slot/20 }

// Serve runs a gRPC server with the Geyser service on lis until ctx ends.
// It may be called again later on a new listener.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	opts := []grpc.ServerOption{
		grpc.ForceServerCodecV2(codec{}),
		grpc.MaxRecvMsgSize(4 << 20),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
	}
	if s.cfg.XToken != "" {
		opts = append(opts, grpc.UnaryInterceptor(s.authUnary), grpc.StreamInterceptor(s.authStream))
	}
	gs := grpc.NewServer(opts...)
	geyser.RegisterGeyserServer(gs, s)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		gs.Stop()
	}()
	s.log.Info().Str("addr", lis.Addr().String()).Msg("serving geyser grpc")
	err := gs.Serve(lis)
	if ctx.Err() != nil {
		<-stopped
		return nil
	}
	gs.Stop()
	return err
}

func (s *Server) checkToken(ctx context.Context) error {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, t := range md.Get("x-token") {
		if t == s.cfg.XToken {
			return nil
		}
	}
	return status.Error(codes.Unauthenticated, "No valid auth token")
}

func (s *Server) authUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := s.checkToken(ctx); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

func (s *Server) authStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if err := s.checkToken(ss.Context()); err != nil {
		return err
	}
	return h(srv, ss)
}

func (s *Server) latest(c geyser.CommitmentLevel) uint64 {
	s.ring.mu.RLock()
	defer s.ring.mu.RUnlock()
	return s.ring.latest[commitmentStatus(c)]
}

// Ping answers with the request's count.
func (s *Server) Ping(_ context.Context, req *geyser.PingRequest) (*geyser.PongResponse, error) {
	return &geyser.PongResponse{Count: req.GetCount()}, nil
}

// GetSlot returns the newest slot at the requested commitment.
func (s *Server) GetSlot(_ context.Context, req *geyser.GetSlotRequest) (*geyser.GetSlotResponse, error) {
	return &geyser.GetSlotResponse{Slot: s.latest(req.GetCommitment())}, nil
}

// GetBlockHeight returns the block height of the newest slot at the commitment.
func (s *Server) GetBlockHeight(_ context.Context, req *geyser.GetBlockHeightRequest) (*geyser.GetBlockHeightResponse, error) {
	return &geyser.GetBlockHeightResponse{BlockHeight: blockHeight(s.latest(req.GetCommitment()))}, nil
}

// GetLatestBlockhash returns the blockhash of the newest slot at the commitment.
func (s *Server) GetLatestBlockhash(_ context.Context, req *geyser.GetLatestBlockhashRequest) (*geyser.GetLatestBlockhashResponse, error) {
	slot := s.latest(req.GetCommitment())
	return &geyser.GetLatestBlockhashResponse{Slot: slot, Blockhash: s.blockhash(slot), LastValidBlockHeight: blockHeight(slot) + 150}, nil
}

// IsBlockhashValid reports whether blockhash belongs to one of the last 150
// slots at the commitment.
func (s *Server) IsBlockhashValid(_ context.Context, req *geyser.IsBlockhashValidRequest) (*geyser.IsBlockhashValidResponse, error) {
	slot := s.latest(req.GetCommitment())
	valid := false
	for d := uint64(0); d <= 150 && d <= slot; d++ {
		if s.blockhash(slot-d) == req.GetBlockhash() {
			valid = true
			break
		}
	}
	return &geyser.IsBlockhashValidResponse{Slot: slot, Valid: valid}, nil
}

// GetVersion describes the simulator in the shape of the reference server.
func (s *Server) GetVersion(context.Context, *geyser.GetVersionRequest) (*geyser.GetVersionResponse, error) {
	return &geyser.GetVersionResponse{Version: fmt.Sprintf(`{"version":{"package":"firehole-geyser-sim","version":%q,"proto":"firehole"},"extra":{"seed":%d}}`, Version, s.cfg.Seed)}, nil
}

// SubscribeReplayInfo reports the oldest slot from_slot can reach.
func (s *Server) SubscribeReplayInfo(context.Context, *geyser.SubscribeReplayInfoRequest) (*geyser.SubscribeReplayInfoResponse, error) {
	if s.cfg.RingSlots == 0 {
		return &geyser.SubscribeReplayInfoResponse{}, nil
	}
	first := s.firstAvailable()
	return &geyser.SubscribeReplayInfoResponse{FirstAvailable: &first}, nil
}

// firstAvailable is the oldest slot a from_slot request may name.
func (s *Server) firstAvailable() uint64 {
	s.ring.mu.RLock()
	defer s.ring.mu.RUnlock()
	return s.firstAvailableLocked()
}

func (s *Server) firstAvailableLocked() uint64 {
	r := s.ring
	n := uint64(s.cfg.RingSlots)
	if r.cur+1 > n && r.cur+1-n > r.first {
		return max(r.cur+1-n, r.oldest())
	}
	return r.oldest()
}
