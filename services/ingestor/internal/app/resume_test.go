package app

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/firehole/firehole/pkg/bus"
	"github.com/firehole/firehole/pkg/bus/bustest"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
	"github.com/firehole/firehole/proto/geyser"
)

func TestResumeSlot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := bustest.Start(t)
	_, js := bustest.Connect(t, ns.URL)

	// No stream: an error the caller logs, not a silent start from live.
	if slot, _, err := resumeSlot(ctx, js, geyser.CommitmentLevel_CONFIRMED); err == nil || slot != 0 {
		t.Fatalf("without the stream: slot %d, err %v; want 0 and an error", slot, err)
	}
	if err := bus.EnsureStreams(ctx, js, bus.DefaultStreamOptions()); err != nil {
		t.Fatal(err)
	}
	// An empty stream: nothing to resume from, and no error.
	if slot, _, err := resumeSlot(ctx, js, geyser.CommitmentLevel_CONFIRMED); err != nil || slot != 0 {
		t.Fatalf("empty stream: slot %d, err %v; want 0, nil", slot, err)
	}
	for _, su := range []*fireholev1.SlotUpdate{
		{Slot: 41, Status: fireholev1.SlotStatus_SLOT_STATUS_CONFIRMED},
		{Slot: 45, Status: fireholev1.SlotStatus_SLOT_STATUS_PROCESSED},
	} {
		body, err := proto.Marshal(su)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: bus.SlotSubject(su.Status), Data: body}); err != nil {
			t.Fatal(err)
		}
	}
	if slot, at, err := resumeSlot(ctx, js, geyser.CommitmentLevel_CONFIRMED); err != nil || slot != 41 || at.IsZero() {
		t.Fatalf("slot %d at %v, err %v; want 41 with its time", slot, at, err)
	}
	// A slot message that is not a SlotUpdate is reported.
	if _, err := js.Publish(ctx, bus.SlotSubject(fireholev1.SlotStatus_SLOT_STATUS_FINALIZED), []byte{0xff}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := resumeSlot(ctx, js, geyser.CommitmentLevel_FINALIZED); err == nil {
		t.Fatal("undecodable slot message: no error")
	}
}
