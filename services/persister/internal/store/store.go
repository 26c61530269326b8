package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/firehole/firehole/services/persister/internal/schema"
)

// stagingTable is created once per connection (see Prepare) and emptied by
// every commit or rollback.
const stagingTable = "persister_staging"

var columns = []string{
	"pubkey", "owner", "slot", "write_version", "lamports", "executable", "rent_epoch",
	"data", "data_len", "txn_signature", "commitment", "program", "account_type",
	"parsed", "json_parsed", "decode_status", "decode_error",
	"token_owner", "token_mint", "token_delegate",
}

// Options choose what Store writes.
type Options struct {
	Schema                string
	History               bool   // also insert every update into account_history
	HistoryPartitionSlots uint64 // width of an account_history partition
	// ObservePhase, if set, gets the duration of each phase of a batch
	// write: "copy", "history", "upsert", "commit".
	ObservePhase func(phase string, d time.Duration)
}

// Store writes batches of account updates and slots. It is safe for
// concurrent use; each call runs in its own transaction.
type Store struct {
	pool *pgxpool.Pool
	opt  Options

	upsertSQL  string
	historySQL string

	mu         sync.Mutex
	partitions map[int64]bool // account_history partitions known to exist, by first slot
	createMu   sync.Mutex     // serializes partition creation
}

// PrepareConn creates the session's staging table; install it as the pool's
// AfterConnect hook (PoolConfig).
func PrepareConn(ctx context.Context, conn *pgx.Conn) error {
	_, err := conn.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS `+stagingTable+` (
		pubkey bytea, owner bytea, slot bigint, write_version bigint, lamports bigint,
		executable boolean, rent_epoch bigint, data bytea, data_len integer, txn_signature bytea,
		commitment smallint, program text, account_type text, parsed jsonb, json_parsed boolean,
		decode_status smallint, decode_error text, token_owner bytea, token_mint bytea, token_delegate bytea
	) ON COMMIT DELETE ROWS`)
	if err != nil {
		return fmt.Errorf("create staging table: %w", err)
	}
	return nil
}

// PoolConfig parses url into a pool configuration whose connections have the
// staging table.
func PoolConfig(url string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse postgres url: %w", err)
	}
	cfg.AfterConnect = PrepareConn
	return cfg, nil
}

// New returns a Store on pool, whose connections must come from PoolConfig.
func New(pool *pgxpool.Pool, opt Options) *Store {
	if opt.HistoryPartitionSlots == 0 {
		opt.HistoryPartitionSlots = 432000
	}
	s := schema.Ident(opt.Schema)
	cols := "pubkey, owner, slot, write_version, lamports, executable, rent_epoch, data, data_len, txn_signature, commitment, program, account_type, parsed, json_parsed, decode_status, decode_error"
	return &Store{
		pool:       pool,
		opt:        opt,
		partitions: map[int64]bool{},
		// DISTINCT ON keeps one row per account (the newest; an OK decode wins a
		// tie) because ON CONFLICT cannot touch a row twice in one statement.
		// Rows go in pubkey order, so concurrent writers lock in the same order.
		upsertSQL: `INSERT INTO ` + s + `.accounts AS a (` + cols + `, token_owner, token_mint, token_delegate, updated_at)
SELECT DISTINCT ON (pubkey) ` + cols + `, token_owner, token_mint, token_delegate, now()
FROM ` + stagingTable + `
ORDER BY pubkey, slot DESC, write_version DESC, (decode_status = 1) DESC
ON CONFLICT (pubkey) DO UPDATE SET
  owner = excluded.owner, slot = excluded.slot, write_version = excluded.write_version,
  lamports = excluded.lamports, executable = excluded.executable, rent_epoch = excluded.rent_epoch,
  data = excluded.data, data_len = excluded.data_len, txn_signature = excluded.txn_signature,
  commitment = excluded.commitment, program = excluded.program, account_type = excluded.account_type,
  parsed = excluded.parsed, json_parsed = excluded.json_parsed, decode_status = excluded.decode_status,
  decode_error = excluded.decode_error, token_owner = excluded.token_owner, token_mint = excluded.token_mint,
  token_delegate = excluded.token_delegate, updated_at = excluded.updated_at
WHERE (excluded.slot, excluded.write_version) > (a.slot, a.write_version)
   OR ((excluded.slot, excluded.write_version) = (a.slot, a.write_version) AND a.decode_status <> 1 AND excluded.decode_status = 1)`,
		historySQL: `INSERT INTO ` + s + `.account_history AS h (` + cols + `)
SELECT DISTINCT ON (pubkey, slot, write_version) ` + cols + `
FROM ` + stagingTable + `
ORDER BY pubkey, slot, write_version, (decode_status = 1) DESC
ON CONFLICT (pubkey, slot, write_version) DO UPDATE SET
  parsed = excluded.parsed, json_parsed = excluded.json_parsed, program = excluded.program,
  account_type = excluded.account_type, decode_status = excluded.decode_status, decode_error = excluded.decode_error
WHERE h.decode_status <> 1 AND excluded.decode_status = 1`,
	}
}

// Result says what one batch did.
type Result struct {
	Staged  int   // rows copied (after in-batch de-duplication)
	Changed int64 // accounts inserted or moved forward
}

// Dedup keeps, per pubkey, the row that Newer ranks highest, preserving
// first-seen order. It reuses rows' backing array.
func Dedup(rows []Row) []Row {
	if len(rows) < 2 {
		return rows
	}
	idx := make(map[[32]byte]int, len(rows))
	out := rows[:0]
	for _, r := range rows {
		k := [32]byte(r.Pubkey)
		if i, ok := idx[k]; ok {
			if r.Newer(&out[i]) {
				out[i] = r
			}
			continue
		}
		idx[k] = len(out)
		out = append(out, r)
	}
	return out
}

// WriteAccounts stores rows in one transaction. Without history, rows are
// de-duplicated first (rows is reordered in place). Nothing is written when
// it returns an error.
func (s *Store) WriteAccounts(ctx context.Context, rows []Row) (Result, error) {
	if len(rows) == 0 {
		return Result{}, nil
	}
	if s.opt.History {
		if err := s.ensurePartitions(ctx, rows); err != nil {
			return Result{}, err
		}
	} else {
		rows = Dedup(rows)
	}
	var res Result
	t := time.Now()
	phase := func(name string) {
		if s.opt.ObservePhase != nil {
			now := time.Now()
			s.opt.ObservePhase(name, now.Sub(t))
			t = now
		}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		n, err := tx.CopyFrom(ctx, pgx.Identifier{stagingTable}, columns, &rowSource{rows: rows, i: -1})
		if err != nil {
			return fmt.Errorf("copy into staging: %w", err)
		}
		res.Staged = int(n)
		phase("copy")
		if s.opt.History {
			if _, err := tx.Exec(ctx, s.historySQL); err != nil {
				return fmt.Errorf("insert history: %w", err)
			}
			phase("history")
		}
		tag, err := tx.Exec(ctx, s.upsertSQL)
		if err != nil {
			return fmt.Errorf("upsert accounts: %w", err)
		}
		res.Changed = tag.RowsAffected()
		phase("upsert")
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	phase("commit")
	return res, nil
}

// WriteSlots moves each commitment's latest slot forward (never back).
func (s *Store) WriteSlots(ctx context.Context, slots []SlotRow) error {
	if len(slots) == 0 {
		return nil
	}
	cs := make([]int16, len(slots))
	ss := make([]int64, len(slots))
	for i, r := range slots {
		cs[i], ss[i] = r.Commitment, r.Slot
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO `+schema.Ident(s.opt.Schema)+`.slots AS t (commitment, slot, updated_at)
SELECT c, max(sl), now() FROM unnest($1::smallint[], $2::bigint[]) AS u(c, sl) GROUP BY c ORDER BY c
ON CONFLICT (commitment) DO UPDATE SET slot = excluded.slot, updated_at = excluded.updated_at
WHERE excluded.slot > t.slot`, cs, ss)
	if err != nil {
		return fmt.Errorf("upsert slots: %w", err)
	}
	return nil
}

// IsDataError reports errors caused by the rows themselves (SQLSTATE class
// 22 data exception or 23 integrity violation): retrying the same batch
// cannot succeed, so the caller isolates the bad rows instead.
func IsDataError(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || len(pe.Code) < 2 {
		return false
	}
	return pe.Code[:2] == "22" || pe.Code[:2] == "23"
}

// rowSource feeds CopyFrom without building a [][]any.
type rowSource struct {
	rows []Row
	i    int
	vals [20]any
}

func (r *rowSource) Next() bool { r.i++; return r.i < len(r.rows) }
func (r *rowSource) Err() error { return nil }

func (r *rowSource) Values() ([]any, error) {
	x := &r.rows[r.i]
	v := r.vals[:]
	v[0], v[1], v[2], v[3], v[4] = x.Pubkey, x.Owner, x.Slot, x.WriteVersion, x.Lamports
	v[5], v[6], v[7], v[8] = x.Executable, x.RentEpoch, x.Data, int32(len(x.Data))
	v[9], v[10], v[11], v[12] = nilBytes(x.TxnSignature), x.Commitment, nilString(x.Program), nilString(x.AccountType)
	v[13], v[14], v[15], v[16] = nilJSON(x.Parsed), x.JSONParsed, x.DecodeStatus, nilString(x.DecodeError)
	v[17], v[18], v[19] = nilBytes(x.TokenOwner), nilBytes(x.TokenMint), nilBytes(x.TokenDelegate)
	return v, nil
}

func nilBytes(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

func nilJSON(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

func nilString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
