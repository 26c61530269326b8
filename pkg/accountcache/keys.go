// Package accountcache is the Redis layout of Firehole's latest account state
// (docs/redis-layout.md) in code: key names, the server-side scripts that
// guard writes by (slot, write_version), the Writer the cacher uses, and the
// read helpers the gateway and parser use.
//
// Layout, under a configurable prefix (default "fh:"):
//
//	<prefix>acct:{<pubkey>}   hash: pb, slot, wv, owner, status, lamports, powner
//	<prefix>prog:{<owner>}    set of account pubkeys owned by the program
//	<prefix>slot:<commitment> latest slot seen at processed|confirmed|finalized
//
// Pubkeys and owners are base58. The braces are a Redis Cluster hash tag, so
// each account's key lives in the slot of its pubkey and each program's set in
// the slot of its program id; no script touches more than one key.
package accountcache

import (
	"errors"
	"strings"
)

// DefaultPrefix is the key prefix when none is configured.
const DefaultPrefix = "fh:"

// Hash fields of an account key.
const (
	FieldPB       = "pb"       // protobuf bytes of fireholev1.DecodedAccount
	FieldSlot     = "slot"     // decimal
	FieldWV       = "wv"       // write_version, decimal
	FieldOwner    = "owner"    // base58 program id
	FieldStatus   = "status"   // fireholev1.DecodeStatus number, decimal
	FieldLamports = "lamports" // decimal
	FieldPOwner   = "powner"   // previous owner, set when the owner last changed
)

// ErrNotFound is returned by readers when the key does not exist.
var ErrNotFound = errors.New("accountcache: not found")

// AccountKey is <prefix>acct:{<pubkey>}.
func AccountKey(prefix, pubkey string) string {
	var b strings.Builder
	b.Grow(len(prefix) + len(pubkey) + 7)
	b.WriteString(prefix)
	b.WriteString("acct:{")
	b.WriteString(pubkey)
	b.WriteByte('}')
	return b.String()
}

// ProgramKey is <prefix>prog:{<owner>}, the set of accounts a program owns.
func ProgramKey(prefix, owner string) string {
	var b strings.Builder
	b.Grow(len(prefix) + len(owner) + 7)
	b.WriteString(prefix)
	b.WriteString("prog:{")
	b.WriteString(owner)
	b.WriteByte('}')
	return b.String()
}

// SlotKey is <prefix>slot:<commitment>, commitment one of processed,
// confirmed, finalized.
func SlotKey(prefix, commitment string) string {
	return prefix + "slot:" + commitment
}

// Commitments are the commitment names that have a slot key.
var Commitments = []string{"processed", "confirmed", "finalized"}
