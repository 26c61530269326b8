// Package schema owns the persister's Postgres schema: versioned SQL
// migrations embedded in the binary, applied forward-only under an advisory
// lock so that concurrent replicas never race, plus the optional GIN index.
//
// Policy: a migration file, once released, is never edited; changes are new
// files with the next number. Migrations are additive (new tables, columns,
// indexes) so that a binary one version behind keeps working against a
// newer schema during a rolling upgrade.
package schema

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var files embed.FS

// Migration is one embedded SQL file.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations returns the embedded migrations in version order.
func Migrations() ([]Migration, error) {
	entries, err := fs.ReadDir(files, "migrations")
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	var out []Migration
	seen := map[int]string{}
	for _, e := range entries {
		name := e.Name()
		num, rest, ok := strings.Cut(strings.TrimSuffix(name, ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_description.sql", name)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migration %s: version %d already used by %s", name, v, prev)
		}
		seen[v] = name
		body, err := fs.ReadFile(files, "migrations/"+name)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		out = append(out, Migration{Version: v, Name: rest, SQL: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// Latest is the highest embedded migration version.
func Latest() int {
	ms, err := Migrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].Version
}

// Status is one migration's state in a database.
type Status struct {
	Version   int
	Name      string
	AppliedAt time.Time // zero when pending
}

// Ident quotes a schema or table name for SQL.
func Ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// lockKey is the pg_advisory_lock key guarding migrations of one schema.
func lockKey(schema string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("firehole.persister.migrate:" + schema))
	return int64(h.Sum64())
}

// Up applies every pending migration to schema (created if missing) and
// returns the versions it applied. Concurrent callers, in this process or in
// other replicas, serialize on an advisory lock; the later ones find nothing
// to do.
func Up(ctx context.Context, pool *pgxpool.Pool, schema string) ([]int, error) {
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	var done []int
	err = withLock(ctx, pool, schema, func(conn *pgx.Conn) error {
		done, err = up(ctx, conn, schema, ms)
		return err
	})
	return done, err
}

// withLock runs fn on one connection holding the schema's advisory lock.
func withLock(ctx context.Context, pool *pgxpool.Pool, schema string, fn func(conn *pgx.Conn) error) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire connection: %w", err)
	}
	defer conn.Release()
	key := lockKey(schema)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		return fmt.Errorf("take migration lock: %w", err)
	}
	defer func() {
		// Unlock on a fresh context: ctx may be what ended us.
		uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, "SELECT pg_advisory_unlock($1)", key); err != nil {
			// A connection that cannot unlock must not go back to the pool holding the lock.
			_ = conn.Conn().Close(uctx)
		}
	}()
	return fn(conn.Conn())
}

// up applies the migrations of ms that schema lacks; the caller holds the lock.
func up(ctx context.Context, conn *pgx.Conn, schema string, ms []Migration) ([]int, error) {
	s := Ident(schema)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+s+";"+
		"CREATE TABLE IF NOT EXISTS "+s+".schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"); err != nil {
		return nil, fmt.Errorf("create schema %s: %w", schema, err)
	}
	applied, err := appliedVersions(ctx, conn, schema)
	if err != nil {
		return nil, err
	}
	var done []int
	for _, m := range ms {
		if _, ok := applied[m.Version]; ok {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL search_path TO "+s); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO "+s+".schema_migrations (version, name) VALUES ($1, $2)", m.Version, m.Name)
			return err
		})
		if err != nil {
			return done, fmt.Errorf("apply migration %04d_%s: %w", m.Version, m.Name, err)
		}
		done = append(done, m.Version)
	}
	return done, nil
}

func appliedVersions(ctx context.Context, conn *pgx.Conn, schema string) (map[int]time.Time, error) {
	rows, err := conn.Query(ctx, "SELECT version, applied_at FROM "+Ident(schema)+".schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	out := map[int]time.Time{}
	for rows.Next() {
		var v int
		var at time.Time
		if err := rows.Scan(&v, &at); err != nil {
			return nil, fmt.Errorf("read schema_migrations: %w", err)
		}
		out[v] = at
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	return out, nil
}

// ErrNotMigrated says the schema lacks migrations this binary needs.
var ErrNotMigrated = errors.New("schema not migrated")

// List returns every embedded migration with its state in schema, plus
// versions applied in the database that this binary does not know (a newer
// binary migrated it), with an empty Name.
func List(ctx context.Context, pool *pgxpool.Pool, schema string) ([]Status, error) {
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	var exists bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", schema+".schema_migrations").Scan(&exists); err != nil {
		return nil, fmt.Errorf("look for schema_migrations: %w", err)
	}
	applied := map[int]time.Time{}
	if exists {
		conn, err := pool.Acquire(ctx)
		if err != nil {
			return nil, fmt.Errorf("acquire connection: %w", err)
		}
		applied, err = appliedVersions(ctx, conn.Conn(), schema)
		conn.Release()
		if err != nil {
			return nil, err
		}
	}
	out := make([]Status, 0, len(ms))
	for _, m := range ms {
		out = append(out, Status{Version: m.Version, Name: m.Name, AppliedAt: applied[m.Version]})
		delete(applied, m.Version)
	}
	for v, at := range applied {
		out = append(out, Status{Version: v, AppliedAt: at})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// Check returns ErrNotMigrated (wrapped, naming the versions) when an
// embedded migration is not applied to schema.
func Check(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	st, err := List(ctx, pool, schema)
	if err != nil {
		return err
	}
	var pending []string
	for _, s := range st {
		if s.Name != "" && s.AppliedAt.IsZero() {
			pending = append(pending, fmt.Sprintf("%04d_%s", s.Version, s.Name))
		}
	}
	if len(pending) > 0 {
		return fmt.Errorf("%w: schema %s lacks %s; run `persister migrate up` or set PERSISTER_MIGRATE=true", ErrNotMigrated, schema, strings.Join(pending, ", "))
	}
	return nil
}

// EnsureGIN creates the optional GIN index on accounts.parsed (jsonb_path_ops:
// serves @> containment and jsonpath queries). CONCURRENTLY, so a large
// table keeps taking writes; it is outside any migration because it is a
// deployment choice.
func EnsureGIN(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	return ensureIndex(ctx, pool, schema, "accounts_parsed_gin_idx", "USING gin (parsed jsonb_path_ops)")
}

// TokenAmountOrder is the order of a mint's token accounts by amount,
// largest first, ties by pubkey descending (the gateway's
// getTokenLargestAccounts). Amounts are decimal strings without leading
// zeros, so (length, text) orders them as numbers with no cast that could
// fail on a row.
const TokenAmountOrder = `length(parsed->'info'->'tokenAmount'->>'amount') DESC, (parsed->'info'->'tokenAmount'->>'amount') DESC, pubkey DESC`

// EnsureTokenAmountIndex creates the optional index that serves
// getTokenLargestAccounts without sorting all of a mint's accounts (a
// deployment choice: it costs every token-account write an index update).
func EnsureTokenAmountIndex(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	return ensureIndex(ctx, pool, schema, "accounts_token_amount_idx",
		"(token_mint, "+TokenAmountOrder+") WHERE token_mint IS NOT NULL")
}

// ensureIndex creates an optional index CONCURRENTLY under the migration
// lock, first dropping an invalid one an interrupted build left behind.
func ensureIndex(ctx context.Context, pool *pgxpool.Pool, schema, name, def string) error {
	return withLock(ctx, pool, schema, func(conn *pgx.Conn) error {
		var invalid bool
		err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
			JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 AND NOT i.indisvalid)`, schema, name).Scan(&invalid)
		if err != nil {
			return fmt.Errorf("inspect index %s: %w", name, err)
		}
		s := Ident(schema)
		if invalid {
			if _, err := conn.Exec(ctx, "DROP INDEX CONCURRENTLY IF EXISTS "+s+"."+name); err != nil {
				return fmt.Errorf("drop invalid index %s: %w", name, err)
			}
		}
		if _, err := conn.Exec(ctx, "CREATE INDEX CONCURRENTLY IF NOT EXISTS "+name+" ON "+s+".accounts "+def); err != nil {
			return fmt.Errorf("create index %s: %w", name, err)
		}
		return nil
	})
}
