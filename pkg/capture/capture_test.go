package capture

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/firehole/firehole/proto/geyser"
)

func sampleUpdates() []*geyser.SubscribeUpdate {
	sig := bytes.Repeat([]byte{7}, 64)
	parent := uint64(99)
	return []*geyser.SubscribeUpdate{
		{UpdateOneof: &geyser.SubscribeUpdate_Account{Account: &geyser.SubscribeUpdateAccount{
			Slot: 100,
			Account: &geyser.SubscribeUpdateAccountInfo{
				Pubkey: bytes.Repeat([]byte{1}, 32), Owner: bytes.Repeat([]byte{2}, 32),
				Lamports: 2039280, Data: bytes.Repeat([]byte{3}, 165), WriteVersion: 5, TxnSignature: sig,
			}}}, CreatedAt: timestamppb.New(timestamppb.Now().AsTime())},
		{UpdateOneof: &geyser.SubscribeUpdate_Slot{Slot: &geyser.SubscribeUpdateSlot{Slot: 100, Parent: &parent, Status: geyser.SlotStatus_SLOT_CONFIRMED}}},
		{UpdateOneof: &geyser.SubscribeUpdate_Account{Account: &geyser.SubscribeUpdateAccount{
			Slot: 101, Account: &geyser.SubscribeUpdateAccountInfo{Pubkey: bytes.Repeat([]byte{4}, 32)}}}},
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opt  Options
	}{{"plain", Options{}}, {"zstd", Options{Zstd: true}}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			w, err := NewWriter(&buf, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			want := sampleUpdates()
			for _, u := range want {
				if err := w.Write(u); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if w.Count() != int64(len(want)) {
				t.Fatalf("count %d, want %d", w.Count(), len(want))
			}
			r, err := NewReader(&buf)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			for i, u := range want {
				got, err := r.Next()
				if err != nil {
					t.Fatalf("record %d: %v", i, err)
				}
				if !proto.Equal(got, u) {
					t.Fatalf("record %d: got %v want %v", i, got, u)
				}
			}
			if _, err := r.Next(); !errors.Is(err, io.EOF) {
				t.Fatalf("after last record: %v, want io.EOF", err)
			}
		})
	}
}

func TestFiles(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"c.fhcap", "c.fhcap.zst"} {
		path := filepath.Join(t.TempDir(), name)
		f, err := Create(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range sampleUpdates() {
			if err := f.Write(u); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		r, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for {
			_, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		_ = r.Close()
		if n != 3 {
			t.Fatalf("%s: read %d records, want 3", name, n)
		}
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	var good bytes.Buffer
	w, _ := NewWriter(&good, Options{})
	_ = w.Write(sampleUpdates()[0])
	_ = w.Close()
	full := good.Bytes()
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"bad magic", []byte("XXCAP\x01\x00")},
		{"bad version", []byte("FHCAP\x09\x00")},
		{"bad flags", []byte("FHCAP\x01\x80")},
		{"truncated record", full[:len(full)-10]},
		{"huge length", append([]byte("FHCAP\x01\x00"), 0xff, 0xff, 0xff, 0xff, 0x0f)},
		{"not protobuf", append([]byte("FHCAP\x01\x00"), 2, 0xff, 0xff)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewReader(bytes.NewReader(tc.in))
			if err == nil {
				_, err = r.Next()
			}
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("got %v, want ErrFormat", err)
			}
		})
	}
}

func FuzzReader(f *testing.F) {
	for _, opt := range []Options{{}, {Zstd: true}} {
		var buf bytes.Buffer
		w, _ := NewWriter(&buf, opt)
		for _, u := range sampleUpdates() {
			_ = w.Write(u)
		}
		_ = w.Close()
		f.Add(buf.Bytes())
	}
	f.Add([]byte("FHCAP\x01\x00"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := NewReader(bytes.NewReader(in))
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("header error not ErrFormat: %v", err)
			}
			return
		}
		defer r.Close()
		for range 10000 {
			u, err := r.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, ErrFormat) {
					t.Fatalf("unexpected error kind: %v", err)
				}
				return
			}
			// Whatever decoded must re-encode and decode to the same message.
			b, err := proto.Marshal(u)
			if err != nil {
				t.Fatal(err)
			}
			var back geyser.SubscribeUpdate
			if err := proto.Unmarshal(b, &back); err != nil || !proto.Equal(&back, u) {
				t.Fatalf("re-encode mismatch: %v", err)
			}
		}
	})
}
