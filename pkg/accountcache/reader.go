package accountcache

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/rueidis"
	"google.golang.org/protobuf/proto"

	"github.com/firehole/firehole/pkg/base58"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
)

// Get returns the latest stored state of one account, or ErrNotFound.
func Get(ctx context.Context, c rueidis.Client, prefix, pubkey string) (*fireholev1.DecodedAccount, error) {
	b, err := c.Do(ctx, c.B().Hget().Key(AccountKey(prefix, pubkey)).Field(FieldPB).Build()).AsBytes()
	if rueidis.IsRedisNil(err) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get account %s: %w", pubkey, err)
	}
	return decode(pubkey, b)
}

// MGet returns the latest state of each account, in order, with nil where
// an account is not stored. In a cluster the reads are spread over the nodes
// and pipelined.
func MGet(ctx context.Context, c rueidis.Client, prefix string, pubkeys []string) ([]*fireholev1.DecodedAccount, error) {
	if len(pubkeys) == 0 {
		return nil, nil
	}
	cmds := make(rueidis.Commands, len(pubkeys))
	for i, pk := range pubkeys {
		cmds[i] = c.B().Hget().Key(AccountKey(prefix, pk)).Field(FieldPB).Build()
	}
	out := make([]*fireholev1.DecodedAccount, len(pubkeys))
	for i, r := range c.DoMulti(ctx, cmds...) {
		b, err := r.AsBytes()
		if rueidis.IsRedisNil(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("get account %s: %w", pubkeys[i], err)
		}
		if out[i], err = decode(pubkeys[i], b); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func decode(pubkey string, b []byte) (*fireholev1.DecodedAccount, error) {
	var d fireholev1.DecodedAccount
	if err := proto.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("decode stored account %s: %w", pubkey, err)
	}
	return &d, nil
}

// ScanCount is the COUNT hint of each SSCAN call in ProgramMembers.
const ScanCount = 1000

// ProgramMembers calls fn with batches of the pubkeys in owner's program set
// until the set is exhausted or fn returns an error (which it returns).
// SSCAN semantics apply: a member present for the whole scan is returned at
// least once (rarely twice), members added or removed meanwhile may or may
// not be. The set is an index, not the truth: a pubkey may linger briefly
// after its account moved to another owner, so callers that need exactness
// check the owner of the account they read (ProgramAccounts does).
func ProgramMembers(ctx context.Context, c rueidis.Client, prefix, owner string, fn func(pubkeys []string) error) error {
	key := ProgramKey(prefix, owner)
	var cursor uint64
	for {
		e, err := c.Do(ctx, c.B().Sscan().Key(key).Cursor(cursor).Count(ScanCount).Build()).AsScanEntry()
		if err != nil {
			return fmt.Errorf("scan program %s: %w", owner, err)
		}
		if len(e.Elements) > 0 {
			if err := fn(e.Elements); err != nil {
				return err
			}
		}
		if e.Cursor == 0 {
			return nil
		}
		cursor = e.Cursor
	}
}

// ProgramAccounts calls fn with batches of the stored accounts that owner
// owns now and that are open (lamports > 0): ProgramMembers followed by
// MGet, dropping members whose stored owner differs or that are gone.
func ProgramAccounts(ctx context.Context, c rueidis.Client, prefix, owner string, fn func([]*fireholev1.DecodedAccount) error) error {
	ownerKey, err := base58.Decode32(owner)
	if err != nil {
		return fmt.Errorf("decode owner %q: %w", owner, err)
	}
	return ProgramMembers(ctx, c, prefix, owner, func(pks []string) error {
		accts, err := MGet(ctx, c, prefix, pks)
		if err != nil {
			return err
		}
		n := 0
		for _, a := range accts {
			if a == nil || a.GetAccount().GetLamports() == 0 || string(a.GetAccount().GetOwner()) != string(ownerKey[:]) {
				continue
			}
			accts[n] = a
			n++
		}
		if n == 0 {
			return nil
		}
		return fn(accts[:n])
	})
}

// LatestSlot returns the latest slot stored for commitment (processed,
// confirmed or finalized), or ErrNotFound.
func LatestSlot(ctx context.Context, c rueidis.Client, prefix, commitment string) (uint64, error) {
	s, err := c.Do(ctx, c.B().Get().Key(SlotKey(prefix, commitment)).Build()).ToString()
	if rueidis.IsRedisNil(err) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("get %s slot: %w", commitment, err)
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s slot %q: %w", commitment, s, err)
	}
	return v, nil
}
