package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/firehole/firehole/pkg/solana"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// tokenData is a 165-byte SPL token account: mint, owner, amount, delegate.
func tokenData(mint, owner, delegate []byte) []byte {
	d := make([]byte, 165)
	copy(d[0:32], mint)
	copy(d[32:64], owner)
	binary.LittleEndian.PutUint64(d[64:72], 42)
	if delegate != nil {
		binary.LittleEndian.PutUint32(d[72:76], 1)
		copy(d[76:108], delegate)
	}
	d[108] = 1
	return d
}

func decoded(mod func(*fireholev1.DecodedAccount)) *fireholev1.DecodedAccount {
	m := &fireholev1.DecodedAccount{
		Account: &fireholev1.AccountUpdate{
			Pubkey: key(1), Owner: solana.TokenProgramID[:], Lamports: 2039280, RentEpoch: ^uint64(0),
			Data: tokenData(key(2), key(3), nil), WriteVersion: 7, Slot: 100,
			Commitment: fireholev1.Commitment_COMMITMENT_CONFIRMED,
		},
		Program: "spl-token", AccountType: "account", Parsed: []byte(`{"type":"account"}`),
		Status: fireholev1.DecodeStatus_DECODE_STATUS_OK, JsonParsed: true,
	}
	if mod != nil {
		mod(m)
	}
	return m
}

func TestFromDecoded(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                              string
		mod                               func(*fireholev1.DecodedAccount)
		wantErr                           error
		wantOwner, wantMint, wantDelegate []byte
	}{
		{name: "token account", wantOwner: key(3), wantMint: key(2)},
		{name: "token account with delegate", mod: func(m *fireholev1.DecodedAccount) {
			m.Account.Data = tokenData(key(2), key(3), key(4))
		}, wantOwner: key(3), wantMint: key(2), wantDelegate: key(4)},
		{name: "token-2022 with extensions", mod: func(m *fireholev1.DecodedAccount) {
			m.Account.Owner = solana.Token2022ProgramID[:]
			m.Account.Data = append(tokenData(key(2), key(3), nil), 2, 0, 0, 0)
		}, wantOwner: key(3), wantMint: key(2)},
		{name: "token-2022 mint with extensions", mod: func(m *fireholev1.DecodedAccount) {
			m.Account.Owner = solana.Token2022ProgramID[:]
			m.Account.Data = append(tokenData(key(2), key(3), nil), 1, 0, 0, 0)
			m.AccountType = "mint"
		}},
		{name: "sliced data has no token columns", mod: func(m *fireholev1.DecodedAccount) {
			m.Account.DataSlice = &fireholev1.DataSlice{Offset: 0, Length: 165}
		}},
		{name: "other program", mod: func(m *fireholev1.DecodedAccount) { m.Account.Owner = key(9) }},
		{name: "legacy token, wrong size", mod: func(m *fireholev1.DecodedAccount) { m.Account.Data = m.Account.Data[:82] }},
		{name: "short pubkey", mod: func(m *fireholev1.DecodedAccount) { m.Account.Pubkey = key(1)[:31] }, wantErr: ErrBadAccount},
		{name: "short owner", mod: func(m *fireholev1.DecodedAccount) { m.Account.Owner = nil }, wantErr: ErrBadAccount},
		{name: "no account", mod: func(m *fireholev1.DecodedAccount) { m.Account = nil }, wantErr: ErrBadAccount},
		{name: "bad json", mod: func(m *fireholev1.DecodedAccount) { m.Parsed = []byte(`{"a":`) }, wantErr: ErrBadAccount},
		{name: "json NUL escape", mod: func(m *fireholev1.DecodedAccount) { m.Parsed = []byte(`{"a":"\u0000"}`) }, wantErr: ErrBadAccount},
		{name: "json bad utf8", mod: func(m *fireholev1.DecodedAccount) { m.Parsed = []byte("{\"a\":\"\xff\"}") }, wantErr: ErrBadAccount},
		{name: "slot beyond int64", mod: func(m *fireholev1.DecodedAccount) { m.Account.Slot = 1 << 63 }, wantErr: ErrBadAccount},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body, err := proto.Marshal(decoded(tc.mod))
			if err != nil {
				t.Fatal(err)
			}
			r, err := Parse(body)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.RentEpoch != -1 {
				t.Errorf("rent_epoch = %d, want -1 for u64::MAX", r.RentEpoch)
			}
			if !bytes.Equal(r.TokenOwner, tc.wantOwner) || !bytes.Equal(r.TokenMint, tc.wantMint) || !bytes.Equal(r.TokenDelegate, tc.wantDelegate) {
				t.Errorf("token owner/mint/delegate = %x/%x/%x, want %x/%x/%x", r.TokenOwner, r.TokenMint, r.TokenDelegate, tc.wantOwner, tc.wantMint, tc.wantDelegate)
			}
		})
	}
}

func TestParseGarbage(t *testing.T) {
	t.Parallel()
	if _, err := Parse([]byte{0xff, 0xff, 0xff}); !errors.Is(err, ErrBadProtobuf) {
		t.Fatalf("err = %v, want ErrBadProtobuf", err)
	}
}

func TestNoNUL(t *testing.T) {
	t.Parallel()
	r, err := FromDecoded(decoded(func(m *fireholev1.DecodedAccount) { m.Error = "bad\x00byte" }))
	if err != nil {
		t.Fatal(err)
	}
	if r.DecodeError != "badbyte" {
		t.Fatalf("decode_error = %q", r.DecodeError)
	}
}

func TestDedup(t *testing.T) {
	t.Parallel()
	row := func(k byte, slot, wv int64, status int16) Row {
		return Row{Pubkey: key(k), Slot: slot, WriteVersion: wv, DecodeStatus: status}
	}
	notOK := int16(fireholev1.DecodeStatus_DECODE_STATUS_AWAITING_MINT)
	for _, tc := range []struct {
		name string
		in   []Row
		want []Row
	}{
		{"empty", nil, nil},
		{"newer slot wins", []Row{row(1, 5, 1, 1), row(1, 7, 0, 1), row(1, 6, 9, 1)}, []Row{row(1, 7, 0, 1)}},
		{"newer write version wins", []Row{row(1, 5, 2, 1), row(1, 5, 1, 1)}, []Row{row(1, 5, 2, 1)}},
		{"ok decode wins a tie", []Row{row(1, 5, 2, notOK), row(1, 5, 2, statusOK), row(1, 5, 2, notOK)}, []Row{row(1, 5, 2, statusOK)}},
		{"accounts kept apart, first-seen order", []Row{row(2, 1, 1, 1), row(1, 1, 1, 1), row(2, 3, 1, 1)}, []Row{row(2, 3, 1, 1), row(1, 1, 1, 1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Dedup(tc.in)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d rows, want %d", len(got), len(tc.want))
			}
			for i := range got {
				g, w := got[i], tc.want[i]
				if !bytes.Equal(g.Pubkey, w.Pubkey) || g.Slot != w.Slot || g.WriteVersion != w.WriteVersion || g.DecodeStatus != w.DecodeStatus {
					t.Errorf("row %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}
