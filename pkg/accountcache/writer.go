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
	if u.Slot != v.Slot {
		return u.Slot > v.Slot
	}
	if u.WriteVersion != v.WriteVersion {
		return u.WriteVersion > v.WriteVersion
	}
	return u.Status == fireholev1.DecodeStatus_DECODE_STATUS_OK && v.Status != fireholev1.DecodeStatus_DECODE_STATUS_OK
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
	sha       string
}

// NewWriter returns a Writer under prefix. closedTTL > 0 makes closed
// accounts (lamports 0) expire after it; 0 keeps them.
func NewWriter(c rueidis.Client, prefix string, closedTTL time.Duration) *Writer {
	sum := sha1.Sum([]byte(accountScript))
	return &Writer{c: c, prefix: prefix, closedTTL: closedTTL, sha: hex.EncodeToString(sum[:])}
}

// Write applies ups and returns one Result per update. All script calls go
// out in one pipeline (EVALSHA; on NOSCRIPT the script is loaded on every
// node and those calls repeat), then the program-set commands in a second
// one. Any Redis error fails the whole call; calling Write again with the
// same updates is always safe and completes what a failed call left undone.
//
// Program sets follow the stored state: an applied or duplicate update adds
// the pubkey to its owner's set (or removes it when the account is closed)
// and removes it from the previous owner's set.
func (w *Writer) Write(ctx context.Context, ups []Update) ([]Result, error) {
	if len(ups) == 0 {
		return nil, nil
	}
	ttl := "0"
	if w.closedTTL > 0 {
		ttl = strconv.FormatInt(max(w.closedTTL.Milliseconds(), 1), 10)
	}
	cmds := make(rueidis.Commands, len(ups))
	args := make([][]string, len(ups))
	for i := range ups {
		u := &ups[i]
		closed := "0"
		if u.Lamports == 0 {
			closed = "1"
		}
		args[i] = []string{
			strconv.FormatUint(u.Slot, 10),
			strconv.FormatUint(u.WriteVersion, 10),
			strconv.FormatInt(int64(u.Status), 10),
			u.Owner,
			rueidis.BinaryString(u.PB),
			strconv.FormatUint(u.Lamports, 10),
			closed,
			ttl,
		}
		cmds[i] = w.c.B().Evalsha().Sha1(w.sha).Numkeys(1).Key(AccountKey(w.prefix, u.Pubkey)).Arg(args[i]...).Build()
	}
	resps := w.c.DoMulti(ctx, cmds...)

	var missing []int
	for i, r := range resps {
		if rerr, ok := rueidis.IsRedisErr(r.Error()); ok && rerr.IsNoScript() {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		execs := make([]rueidis.LuaExec, len(missing))
		for j, i := range missing {
			execs[j] = rueidis.LuaExec{Keys: []string{AccountKey(w.prefix, ups[i].Pubkey)}, Args: args[i]}
		}
		for j, r := range AccountScript.ExecMulti(ctx, w.c, execs...) {
			resps[missing[j]] = r
		}
	}

	results := make([]Result, len(ups))
	// Per account: the owner of the last stored update, whether it is
	// closed, and every other owner it may be listed under.
	type membership struct {
		owner  string
		closed bool
		old    []string
	}
	members := map[string]*membership{}
	for i, r := range resps {
		vals, err := r.ToArray()
		if err != nil {
			return nil, fmt.Errorf("run account script for %s: %w", ups[i].Pubkey, err)
		}
		if len(vals) != 2 {
			return nil, fmt.Errorf("run account script for %s: reply has %d values", ups[i].Pubkey, len(vals))
		}
		res, err := vals[0].AsInt64()
		if err != nil {
			return nil, fmt.Errorf("read account script reply: %w", err)
		}
		powner, err := vals[1].ToString()
		if err != nil {
			return nil, fmt.Errorf("read account script reply: %w", err)
		}
		results[i] = Result(res)
		if results[i] == Stale {
			continue
		}
		u := &ups[i]
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
		return results, nil
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
			return nil, fmt.Errorf("update program sets: %w", err)
		}
	}
	return results, nil
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
