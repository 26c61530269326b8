package native

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/firehole/firehole/pkg/bus"
)

type sub map[string]any

// TestSnapshotJoinsLive holds the cacher's ack floor and the Redis state at
// chosen points of one account's stream and checks that snapshot plus live
// updates give every version exactly once.
func TestSnapshotJoinsLive(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                     string
		published, acked, cached int
	}{
		{"redis ahead of the ack floor", 10, 3, 7},
		{"redis at the ack floor", 10, 5, 5},
		{"nothing cached yet", 10, 0, 0},
		{"all cached", 10, 10, 10},
		{"no cacher consumer", 10, -1, 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, Limits{})
			prog, pk := key("prog"), key("acct-"+tc.name)
			var all []uint64
			for s := 1; s <= tc.published; s++ {
				d := acct(prog, pk, uint64(s), []byte{byte(s)}, "")
				e.publish(d)
				if s <= tc.cached {
					e.cache(d)
				}
				all = append(all, uint64(s))
			}
			if tc.acked >= 0 {
				ctx := context.Background()
				cons, err := bus.EnsureConsumer(ctx, e.js, bus.StreamDecoded,
					bus.ConsumerConfig("cacher", []string{bus.DecodedAccountRoot + ".>"}, time.Minute, 1000))
				if err != nil {
					t.Fatal(err)
				}
				if tc.acked > 0 {
					batch, err := cons.Fetch(tc.acked)
					if err != nil {
						t.Fatal(err)
					}
					for m := range batch.Messages() {
						if err := m.DoubleAck(ctx); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			c := e.dial()
			c.send(sub{"op": "subscribe", "id": "s", "programs": []string{b58k(prog)}, "snapshot": true})
			c.expect("subscribed")
			var got []uint64
			for {
				m := c.next()
				if m.Type == "snapshotEnd" {
					break
				}
				if m.Type != "snapshot" {
					t.Fatalf("got %+v before snapshotEnd", m)
				}
				got = append(got, m.Account.Slot)
			}
			if tc.cached > 0 && (len(got) != 1 || got[0] != uint64(tc.cached)) {
				t.Fatalf("snapshot slots %v, want [%d]", got, tc.cached)
			}
			if tc.cached == 0 && len(got) != 0 {
				t.Fatalf("snapshot slots %v, want none", got)
			}
			// One more update after subscribing proves live follows replay.
			e.publish(acct(prog, pk, uint64(tc.published+1), nil, ""))
			all = append(all, uint64(tc.published+1))
			for len(got) == 0 || got[len(got)-1] < uint64(tc.published+1) {
				m := c.expect("update")
				got = append(got, m.Account.Slot)
			}
			want := all[max(tc.cached-1, 0):]
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("slots received %v, want %v", got, want)
			}
			c.quiet(200 * time.Millisecond)
		})
	}
}

// TestSnapshotUnderConcurrentPublishing subscribes while a publisher writes
// new versions of many accounts and a cacher consumes them, and checks that
// each account's versions arrive once each, in order, from the snapshot's
// version to the last.
func TestSnapshotUnderConcurrentPublishing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Limits{})
	e.runCacher()
	const accounts, rounds = 20, 40
	prog := key("busy-prog")
	pks := make([][32]byte, accounts)
	for i := range pks {
		pks[i] = key(fmt.Sprint("busy-", i))
		e.publish(acct(prog, pks[i], 1, []byte{1}, ""))
	}
	waitFor(t, func() bool {
		n := 0
		for _, pk := range pks {
			if v, _ := e.redis.Do(context.Background(), e.redis.B().Exists().Key(e.prefix+"acct:{"+b58k(pk)+"}").Build()).AsInt64(); v == 1 {
				n++
			}
		}
		return n == accounts
	})
	started := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for r := 2; r <= rounds; r++ {
			for _, pk := range pks {
				e.publish(acct(prog, pk, uint64(r), []byte{byte(r)}, ""))
			}
			if r == rounds/4 {
				close(started)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	<-started
	c := e.dial()
	c.send(sub{"op": "subscribe", "id": "busy", "programs": []string{b58k(prog)}, "snapshot": true})
	c.expect("subscribed")
	seen := map[string][]uint64{}
	inSnapshot := true
	var lastCursor uint64
	done := 0
	for done < accounts {
		m := c.next()
		switch {
		case m.Type == "snapshotEnd":
			inSnapshot = false
			continue
		case inSnapshot && m.Type == "snapshot", !inSnapshot && m.Type == "update":
		default:
			t.Fatalf("unexpected %+v (in snapshot: %v)", m, inSnapshot)
		}
		if cur := m.cursor(t); cur < lastCursor {
			t.Fatalf("cursor went back from %d to %d", lastCursor, cur)
		} else {
			lastCursor = cur
		}
		pk := m.Account.Pubkey
		seen[pk] = append(seen[pk], m.Account.Slot)
		if m.Account.Slot == rounds {
			done++
		}
	}
	wg.Wait()
	if len(seen) != accounts {
		t.Fatalf("%d accounts seen, want %d", len(seen), accounts)
	}
	for pk, slots := range seen {
		for i := 1; i < len(slots); i++ {
			if slots[i] != slots[i-1]+1 {
				t.Fatalf("account %s: slots %v have a gap or a duplicate", pk, slots)
			}
		}
	}
	c.quiet(200 * time.Millisecond)
}

// TestResumeFromCursor reconnects with the cursor of a message and gets
// exactly what followed it.
func TestResumeFromCursor(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Limits{})
	prog, pk := key("p"), key("resume")
	c := e.dial()
	c.send(sub{"op": "subscribe", "id": "r", "accounts": []string{b58k(pk)}})
	c.expect("subscribed")
	for s := uint64(1); s <= 5; s++ {
		e.publish(acct(prog, pk, s, nil, ""))
	}
	var cursor string
	for s := uint64(1); s <= 5; s++ {
		m := c.expect("update")
		if m.Account.Slot != s {
			t.Fatalf("slot %d, want %d", m.Account.Slot, s)
		}
		if s == 3 {
			cursor = m.Cursor
		}
	}
	_ = c.ws.Close(websocket.StatusNormalClosure, "")
	for s := uint64(6); s <= 8; s++ {
		e.publish(acct(prog, pk, s, nil, ""))
	}
	c = e.dial()
	c.send(sub{"op": "subscribe", "id": "r", "accounts": []string{b58k(pk)}, "cursor": cursor})
	if m := c.expect("subscribed"); m.Cursor != cursor {
		t.Fatalf("subscribed at cursor %s, want %s", m.Cursor, cursor)
	}
	for s := uint64(4); s <= 8; s++ {
		if m := c.expect("update"); m.Account.Slot != s {
			t.Fatalf("replayed slot %d, want %d", m.Account.Slot, s)
		}
	}
	e.publish(acct(prog, pk, 9, nil, ""))
	if m := c.expect("update"); m.Account.Slot != 9 {
		t.Fatalf("live slot %d after replay, want 9", m.Account.Slot)
	}
	c.quiet(200 * time.Millisecond)
}

// TestResumeBeyondRetention resumes from a cursor the stream no longer holds.
func TestResumeBeyondRetention(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Limits{})
	ctx := context.Background()
	s, err := e.js.Stream(ctx, bus.StreamDecoded)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	cfg.MaxMsgs = 5
	if _, err := e.js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	prog, pk := key("p"), key("old")
	var seqs []uint64
	for s := uint64(1); s <= 12; s++ {
		seqs = append(seqs, e.publish(acct(prog, pk, s, nil, "")))
	}
	c := e.dial()
	c.send(sub{"op": "subscribe", "id": "x", "programs": []string{b58k(prog)}, "cursor": fmt.Sprint(seqs[1])})
	c.expect("subscribed")
	g := c.expect("gap")
	if g.Reason != "retention" || g.cursor(t) != seqs[6] {
		t.Fatalf("gap %+v, want reason retention and cursor %d", g, seqs[6])
	}
	for s := uint64(8); s <= 12; s++ {
		if m := c.expect("update"); m.Account.Slot != s {
			t.Fatalf("slot %d after the gap, want %d", m.Account.Slot, s)
		}
	}
}

// TestWhereFilters subscribes with filters on decoded fields.
func TestWhereFilters(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Limits{})
	prog := key("token-like")
	mintA, mintB := b58k(key("mintA")), b58k(key("mintB"))
	parsed := func(mint, amount string) string {
		return fmt.Sprintf(`{"type":"account","info":{"mint":%q,"tokenAmount":{"amount":%q,"decimals":6}}}`, mint, amount)
	}
	cases := []struct {
		name, mint, amount string
		want               bool
	}{
		{"small", mintA, "5", false},
		{"equal", mintA, "1000", false},
		{"above", mintA, "1001", true},
		{"huge", mintA, "99999999999999999999999", true},
		{"other mint", mintB, "5000", false},
	}
	for i, tc := range cases {
		e.cache(acct(prog, key(tc.name), uint64(i+1), []byte{1}, parsed(tc.mint, tc.amount)))
	}
	where := []map[string]any{
		{"path": "parsed.info.mint", "op": "eq", "value": mintA},
		{"path": "parsed.info.tokenAmount.amount", "op": "gt", "value": "1000"},
	}
	c := e.dial()
	c.send(sub{"op": "subscribe", "id": "w", "programs": []string{b58k(prog)}, "snapshot": true, "where": where, "encoding": "jsonParsed"})
	c.expect("subscribed")
	var got []string
	for m := c.next(); m.Type != "snapshotEnd"; m = c.next() {
		if m.Account.Data != nil {
			t.Fatalf("jsonParsed sent data %v", m.Account.Data)
		}
		got = append(got, m.Account.Pubkey)
	}
	var want []string
	for _, tc := range cases {
		if tc.want {
			want = append(want, b58k(key(tc.name)))
		}
	}
	sort.Strings(got)
	sort.Strings(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("snapshot %v, want %v", got, want)
	}
	e.publish(acct(prog, key("small"), 10, []byte{1}, parsed(mintA, "2000")))
	e.publish(acct(prog, key("above"), 11, []byte{1}, parsed(mintA, "10")))
	e.publish(acct(prog, key("other mint"), 12, []byte{1}, parsed(mintB, "2000")))
	if m := c.expect("update"); m.Account.Pubkey != b58k(key("small")) || m.Account.Slot != 10 {
		t.Fatalf("update %+v, want small at slot 10", m.Account)
	}
	c.quiet(300 * time.Millisecond)
}

// TestSlowConsumer stalls one client while a fast client on the same
// handler keeps receiving: the stalled one is closed with 1008, or in gap
// mode gets a gap notice with the cursor to resume from and continues.
func TestSlowConsumer(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"disconnect", "gap"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, Limits{MaxQueueMsgs: 64, MaxQueueBytes: 1 << 20, WriteTimeout: time.Minute})
			prog := key("hot")
			slow, fast := e.dialSmall(), e.dial()
			for _, c := range []*client{slow, fast} {
				c.send(sub{"op": "subscribe", "id": "s", "programs": []string{b58k(prog)}, "onSlow": mode})
				c.expect("subscribed")
			}
			const n = 400
			// The publisher waits for the fast client after every message:
			// its queue never holds more than one, while the stalled
			// client's fills up.
			got := make(chan error)
			go func() {
				for i := 1; i <= n; i++ {
					m, err := fast.read(30 * time.Second)
					if err == nil && (m.Type != "update" || m.Account.Slot != uint64(i)) {
						err = fmt.Errorf("fast client got %+v, want update at slot %d", m, i)
					}
					got <- err
					if err != nil {
						return
					}
				}
			}()
			data := make([]byte, 8192)
			var seqs []uint64
			for i := 1; i <= n; i++ {
				seqs = append(seqs, e.publish(acct(prog, key(fmt.Sprint(i%7)), uint64(i), data, "")))
				if err := <-got; err != nil {
					t.Fatal(err)
				}
			}
			if mode == "disconnect" {
				for {
					_, err := slow.read(15 * time.Second)
					if err == nil {
						continue
					}
					if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
						t.Fatalf("slow client ended with %v, want 1008", err)
					}
					var ce websocket.CloseError
					if ok := asCloseError(err, &ce); !ok || ce.Reason != "slow consumer" {
						t.Fatalf("close reason %v, want \"slow consumer\"", err)
					}
					return
				}
			}
			var last uint64
			gaps := 0
			for {
				m := slow.next()
				if m.Type == "gap" {
					if m.Reason != "slow consumer" || m.cursor(t) != last {
						t.Fatalf("gap %+v after cursor %d", m, last)
					}
					gaps++
					continue
				}
				if m.Type != "update" {
					t.Fatalf("unexpected %+v", m)
				}
				cur := m.cursor(t)
				if cur <= last {
					t.Fatalf("cursor %d after %d", cur, last)
				}
				last = cur
				if cur == seqs[n-1] {
					break
				}
			}
			if gaps == 0 {
				t.Fatal("a stalled client in gap mode got no gap notice")
			}
			// Still subscribed after the gap.
			e.publish(acct(prog, key("after"), n+1, nil, ""))
			if m := slow.expect("update"); m.Account.Slot != n+1 {
				t.Fatalf("slot %d after the gap, want %d", m.Account.Slot, n+1)
			}
		})
	}
}

// TestMalformedFrames sends bad frames; each gets an error and the
// connection stays usable.
func TestMalformedFrames(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Limits{MaxFrameBytes: 4096})
	good := b58k(key("x"))
	tests := []struct {
		name  string
		frame any
		code  string
	}{
		{"not json", []byte("{nope"), errBadFrame},
		{"json array", []byte("[1,2]"), errBadFrame},
		{"unknown op", sub{"op": "dance"}, errBadFrame},
		{"no id", sub{"op": "subscribe", "programs": []string{good}}, errBadRequest},
		{"no selector", sub{"op": "subscribe", "id": "a"}, errBadRequest},
		{"two selectors", sub{"op": "subscribe", "id": "a", "programs": []string{good}, "accounts": []string{good}}, errBadRequest},
		{"bad pubkey", sub{"op": "subscribe", "id": "a", "accounts": []string{"0OIl"}}, errBadRequest},
		{"bad filter", sub{"op": "subscribe", "id": "a", "programs": []string{good}, "filters": []any{sub{"dataSize": "x"}}}, errBadRequest},
		{"bad where op", sub{"op": "subscribe", "id": "a", "programs": []string{good}, "where": []any{sub{"path": "lamports", "op": "like", "value": 1}}}, errBadRequest},
		{"bad where path", sub{"op": "subscribe", "id": "a", "programs": []string{good}, "where": []any{sub{"path": "nope", "op": "exists"}}}, errBadRequest},
		{"bad cursor", sub{"op": "subscribe", "id": "a", "programs": []string{good}, "cursor": "-3"}, errBadRequest},
		{"bad onSlow", sub{"op": "subscribe", "id": "a", "programs": []string{good}, "onSlow": "wait"}, errBadRequest},
		{"bad encoding", sub{"op": "subscribe", "id": "a", "programs": []string{good}, "encoding": "hex"}, errBadRequest},
		{"unknown unsubscribe", sub{"op": "unsubscribe", "id": "zz"}, errUnknownID},
	}
	c := e.dial()
	for _, tc := range tests {
		c.send(tc.frame)
		m := c.next()
		if m.Type != "error" || m.Code != tc.code {
			t.Errorf("%s: got %+v, want error %s", tc.name, m, tc.code)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageBinary, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if m := c.expect("error"); m.Code != errBadFrame {
		t.Fatalf("binary frame: %+v", m)
	}
	c.send(sub{"op": "subscribe", "id": "a", "programs": []string{good}})
	c.expect("subscribed")
	c.send(sub{"op": "subscribe", "id": "a", "programs": []string{good}})
	if m := c.expect("error"); m.Code != errDuplicateID {
		t.Fatalf("duplicate id: %+v", m)
	}
	c.send(sub{"op": "unsubscribe", "id": "a"})
	c.expect("unsubscribed")
	c.send(sub{"op": "ping"})
	c.expect("pong")

	c.send(make([]byte, 8192))
	if _, err := c.read(5 * time.Second); websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
		t.Fatalf("oversized frame: %v, want close 1009", err)
	}
}

func waitFor(t testing.TB, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var _ = jetstream.ErrConsumerNotFound

// TestReplayAtClientPace resumes far back with a queue much smaller than the
// backlog: history waits for the client instead of closing it as slow.
func TestReplayAtClientPace(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Limits{MaxQueueMsgs: 4})
	prog := key("p")
	const n = 300
	for s := uint64(1); s <= n; s++ {
		e.publish(acct(prog, key(fmt.Sprint(s%5)), s, make([]byte, 512), ""))
	}
	c := e.dial()
	c.send(sub{"op": "subscribe", "id": "r", "programs": []string{b58k(prog)}, "cursor": "0"})
	c.expect("subscribed")
	for s := uint64(1); s <= n; s++ {
		if m := c.expect("update"); m.Account.Slot != s {
			t.Fatalf("slot %d, want %d", m.Account.Slot, s)
		}
	}
}

// TestCursorAheadOfStream resumes with a cursor the stream never reached.
func TestCursorAheadOfStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Limits{})
	prog, pk := key("p"), key("a")
	e.publish(acct(prog, pk, 1, nil, ""))
	c := e.dial()
	c.send(sub{"op": "subscribe", "id": "x", "accounts": []string{b58k(pk)}, "cursor": "1000"})
	if m := c.expect("subscribed"); m.Cursor != "1" {
		t.Fatalf("subscribed at %s, want 1", m.Cursor)
	}
	if g := c.expect("gap"); g.Reason != "cursor ahead of stream" || g.Cursor != "1" {
		t.Fatalf("gap %+v", g)
	}
	e.publish(acct(prog, pk, 2, nil, ""))
	if m := c.expect("update"); m.Account.Slot != 2 {
		t.Fatalf("slot %d, want 2", m.Account.Slot)
	}
}
