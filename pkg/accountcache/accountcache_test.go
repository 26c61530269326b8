package accountcache

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"google.golang.org/protobuf/proto"

	"github.com/firehole/firehole/pkg/accountcache/cachetest"
	"github.com/firehole/firehole/pkg/base58"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
)

const (
	ok      = fireholev1.DecodeStatus_DECODE_STATUS_OK
	waiting = fireholev1.DecodeStatus_DECODE_STATUS_AWAITING_MINT
)

func redisClient(t testing.TB) (rueidis.Client, string) { return cachetest.Client(t) }

func key(n int) [32]byte {
	var k [32]byte
	k[0], k[1], k[2], k[31] = byte(n), byte(n>>8), byte(n>>16), 7
	return k
}

func b58(n int) string { k := key(n); return base58.Encode32(&k) }

// upd builds a real DecodedAccount for account n owned by program o.
func upd(t testing.TB, n, o int, slot, wv uint64, st fireholev1.DecodeStatus, lamports uint64) Update {
	t.Helper()
	pk, ow := key(n), key(1_000_000+o)
	b, err := proto.Marshal(&fireholev1.DecodedAccount{
		Account: &fireholev1.AccountUpdate{
			Pubkey: pk[:], Owner: ow[:], Slot: slot, WriteVersion: wv, Lamports: lamports,
			Data: []byte(fmt.Sprintf("data-%d-%d", slot, wv)),
		},
		Status: st,
	})
	if err != nil {
		t.Fatal(err)
	}
	u, err := UpdateFromDecoded(b)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func owner(o int) string { return b58(1_000_000 + o) }

type version struct {
	slot, wv uint64
	status   fireholev1.DecodeStatus
}

func stored(t *testing.T, c rueidis.Client, prefix string, n int) version {
	t.Helper()
	d, err := Get(context.Background(), c, prefix, b58(n))
	if err != nil {
		t.Fatalf("get %d: %v", n, err)
	}
	return version{d.GetAccount().GetSlot(), d.GetAccount().GetWriteVersion(), d.GetStatus()}
}

func TestWriterOrdering(t *testing.T) {
	t.Parallel()
	const big = uint64(1) << 63
	tests := []struct {
		name    string
		steps   []version
		results []Result
		want    version
	}{
		{"in order", []version{{1, 1, ok}, {2, 1, ok}, {3, 0, ok}}, []Result{Applied, Applied, Applied}, version{3, 0, ok}},
		{"out of order", []version{{5, 1, ok}, {3, 9, ok}, {7, 0, ok}, {6, 5, ok}}, []Result{Applied, Stale, Applied, Stale}, version{7, 0, ok}},
		{"duplicate", []version{{5, 1, ok}, {5, 1, ok}}, []Result{Applied, Duplicate}, version{5, 1, ok}},
		{"write version breaks a tie", []version{{5, 2, ok}, {5, 1, ok}, {5, 3, ok}}, []Result{Applied, Stale, Applied}, version{5, 3, ok}},
		{"re-decode upgrades equal version", []version{{5, 1, waiting}, {5, 1, ok}, {5, 1, waiting}}, []Result{Applied, Applied, Duplicate}, version{5, 1, ok}},
		{"ok is not downgraded", []version{{5, 1, ok}, {5, 1, waiting}}, []Result{Applied, Duplicate}, version{5, 1, ok}},
		{"newer non-ok replaces ok", []version{{5, 1, ok}, {6, 1, waiting}}, []Result{Applied, Applied}, version{6, 1, waiting}},
		{"decimal lengths compare as numbers", []version{{10, 1, ok}, {9, 100, ok}, {100, 9, ok}}, []Result{Applied, Stale, Applied}, version{100, 9, ok}},
		{"u64 beyond float precision", []version{{big + 1, 0, ok}, {big, 0, ok}, {big + 2, 0, ok}}, []Result{Applied, Stale, Applied}, version{big + 2, 0, ok}},
		{"max write version", []version{{1, ^uint64(0) - 1, ok}, {1, ^uint64(0), ok}}, []Result{Applied, Applied}, version{1, ^uint64(0), ok}},
	}
	c, prefix := redisClient(t)
	for mode, oneKey := range map[string]bool{"batched": false, "one key per call": true} {
		for i, tt := range tests {
			if oneKey {
				i += 100
			}
			t.Run(mode+"/"+tt.name, func(t *testing.T) {
				orderingCase(t, c, prefix, i, oneKey, tt.steps, tt.results, tt.want)
			})
		}
	}
}

// orderingCase writes steps one call each to account i, then all in one
// pipelined call to account 1000+i: both must end the same way.
func orderingCase(t *testing.T, c rueidis.Client, prefix string, i int, oneKey bool, steps []version, results []Result, want version) {
	w := newWriter(c, prefix, 0, oneKey)
	ctx := context.Background()
	var got []Result
	for _, s := range steps {
		r, err := w.Write(ctx, []Update{upd(t, i, 1, s.slot, s.wv, s.status, 1)})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r...)
	}
	if !slices.Equal(got, results) {
		t.Errorf("results = %v, want %v", got, results)
	}
	if v := stored(t, c, prefix, i); v != want {
		t.Errorf("stored %+v, want %+v", v, want)
	}
	var batch []Update
	for _, s := range steps {
		batch = append(batch, upd(t, 1000+i, 1, s.slot, s.wv, s.status, 1))
	}
	got, err := w.Write(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, results) {
		t.Errorf("pipelined results = %v, want %v", got, results)
	}
	if v := stored(t, c, prefix, 1000+i); v != want {
		t.Errorf("pipelined: stored %+v, want %+v", v, want)
	}
}

func members(t *testing.T, c rueidis.Client, prefix string, o int) []string {
	t.Helper()
	var all []string
	err := ProgramMembers(context.Background(), c, prefix, owner(o), func(pks []string) error {
		all = append(all, pks...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(all)
	return slices.Compact(all)
}

func TestProgramMembership(t *testing.T) {
	t.Parallel()
	c, prefix := redisClient(t)
	for _, oneKey := range []bool{false, true} {
		t.Run(fmt.Sprintf("one_key_%v", oneKey), func(t *testing.T) {
			programMembership(t, c, fmt.Sprintf("%s%v:", prefix, oneKey), oneKey)
		})
	}
}

func programMembership(t *testing.T, c rueidis.Client, prefix string, oneKey bool) {
	ctx := context.Background()
	w := newWriter(c, prefix, 0, oneKey)
	write := func(us ...Update) {
		t.Helper()
		if _, err := w.Write(ctx, us); err != nil {
			t.Fatal(err)
		}
	}
	pk := b58(1)
	check := func(step string, o int, want bool) {
		t.Helper()
		if got := slices.Contains(members(t, c, prefix, o), pk); got != want {
			t.Errorf("%s: member of program %d = %v, want %v", step, o, got, want)
		}
	}

	write(upd(t, 1, 1, 10, 0, ok, 5))
	check("created", 1, true)

	write(upd(t, 1, 2, 11, 0, ok, 5))
	check("owner changed", 1, false)
	check("owner changed", 2, true)

	write(upd(t, 1, 1, 9, 0, ok, 5)) // stale: must not add it back to 1
	check("stale old owner", 1, false)
	check("stale old owner", 2, true)

	write(upd(t, 1, 3, 12, 0, ok, 5), upd(t, 1, 4, 13, 0, ok, 5), upd(t, 1, 1, 14, 0, ok, 5))
	for _, o := range []int{2, 3, 4} {
		check("moved three times in one batch", o, false)
	}
	check("moved three times in one batch", 1, true)

	write(upd(t, 1, 1, 15, 0, ok, 0))
	check("closed", 1, false)
}

// A writer that stopped after the script ran but before the set commands
// (a crash, a lost connection) leaves the sets behind the stored state; the
// redelivered update must complete them.
func TestRedeliveryCompletesProgramSets(t *testing.T) {
	t.Parallel()
	c, prefix := redisClient(t)
	ctx := context.Background()
	w := newWriter(c, prefix, 0, true) // the cluster path: sets after the script
	scriptOnly := func(u Update) {
		t.Helper()
		args := []string{fmt.Sprint(u.Slot), fmt.Sprint(u.WriteVersion), fmt.Sprint(int(u.Status)), u.Owner, string(u.PB), fmt.Sprint(u.Lamports), "0", "0"}
		if err := AccountScript.Exec(ctx, c, []string{AccountKey(prefix, u.Pubkey)}, args).Error(); err != nil {
			t.Fatal(err)
		}
	}
	first := upd(t, 1, 1, 10, 0, ok, 5)
	if _, err := w.Write(ctx, []Update{first}); err != nil {
		t.Fatal(err)
	}
	moved := upd(t, 1, 2, 11, 0, ok, 5)
	scriptOnly(moved)
	if !slices.Contains(members(t, c, prefix, 1), b58(1)) || slices.Contains(members(t, c, prefix, 2), b58(1)) {
		t.Fatal("setup: the script alone must not touch the sets")
	}
	r, err := w.Write(ctx, []Update{moved})
	if err != nil {
		t.Fatal(err)
	}
	if r[0] != Duplicate {
		t.Errorf("redelivery result = %v, want Duplicate", r[0])
	}
	if slices.Contains(members(t, c, prefix, 1), b58(1)) {
		t.Error("still a member of the previous owner after redelivery")
	}
	if !slices.Contains(members(t, c, prefix, 2), b58(1)) {
		t.Error("not a member of the new owner after redelivery")
	}
}

func TestClosedAccounts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		ttl     time.Duration
		wantTTL bool
	}{
		{"expire", 30 * time.Second, true},
		{"keep", 0, false},
	}
	c, prefix := redisClient(t)
	ctx := context.Background()
	for j, tt := range append(tests, tests...) {
		oneKey := j >= len(tests)
		i := j
		t.Run(fmt.Sprintf("%s/one_key_%v", tt.name, oneKey), func(t *testing.T) {
			w := newWriter(c, prefix, tt.ttl, oneKey)
			pttl := func() int64 {
				t.Helper()
				v, err := c.Do(ctx, c.B().Pttl().Key(AccountKey(prefix, b58(i))).Build()).AsInt64()
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			for _, u := range []Update{upd(t, i, 1, 1, 0, ok, 10), upd(t, i, 1, 2, 0, ok, 0)} {
				if _, err := w.Write(ctx, []Update{u}); err != nil {
					t.Fatal(err)
				}
			}
			if got := pttl(); (got > 0) != tt.wantTTL || got > tt.ttl.Milliseconds() {
				t.Errorf("closed account PTTL = %d ms, configured %v", got, tt.ttl)
			}
			if slices.Contains(members(t, c, prefix, 1), b58(i)) {
				t.Error("closed account still in the program set")
			}
			if v := stored(t, c, prefix, i); v.slot != 2 {
				t.Errorf("closed state not stored: %+v", v)
			}
			// A stale open update must neither revive it nor drop the TTL.
			if _, err := w.Write(ctx, []Update{upd(t, i, 1, 1, 0, ok, 10)}); err != nil {
				t.Fatal(err)
			}
			if got := pttl(); (got > 0) != tt.wantTTL {
				t.Errorf("after stale update PTTL = %d", got)
			}
			// Reopened (newer, lamports > 0): no TTL, back in the set.
			if _, err := w.Write(ctx, []Update{upd(t, i, 1, 3, 0, ok, 10)}); err != nil {
				t.Fatal(err)
			}
			if got := pttl(); got != -1 {
				t.Errorf("reopened account PTTL = %d, want -1 (none)", got)
			}
			if !slices.Contains(members(t, c, prefix, 1), b58(i)) {
				t.Error("reopened account not in the program set")
			}
		})
	}
}

func TestClosedTTLExpires(t *testing.T) {
	t.Parallel()
	c, prefix := redisClient(t)
	ctx := context.Background()
	w := NewWriter(c, prefix, 100*time.Millisecond)
	if _, err := w.Write(ctx, []Update{upd(t, 1, 1, 1, 0, ok, 0)}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := Get(ctx, c, prefix, b58(1))
		if errors.Is(err, ErrNotFound) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("closed account did not expire")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// With the script missing from Redis's cache (a restarted or failed-over
// node) the writer loads it and the writes still happen.
func TestWriterNoScriptFallback(t *testing.T) {
	t.Parallel()
	c, prefix := redisClient(t)
	for n, oneKey := range []bool{false, true} {
		w := newWriter(c, prefix, 0, oneKey)
		w.sha = "0000000000000000000000000000000000000000" // never loaded
		r, err := w.Write(context.Background(), []Update{upd(t, 10*n+1, 1, 5, 0, ok, 1), upd(t, 10*n+2, 1, 5, 0, ok, 1)})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(r, []Result{Applied, Applied}) {
			t.Fatalf("one key %v: results %v", oneKey, r)
		}
		if v := stored(t, c, prefix, 10*n+2); v.slot != 5 {
			t.Errorf("one key %v: stored %+v", oneKey, v)
		}
	}
}

func TestConcurrentWritersNewestWins(t *testing.T) {
	t.Parallel()
	c, prefix := redisClient(t)
	const accounts, versions, writers = 200, 20, 4
	var all []Update
	for n := range accounts {
		for v := range versions {
			// The owner changes with the version, so the sets are exercised too.
			all = append(all, upd(t, n, v%3, uint64(100+v/2), uint64(v%2), ok, 1))
		}
	}
	rand.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := NewWriter(c, prefix, 0)
			for i := g * 50; i < len(all); i += writers * 50 {
				if _, err := w.Write(context.Background(), all[i:min(i+50, len(all))]); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for n := range accounts {
		if v := stored(t, c, prefix, n); v != (version{100 + (versions-1)/2, (versions - 1) % 2, ok}) {
			t.Fatalf("account %d: %+v", n, v)
		}
	}
	if got := members(t, c, prefix, (versions-1)%3); len(got) < accounts {
		t.Errorf("final owner's set has %d members, want %d", len(got), accounts)
	}
}

func TestReaders(t *testing.T) {
	t.Parallel()
	c, prefix := redisClient(t)
	ctx := context.Background()
	w := NewWriter(c, prefix, 0)
	const n = 2500 // more than one SSCAN batch
	var ups []Update
	for i := range n {
		ups = append(ups, upd(t, i, 1, uint64(i+1), 0, ok, 1))
	}
	ups = append(ups, upd(t, n, 2, 1, 0, ok, 1))
	if _, err := w.Write(ctx, ups); err != nil {
		t.Fatal(err)
	}

	if _, err := Get(ctx, c, prefix, b58(n+1)); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get missing: %v, want ErrNotFound", err)
	}
	got, err := MGet(ctx, c, prefix, []string{b58(7), b58(n + 1), b58(n)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].GetAccount().GetSlot() != 8 || got[1] != nil || got[2].GetAccount().GetSlot() != 1 {
		t.Errorf("MGet = %v", got)
	}
	if m := members(t, c, prefix, 1); len(m) != n {
		t.Errorf("program 1 has %d members, want %d", len(m), n)
	}

	// A stale member (as left by a lost race between replicas) is filtered
	// by ProgramAccounts.
	if err := c.Do(ctx, c.B().Sadd().Key(ProgramKey(prefix, owner(2))).Member(b58(0)).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	var accts []*fireholev1.DecodedAccount
	if err := ProgramAccounts(ctx, c, prefix, owner(2), func(as []*fireholev1.DecodedAccount) error {
		accts = append(accts, as...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(accts) != 1 || accts[0].GetAccount().GetSlot() != 1 {
		t.Errorf("ProgramAccounts(2) = %d accounts", len(accts))
	}
	stop := errors.New("stop")
	if err := ProgramMembers(ctx, c, prefix, owner(1), func([]string) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("ProgramMembers did not return fn's error: %v", err)
	}
}

func TestSlots(t *testing.T) {
	t.Parallel()
	c, prefix := redisClient(t)
	ctx := context.Background()
	w := NewWriter(c, prefix, 0)
	if _, err := LatestSlot(ctx, c, prefix, "confirmed"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("LatestSlot before any write: %v", err)
	}
	steps := []struct {
		slot   uint64
		raised bool
		want   uint64
	}{{100, true, 100}, {99, false, 100}, {100, false, 100}, {1000, true, 1000}, {999, false, 1000}, {1 << 63, true, 1 << 63}}
	for _, s := range steps {
		raised, err := w.WriteSlot(ctx, "confirmed", s.slot)
		if err != nil {
			t.Fatal(err)
		}
		got, err := LatestSlot(ctx, c, prefix, "confirmed")
		if err != nil {
			t.Fatal(err)
		}
		if raised != s.raised || got != s.want {
			t.Errorf("write %d: raised %v slot %d, want %v %d", s.slot, raised, got, s.raised, s.want)
		}
	}
}

func TestUpdateFromDecodedRejects(t *testing.T) {
	t.Parallel()
	pk := key(1)
	mk := func(m proto.Message) []byte { b, _ := proto.Marshal(m); return b }
	tests := []struct {
		name string
		in   []byte
	}{
		{"garbage", []byte{0xff, 0xff, 0xff}},
		{"no account", mk(&fireholev1.DecodedAccount{Program: "x"})},
		{"short pubkey", mk(&fireholev1.DecodedAccount{Account: &fireholev1.AccountUpdate{Pubkey: pk[:31], Owner: pk[:]}})},
		{"no owner", mk(&fireholev1.DecodedAccount{Account: &fireholev1.AccountUpdate{Pubkey: pk[:]}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := UpdateFromDecoded(tt.in); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func TestKeys(t *testing.T) {
	t.Parallel()
	if got := AccountKey("fh:", "abc"); got != "fh:acct:{abc}" {
		t.Error(got)
	}
	if got := ProgramKey("fh:", "abc"); got != "fh:prog:{abc}" {
		t.Error(got)
	}
	if got := SlotKey("fh:", "finalized"); got != "fh:slot:finalized" {
		t.Error(got)
	}
}

// In a cluster a slow writer's set commands for an older update can land
// after a newer update's; its re-read (reconcile) must put the sets back.
func TestReconcileAfterRacingWriters(t *testing.T) {
	t.Parallel()
	c, prefix := redisClient(t)
	ctx := context.Background()
	w := newWriter(c, prefix, 0, true)
	pk := b58(1)
	in := func(o int) bool { return slices.Contains(members(t, c, prefix, o), pk) }

	if _, err := w.Write(ctx, []Update{upd(t, 1, 1, 10, 0, ok, 5)}); err != nil { // owner 1
		t.Fatal(err)
	}
	// Writer B stores slot 11 (owner 2) but is slow with its set commands.
	b := upd(t, 1, 2, 11, 0, ok, 5)
	args := []string{"11", "0", "1", b.Owner, string(b.PB), "5", "0", "0"}
	if err := AccountScript.Exec(ctx, c, []string{AccountKey(prefix, pk)}, args).Error(); err != nil {
		t.Fatal(err)
	}
	// Writer A stores slot 12 (owner 1 again) completely.
	if _, err := w.Write(ctx, []Update{upd(t, 1, 1, 12, 0, ok, 5)}); err != nil {
		t.Fatal(err)
	}
	// Now B's set commands arrive: they move the account to owner 2.
	bm := map[string]*membership{pk: {owner: b.Owner, old: []string{owner(1)}}}
	if err := w.updateSets(ctx, bm); err != nil {
		t.Fatal(err)
	}
	if in(1) || !in(2) {
		t.Fatal("setup: the late set commands should have left the sets wrong")
	}
	if err := w.reconcile(ctx, bm); err != nil {
		t.Fatal(err)
	}
	if !in(1) || in(2) {
		t.Errorf("after reconcile: in program 1 %v (want true), in program 2 %v (want false)", in(1), in(2))
	}
}
