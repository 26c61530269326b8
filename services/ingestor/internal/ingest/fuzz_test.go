package ingest

import (
	"bytes"
	"context"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/firehole/firehole/pkg/bus"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
	"github.com/firehole/firehole/proto/geyser"
)

// FuzzHandleUpdate feeds arbitrary SubscribeUpdate bytes to the ingester:
// it must never panic, and whatever it publishes must be a well-formed
// AccountUpdate on the subject of its own pubkey and owner.
func FuzzHandleUpdate(f *testing.F) {
	for _, u := range []*geyser.SubscribeUpdate{
		accountUpdate(5, key(1), key(2), []byte("data")),
		accountUpdate(5, key(1)[:3], key(2), nil),
		{UpdateOneof: &geyser.SubscribeUpdate_Slot{Slot: &geyser.SubscribeUpdateSlot{Slot: 9, Status: 6}}},
		{UpdateOneof: &geyser.SubscribeUpdate_Ping{Ping: &geyser.SubscribeUpdatePing{}}},
		{UpdateOneof: &geyser.SubscribeUpdate_Account{Account: &geyser.SubscribeUpdateAccount{}}},
	} {
		b, err := proto.Marshal(u)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x12, 0x00})
	f.Add([]byte{0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var u geyser.SubscribeUpdate
		if err := proto.Unmarshal(b, &u); err != nil {
			return // gRPC would have rejected the frame
		}
		pub := &fakePublisher{}
		in, _ := newIngester(pub, Options{})
		if err := in.HandleUpdate(context.Background(), &u); err != nil {
			t.Fatalf("HandleUpdate: %v", err)
		}
		for _, m := range pub.msgs {
			if m.subject == "" || m.header.Get(bus.HeaderMsgID) == "" {
				t.Fatalf("message without subject or id: %+v", m)
			}
			if !bytes.HasPrefix([]byte(m.subject), []byte(bus.RawAccountRoot)) {
				continue
			}
			var a fireholev1.AccountUpdate
			if err := proto.Unmarshal(m.data, &a); err != nil {
				t.Fatalf("published bytes do not decode: %v", err)
			}
			if len(a.Pubkey) != 32 || len(a.Owner) != 32 {
				t.Fatalf("published a %d-byte pubkey / %d-byte owner", len(a.Pubkey), len(a.Owner))
			}
			if want := bus.RawAccountSubject(a.Owner, a.Pubkey); m.subject != want {
				t.Fatalf("subject %q; want %q", m.subject, want)
			}
		}
	})
}
