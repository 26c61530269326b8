package accountcache

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"
	"google.golang.org/protobuf/proto"

	"github.com/firehole/firehole/pkg/base58"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
)

// Update is one account write for the Writer.
type Update struct {
	Pubkey       string // base58
	Owner        string // base58
	Slot         uint64
	WriteVersion uint64
	Status       fireholev1.DecodeStatus
	Lamports     uint64
	PB           []byte // fireholev1.DecodedAccount, stored as is
}

// Newer reports whether u would replace v under the script's rule: a greater
// (slot, write_version), or an equal one that upgrades a non-OK decode to OK.
func (u *Update) Newer(v *Update) bool {
	ok := fireholev1.DecodeStatus_DECODE_STATUS_OK
	return NewerVersion(u.Slot, u.WriteVersion, u.Status == ok, v.Slot, v.WriteVersion, v.Status == ok)
}

// NewerVersion is the stores' replacement rule on bare versions: version a
// (slot, write version, decoded OK) replaces b when its (slot,
// write_version) is greater, or equal with a decoded where b was not. The
// Lua script applies the same rule in Redis.
func NewerVersion(aSlot, aWV uint64, aOK bool, bSlot, bWV uint64, bOK bool) bool {
	if aSlot != bSlot {
		return aSlot > bSlot
	}
	if aWV != bWV {
		return aWV > bWV
	}
	return aOK && !bOK
}

// UpdateFromDecoded parses the bytes of a fireholev1.DecodedAccount (as
// published on firehole.v1.decoded.account.>) into an Update that stores the
// same bytes. It fails on anything that is not a well-formed account.
func UpdateFromDecoded(pb []byte) (Update, error) {
	var d fireholev1.DecodedAccount
	if err := proto.Unmarshal(pb, &d); err != nil {
		return Update{}, fmt.Errorf("unmarshal decoded account: %w", err)
	}
	a := d.GetAccount()
	if a == nil {
		return Update{}, errors.New("decoded account without account")
	}
	pk, ok := key32(a.GetPubkey())
	if !ok {
		return Update{}, fmt.Errorf("pubkey has %d bytes, want 32", len(a.GetPubkey()))
	}
	ow, ok := key32(a.GetOwner())
	if !ok {
		return Update{}, fmt.Errorf("owner has %d bytes, want 32", len(a.GetOwner()))
	}
	return Update{
		Pubkey:       base58.Encode32(pk),
		Owner:        base58.Encode32(ow),
		Slot:         a.GetSlot(),
		WriteVersion: a.GetWriteVersion(),
		Status:       d.GetStatus(),
		Lamports:     a.GetLamports(),
		PB:           pb,
	}, nil
}

func key32(b []byte) (*[32]byte, bool) {
	if len(b) != 32 {
		return nil, false
	}
	return (*[32]byte)(b), true
}

// Result is what the account script did with one update.
type Result uint8

const (
	Stale     Result = 0 // an update at least as new was stored; nothing written
	Applied   Result = 1 // the update is now the stored state
	Duplicate Result = 2 // the same version was already stored (a redelivery)
)

// Writer writes account and slot updates to Redis with the guarded scripts,
// one pipeline per call. It is safe for concurrent use; concurrent writers
// (goroutines or replicas) never move an account backwards.
type Writer struct {
	c         rueidis.Client
	prefix    string
	closedTTL time.Duration
	script    *rueidis.Lua // AccountBatchScript on one node, AccountScript in a cluster
	sha       string
	chunk     int // accounts per script call
}

// BatchChunk is how many accounts one call of the batched script applies; it
// bounds how long one call holds the Redis node.
const BatchChunk = 64

// NewWriter returns a Writer under prefix. closedTTL > 0 makes closed
// accounts (lamports 0) expire after it; 0 keeps them.
func NewWriter(c rueidis.Client, prefix string, closedTTL time.Duration) *Writer {
	return newWriter(c, prefix, closedTTL, c.Mode() == rueidis.ClientModeCluster)
}

// newWriter lets tests run the one-key-per-call (cluster) path on one node.
func newWriter(c rueidis.Client, prefix string, closedTTL time.Duration, oneKey bool) *Writer {
	w := &Writer{c: c, prefix: prefix, closedTTL: closedTTL, script: AccountBatchScript, chunk: BatchChunk}
	src := accountBatchScript
	if oneKey {
		w.script, w.chunk, src = AccountScript, 1, accountScript
	}
	sum := sha1.Sum([]byte(src))
	w.sha = hex.EncodeToString(sum[:])
	return w
}

// Write applies ups and returns one Result per update. The script calls go
// out in one pipeline (EVALSHA; on NOSCRIPT the script is loaded on every
// node and those calls repeat). Any Redis error fails the whole call;
// calling Write again with the same updates is always safe and completes
// what a failed call left undone.
//
// Program sets follow the stored state: an applied or duplicate update adds
// the pubkey to its owner's set (or removes it when the account is closed)
// and removes it from the previous owner's set. On a single node one script
// call applies up to BatchChunk accounts and updates the sets atomically with
// them, so concurrent writers never leave a set wrong. In a cluster each
// account is one call touching one key, the sets are updated by a second
// pipeline of idempotent SADD/SREM, and a third re-reads the accounts to undo
// what a racing writer of an older update did meanwhile (see reconcile).
func (w *Writer) Write(ctx context.Context, ups []Update) ([]Result, error) {
	if len(ups) == 0 {
		return nil, nil
	}
	ttl := "0"
	if w.closedTTL > 0 {
		ttl = strconv.FormatInt(max(w.closedTTL.Milliseconds(), 1), 10)
	}
	execs := make([]rueidis.LuaExec, 0, (len(ups)+w.chunk-1)/w.chunk)
	for from := 0; from < len(ups); from += w.chunk {
		part := ups[from:min(from+w.chunk, len(ups))]
		e := rueidis.LuaExec{Keys: make([]string, len(part)), Args: make([]string, 0, 1+7*len(part))}
		if w.chunk > 1 {
			e.Args = append(e.Args, ttl, w.prefix)
		}
		for i := range part {
			u := &part[i]
			closed := "0"
			if u.Lamports == 0 {
				closed = "1"
			}
			e.Keys[i] = AccountKey(w.prefix, u.Pubkey)
			e.Args = append(e.Args,
				strconv.FormatUint(u.Slot, 10),
				strconv.FormatUint(u.WriteVersion, 10),
				strconv.FormatInt(int64(u.Status), 10),
				u.Owner,
				rueidis.BinaryString(u.PB),
				strconv.FormatUint(u.Lamports, 10),
				closed,
			)
			if w.chunk == 1 {
				e.Args = append(e.Args, ttl)
			}
		}
		execs = append(execs, e)
	}
	cmds := make(rueidis.Commands, len(execs))
	for i, e := range execs {
		cmds[i] = w.c.B().Evalsha().Sha1(w.sha).Numkeys(int64(len(e.Keys))).Key(e.Keys...).Arg(e.Args...).Build()
	}
	resps := w.c.DoMulti(ctx, cmds...)

	var missing []int
	for i, r := range resps {
		if rerr, ok := rueidis.IsRedisErr(r.Error()); ok && rerr.IsNoScript() {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		again := make([]rueidis.LuaExec, len(missing))
		for j, i := range missing {
			again[j] = execs[i]
		}
		for j, r := range w.script.ExecMulti(ctx, w.c, again...) {
			resps[missing[j]] = r
		}
	}
	// Each reply is {result, powner} per account of its call, in order.
	results := make([]Result, len(ups))
	var powners []string // the cluster path needs them for the sets
	if w.chunk == 1 {
		powners = make([]string, len(ups))
	}
	k := 0
	for i, r := range resps {
		vals, err := r.ToArray()
		if err != nil {
			return nil, fmt.Errorf("run account script: %w", err)
		}
		if len(vals) != 2*len(execs[i].Keys) {
			return nil, fmt.Errorf("run account script: reply has %d values for %d accounts", len(vals), len(execs[i].Keys))
		}
		for j := 0; j < len(vals); j, k = j+2, k+1 {
			n, err := vals[j].AsInt64()
			if err != nil {
				return nil, fmt.Errorf("read account script reply: %w", err)
			}
			results[k] = Result(n)
			if powners != nil {
				if powners[k], err = vals[j+1].ToString(); err != nil {
					return nil, fmt.Errorf("read account script reply: %w", err)
				}
			}
		}
	}
	if w.chunk > 1 {
		// The batched script has updated the program sets itself.
		return results, nil
	}
	members := map[string]*membership{}
	for i := range ups {
		if results[i] == Stale {
			continue
		}
		u, powner := &ups[i], powners[i]
		m := members[u.Pubkey]
		if m == nil {
			m = &membership{}
			members[u.Pubkey] = m
		} else if m.owner != u.Owner {
			m.old = append(m.old, m.owner)
		}
		m.owner, m.closed = u.Owner, u.Lamports == 0
		if powner != "" && powner != u.Owner {
			m.old = append(m.old, powner)
		}
	}
	if err := w.updateSets(ctx, members); err != nil {
		return nil, err
	}
	if err := w.reconcile(ctx, members); err != nil {
		return nil, err
	}
	return results, nil
}

// membership is, for one account in a Write, the owner of the last update
// stored, whether that update closed it, and every other owner it may be
// listed under.
type membership struct {
	owner  string
	closed bool
	old    []string
}

// updateSets sends the set commands that follow from the stored updates.
func (w *Writer) updateSets(ctx context.Context, members map[string]*membership) error {
	adds := map[string][]string{}
	rems := map[string][]string{}
	for pk, m := range members {
		if m.closed {
			rems[m.owner] = append(rems[m.owner], pk)
		} else {
			adds[m.owner] = append(adds[m.owner], pk)
		}
		for _, o := range m.old {
			if o != m.owner {
				rems[o] = append(rems[o], pk)
			}
		}
	}
	if len(adds)+len(rems) == 0 {
		return nil
	}
	set := make(rueidis.Commands, 0, len(adds)+len(rems))
	for owner, members := range rems {
		set = append(set, w.c.B().Srem().Key(ProgramKey(w.prefix, owner)).Member(members...).Build())
	}
	for owner, members := range adds {
		set = append(set, w.c.B().Sadd().Key(ProgramKey(w.prefix, owner)).Member(members...).Build())
	}
	for _, r := range w.c.DoMulti(ctx, set...) {
		if err := r.Error(); err != nil {
			return fmt.Errorf("update program sets: %w", err)
		}
	}
	return nil
}

// reconcile closes the race between writers in a cluster, where the sets
// are changed apart from the account: after its own set commands it reads
// the stored owner and lamports of each account again, and where they differ
// from what it wrote (a newer update was stored meanwhile, possibly by
// another replica whose set commands ran before this one's), it moves the
// pubkey to where the stored state says. Every set command is thus followed
// by its writer reading the state again; only two owner changes of one
// account racing each other can still leave a set behind until the
// account's next update.
func (w *Writer) reconcile(ctx context.Context, members map[string]*membership) error {
	if len(members) == 0 {
		return nil
	}
	pks := make([]string, 0, len(members))
	cmds := make(rueidis.Commands, 0, len(members))
	for pk := range members {
		pks = append(pks, pk)
		cmds = append(cmds, w.c.B().Hmget().Key(AccountKey(w.prefix, pk)).Field(FieldOwner, FieldLamports).Build())
	}
	var fix rueidis.Commands
	for i, r := range w.c.DoMulti(ctx, cmds...) {
		vals, err := r.ToArray()
		if err != nil {
			return fmt.Errorf("re-read account %s: %w", pks[i], err)
		}
		owner, err := vals[0].ToString()
		if err != nil {
			continue // gone (expired): nothing to say about its sets
		}
		lamports, _ := vals[1].ToString()
		m, pk := members[pks[i]], pks[i]
		open := lamports != "0"
		if owner == m.owner && open == !m.closed {
			continue
		}
		if !m.closed && m.owner != owner {
			fix = append(fix, w.c.B().Srem().Key(ProgramKey(w.prefix, m.owner)).Member(pk).Build())
		}
		if open {
			fix = append(fix, w.c.B().Sadd().Key(ProgramKey(w.prefix, owner)).Member(pk).Build())
		} else {
			fix = append(fix, w.c.B().Srem().Key(ProgramKey(w.prefix, owner)).Member(pk).Build())
		}
	}
	for _, r := range w.c.DoMulti(ctx, fix...) {
		if err := r.Error(); err != nil {
			return fmt.Errorf("reconcile program sets: %w", err)
		}
	}
	return nil
}

// WriteSlot raises <prefix>slot:<commitment> to slot unless it holds a
// greater one. It reports whether the key was raised.
func (w *Writer) WriteSlot(ctx context.Context, commitment string, slot uint64) (bool, error) {
	n, err := SlotScript.Exec(ctx, w.c, []string{SlotKey(w.prefix, commitment)}, []string{strconv.FormatUint(slot, 10)}).AsInt64()
	if err != nil {
		return false, fmt.Errorf("write %s slot: %w", commitment, err)
	}
	return n == 1, nil
}
