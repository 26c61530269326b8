package sim

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/firehole/firehole/proto/geyser"
)

// TestCommitmentBuffering checks that at confirmed and finalized a slot's
// account updates arrive only once the slot reaches that status, complete
// and in order, right before its status update.
func TestCommitmentBuffering(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		level  geyser.CommitmentLevel
		status geyser.SlotStatus
		slots  int
	}{
		{geyser.CommitmentLevel_PROCESSED, geyser.SlotStatus_SLOT_PROCESSED, 4},
		{geyser.CommitmentLevel_CONFIRMED, geyser.SlotStatus_SLOT_CONFIRMED, 4},
		{geyser.CommitmentLevel_FINALIZED, geyser.SlotStatus_SLOT_FINALIZED, 2},
	} {
		t.Run(tc.level.String(), func(t *testing.T) {
			t.Parallel()
			h := start(t, testConfig())
			c := dial(t, h.addr)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			st := subscribe(t, ctx, c, &geyser.SubscribeRequest{
				Commitment: tc.level.Enum(),
				Accounts:   map[string]*geyser.SubscribeRequestFilterAccounts{"a": {}},
				Slots:      map[string]*geyser.SubscribeRequestFilterSlots{"all": {}, "mine": {FilterByCommitment: ptr(true)}},
			})
			var (
				bySlot    = map[uint64][]*geyser.SubscribeUpdateAccount{}
				processed = map[uint64]bool{}
				done      = 0
				first     = true
				firstProc uint64
			)
			for done < tc.slots {
				u, err := st.Recv()
				if err != nil {
					t.Fatal(err)
				}
				switch x := u.UpdateOneof.(type) {
				case *geyser.SubscribeUpdate_Account:
					s := x.Account.Slot
					if tc.level != geyser.CommitmentLevel_PROCESSED && firstProc != 0 && s > firstProc && !processed[s] {
						t.Fatalf("account of slot %d arrived before the slot was processed", s)
					}
					bySlot[s] = append(bySlot[s], x.Account)
				case *geyser.SubscribeUpdate_Slot:
					sl := x.Slot
					wantNames := "all"
					if sl.Status == tc.status {
						wantNames = "all,mine"
					}
					if strings.Join(u.Filters, ",") != wantNames {
						t.Fatalf("slot %d %s: filters %v, want %s", sl.Slot, sl.Status, u.Filters, wantNames)
					}
					if sl.Status == geyser.SlotStatus_SLOT_PROCESSED {
						processed[sl.Slot] = true
						if firstProc == 0 {
							firstProc = sl.Slot
						}
					}
					if sl.Status != tc.status {
						continue
					}
					if first { // the stream may have started mid-slot
						first = false
						continue
					}
					var want []*geyser.SubscribeUpdate
					for _, r := range h.srv.Updates(sl.Slot, sl.Slot) {
						if r.GetAccount() != nil {
							want = append(want, r)
						}
					}
					got := bySlot[sl.Slot]
					if len(want) == 0 || len(got) != len(want) {
						t.Fatalf("slot %d: received %d account updates, ring holds %d", sl.Slot, len(got), len(want))
					}
					for i := range got {
						if !proto.Equal(got[i], want[i].GetAccount()) {
							t.Fatalf("slot %d update %d differs from the ring", sl.Slot, i)
						}
					}
					done++
				}
			}
		})
	}
}

func TestInterslotUpdates(t *testing.T) {
	t.Parallel()
	h := start(t, testConfig())
	c := dial(t, h.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st := subscribe(t, ctx, c, &geyser.SubscribeRequest{Slots: map[string]*geyser.SubscribeRequestFilterSlots{
		"plain": {}, "inter": {InterslotUpdates: ptr(true)}}})
	// Follow one whole slot: its statuses arrive in lifecycle order.
	order := map[uint64][]geyser.SlotStatus{}
	for {
		u, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		sl := u.GetSlot()
		names := strings.Join(u.Filters, ",")
		if sl.Status > geyser.SlotStatus_SLOT_FINALIZED && names != "inter" || sl.Status <= geyser.SlotStatus_SLOT_FINALIZED && names != "inter,plain" {
			t.Fatalf("status %s went to %q", sl.Status, names)
		}
		order[sl.Slot] = append(order[sl.Slot], sl.Status)
		if sl.Status == geyser.SlotStatus_SLOT_CONFIRMED && order[sl.Slot][0] == geyser.SlotStatus_SLOT_FIRST_SHRED_RECEIVED {
			want := []geyser.SlotStatus{geyser.SlotStatus_SLOT_FIRST_SHRED_RECEIVED, geyser.SlotStatus_SLOT_CREATED_BANK,
				geyser.SlotStatus_SLOT_COMPLETED, geyser.SlotStatus_SLOT_PROCESSED, geyser.SlotStatus_SLOT_CONFIRMED}
			if fmt.Sprint(order[sl.Slot]) != fmt.Sprint(want) {
				t.Fatalf("slot %d statuses %v, want %v", sl.Slot, order[sl.Slot], want)
			}
			if sl.Parent != nil {
				t.Fatalf("confirmed status carries parent %d; only the first statuses do", *sl.Parent)
			}
			return
		}
	}
}

func TestPingPong(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.PingInterval = 50 * time.Millisecond
	h := start(t, cfg)
	c := dial(t, h.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st := subscribe(t, ctx, c, &geyser.SubscribeRequest{Accounts: map[string]*geyser.SubscribeRequestFilterAccounts{"a": {}}})
	if err := st.Send(&geyser.SubscribeRequest{Ping: &geyser.SubscribeRequestPing{Id: 7}}); err != nil {
		t.Fatal(err)
	}
	var pings, pongs, after int
	for pings == 0 || pongs == 0 || after < 10 {
		u, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if u.CreatedAt == nil {
			t.Fatalf("update without created_at: %v", u)
		}
		switch x := u.UpdateOneof.(type) {
		case *geyser.SubscribeUpdate_Ping:
			pings++
		case *geyser.SubscribeUpdate_Pong:
			if x.Pong.Id != 7 {
				t.Fatalf("pong id %d, want 7", x.Pong.Id)
			}
			pongs++
		case *geyser.SubscribeUpdate_Account:
			if pongs > 0 {
				after++ // the ping request did not clear the filter
			}
		}
	}
}

func TestXToken(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.XToken = "s3cret"
	h := start(t, cfg)
	c := dial(t, h.addr)
	for _, tc := range []struct {
		name, token string
		ok          bool
	}{{"none", "", false}, {"wrong", "nope", false}, {"right", "s3cret", true}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if tc.token != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, "x-token", tc.token)
			}
			_, uerr := c.GetSlot(ctx, &geyser.GetSlotRequest{})
			st, err := c.Subscribe(ctx)
			if err != nil {
				t.Fatal(err)
			}
			_ = st.Send(&geyser.SubscribeRequest{Slots: map[string]*geyser.SubscribeRequestFilterSlots{"s": {}}})
			_, serr := st.Recv()
			for _, err := range []error{uerr, serr} {
				if tc.ok && err != nil {
					t.Fatalf("with the right token: %v", err)
				}
				if !tc.ok && (status.Code(err) != codes.Unauthenticated || status.Convert(err).Message() != "No valid auth token") {
					t.Fatalf("got %v, want Unauthenticated No valid auth token", err)
				}
			}
		})
	}
}

func TestFromSlot(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.RingSlots = 50
	h := start(t, cfg)
	waitSlot(t, h.srv, cfg.StartSlot+60)
	c := dial(t, h.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	info, err := c.SubscribeReplayInfo(ctx, &geyser.SubscribeReplayInfoRequest{})
	if err != nil || info.FirstAvailable == nil {
		t.Fatalf("replay info: %v %v", info, err)
	}
	first := *info.FirstAvailable
	if first <= cfg.StartSlot {
		t.Fatalf("first available %d should have moved past the start %d", first, cfg.StartSlot)
	}

	t.Run("replay", func(t *testing.T) {
		from := h.srv.Slot() - 10 // well inside the ring, which moves on meanwhile
		var want []*geyser.SubscribeUpdate
		for _, u := range h.srv.Updates(from, from+3) {
			if u.GetBlockMeta() == nil && u.GetSlot().GetStatus() <= geyser.SlotStatus_SLOT_FINALIZED {
				want = append(want, u)
			}
		}
		st := subscribe(t, ctx, c, &geyser.SubscribeRequest{FromSlot: &from,
			Accounts: map[string]*geyser.SubscribeRequestFilterAccounts{"a": {}},
			Slots:    map[string]*geyser.SubscribeRequestFilterSlots{"s": {}}})
		var got []*geyser.SubscribeUpdate
		for len(got) < len(want) {
			u, err := st.Recv()
			if err != nil {
				t.Fatalf("after %d of %d: %v", len(got), len(want), err)
			}
			if u.GetAccount() == nil && u.GetSlot() == nil {
				continue
			}
			if s := slotOf(u); s > from+3 {
				continue // newer statuses may interleave
			}
			u.Filters = nil
			got = append(got, u)
		}
		if slotOf(got[0]) != from {
			t.Fatalf("replay starts at slot %d, want %d", slotOf(got[0]), from)
		}
		for i := range want {
			if !proto.Equal(got[i], want[i]) {
				t.Fatalf("replayed update %d differs:\n got %v\nwant %v", i, got[i], want[i])
			}
		}
	})
	t.Run("out of range", func(t *testing.T) {
		from := first - 1
		st := subscribe(t, ctx, c, &geyser.SubscribeRequest{FromSlot: &from, Slots: map[string]*geyser.SubscribeRequestFilterSlots{"s": {}}})
		err := recvErr(st)
		wantMsg := "broadcast from " + uitoa(from) + " is not available, last available: "
		if status.Code(err) != codes.OutOfRange || !strings.HasPrefix(status.Convert(err).Message(), wantMsg) {
			t.Fatalf("got %v, want OutOfRange %q", err, wantMsg)
		}
	})
}

func TestFromSlotUnsupported(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.RingSlots = 0
	h := start(t, cfg)
	c := dial(t, h.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	from := cfg.StartSlot
	st := subscribe(t, ctx, c, &geyser.SubscribeRequest{FromSlot: &from})
	err := recvErr(st)
	if status.Code(err) != codes.Internal || status.Convert(err).Message() != "from_slot is not supported" {
		t.Fatalf("got %v, want Internal from_slot is not supported", err)
	}
}

func TestSlowClientDisconnected(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Rate = 5000
	cfg.ChannelCapacity = 2000 // 0.4 s of traffic
	h := start(t, cfg)
	c := dial(t, h.addr, grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st := subscribe(t, ctx, c, &geyser.SubscribeRequest{Accounts: map[string]*geyser.SubscribeRequestFilterAccounts{"a": {}}})
	time.Sleep(1500 * time.Millisecond) // do not read: the server's queue fills up
	err := recvErr(st)
	if status.Code(err) != codes.Internal || status.Convert(err).Message() != "lagged to send an update" {
		t.Fatalf("got %v, want Internal lagged to send an update", err)
	}
	// A reading client on the same server is unaffected.
	st2 := subscribe(t, ctx, dial(t, h.addr), &geyser.SubscribeRequest{Accounts: map[string]*geyser.SubscribeRequestFilterAccounts{"a": {}}})
	for range 3000 {
		if _, err := st2.Recv(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCompression(t *testing.T) {
	t.Parallel()
	h := start(t, testConfig())
	for _, name := range []string{gzip.Name, ZstdName} {
		t.Run(name, func(t *testing.T) {
			c := dial(t, h.addr, grpc.WithDefaultCallOptions(grpc.UseCompressor(name)))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			st := subscribe(t, ctx, c, &geyser.SubscribeRequest{Accounts: map[string]*geyser.SubscribeRequestFilterAccounts{"a": {}}})
			for range 100 {
				u, err := st.Recv()
				if err != nil {
					t.Fatal(err)
				}
				if len(u.GetAccount().GetAccount().GetPubkey()) != 32 {
					t.Fatalf("bad update %v", u)
				}
			}
		})
	}
}

func TestUnary(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	h := start(t, cfg)
	waitSlot(t, h.srv, cfg.StartSlot+35)
	c := dial(t, h.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pong, err := c.Ping(ctx, &geyser.PingRequest{Count: 3})
	if err != nil || pong.Count != 3 {
		t.Fatalf("ping: %v %v", pong, err)
	}
	var slots [3]uint64
	for i, lvl := range []geyser.CommitmentLevel{geyser.CommitmentLevel_PROCESSED, geyser.CommitmentLevel_CONFIRMED, geyser.CommitmentLevel_FINALIZED} {
		r, err := c.GetSlot(ctx, &geyser.GetSlotRequest{Commitment: lvl.Enum()})
		if err != nil {
			t.Fatal(err)
		}
		slots[i] = r.Slot
	}
	if !(slots[0] >= slots[1] && slots[1] > slots[2] && slots[2] >= cfg.StartSlot) {
		t.Fatalf("slots processed/confirmed/finalized = %v", slots)
	}
	bh, err := c.GetLatestBlockhash(ctx, &geyser.GetLatestBlockhashRequest{Commitment: geyser.CommitmentLevel_FINALIZED.Enum()})
	if err != nil || bh.Blockhash == "" || bh.LastValidBlockHeight <= blockHeight(bh.Slot) {
		t.Fatalf("latest blockhash: %v %v", bh, err)
	}
	for _, tc := range []struct {
		hash  string
		valid bool
	}{{bh.Blockhash, true}, {"11111111111111111111111111111111", false}} {
		v, err := c.IsBlockhashValid(ctx, &geyser.IsBlockhashValidRequest{Blockhash: tc.hash})
		if err != nil || v.Valid != tc.valid {
			t.Fatalf("IsBlockhashValid(%s) = %v %v, want %v", tc.hash, v, err, tc.valid)
		}
	}
	height, err := c.GetBlockHeight(ctx, &geyser.GetBlockHeightRequest{})
	if err != nil || height.BlockHeight == 0 {
		t.Fatalf("block height %v %v", height, err)
	}
	ver, err := c.GetVersion(ctx, &geyser.GetVersionRequest{})
	if err != nil || !strings.Contains(ver.Version, "geyser-sim") {
		t.Fatalf("version %v %v", ver, err)
	}
}

// TestServeAgain restarts the endpoint on a new listener: the world and the
// ring survive, so a client resumes with from_slot.
func TestServeAgain(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	h := start(t, cfg)
	waitSlot(t, h.srv, cfg.StartSlot+5)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- h.srv.Serve(ctx, lis) }()
	c := dial(t, lis.Addr().String())
	rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer rcancel()
	st := subscribe(t, rctx, c, &geyser.SubscribeRequest{Slots: map[string]*geyser.SubscribeRequestFilterSlots{"s": {}}})
	if _, err := st.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if err := recvErr(st); status.Code(err) != codes.Unavailable && status.Code(err) != codes.Canceled {
		t.Fatalf("stream after stop: %v", err)
	}
	lis2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	go func() { _ = h.srv.Serve(ctx2, lis2) }()
	c2 := dial(t, lis2.Addr().String())
	from := cfg.StartSlot + 1
	st2 := subscribe(t, rctx, c2, &geyser.SubscribeRequest{FromSlot: &from, Slots: map[string]*geyser.SubscribeRequestFilterSlots{"s": {}}})
	u, err := st2.Recv()
	if err != nil || u.GetSlot().GetSlot() != from {
		t.Fatalf("after restart: %v %v, want slot %d", u, err, from)
	}
}

func recvErr(st geyser.Geyser_SubscribeClient) error {
	for {
		if _, err := st.Recv(); err != nil {
			return err
		}
	}
}

func slotOf(u *geyser.SubscribeUpdate) uint64 {
	switch x := u.UpdateOneof.(type) {
	case *geyser.SubscribeUpdate_Account:
		return x.Account.Slot
	case *geyser.SubscribeUpdate_Slot:
		return x.Slot.Slot
	case *geyser.SubscribeUpdate_BlockMeta:
		return x.BlockMeta.Slot
	}
	return 0
}

func uitoa(v uint64) string { return strconvFormat(v) }

// TestFromSlotConfirmed replays at confirmed commitment: each replayed slot's
// accounts arrive complete, before its confirmed status, from from_slot on.
func TestFromSlotConfirmed(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	h := start(t, cfg)
	waitSlot(t, h.srv, cfg.StartSlot+20)
	c := dial(t, h.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	from := h.srv.Slot() - 10
	st := subscribe(t, ctx, c, &geyser.SubscribeRequest{FromSlot: &from, Commitment: geyser.CommitmentLevel_CONFIRMED.Enum(),
		Accounts: map[string]*geyser.SubscribeRequestFilterAccounts{"a": {}},
		Slots:    map[string]*geyser.SubscribeRequestFilterSlots{"s": {FilterByCommitment: ptr(true)}}})
	counts := map[uint64]int{}
	next := from
	for next < from+5 {
		u, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if a := u.GetAccount(); a != nil {
			if a.Slot != next {
				t.Fatalf("account of slot %d while replaying slot %d", a.Slot, next)
			}
			counts[a.Slot]++
			continue
		}
		sl := u.GetSlot()
		if sl == nil {
			continue
		}
		if sl.Status != geyser.SlotStatus_SLOT_CONFIRMED || sl.Slot != next {
			t.Fatalf("slot update %d %s, want %d confirmed", sl.Slot, sl.Status, next)
		}
		want := 0
		for _, r := range h.srv.Updates(next, next) {
			if r.GetAccount() != nil {
				want++
			}
		}
		if counts[next] != want || want == 0 {
			t.Fatalf("slot %d: %d accounts replayed, ring holds %d", next, counts[next], want)
		}
		next++
	}
}

// TestCloseSendKeepsStreaming: a client that half-closes still receives.
func TestCloseSendKeepsStreaming(t *testing.T) {
	t.Parallel()
	h := start(t, testConfig())
	c := dial(t, h.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st := subscribe(t, ctx, c, &geyser.SubscribeRequest{Slots: map[string]*geyser.SubscribeRequestFilterSlots{"s": {}}})
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if _, err := st.Recv(); err != nil {
			t.Fatal(err)
		}
	}
}
