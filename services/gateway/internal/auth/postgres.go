package auth

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Querier is what LoadPostgres needs of a pgx pool or connection.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// LoadPostgres reads the enabled keys of <schema>.api_keys (the persister's
// migration 0003; docs/postgres-schema.md). Zero limits mean unlimited.
func LoadPostgres(ctx context.Context, q Querier, schema string) ([]Entry, error) {
	rows, err := q.Query(ctx, `SELECT key_sha256, name, max_connections, max_subscriptions, requests_per_second
		FROM `+pgx.Identifier{schema, "api_keys"}.Sanitize()+` WHERE NOT disabled`)
	if err != nil {
		return nil, fmt.Errorf("read api keys: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var (
			digest []byte
			e      Entry
		)
		if err := rows.Scan(&digest, &e.Name, &e.Limits.MaxConns, &e.Limits.MaxSubs, &e.Limits.RPS); err != nil {
			return nil, fmt.Errorf("read api keys: %w", err)
		}
		if len(digest) != len(e.Digest) {
			return nil, fmt.Errorf("read api keys: key_sha256 of %q has %d bytes, want 32", e.Name, len(digest))
		}
		copy(e.Digest[:], digest)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read api keys: %w", err)
	}
	return out, nil
}
