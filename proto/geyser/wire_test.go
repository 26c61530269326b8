package geyser

import (
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// TestWireNumbers pins the field numbers that make this proto talk to real
// Yellowstone servers (shared/reference/yellowstone-grpc.md).
func TestWireNumbers(t *testing.T) {
	t.Parallel()
	cases := []struct {
		msg   protoreflect.ProtoMessage
		field string
		num   protoreflect.FieldNumber
	}{
		{&SubscribeRequest{}, "accounts", 1}, {&SubscribeRequest{}, "slots", 2},
		{&SubscribeRequest{}, "commitment", 6}, {&SubscribeRequest{}, "accounts_data_slice", 7},
		{&SubscribeRequest{}, "ping", 9}, {&SubscribeRequest{}, "from_slot", 11},
		{&SubscribeRequestFilterAccounts{}, "account", 2}, {&SubscribeRequestFilterAccounts{}, "owner", 3},
		{&SubscribeRequestFilterAccounts{}, "filters", 4}, {&SubscribeRequestFilterAccounts{}, "nonempty_txn_signature", 5},
		{&SubscribeRequestFilterAccountsFilter{}, "memcmp", 1}, {&SubscribeRequestFilterAccountsFilter{}, "datasize", 2},
		{&SubscribeRequestFilterAccountsFilter{}, "token_account_state", 3}, {&SubscribeRequestFilterAccountsFilter{}, "lamports", 4},
		{&SubscribeRequestFilterAccountsFilterMemcmp{}, "offset", 1}, {&SubscribeRequestFilterAccountsFilterMemcmp{}, "bytes", 2},
		{&SubscribeRequestFilterAccountsFilterMemcmp{}, "base58", 3}, {&SubscribeRequestFilterAccountsFilterMemcmp{}, "base64", 4},
		{&SubscribeRequestFilterAccountsFilterLamports{}, "eq", 1}, {&SubscribeRequestFilterAccountsFilterLamports{}, "gt", 4},
		{&SubscribeUpdate{}, "filters", 1}, {&SubscribeUpdate{}, "account", 2}, {&SubscribeUpdate{}, "slot", 3},
		{&SubscribeUpdate{}, "ping", 6}, {&SubscribeUpdate{}, "block_meta", 7}, {&SubscribeUpdate{}, "pong", 9},
		{&SubscribeUpdate{}, "created_at", 11},
		{&SubscribeUpdateAccount{}, "account", 1}, {&SubscribeUpdateAccount{}, "slot", 2}, {&SubscribeUpdateAccount{}, "is_startup", 3},
		{&SubscribeUpdateAccountInfo{}, "pubkey", 1}, {&SubscribeUpdateAccountInfo{}, "lamports", 2},
		{&SubscribeUpdateAccountInfo{}, "owner", 3}, {&SubscribeUpdateAccountInfo{}, "executable", 4},
		{&SubscribeUpdateAccountInfo{}, "rent_epoch", 5}, {&SubscribeUpdateAccountInfo{}, "data", 6},
		{&SubscribeUpdateAccountInfo{}, "write_version", 7}, {&SubscribeUpdateAccountInfo{}, "txn_signature", 8},
		{&SubscribeUpdateSlot{}, "slot", 1}, {&SubscribeUpdateSlot{}, "parent", 2}, {&SubscribeUpdateSlot{}, "status", 3},
		{&SubscribeUpdateSlot{}, "dead_error", 4}, {&SubscribeUpdatePong{}, "id", 1},
	}
	for _, c := range cases {
		md := c.msg.ProtoReflect().Descriptor()
		f := md.Fields().ByName(protoreflect.Name(c.field))
		if f == nil {
			t.Errorf("%s has no field %s", md.FullName(), c.field)
			continue
		}
		if f.Number() != c.num {
			t.Errorf("%s.%s = %d, want %d", md.FullName(), c.field, f.Number(), c.num)
		}
	}
	if got := File_geyser_geyser_proto.Services().Get(0).FullName(); got != "geyser.Geyser" {
		t.Errorf("service = %s, want geyser.Geyser (method paths are /geyser.Geyser/<Method>)", got)
	}
	if SlotStatus_SLOT_DEAD != 6 || CommitmentLevel_FINALIZED != 2 {
		t.Error("enum numbers drifted")
	}
}
