package native

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/firehole/firehole/pkg/accountcache"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
)

// errSnapshotTooLarge ends a subscription whose snapshot exceeds the limit.
var errSnapshotTooLarge = errors.New("snapshot too large")

// snapshotBatch is how many accounts one MGet reads.
const snapshotBatch = 500

// snapshot sends the current state of every matching open account with
// cursor and records what it sent in sub.sent. It returns the count sent.
func (h *handler) snapshot(ctx context.Context, c *connection, sub *subscription, cursor uint64) (int, error) {
	sp := sub.spec
	n := 0
	emit := func(accts []*fireholev1.DecodedAccount) error {
		for _, a := range accts {
			if a == nil || a.GetAccount().GetLamports() == 0 || len(a.GetAccount().GetPubkey()) != 32 {
				continue
			}
			k := [32]byte(a.GetAccount().GetPubkey())
			if _, dup := sub.sent[k]; dup { // SSCAN may return a member twice
				continue
			}
			sub.sent[k] = versionOf(a)
			if !sp.matches(a) {
				continue
			}
			if sub.members != nil {
				sub.members[k] = struct{}{}
			}
			if n++; n > h.d.Limits.MaxSnapshotAccounts {
				return fmt.Errorf("%w: more than %d accounts", errSnapshotTooLarge, h.d.Limits.MaxSnapshotAccounts)
			}
			b := accountFrame("snapshot", sub.id, appendAccount(nil, a, sp.encoding), a.GetAccount().GetSlot(), cursor)
			if !c.send.pushWait(ctx, frame{b: b, sub: sub, cursor: cursor, hasCur: true}) {
				return context.Canceled
			}
		}
		return nil
	}
	var err error
	switch {
	case len(sp.programs) > 0:
		for _, p := range sp.programs {
			if err = accountcache.ProgramAccounts(ctx, h.d.Redis, h.d.KeyPrefix, p, emit); err != nil {
				break
			}
		}
	case len(sp.accounts) > 0:
		err = h.mget(ctx, sp.accounts, emit)
	case sp.token():
		err = h.tokenSnapshot(ctx, sp, emit)
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return n, ctx.Err()
	}
	return n, err
}

func (h *handler) mget(ctx context.Context, pubkeys []string, emit func([]*fireholev1.DecodedAccount) error) error {
	for i := 0; i < len(pubkeys); i += snapshotBatch {
		batch := pubkeys[i:min(i+snapshotBatch, len(pubkeys))]
		accts, err := accountcache.MGet(ctx, h.d.Redis, h.d.KeyPrefix, batch)
		if err != nil {
			return fmt.Errorf("read snapshot: %w", err)
		}
		if err := emit(accts); err != nil {
			return err
		}
	}
	return nil
}

// tokenSnapshot finds token accounts by owner and/or mint in Postgres (the
// indexed token_owner/token_mint columns) and reads their current state from
// Redis, which may be newer; spec.matches rechecks owner and mint on it.
func (h *handler) tokenSnapshot(ctx context.Context, sp *spec, emit func([]*fireholev1.DecodedAccount) error) error {
	if h.d.PG == nil {
		return errors.New("token snapshots need Postgres, which is not configured")
	}
	table := pgx.Identifier{h.d.Schema, "accounts"}.Sanitize()
	var rows pgx.Rows
	var err error
	switch {
	case sp.tokenOwner != nil && sp.tokenMint != nil:
		rows, err = h.d.PG.Query(ctx, "SELECT pubkey FROM "+table+" WHERE token_owner = $1 AND token_mint = $2 AND lamports > 0", sp.tokenOwner, sp.tokenMint)
	case sp.tokenOwner != nil:
		rows, err = h.d.PG.Query(ctx, "SELECT pubkey FROM "+table+" WHERE token_owner = $1 AND lamports > 0", sp.tokenOwner)
	default:
		rows, err = h.d.PG.Query(ctx, "SELECT pubkey FROM "+table+" WHERE token_mint = $1 AND lamports > 0", sp.tokenMint)
	}
	if err != nil {
		return fmt.Errorf("query token accounts: %w", err)
	}
	var keys []string
	for rows.Next() {
		var pk []byte
		if err := rows.Scan(&pk); err != nil {
			rows.Close()
			return fmt.Errorf("scan token account: %w", err)
		}
		if len(pk) == 32 {
			keys = append(keys, b58(pk))
		}
		if len(keys) > h.d.Limits.MaxSnapshotAccounts {
			rows.Close()
			return fmt.Errorf("%w: more than %d accounts", errSnapshotTooLarge, h.d.Limits.MaxSnapshotAccounts)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("query token accounts: %w", err)
	}
	return h.mget(ctx, keys, emit)
}
