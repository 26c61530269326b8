package accountcache

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/firehole/firehole/pkg/accountcache/cachetest"
	"github.com/firehole/firehole/pkg/testenv"
)

// TestCluster runs the writer and the readers against a Redis Cluster: the
// writer must detect it and use one key per script call, and every rule
// must hold as on a single node.
func TestCluster(t *testing.T) {
	addrs := cachetest.Cluster(t)
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: addrs, DisableCache: true})
	if err != nil {
		t.Fatalf("connect cluster: %v", err)
	}
	prefix := testenv.Name(t) + ":"
	t.Cleanup(func() {
		cachetest.DeletePrefix(c, prefix)
		c.Close()
	})
	if c.Mode() != rueidis.ClientModeCluster {
		t.Fatalf("client mode %v, want cluster", c.Mode())
	}
	ctx := context.Background()
	w := NewWriter(c, prefix, time.Minute)
	if w.chunk != 1 {
		t.Fatalf("writer sends %d accounts per script call in a cluster, want 1", w.chunk)
	}

	t.Run("ordering", func(t *testing.T) {
		orderingCase(t, c, prefix, 1, true, []version{{5, 1, ok}, {3, 9, ok}, {7, 0, waiting}, {7, 0, ok}, {6, 5, ok}},
			[]Result{Applied, Stale, Applied, Applied, Stale}, version{7, 0, ok})
	})
	t.Run("membership", func(t *testing.T) {
		programMembership(t, c, prefix+"m:", true)
	})
	t.Run("many accounts across slots", func(t *testing.T) {
		var ups []Update
		var pks []string
		for i := range 1000 {
			ups = append(ups, upd(t, 10_000+i, 5, uint64(i+1), 0, ok, 1))
			pks = append(pks, b58(10_000+i))
		}
		if _, err := w.Write(ctx, ups); err != nil {
			t.Fatal(err)
		}
		got, err := MGet(ctx, c, prefix, pks)
		if err != nil {
			t.Fatal(err)
		}
		for i, a := range got {
			if a.GetAccount().GetSlot() != uint64(i+1) {
				t.Fatalf("account %d: %v", i, a)
			}
		}
		if m := members(t, c, prefix, 5); len(m) != 1000 {
			t.Errorf("program set has %d members, want 1000", len(m))
		}
	})
	t.Run("closed ttl", func(t *testing.T) {
		if _, err := w.Write(ctx, []Update{upd(t, 20_000, 6, 1, 0, ok, 0)}); err != nil {
			t.Fatal(err)
		}
		ttl, err := c.Do(ctx, c.B().Pttl().Key(AccountKey(prefix, b58(20_000))).Build()).AsInt64()
		if err != nil || ttl <= 0 {
			t.Errorf("closed account PTTL %d, %v", ttl, err)
		}
	})
	t.Run("noscript on every node", func(t *testing.T) {
		for addr, n := range c.Nodes() {
			if err := n.Do(ctx, n.B().ScriptFlush().Build()).Error(); err != nil {
				t.Fatalf("script flush on %s: %v", addr, err)
			}
		}
		r, err := w.Write(ctx, []Update{upd(t, 30_000, 1, 1, 0, ok, 1), upd(t, 30_001, 1, 1, 0, ok, 1)})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(r, []Result{Applied, Applied}) {
			t.Errorf("results after script flush = %v, want both Applied", r)
		}
	})
	t.Run("slots", func(t *testing.T) {
		if _, err := w.WriteSlot(ctx, "finalized", 42); err != nil {
			t.Fatal(err)
		}
		if s, err := LatestSlot(ctx, c, prefix, "finalized"); err != nil || s != 42 {
			t.Errorf("finalized slot %d, %v", s, err)
		}
	})
}
