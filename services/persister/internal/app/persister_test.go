package app

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/firehole/firehole/pkg/bus"
	"github.com/firehole/firehole/pkg/bus/bustest"
	"github.com/firehole/firehole/pkg/testenv"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
	"github.com/firehole/firehole/services/persister/internal/pgtest"
	"github.com/firehole/firehole/services/persister/internal/schema"
)

// Out-of-order and duplicate deliveries, equal-version re-decodes: every
// account ends at its newest update.
func TestOutOfOrderAndDuplicates(t *testing.T) {
	t.Parallel()
	_, _, js := bustest.StartWithStreams(t)
	pool, name := pgtest.Schema(t)
	ups, want := stream(1, 300, 8, 5)
	publish(t, js, ups)
	start(t, pool, js, testOptions(name))
	waitDrained(t, js, bus.StreamDecoded, AccountsConsumer, time.Minute)
	checkState(t, pool, name, want)

	// A redelivery of everything (a replay) changes nothing.
	publish(t, js, ups)
	waitDrained(t, js, bus.StreamDecoded, AccountsConsumer, time.Minute)
	checkState(t, pool, name, want)
}

// The persister is cancelled mid-stream (batches in flight), then a new one
// starts on the same durable consumer: nothing is lost.
func TestCancelMidBatchThenRestart(t *testing.T) {
	t.Parallel()
	_, _, js := bustest.StartWithStreams(t)
	pool, name := pgtest.Schema(t)
	ups, want := stream(2, 2000, 6, 7)
	publish(t, js, ups)

	opt := testOptions(name)
	// Abort the transactions in flight at the cancel instead of letting
	// them finish: their batches roll back and must come again.
	opt.FlushGrace = time.Nanosecond
	first := start(t, pool, js, opt)
	deadline := time.Now().Add(30 * time.Second)
	for first.counter(t, "firehole_persister_messages_stored_total", "accounts") < 1000 {
		if time.Now().After(deadline) {
			t.Fatal("first persister stored nothing in 30s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	first.stop(t)
	stored := first.counter(t, "firehole_persister_messages_stored_total", "accounts")
	if int(stored) >= len(ups) {
		t.Logf("first persister finished everything (%v) before the cancel; the restart has nothing to do", stored)
	}

	t.Logf("first persister stored %v of %d messages, %v failed writes", stored, len(ups), first.counter(t, "firehole_persister_write_errors_total", "accounts"))
	opt.FlushGrace = 0
	start(t, pool, js, opt)
	waitDrained(t, js, bus.StreamDecoded, AccountsConsumer, time.Minute)
	checkState(t, pool, name, want)
}

// Two replicas on one durable consumer reach the same state as one.
func TestTwoReplicasOneConsumer(t *testing.T) {
	t.Parallel()
	_, _, js := bustest.StartWithStreams(t)
	pool, name := pgtest.Schema(t)
	ups, want := stream(3, 1000, 6, 9)
	a := start(t, pool, js, testOptions(name))
	b := start(t, pool, js, testOptions(name))
	publish(t, js, ups[:len(ups)/2])
	publish(t, js, ups[len(ups)/2:])
	waitDrained(t, js, bus.StreamDecoded, AccountsConsumer, time.Minute)
	checkState(t, pool, name, want)
	na, nb := a.counter(t, "firehole_persister_messages_stored_total", "accounts"), b.counter(t, "firehole_persister_messages_stored_total", "accounts")
	if na+nb < float64(len(ups)) {
		t.Errorf("replicas stored %v + %v messages, want at least %d", na, nb, len(ups))
	}
	t.Logf("replica a stored %v messages, b %v", na, nb)
}

// Postgres goes away mid-stream (the connection path is cut, new
// connections refused) and comes back: nothing is lost, and messages stay
// unacked while it is away.
func TestPostgresOutageLosesNothing(t *testing.T) {
	t.Parallel()
	_, _, js := bustest.StartWithStreams(t)
	_, name := pgtest.Schema(t) // migrated directly
	url := testenv.PostgresURL(t)
	px := startProxy(t, hostPort(t, url))
	purl := replaceHost(t, url, px.addr())
	pool := pgtest.Pool(t, purl)
	verify := pgtest.Pool(t, url)

	ups, want := stream(4, 1500, 6, 11)
	r := start(t, pool, js, testOptions(name))
	publish(t, js, ups[:len(ups)/3])

	waitFor(t, 30*time.Second, func() bool { return r.counter(t, "firehole_persister_messages_stored_total", "accounts") > 0 })
	px.cut()
	publish(t, js, ups[len(ups)/3:])
	// While cut: writes fail and are retried; what is stored stays put.
	waitFor(t, 30*time.Second, func() bool { return r.counter(t, "firehole_persister_write_errors_total", "accounts") >= 2 })
	storedDuring := r.counter(t, "firehole_persister_messages_stored_total", "accounts")
	time.Sleep(500 * time.Millisecond)
	if after := r.counter(t, "firehole_persister_messages_stored_total", "accounts"); after != storedDuring {
		t.Fatalf("messages acked while Postgres was unreachable: %v then %v", storedDuring, after)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	c, err := js.Consumer(ctx, bus.StreamDecoded, AccountsConsumer)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	o := testOptions(name)
	if max := uint64((o.Writers + 1) * o.BatchSize); uint64(info.NumAckPending) > max {
		t.Errorf("%d messages fetched while Postgres was away, want at most %d (the batches being written and one prefetched)", info.NumAckPending, max)
	}
	px.restore()
	waitDrained(t, js, bus.StreamDecoded, AccountsConsumer, time.Minute)
	checkState(t, verify, name, want)
}

// Malformed messages go to the dead-letter subject with a count; the
// batch around them is stored and the service goes on.
func TestMalformedMessagesDeadLettered(t *testing.T) {
	t.Parallel()
	_, _, js := bustest.StartWithStreams(t)
	pool, name := pgtest.Schema(t)
	ups, want := stream(5, 100, 2, 0)
	r := start(t, pool, js, testOptions(name))

	shortKey := ups[0].message()
	shortKey.Account.Pubkey = shortKey.Account.Pubkey[:31]
	badJSON := ups[1].message()
	badJSON.Parsed = []byte(`{"nope":`)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, body := range [][]byte{{0xde, 0xad, 0xbe, 0xef}, mustMarshal(t, shortKey), mustMarshal(t, badJSON)} {
		if _, err := js.Publish(ctx, bus.DecodedAccountRoot+".x.y.0", body); err != nil {
			t.Fatal(err)
		}
	}
	publish(t, js, ups)
	waitDrained(t, js, bus.StreamDecoded, AccountsConsumer, time.Minute)
	checkState(t, pool, name, want)
	if got := r.counter(t, "firehole_persister_messages_invalid_total", "accounts"); got != 3 {
		t.Errorf("invalid counter = %v, want 3", got)
	}
	dlq, err := js.Stream(ctx, bus.StreamDLQ)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := dlq.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{bus.DLQSubject(Stage)}})
	if err != nil {
		t.Fatal(err)
	}
	mb, err := cons.Fetch(3, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for m := range mb.Messages() {
		var dl fireholev1.DeadLetter
		if err := proto.Unmarshal(m.Data(), &dl); err != nil {
			t.Fatalf("dead letter: %v", err)
		}
		if dl.Stage != Stage || dl.Error == "" || dl.Stream != bus.StreamDecoded {
			t.Errorf("dead letter %+v lacks stage, reason or stream", &dl)
		}
		n++
	}
	if n != 3 {
		t.Errorf("%d dead letters, want 3", n)
	}
}

// Slot updates move the slots table forward only; other statuses are acked
// and ignored; garbage is dead-lettered.
func TestSlots(t *testing.T) {
	t.Parallel()
	_, _, js := bustest.StartWithStreams(t)
	pool, name := pgtest.Schema(t)
	r := start(t, pool, js, testOptions(name))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, u := range []*fireholev1.SlotUpdate{
		{Slot: 100, Status: fireholev1.SlotStatus_SLOT_STATUS_PROCESSED},
		{Slot: 102, Status: fireholev1.SlotStatus_SLOT_STATUS_PROCESSED},
		{Slot: 101, Status: fireholev1.SlotStatus_SLOT_STATUS_PROCESSED},
		{Slot: 99, Status: fireholev1.SlotStatus_SLOT_STATUS_CONFIRMED},
		{Slot: 90, Status: fireholev1.SlotStatus_SLOT_STATUS_FINALIZED},
		{Slot: 500, Status: fireholev1.SlotStatus_SLOT_STATUS_DEAD},
		{Slot: 501, Status: fireholev1.SlotStatus_SLOT_STATUS_FIRST_SHRED_RECEIVED},
	} {
		if _, err := js.Publish(ctx, bus.SlotSubject(u.Status), mustMarshal(t, u)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := js.Publish(ctx, bus.RawSlotRoot+".processed", []byte{0xff, 0xff}); err != nil {
		t.Fatal(err)
	}
	waitDrained(t, js, bus.StreamRaw, SlotsConsumer, 30*time.Second)
	got := map[int16]int64{}
	rows, err := pool.Query(ctx, "SELECT commitment, slot FROM "+schema.Ident(name)+".slots")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c int16
		var s int64
		if err := rows.Scan(&c, &s); err != nil {
			t.Fatal(err)
		}
		got[c] = s
	}
	if got[1] != 102 || got[2] != 99 || got[3] != 90 || len(got) != 3 {
		t.Errorf("slots = %v, want map[1:102 2:99 3:90]", got)
	}
	if n := r.counter(t, "firehole_persister_messages_invalid_total", "slots"); n != 1 {
		t.Errorf("invalid slot messages = %v, want 1", n)
	}
}

func mustMarshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func waitFor(t testing.TB, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// History on, two replicas: every distinct write is recorded once, the
// partitions the replicas race to create all exist, and the latest state
// is still the newest update.
func TestHistoryTwoReplicas(t *testing.T) {
	t.Parallel()
	_, _, js := bustest.StartWithStreams(t)
	pool, name := pgtest.Schema(t)
	ups, want := stream(7, 400, 6, 5)
	// Spread the slots over several partitions.
	for i := range ups {
		ups[i].slot = ups[i].slot*1000 - 990_000
	}
	want = map[string]update{}
	writes, okWrites := map[[3]uint64]bool{}, map[[3]uint64]bool{}
	for _, u := range ups {
		if cur, ok := want[string(u.pubkey)]; !ok || newer(u, cur) {
			want[string(u.pubkey)] = u
		}
		k := [3]uint64{binary.BigEndian.Uint64(u.pubkey[24:]), u.slot, u.wv}
		writes[k] = true
		if u.status == fireholev1.DecodeStatus_DECODE_STATUS_OK {
			okWrites[k] = true
		}
	}
	opt := testOptions(name)
	opt.History, opt.HistoryPartitionSlots = true, 1000
	start(t, pool, js, opt)
	start(t, pool, js, opt)
	publish(t, js, ups)
	waitDrained(t, js, bus.StreamDecoded, AccountsConsumer, time.Minute)
	checkState(t, pool, name, want)
	var n, okRows int
	err := pool.QueryRow(context.Background(), "SELECT count(*), count(*) FILTER (WHERE decode_status = 1) FROM "+schema.Ident(name)+".account_history").Scan(&n, &okRows)
	if err != nil {
		t.Fatal(err)
	}
	if okRows != len(okWrites) {
		t.Errorf("history has %d decoded rows, want %d (a re-decode upgrades its write's row)", okRows, len(okWrites))
	}
	if n != len(writes) {
		t.Errorf("history has %d rows, want %d distinct writes", n, len(writes))
	}
	var parts int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM pg_inherits WHERE inhparent = $1::regclass", name+".account_history").Scan(&parts); err != nil {
		t.Fatal(err)
	}
	if parts < 3 {
		t.Errorf("%d history partitions, want at least 3", parts)
	}
}
