// Package store reads current account state for the HTTP JSON-RPC methods:
// single accounts and the latest slot from Redis (pkg/accountcache layout),
// program and token-account queries from Postgres (docs/postgres-schema.md).
package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/rueidis"
	"google.golang.org/protobuf/proto"

	"github.com/firehole/firehole/pkg/accountcache"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
	"github.com/firehole/firehole/services/gateway/internal/filter"
	"github.com/firehole/firehole/services/gateway/internal/recent"
)

// Redis reads the cacher's layout.
type Redis struct {
	c      rueidis.Client
	prefix string
	recent *recent.Accounts
}

// NewRedis returns a reader under prefix. Reads return the newer of what
// Redis holds and what rec remembers this replica notified (rec may be nil).
func NewRedis(c rueidis.Client, prefix string, rec *recent.Accounts) *Redis {
	return &Redis{c: c, prefix: prefix, recent: rec}
}

// existing is the account as a read returns it: merged with the notified
// version, and nil when neither exists or the newest is closed (no lamports).
func (r *Redis) existing(pubkey string, stored *fireholev1.DecodedAccount) *fireholev1.DecodedAccount {
	a := r.recent.Merge(pubkey, stored)
	if a.GetAccount().GetLamports() == 0 {
		return nil
	}
	return a
}

// Get returns the account or nil when it is not stored or closed (no lamports).
func (r *Redis) Get(ctx context.Context, pubkey string) (*fireholev1.DecodedAccount, error) {
	a, err := accountcache.Get(ctx, r.c, r.prefix, pubkey)
	if errors.Is(err, accountcache.ErrNotFound) {
		a, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	return r.existing(pubkey, a), nil
}

// GetWithSlot is Get and LatestSlot(commitment) in one round trip (one
// pipelined DoMulti; in a cluster rueidis sends each command to its node).
func (r *Redis) GetWithSlot(ctx context.Context, pubkey, commitment string) (*fireholev1.DecodedAccount, uint64, error) {
	res := r.c.DoMulti(ctx,
		r.c.B().Get().Key(accountcache.SlotKey(r.prefix, commitment)).Build(),
		r.c.B().Hget().Key(accountcache.AccountKey(r.prefix, pubkey)).Field(accountcache.FieldPB).Build())
	var slot uint64
	s, err := res[0].ToString()
	switch {
	case rueidis.IsRedisNil(err):
	case err != nil:
		return nil, 0, fmt.Errorf("get %s slot: %w", commitment, err)
	default:
		if slot, err = strconv.ParseUint(s, 10, 64); err != nil {
			return nil, 0, fmt.Errorf("parse %s slot %q: %w", commitment, s, err)
		}
	}
	b, err := res[1].AsBytes()
	if rueidis.IsRedisNil(err) {
		return r.existing(pubkey, nil), slot, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get account %s: %w", pubkey, err)
	}
	var a fireholev1.DecodedAccount
	if err := proto.Unmarshal(b, &a); err != nil {
		return nil, 0, fmt.Errorf("decode stored account %s: %w", pubkey, err)
	}
	return r.existing(pubkey, &a), slot, nil
}

// MGet is Get for many accounts, in order.
func (r *Redis) MGet(ctx context.Context, pubkeys []string) ([]*fireholev1.DecodedAccount, error) {
	as, err := accountcache.MGet(ctx, r.c, r.prefix, pubkeys)
	if err != nil {
		return nil, err
	}
	for i, a := range as {
		as[i] = r.existing(pubkeys[i], a)
	}
	return as, nil
}

// LatestSlot is the latest slot at commitment (processed|confirmed|finalized), 0 when unknown.
func (r *Redis) LatestSlot(ctx context.Context, commitment string) (uint64, error) {
	s, err := accountcache.LatestSlot(ctx, r.c, r.prefix, commitment)
	if errors.Is(err, accountcache.ErrNotFound) {
		return 0, nil
	}
	return s, err
}

// Ping checks the connection (readiness).
func (r *Redis) Ping(ctx context.Context) error {
	return r.c.Do(ctx, r.c.B().Ping().Build()).Error()
}

// Postgres queries the persister's tables.
type Postgres struct {
	pool   *pgxpool.Pool
	schema string
	limit  int
}

// NewPostgres returns a reader of schema; limit caps rows per query (0 = none).
func NewPostgres(pool *pgxpool.Pool, schema string, limit int) *Postgres {
	return &Postgres{pool: pool, schema: pgx.Identifier{schema}.Sanitize(), limit: limit}
}

// ErrTooMany is returned when a query matches more rows than the limit.
var ErrTooMany = errors.New("too many accounts")

// Query selects accounts.
type Query struct {
	Owner         []byte   // accounts.owner = Owner (program id)
	Owners        [][]byte // accounts.owner in Owners (token programs)
	TokenOwner    []byte
	TokenDelegate []byte
	TokenMint     []byte
	Filters       filter.Set
}

const columns = `pubkey, owner, slot, write_version, lamports, executable, rent_epoch, data, commitment,
	coalesce(program, ''), coalesce(account_type, ''), parsed::text, json_parsed, decode_status, coalesce(decode_error, '')`

// Accounts runs q and returns matching, existing (lamports > 0) accounts.
func (p *Postgres) Accounts(ctx context.Context, q Query) ([]*fireholev1.DecodedAccount, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if q.Owner != nil {
		where = append(where, "owner = "+arg(q.Owner))
	}
	if q.Owners != nil {
		where = append(where, "owner = ANY("+arg(q.Owners)+")")
	}
	if q.TokenOwner != nil {
		where = append(where, "token_owner = "+arg(q.TokenOwner))
	}
	if q.TokenDelegate != nil {
		where = append(where, "token_delegate = "+arg(q.TokenDelegate))
	}
	if q.TokenMint != nil {
		where = append(where, "token_mint = "+arg(q.TokenMint))
	}
	for _, f := range q.Filters {
		switch {
		case f.DataSize != nil:
			if *f.DataSize > 1<<31 {
				return nil, nil
			}
			where = append(where, "data_len = "+arg(int32(*f.DataSize)))
		case f.Memcmp != nil && f.Memcmp.Offset < 1<<30:
			where = append(where, fmt.Sprintf("substring(data from %d for %d) = %s",
				f.Memcmp.Offset+1, len(f.Memcmp.Bytes), arg(f.Memcmp.Bytes)))
		}
	}
	where = append(where, "lamports <> 0")
	sql := "SELECT " + columns + " FROM " + p.schema + ".accounts WHERE " + strings.Join(where, " AND ") + " ORDER BY pubkey"
	if p.limit > 0 {
		sql += fmt.Sprintf(" LIMIT %d", p.limit+1)
	}
	rows, err := p.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("query accounts: %w", err)
	}
	defer rows.Close()
	var out []*fireholev1.DecodedAccount
	for rows.Next() {
		a, err := scan(rows)
		if err != nil {
			return nil, err
		}
		if !q.Filters.Match(a.GetAccount().GetData()) {
			continue
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read accounts: %w", err)
	}
	if p.limit > 0 && len(out) > p.limit {
		return nil, ErrTooMany
	}
	return out, nil
}

// TokenBalance is one token account's address and the tokenAmount the
// parser computed for it (canonical JSON).
type TokenBalance struct {
	Pubkey []byte
	Amount []byte
}

// tokenAmountOrder orders token accounts by amount, largest first, ties by
// pubkey descending. Amounts are decimal strings without leading zeros, so
// (length, text) is numeric order with no cast that could fail. It must stay
// the expression of the persister's optional accounts_token_amount_idx
// (services/persister/internal/schema.TokenAmountOrder), which serves it.
const tokenAmountOrder = `length(parsed->'info'->'tokenAmount'->>'amount') DESC, (parsed->'info'->'tokenAmount'->>'amount') DESC, pubkey DESC`

// LargestTokenAccounts returns the n existing token accounts of mint (owned
// by the token program owner) with the largest amounts, largest first, ties
// by pubkey descending as agave's heap leaves them. Only decoded accounts
// carry an amount; the others are skipped.
func (p *Postgres) LargestTokenAccounts(ctx context.Context, mint, owner []byte, n int) ([]TokenBalance, error) {
	rows, err := p.pool.Query(ctx, `SELECT pubkey, (parsed->'info'->'tokenAmount')::text FROM `+p.schema+`.accounts
		WHERE token_mint = $1 AND owner = $2 AND lamports <> 0 AND decode_status = $3
		  AND parsed->'info'->'tokenAmount'->>'amount' IS NOT NULL
		ORDER BY `+tokenAmountOrder+` LIMIT $4`,
		mint, owner, int16(fireholev1.DecodeStatus_DECODE_STATUS_OK), n)
	if err != nil {
		return nil, fmt.Errorf("query largest token accounts: %w", err)
	}
	defer rows.Close()
	var out []TokenBalance
	for rows.Next() {
		var b TokenBalance
		var amount string
		if err := rows.Scan(&b.Pubkey, &amount); err != nil {
			return nil, fmt.Errorf("scan token balance: %w", err)
		}
		b.Amount = canonicalJSON([]byte(amount))
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read token balances: %w", err)
	}
	return out, nil
}

func scan(rows pgx.Rows) (*fireholev1.DecodedAccount, error) {
	var (
		pubkey, owner, data             []byte
		slot, wv, lamports, rentEpoch   int64
		executable, jsonParsed          bool
		commitment, status              int16
		program, accountType, decodeErr string
		parsed                          *string
	)
	if err := rows.Scan(&pubkey, &owner, &slot, &wv, &lamports, &executable, &rentEpoch, &data, &commitment,
		&program, &accountType, &parsed, &jsonParsed, &status, &decodeErr); err != nil {
		return nil, fmt.Errorf("scan account: %w", err)
	}
	a := &fireholev1.DecodedAccount{
		Account: &fireholev1.AccountUpdate{
			Pubkey: pubkey, Owner: owner, Slot: uint64(slot), WriteVersion: uint64(wv),
			Lamports: uint64(lamports), Executable: executable, RentEpoch: uint64(rentEpoch), Data: data,
			Commitment: fireholev1.Commitment(commitment),
		},
		Program: program, AccountType: accountType, JsonParsed: jsonParsed,
		Status: fireholev1.DecodeStatus(status), Error: decodeErr,
	}
	if parsed != nil {
		a.Parsed = canonicalJSON([]byte(*parsed))
	}
	return a, nil
}

// canonicalJSON re-encodes JSON with object keys in byte order, as agave's
// serde_json maps serialize; Postgres jsonb returns them shortest-first.
// Numbers keep their text.
func canonicalJSON(b []byte) []byte {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return b
	}
	var buf bytes.Buffer
	e := json.NewEncoder(&buf)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return b
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// LatestSlot reads the slots table (fallback when Redis has none).
func (p *Postgres) LatestSlot(ctx context.Context, commitment fireholev1.Commitment) (uint64, error) {
	var s int64
	err := p.pool.QueryRow(ctx, "SELECT slot FROM "+p.schema+".slots WHERE commitment = $1", int16(commitment)).Scan(&s)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("query slot: %w", err)
	}
	return uint64(s), nil
}

// Ping checks the pool (readiness).
func (p *Postgres) Ping(ctx context.Context) error { return p.pool.Ping(ctx) }
