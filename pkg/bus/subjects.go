// Package bus is Firehole's NATS JetStream contract in code: subject names,
// stream definitions, message ids and headers, the bounded publisher and the
// one delivery policy (ack, nak with growing delay, dead-letter then term).
//
// docs/bus-contract.md describes the same contract for other teams; a test
// keeps the two in step.
package bus

import (
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/cespare/xxhash/v2"

	"github.com/firehole/firehole/pkg/base58"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
)

// Version is the bus contract version; it is the second subject token.
const Version = "v1"

// Subject roots. Every Firehole subject starts with Root.
const (
	Root               = "firehole." + Version
	RawRoot            = Root + ".raw"
	RawAccountRoot     = RawRoot + ".account"
	RawSlotRoot        = RawRoot + ".slot"
	GapSubject         = RawRoot + ".gap"
	DecodedRoot        = Root + ".decoded"
	DecodedAccountRoot = DecodedRoot + ".account"
	DLQRoot            = Root + ".dlq"
)

// Partitions is the number of account partitions. The last token of an
// account subject is Partition(pubkey), so that N workers can each take a
// fixed share of accounts and still see one account's updates in order.
const Partitions = 16

// Partition maps a 32-byte pubkey to 0..Partitions-1 (FNV-1a 32 of the raw
// bytes, modulo Partitions). It is part of the contract: other languages
// compute the same value.
func Partition(pubkey []byte) int {
	h := uint32(2166136261)
	for _, c := range pubkey {
		h ^= uint32(c)
		h *= 16777619
	}
	return int(h % Partitions)
}

// RawAccountSubject is firehole.v1.raw.account.<owner>.<pubkey>.<partition>.
func RawAccountSubject(owner, pubkey []byte) string {
	return accountSubject(RawAccountRoot, owner, pubkey)
}

// DecodedAccountSubject is firehole.v1.decoded.account.<owner>.<pubkey>.<partition>.
func DecodedAccountSubject(owner, pubkey []byte) string {
	return accountSubject(DecodedAccountRoot, owner, pubkey)
}

func accountSubject(root string, owner, pubkey []byte) string {
	var pk [64]byte
	return accountSubjectKey(root, owner, pubkey, base58.AppendEncode(pk[:0], pubkey))
}

// accountSubjectKey is accountSubject with the pubkey already in base58.
func accountSubjectKey(root string, owner, pubkey, pubkey58 []byte) string {
	b := make([]byte, 0, len(root)+96)
	b = append(b, root...)
	b = append(b, '.')
	b = base58.AppendEncode(b, owner)
	b = append(b, '.')
	b = append(b, pubkey58...)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(Partition(pubkey)), 10)
	return string(b)
}

// RawAccountSubjectAndMsgID is RawAccountSubject and AccountMsgID of u,
// encoding its pubkey in base58 once (the ingestor's per-update path).
func RawAccountSubjectAndMsgID(u *fireholev1.AccountUpdate) (subject, msgID string) {
	var pk [64]byte
	pk58 := base58.AppendEncode(pk[:0], u.GetPubkey())
	return accountSubjectKey(RawAccountRoot, u.GetOwner(), u.GetPubkey(), pk58), accountMsgID(u, pk58)
}

// AccountFilter builds a subscription filter under root (RawAccountRoot or
// DecodedAccountRoot). Empty owner or pubkey means any; partition < 0 means any.
func AccountFilter(root, owner, pubkey string, partition int) string {
	tok := func(s string) string {
		if s == "" {
			return "*"
		}
		return s
	}
	p := "*"
	if partition >= 0 {
		p = strconv.Itoa(partition)
	}
	return root + "." + tok(owner) + "." + tok(pubkey) + "." + p
}

// SlotSubject is firehole.v1.raw.slot.<status>, status in lower case
// without the SLOT_STATUS_ prefix (processed, confirmed, finalized, ...).
func SlotSubject(s fireholev1.SlotStatus) string {
	return RawSlotRoot + "." + SlotStatusToken(s)
}

// SlotStatusToken is the subject token of a slot status.
func SlotStatusToken(s fireholev1.SlotStatus) string {
	name, ok := fireholev1.SlotStatus_name[int32(s)]
	if !ok {
		return "unknown"
	}
	return strings.ToLower(strings.TrimPrefix(name, "SLOT_STATUS_"))
}

// DLQSubject is firehole.v1.dlq.<stage>.
func DLQSubject(stage string) string { return DLQRoot + "." + stage }

// Header names set on Firehole messages, besides Nats-Msg-Id.
const (
	HeaderMsgID        = "Nats-Msg-Id"
	HeaderSlot         = "Firehole-Slot"
	HeaderWriteVersion = "Firehole-Write-Version"
	HeaderCommitment   = "Firehole-Commitment"
	HeaderSource       = "Firehole-Source"
	HeaderStatus       = "Firehole-Decode-Status"
	HeaderError        = "Firehole-Error"
)

// CommitmentToken is the lower-case name used in headers and docs.
func CommitmentToken(c fireholev1.Commitment) string {
	switch c {
	case fireholev1.Commitment_COMMITMENT_PROCESSED:
		return "processed"
	case fireholev1.Commitment_COMMITMENT_CONFIRMED:
		return "confirmed"
	case fireholev1.Commitment_COMMITMENT_FINALIZED:
		return "finalized"
	}
	return "unspecified"
}

// AccountMsgID is the semantic de-duplication key of an account update:
// commitment, pubkey, slot and a hash of the account's contents. It leaves
// out what differs between Geyser servers for the same write (write_version,
// created_at, matched filters), so two ingestors on two endpoints produce one
// copy in JetStream. The parser republishes the decoded form under the same id.
func AccountMsgID(u *fireholev1.AccountUpdate) string {
	var pk [64]byte
	return accountMsgID(u, base58.AppendEncode(pk[:0], u.GetPubkey()))
}

// accountMsgID is AccountMsgID with the pubkey already in base58.
func accountMsgID(u *fireholev1.AccountUpdate, pubkey58 []byte) string {
	var num [8]byte
	h := xxhash.New()
	put := func(v uint64) {
		for i := range num {
			num[i] = byte(v >> (8 * i))
		}
		_, _ = h.Write(num[:])
	}
	_, _ = h.Write(u.GetOwner())
	put(u.GetLamports())
	if u.GetExecutable() {
		put(1)
	} else {
		put(0)
	}
	put(u.GetRentEpoch())
	put(uint64(len(u.GetData())))
	_, _ = h.Write(u.GetData())
	if s := u.GetDataSlice(); s != nil {
		put(s.GetOffset())
		put(s.GetLength())
	}
	_, _ = h.Write(u.GetTxnSignature())
	sum := h.Sum64()
	for i := range num {
		num[i] = byte(sum >> (8 * i))
	}
	var b strings.Builder
	b.Grow(80)
	b.WriteString("a:")
	b.WriteString(CommitmentToken(u.GetCommitment()))
	b.WriteByte(':')
	b.Write(pubkey58)
	b.WriteByte(':')
	b.WriteString(strconv.FormatUint(u.GetSlot(), 10))
	b.WriteByte(':')
	b.WriteString(hex.EncodeToString(num[:]))
	return b.String()
}

// SlotMsgID is the de-duplication key of a slot update.
func SlotMsgID(u *fireholev1.SlotUpdate) string {
	return "s:" + strconv.FormatUint(u.GetSlot(), 10) + ":" + SlotStatusToken(u.GetStatus())
}

// GapMsgID is the de-duplication key of a gap event.
func GapMsgID(g *fireholev1.GapEvent) string {
	return "g:" + g.GetSource() + ":" + strconv.FormatUint(g.GetFromSlot(), 10) + ":" + strconv.FormatUint(g.GetToSlot(), 10)
}
