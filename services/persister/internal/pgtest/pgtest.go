// Package pgtest gives a test its own migrated Postgres schema on the real
// test server, dropped when the test ends.
package pgtest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/firehole/firehole/pkg/testenv"
	"github.com/firehole/firehole/services/persister/internal/schema"
	"github.com/firehole/firehole/services/persister/internal/store"
)

// Schema creates and migrates a fresh schema on the test server and returns
// a persister pool and the schema's name.
func Schema(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	url := testenv.PostgresURL(t)
	name := testenv.Name(t)
	pool := Pool(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := schema.Up(ctx, pool, name); err != nil {
		t.Fatalf("migrate %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema.Ident(name)+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})
	return pool, name
}

// Pool opens a persister pool (with the staging table) on url, closed when
// the test ends.
func Pool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	cfg, err := store.PoolConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}
