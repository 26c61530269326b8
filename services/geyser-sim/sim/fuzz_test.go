package sim

import (
	"bytes"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/firehole/firehole/proto/geyser"
)

// FuzzFilter feeds arbitrary SubscribeRequests to the filter compiler and,
// when they compile, matches and slices sample updates: bad input must give
// InvalidArgument, never a panic.
func FuzzFilter(f *testing.F) {
	seeds := []*geyser.SubscribeRequest{
		{Accounts: map[string]*geyser.SubscribeRequestFilterAccounts{"a": {Filters: []*geyser.SubscribeRequestFilterAccountsFilter{
			memcmpBytes(3, []byte{1, 2}), datasize(165), tokenState(true)}}}},
		{Accounts: map[string]*geyser.SubscribeRequestFilterAccounts{"b": {Filters: []*geyser.SubscribeRequestFilterAccountsFilter{
			memcmpB58(1<<63, "3yZe7d"), memcmpB64(7, "AQID")}}},
			AccountsDataSlice: []*geyser.SubscribeRequestAccountsDataSlice{{Offset: 5, Length: ^uint64(0)}}},
		{Slots: map[string]*geyser.SubscribeRequestFilterSlots{"s": {FilterByCommitment: ptr(true)}}, Commitment: geyser.CommitmentLevel_FINALIZED.Enum()},
	}
	for _, s := range seeds {
		b, err := proto.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	samples := []acctFields{
		{pubkey: bytes.Repeat([]byte{1}, 32), owner: bytes.Repeat([]byte{2}, 32), data: bytes.Repeat([]byte{1}, 165), lamports: 5, created: time.Unix(1, 0)},
		{pubkey: bytes.Repeat([]byte{3}, 32), owner: make([]byte, 32), created: time.Unix(1, 0)},
	}
	var updates []*acctUpdate
	for i := range samples {
		u := &acctUpdate{}
		appendAccount(nil, &samples[i], samples[i].data, u)
		updates = append(updates, u)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var req geyser.SubscribeRequest
		if proto.Unmarshal(in, &req) != nil {
			return
		}
		fs, err := compileFilter(&req)
		if err != nil {
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("error is not InvalidArgument: %v", err)
			}
			return
		}
		for _, u := range updates {
			mask := fs.matchAccount(u)
			_ = fs.namesOf(mask)
			data := sliceData(nil, u.data, fs.slices)
			if len(data) > len(u.data) {
				t.Fatalf("slices produced %d bytes from %d", len(data), len(u.data))
			}
		}
		for st := range geyser.SlotStatus_SLOT_DEAD + 1 {
			_ = fs.slotNames(st)
		}
	})
}
