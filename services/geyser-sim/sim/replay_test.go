package sim

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/firehole/firehole/pkg/capture"
	"github.com/firehole/firehole/proto/geyser"
)

// A capture record of an account update without its account is bad input:
// the replay skips it instead of crashing the simulator.
func TestReplaySkipsAccountWithoutInfo(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "bad.fhcap")
	f, err := capture.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []*geyser.SubscribeUpdate{
		{UpdateOneof: &geyser.SubscribeUpdate_Account{Account: &geyser.SubscribeUpdateAccount{Slot: 7000}}},
		{UpdateOneof: &geyser.SubscribeUpdate_Slot{Slot: &geyser.SubscribeUpdateSlot{Slot: 7000, Status: geyser.SlotStatus_SLOT_PROCESSED}}},
		{UpdateOneof: &geyser.SubscribeUpdate_Account{Account: &geyser.SubscribeUpdateAccount{Slot: 7001,
			Account: &geyser.SubscribeUpdateAccountInfo{Pubkey: make([]byte, 32), Owner: make([]byte, 32), WriteVersion: 1}}}},
		{UpdateOneof: &geyser.SubscribeUpdate_Slot{Slot: &geyser.SubscribeUpdateSlot{Slot: 7001, Status: geyser.SlotStatus_SLOT_PROCESSED}}},
	} {
		if err := f.Write(u); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.ReplayFile = path
	cfg.Rate = 50000
	srv, err := New(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	waitSlot(t, srv, 7001)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("replay did not stop")
	}
	for _, u := range srv.Updates(0, ^uint64(0)) {
		if a := u.GetAccount(); a != nil && a.GetAccount() == nil {
			t.Fatalf("replayed an account update without its account: %v", u)
		}
	}
}
