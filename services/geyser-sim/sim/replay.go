package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/firehole/firehole/pkg/capture"
	"github.com/firehole/firehole/proto/geyser"
)

// replay feeds the ring from the capture file in a loop. With Rate 0 the
// original spacing (by created_at) is kept; otherwise account updates are
// paced at Rate per second. Each pass shifts slots past the previous pass's
// last slot and write versions past its last write version, so consumers see
// a monotonic chain.
func (s *Server) replay(ctx context.Context) error {
	var slotShift, wvShift, lastSlot, lastWV uint64
	for pass := 0; ; pass++ {
		n, err := s.replayPass(ctx, slotShift, wvShift, &lastSlot, &lastWV)
		if err != nil {
			return s.flushRecord(err)
		}
		if n == 0 {
			return fmt.Errorf("replay %s: no updates in capture", s.cfg.ReplayFile)
		}
		s.log.Info().Int("pass", pass).Int("updates", n).Uint64("slot", lastSlot).Msg("replay pass done")
		slotShift = lastSlot + 1 - s.firstSlotOfFile
		wvShift = lastWV
	}
}

func (s *Server) replayPass(ctx context.Context, slotShift, wvShift uint64, lastSlot, lastWV *uint64) (int, error) {
	f, err := capture.Open(s.cfg.ReplayFile)
	if err != nil {
		return 0, fmt.Errorf("replay: %w", err)
	}
	defer f.Close()
	var (
		n         int
		origStart time.Time
		wallStart = time.Now()
		perUpdate time.Duration
	)
	if s.cfg.Rate > 0 {
		perUpdate = time.Second / time.Duration(s.cfg.Rate)
	}
	batch, skipped := 0, 0
	for {
		u, err := f.Next()
		if errors.Is(err, io.EOF) {
			if skipped > 0 {
				s.log.Warn().Int("skipped", skipped).Str("file", s.cfg.ReplayFile).Msg("replay skipped account updates without an account")
			}
			s.ring.mu.Lock()
			s.ring.signal()
			s.ring.mu.Unlock()
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("replay %s: %w", s.cfg.ReplayFile, err)
		}
		// Pace.
		var due time.Time
		switch {
		case perUpdate > 0:
			due = wallStart.Add(time.Duration(n) * perUpdate)
		case u.CreatedAt != nil:
			t := u.CreatedAt.AsTime()
			if origStart.IsZero() {
				origStart = t
			}
			due = wallStart.Add(t.Sub(origStart))
		}
		if d := time.Until(due); d > time.Millisecond {
			s.ring.mu.Lock()
			s.ring.signal()
			s.ring.mu.Unlock()
			batch = 0
			timer := time.NewTimer(d)
			select {
			case <-ctx.Done():
				timer.Stop()
				return n, ctx.Err()
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return n, ctx.Err()
		}
		now := timestamppb.Now()
		r := s.ring
		r.mu.Lock()
		switch x := u.UpdateOneof.(type) {
		case *geyser.SubscribeUpdate_Account:
			a := x.Account
			info := a.GetAccount()
			if info == nil { // bad input: nothing to replay, and it must not crash the sim
				skipped++
				break
			}
			if s.firstSlotOfFile == 0 {
				s.firstSlotOfFile = a.Slot
			}
			fa := acctFields{pubkey: info.GetPubkey(), owner: info.GetOwner(), data: info.GetData(), sig: info.TxnSignature,
				hasSig: info.TxnSignature != nil, lamports: info.GetLamports(), rentEpoch: info.GetRentEpoch(),
				wv: info.GetWriteVersion() + wvShift, slot: a.Slot + slotShift, executable: info.GetExecutable(),
				startup: a.IsStartup, created: now.AsTime()}
			au := r.addAccount(&fa)
			s.record(au.enc)
			*lastSlot = max(*lastSlot, fa.slot)
			*lastWV = max(*lastWV, fa.wv)
			n++
			s.metrics.generated.Inc()
		case *geyser.SubscribeUpdate_Slot:
			sl := x.Slot
			if s.firstSlotOfFile == 0 {
				s.firstSlotOfFile = sl.Slot
			}
			var parent *uint64
			if sl.Parent != nil {
				p := *sl.Parent + slotShift
				parent = &p
			}
			s.record(r.addSlot(sl.Slot+slotShift, parent, sl.Status, now))
			*lastSlot = max(*lastSlot, sl.Slot+slotShift)
			if sl.Status == geyser.SlotStatus_SLOT_PROCESSED {
				s.metrics.slot.Set(float64(sl.Slot + slotShift))
			}
		case *geyser.SubscribeUpdate_BlockMeta:
			m := x.BlockMeta
			cp := &geyser.SubscribeUpdateBlockMeta{Slot: m.Slot + slotShift, Blockhash: m.Blockhash, BlockTime: m.BlockTime,
				BlockHeight: m.BlockHeight, ParentSlot: m.ParentSlot + slotShift, ParentBlockhash: m.ParentBlockhash,
				ExecutedTransactionCount: m.ExecutedTransactionCount, EntriesCount: m.EntriesCount}
			s.record(r.addMeta(cp, now))
		}
		batch++
		if batch >= 256 {
			r.signal()
			batch = 0
		}
		r.mu.Unlock()
	}
}
