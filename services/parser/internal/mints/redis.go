package mints

import (
	"context"
	"errors"

	"github.com/redis/rueidis"

	"github.com/firehole/firehole/pkg/accountcache"
	"github.com/firehole/firehole/pkg/base58"
)

// RedisLookup reads an account's latest state from the cacher's Redis
// layout (pkg/accountcache).
type RedisLookup struct {
	client rueidis.Client
	prefix string
}

// NewRedisLookup reads keys under prefix with client; the caller owns client.
func NewRedisLookup(client rueidis.Client, prefix string) *RedisLookup {
	return &RedisLookup{client: client, prefix: prefix}
}

// Account implements Lookup.
func (l *RedisLookup) Account(ctx context.Context, pubkey [32]byte) (owner [32]byte, data []byte, slot uint64, found bool, err error) {
	d, err := accountcache.Get(ctx, l.client, l.prefix, base58.Encode(pubkey[:]))
	if errors.Is(err, accountcache.ErrNotFound) {
		return owner, nil, 0, false, nil
	}
	if err != nil {
		return owner, nil, 0, false, err
	}
	acc := d.GetAccount()
	if len(acc.GetOwner()) != 32 {
		return owner, nil, 0, false, nil
	}
	copy(owner[:], acc.GetOwner())
	return owner, acc.GetData(), acc.GetSlot(), true, nil
}
