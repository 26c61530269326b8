// Package mints keeps what the parser knows about token mints: a bounded,
// sharded cache fed by mint accounts seen in the stream and, on a miss, by
// an outside Lookup (Redis, where the cacher keeps every account's latest
// state).
package mints

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/firehole/firehole/pkg/base58"
)

// Extract reads a mint's info from an account, reporting false when the
// account is not a mint (wrong owner, wrong layout, uninitialized).
type Extract[T any] func(owner [32]byte, data []byte) (T, bool)

// Lookup finds an account's latest state outside the stream.
type Lookup interface {
	Account(ctx context.Context, pubkey [32]byte) (owner [32]byte, data []byte, slot uint64, found bool, err error)
}

const shardCount = 64

type item[T any] struct {
	info T
	slot uint64
}

type shard[T any] struct {
	mu sync.RWMutex
	m  map[[32]byte]item[T]
}

// Book is the mint cache. It is safe for concurrent use; Mint is what token
// decoders call (it satisfies jsonparsed.MintSource when T is
// jsonparsed.MintInfo).
type Book[T any] struct {
	shards   [shardCount]shard[T]
	extract  Extract[T]
	lookup   Lookup
	perShard int
	size     atomic.Int64
}

// NewBook returns an empty book holding at most about maxMints mints
// (beyond that an arbitrary mint is forgotten for each new one). lookup may
// be nil: then only the stream feeds the book.
func NewBook[T any](extract Extract[T], lookup Lookup, maxMints int) *Book[T] {
	b := &Book[T]{extract: extract, lookup: lookup, perShard: max(maxMints/shardCount, 1)}
	for i := range b.shards {
		b.shards[i].m = make(map[[32]byte]item[T])
	}
	return b
}

func (b *Book[T]) shard(k *[32]byte) *shard[T] {
	return &b.shards[(uint(k[0])|uint(k[31])<<8)%shardCount]
}

// Mint returns what is known about the mint at pubkey.
func (b *Book[T]) Mint(pubkey [32]byte) (T, bool) {
	s := b.shard(&pubkey)
	s.mu.RLock()
	it, ok := s.m[pubkey]
	s.mu.RUnlock()
	return it.info, ok
}

// Known reports whether the mint at pubkey is known.
func (b *Book[T]) Known(pubkey [32]byte) bool {
	_, ok := b.Mint(pubkey)
	return ok
}

// Len is the number of mints known.
func (b *Book[T]) Len() int { return int(b.size.Load()) }

// Learn records the account if it is a mint, keeping the state of the
// highest slot seen. It reports whether the account was a mint.
func (b *Book[T]) Learn(owner, pubkey [32]byte, data []byte, slot uint64) bool {
	info, ok := b.extract(owner, data)
	if !ok {
		return false
	}
	b.put(pubkey, info, slot)
	return true
}

func (b *Book[T]) put(pubkey [32]byte, info T, slot uint64) {
	s := b.shard(&pubkey)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.m[pubkey]; ok {
		if slot >= old.slot {
			s.m[pubkey] = item[T]{info, slot}
		}
		return
	}
	if len(s.m) >= b.perShard {
		for k := range s.m { // forget an arbitrary mint; it comes back from the stream or Lookup
			delete(s.m, k)
			b.size.Add(-1)
			break
		}
	}
	s.m[pubkey] = item[T]{info, slot}
	b.size.Add(1)
}

// ErrNoLookup is returned by Fetch for an unknown mint when the book has no
// Lookup.
var ErrNoLookup = errors.New("no outside mint lookup configured")

// Fetch asks the Lookup for the mint at pubkey and records it when found.
// It reports whether the mint is known afterwards. Without a Lookup it only
// checks the cache and returns ErrNoLookup for an unknown mint.
func (b *Book[T]) Fetch(ctx context.Context, pubkey [32]byte) (bool, error) {
	if b.Known(pubkey) {
		return true, nil
	}
	if b.lookup == nil {
		return false, ErrNoLookup
	}
	owner, data, slot, found, err := b.lookup.Account(ctx, pubkey)
	if err != nil {
		return false, fmt.Errorf("look up mint %s: %w", base58.Encode(pubkey[:]), err)
	}
	if !found {
		return false, nil
	}
	return b.Learn(owner, pubkey, data, slot), nil
}
