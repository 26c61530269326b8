package schema_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/firehole/firehole/pkg/testenv"
	"github.com/firehole/firehole/services/persister/internal/pgtest"
	"github.com/firehole/firehole/services/persister/internal/schema"
)

func TestMigrationsNumbered(t *testing.T) {
	t.Parallel()
	ms, err := schema.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range ms {
		if m.Version != i+1 {
			t.Errorf("migration %d has version %d: versions must be 1..n without gaps", i, m.Version)
		}
	}
}

// Two migrators race on a fresh schema, as two replicas starting with
// PERSISTER_MIGRATE=true would: each migration is applied exactly once and
// both succeed. A third run finds nothing to do.
func TestUpConcurrentAndIdempotent(t *testing.T) {
	t.Parallel()
	url := testenv.PostgresURL(t)
	name := testenv.Name(t)
	a, b := pgtest.Pool(t, url), pgtest.Pool(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t.Cleanup(func() { _, _ = a.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema.Ident(name)+" CASCADE") })

	if err := schema.Check(ctx, a, name); !errors.Is(err, schema.ErrNotMigrated) {
		t.Fatalf("check on empty schema = %v, want ErrNotMigrated", err)
	}
	var wg sync.WaitGroup
	applied := make([][]int, 4)
	errs := make([]error, 4)
	for i := range 4 {
		pool := a
		if i%2 == 1 {
			pool = b
		}
		wg.Go(func() { applied[i], errs[i] = schema.Up(ctx, pool, name) })
	}
	wg.Wait()
	total := 0
	for i, err := range errs {
		if err != nil {
			t.Fatalf("migrator %d: %v", i, err)
		}
		total += len(applied[i])
	}
	if want := len(must(schema.Migrations())); total != want {
		t.Fatalf("migrations applied %d times in total, want %d (once each): %v", total, want, applied)
	}
	again, err := schema.Up(ctx, a, name)
	if err != nil || len(again) != 0 {
		t.Fatalf("third run applied %v, err %v; want nothing", again, err)
	}
	if err := schema.Check(ctx, b, name); err != nil {
		t.Fatalf("check after migrate: %v", err)
	}
	st, err := schema.List(ctx, a, name)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if s.AppliedAt.IsZero() {
			t.Errorf("migration %d still pending", s.Version)
		}
	}
	// The optional indexes, twice each.
	for range 2 {
		if err := schema.EnsureGIN(ctx, a, name); err != nil {
			t.Fatalf("ensure gin: %v", err)
		}
		if err := schema.EnsureTokenAmountIndex(ctx, a, name); err != nil {
			t.Fatalf("ensure token amount index: %v", err)
		}
	}
	for _, idx := range []string{"accounts_parsed_gin_idx", "accounts_token_amount_idx"} {
		var n int
		if err := a.QueryRow(ctx, "SELECT count(*) FROM pg_indexes WHERE schemaname = $1 AND indexname = $2", name, idx).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%s count = %d, err %v", idx, n, err)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
