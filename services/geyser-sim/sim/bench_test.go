package sim

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/firehole/firehole/proto/geyser"
)

// fill generates slots worth of updates without waiting for wall time.
func fill(b *testing.B, s *Server, slots int) int {
	b.Helper()
	slot := s.cfg.StartSlot
	emit := s.emitter(&slot)
	per := s.updatesPerSlot()
	total := 0
	for n := range slots {
		s.beginSlot(slot, n == 0, emit)
		total += s.produce(slot, 0, per, emit)
		s.endSlot(slot)
		slot++
	}
	return total
}

// BenchmarkGenerate measures the generator: world transactions, encoding
// into the ring and slot bookkeeping, per account update.
func BenchmarkGenerate(b *testing.B) {
	cfg := Config{Seed: 1, Rate: 10000, SlotInterval: 400 * time.Millisecond, RingSlots: 20}
	s, err := New(cfg, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	slot := s.cfg.StartSlot
	emit := s.emitter(&slot)
	per := s.updatesPerSlot()
	b.ReportAllocs()
	b.ResetTimer()
	done := 0
	for i := 0; i < b.N; {
		if done >= per {
			s.endSlot(slot)
			slot++
			done = 0
			s.beginSlot(slot, false, emit)
		}
		n := s.produce(slot, done, done+1, emit)
		i += n - done
		done = n
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
}

// BenchmarkSendPath measures the server send path end to end over loopback
// gRPC: a ring pre-filled with updates is replayed (from_slot) to one
// client that decodes every message. Client decoding shares the CPUs.
func BenchmarkSendPath(b *testing.B) {
	for _, tc := range []struct {
		name string
		req  func(from uint64) *geyser.SubscribeRequest
	}{
		{"all", func(from uint64) *geyser.SubscribeRequest {
			return &geyser.SubscribeRequest{FromSlot: &from, Accounts: map[string]*geyser.SubscribeRequestFilterAccounts{"all": {}}}
		}},
		{"sliced", func(from uint64) *geyser.SubscribeRequest {
			return &geyser.SubscribeRequest{FromSlot: &from, Accounts: map[string]*geyser.SubscribeRequestFilterAccounts{"all": {}},
				AccountsDataSlice: []*geyser.SubscribeRequestAccountsDataSlice{{Offset: 0, Length: 72}}}
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := Config{Seed: 1, Rate: 50000, SlotInterval: 400 * time.Millisecond, RingSlots: 100}
			s, err := New(cfg, zerolog.Nop())
			if err != nil {
				b.Fatal(err)
			}
			total := fill(b, s, 10) // 200k updates
			lis := listen(b)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() { _ = s.Serve(ctx, lis) }()
			c := dial(b, lis.Addr().String())
			b.ReportAllocs()
			b.ResetTimer()
			received := 0
			for received < b.N {
				st, err := c.Subscribe(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if err := st.Send(tc.req(s.cfg.StartSlot)); err != nil {
					b.Fatal(err)
				}
				for n := 0; n < total && received < b.N; {
					u, err := st.Recv()
					if err != nil {
						b.Fatal(err)
					}
					if u.GetAccount() != nil {
						n++
						received++
					}
				}
				_ = st.CloseSend()
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkLive runs the simulator in real time at a high Rate for a few
// seconds with one subscriber, and reports the rate the subscriber saw and
// the bytes the ring keeps per update. b.N is ignored beyond one run.
func BenchmarkLive(b *testing.B) {
	const rate, secs = 50000, 3
	cfg := Config{Seed: 1, Rate: rate, SlotInterval: 400 * time.Millisecond, RingSlots: 20, PingInterval: time.Hour}
	s, err := New(cfg, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	lis := listen(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Serve(ctx, lis) }()
	c := dial(b, lis.Addr().String())
	st, err := c.Subscribe(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if err := st.Send(&geyser.SubscribeRequest{Accounts: map[string]*geyser.SubscribeRequestFilterAccounts{"all": {}}}); err != nil {
		b.Fatal(err)
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	runCtx, stop := context.WithTimeout(ctx, secs*time.Second)
	defer stop()
	go func() { _ = s.Run(runCtx) }()
	b.ResetTimer()
	start := time.Now()
	received := 0
	for runCtx.Err() == nil {
		u, err := st.Recv()
		if err != nil {
			b.Fatal(err)
		}
		if u.GetAccount() != nil {
			received++
		}
	}
	elapsed := time.Since(start)
	wantSlots := uint64(elapsed / cfg.SlotInterval)
	b.ReportMetric(float64(received)/elapsed.Seconds(), "received/s")
	b.ReportMetric(float64(s.Slot()-s.cfg.StartSlot+1)/float64(wantSlots), "slots/expected")
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	s.ring.mu.RLock()
	held := len(s.ring.events)
	s.ring.mu.RUnlock()
	if held > 0 {
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(held), "ring-B/update")
	}
}
