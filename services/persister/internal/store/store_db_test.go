package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/firehole/firehole/services/persister/internal/pgtest"
	"github.com/firehole/firehole/services/persister/internal/schema"
	"github.com/firehole/firehole/services/persister/internal/store"
)

const ok, awaiting = int16(1), int16(4)

func row(k byte, slot, wv, lamports int64, status int16) store.Row {
	var parsed []byte
	if status == ok {
		parsed, _ = json.Marshal(map[string]any{"lamports": lamports})
	}
	return store.Row{
		Pubkey: bytes.Repeat([]byte{k}, 32), Owner: bytes.Repeat([]byte{9}, 32),
		Slot: slot, WriteVersion: wv, Lamports: lamports, Data: []byte{1, 2, 3},
		Commitment: 2, Program: "test", AccountType: "thing", Parsed: parsed, DecodeStatus: status,
	}
}

type stored struct {
	slot, wv, lamports int64
	status             int16
	parsed             []byte
}

func TestWriteAccountsMovesOnlyForward(t *testing.T) {
	t.Parallel()
	pool, name := pgtest.Schema(t)
	s := store.New(pool, store.Options{Schema: name})
	ctx := context.Background()
	get := func(k byte) stored {
		t.Helper()
		var r stored
		err := pool.QueryRow(ctx, "SELECT slot, write_version, lamports, decode_status, parsed FROM "+schema.Ident(name)+".accounts WHERE pubkey = $1",
			bytes.Repeat([]byte{k}, 32)).Scan(&r.slot, &r.wv, &r.lamports, &r.status, &r.parsed)
		if err != nil {
			t.Fatalf("read account %d: %v", k, err)
		}
		return r
	}
	steps := []struct {
		name  string
		batch []store.Row
		k     byte
		want  stored
	}{
		{"insert", []store.Row{row(1, 10, 5, 100, ok)}, 1, stored{slot: 10, wv: 5, lamports: 100, status: ok}},
		{"older slot ignored", []store.Row{row(1, 9, 99, 1, ok)}, 1, stored{slot: 10, wv: 5, lamports: 100, status: ok}},
		{"older write version ignored", []store.Row{row(1, 10, 4, 2, ok)}, 1, stored{slot: 10, wv: 5, lamports: 100, status: ok}},
		{"equal, both ok: ignored", []store.Row{row(1, 10, 5, 3, ok)}, 1, stored{slot: 10, wv: 5, lamports: 100, status: ok}},
		{"newer write version", []store.Row{row(1, 10, 6, 200, ok)}, 1, stored{slot: 10, wv: 6, lamports: 200, status: ok}},
		{"duplicates and disorder in one batch", []store.Row{row(1, 12, 1, 301, ok), row(1, 13, 0, 300, ok), row(1, 11, 50, 302, ok), row(1, 13, 0, 300, ok)}, 1,
			stored{slot: 13, wv: 0, lamports: 300, status: ok}},
		{"awaiting mint stored", []store.Row{row(2, 20, 1, 7, awaiting)}, 2, stored{slot: 20, wv: 1, lamports: 7, status: awaiting}},
		{"equal re-decode upgrades", []store.Row{row(2, 20, 1, 8, ok)}, 2, stored{slot: 20, wv: 1, lamports: 8, status: ok}},
		{"equal not-ok never downgrades", []store.Row{row(2, 20, 1, 9, awaiting)}, 2, stored{slot: 20, wv: 1, lamports: 8, status: ok}},
		{"tie in one batch: ok wins", []store.Row{row(3, 5, 5, 1, awaiting), row(3, 5, 5, 2, ok), row(3, 5, 5, 3, awaiting)}, 3, stored{slot: 5, wv: 5, lamports: 2, status: ok}},
	}
	for _, st := range steps {
		if _, err := s.WriteAccounts(ctx, st.batch); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got := get(st.k)
		if got.slot != st.want.slot || got.wv != st.want.wv || got.lamports != st.want.lamports || got.status != st.want.status {
			t.Errorf("%s: got %+v, want %+v", st.name, got, st.want)
		}
		if (got.status == ok) != (got.parsed != nil) {
			t.Errorf("%s: parsed %q with status %d", st.name, got.parsed, got.status)
		}
	}
}

func TestWriteSlotsMaxGuarded(t *testing.T) {
	t.Parallel()
	pool, name := pgtest.Schema(t)
	s := store.New(pool, store.Options{Schema: name})
	ctx := context.Background()
	for _, b := range [][]store.SlotRow{
		{{Commitment: 1, Slot: 10}, {Commitment: 1, Slot: 12}, {Commitment: 3, Slot: 5}},
		{{Commitment: 1, Slot: 11}, {Commitment: 2, Slot: 9}},
		{{Commitment: 3, Slot: 4}},
	} {
		if err := s.WriteSlots(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	want := map[int16]int64{1: 12, 2: 9, 3: 5}
	rows, err := pool.Query(ctx, "SELECT commitment, slot FROM "+schema.Ident(name)+".slots")
	if err != nil {
		t.Fatal(err)
	}
	got := map[int16]int64{}
	for rows.Next() {
		var c int16
		var sl int64
		if err := rows.Scan(&c, &sl); err != nil {
			t.Fatal(err)
		}
		got[c] = sl
	}
	if len(got) != len(want) {
		t.Fatalf("slots = %v, want %v", got, want)
	}
	for c, sl := range want {
		if got[c] != sl {
			t.Errorf("commitment %d: slot %d, want %d", c, got[c], sl)
		}
	}
}

func TestHistoryPartitionsAndRetention(t *testing.T) {
	t.Parallel()
	pool, name := pgtest.Schema(t)
	s := store.New(pool, store.Options{Schema: name, History: true, HistoryPartitionSlots: 1000})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	batch := []store.Row{row(1, 10, 1, 1, ok), row(1, 1500, 1, 2, ok), row(1, 1500, 1, 2, ok), row(2, 2500, 1, 3, awaiting)}
	if _, err := s.WriteAccounts(ctx, batch); err != nil {
		t.Fatal(err)
	}
	// The re-decode upgrades the history row too; a redelivery adds nothing.
	if _, err := s.WriteAccounts(ctx, []store.Row{row(2, 2500, 1, 3, ok), row(1, 10, 1, 1, ok)}); err != nil {
		t.Fatal(err)
	}
	var n, okRows int
	if err := pool.QueryRow(ctx, "SELECT count(*), count(*) FILTER (WHERE decode_status = 1) FROM "+schema.Ident(name)+".account_history").Scan(&n, &okRows); err != nil {
		t.Fatal(err)
	}
	if n != 3 || okRows != 3 {
		t.Fatalf("history has %d rows (%d ok), want 3 (3 ok)", n, okRows)
	}
	parts, err := s.HistoryPartitions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 3 || parts[0] != 0 || parts[2] != 2000 {
		t.Fatalf("partitions = %v, want [0 1000 2000]", parts)
	}
	dropped, err := s.DropHistoryBefore(ctx, 3100, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if dropped != 2 {
		t.Fatalf("dropped %d partitions, want 2 (0 and 1000; 2000 holds slots >= cutoff 2100)", dropped)
	}
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+schema.Ident(name)+".account_history").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("history has %d rows after retention, want 1", n)
	}
	// Writing into a dropped range re-creates its partition.
	if _, err := s.WriteAccounts(ctx, []store.Row{row(5, 20, 1, 1, ok)}); err != nil {
		t.Fatal(err)
	}
}
