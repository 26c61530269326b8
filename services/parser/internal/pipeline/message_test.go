package pipeline

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/firehole/firehole/pkg/bus"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
)

func TestMessage(t *testing.T) {
	t.Parallel()
	owner, pubkey := make([]byte, 32), make([]byte, 32)
	owner[0], pubkey[0] = 1, 2
	u := &fireholev1.AccountUpdate{
		Pubkey: pubkey, Owner: owner, Data: []byte{1, 2, 3}, Slot: 42, WriteVersion: 420,
		Commitment: fireholev1.Commitment_COMMITMENT_FINALIZED, Source: "src",
	}
	raw, err := proto.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name       string
		maxPayload int64
		raw        []byte
		rawSubject string
		wantStatus fireholev1.DecodeStatus
		wantParsed bool
	}{
		{"raw bytes embedded, subject from the raw one", 8 << 20, raw, bus.RawAccountSubject(owner, pubkey), fireholev1.DecodeStatus_DECODE_STATUS_OK, true},
		{"marshalled, subject computed", 8 << 20, nil, "", fireholev1.DecodeStatus_DECODE_STATUS_OK, true},
		{"over the max payload: published without parsed", 2000, raw, "", fireholev1.DecodeStatus_DECODE_STATUS_ERROR, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w := &worker{p: &Parser{maxPayload: c.maxPayload}}
			d := &fireholev1.DecodedAccount{
				Account: u, Program: "spl-token", AccountType: "account",
				Parsed: []byte(`{"x":"` + strings.Repeat("a", 1500) + `"}`), Status: fireholev1.DecodeStatus_DECODE_STATUS_OK, JsonParsed: true,
			}
			m := w.message(d, "a:id", c.raw, c.rawSubject)
			if want := bus.DecodedAccountSubject(owner, pubkey); m.Subject != want {
				t.Errorf("subject %s, want %s", m.Subject, want)
			}
			var got fireholev1.DecodedAccount
			if err := proto.Unmarshal(m.Data, &got); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got.GetAccount(), u) {
				t.Errorf("account %v, want %v", got.GetAccount(), u)
			}
			if got.GetStatus() != c.wantStatus || (len(got.GetParsed()) > 0) != c.wantParsed || got.GetProgram() != "spl-token" {
				t.Errorf("status %v parsed %d bytes program %q (error %q)", got.GetStatus(), len(got.GetParsed()), got.GetProgram(), got.GetError())
			}
			for h, want := range map[string]string{
				bus.HeaderMsgID: "a:id", bus.HeaderSlot: "42", bus.HeaderWriteVersion: "420",
				bus.HeaderCommitment: "finalized", bus.HeaderSource: "src", bus.HeaderStatus: StatusToken(c.wantStatus),
			} {
				if v := m.Header.Get(h); v != want {
					t.Errorf("header %s = %q, want %q", h, v, want)
				}
			}
			release(m)
		})
	}
}
