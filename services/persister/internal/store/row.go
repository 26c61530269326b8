// Package store writes account and slot state into Postgres: COPY into a
// per-connection temporary staging table, then one set-based upsert that only
// moves an account forward (see docs/postgres-schema.md for the rule).
package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"github.com/firehole/firehole/pkg/solana"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
)

// Row is one account update as it is stored.
type Row struct {
	Pubkey        []byte
	Owner         []byte
	Slot          int64
	WriteVersion  int64
	Lamports      int64
	Executable    bool
	RentEpoch     int64 // u64 bit pattern
	Data          []byte
	TxnSignature  []byte // nil when unknown
	Commitment    int16
	Program       string
	AccountType   string
	Parsed        []byte // nil unless decoded
	JSONParsed    bool
	DecodeStatus  int16
	DecodeError   string
	TokenOwner    []byte
	TokenMint     []byte
	TokenDelegate []byte
}

const statusOK = int16(fireholev1.DecodeStatus_DECODE_STATUS_OK)

// Newer reports whether r should replace cur: the same rule as the SQL
// upsert and the Redis script.
func (r *Row) Newer(cur *Row) bool {
	if r.Slot != cur.Slot {
		return r.Slot > cur.Slot
	}
	if r.WriteVersion != cur.WriteVersion {
		return r.WriteVersion > cur.WriteVersion
	}
	return cur.DecodeStatus != statusOK && r.DecodeStatus == statusOK
}

// Errors of malformed messages; Parse wraps them.
var (
	ErrBadProtobuf = errors.New("bad protobuf")
	ErrBadAccount  = errors.New("bad account")
)

// Parse decodes a DecodedAccount message body and checks everything Postgres
// would reject, so that one bad message never fails a batch.
func Parse(body []byte) (Row, error) {
	var m fireholev1.DecodedAccount
	if err := proto.Unmarshal(body, &m); err != nil {
		return Row{}, fmt.Errorf("%w: %v", ErrBadProtobuf, err)
	}
	return FromDecoded(&m)
}

// FromDecoded converts and validates one decoded account.
func FromDecoded(m *fireholev1.DecodedAccount) (Row, error) {
	a := m.GetAccount()
	if a == nil {
		return Row{}, fmt.Errorf("%w: no account", ErrBadAccount)
	}
	if len(a.GetPubkey()) != 32 {
		return Row{}, fmt.Errorf("%w: pubkey is %d bytes, want 32", ErrBadAccount, len(a.GetPubkey()))
	}
	if len(a.GetOwner()) != 32 {
		return Row{}, fmt.Errorf("%w: owner is %d bytes, want 32", ErrBadAccount, len(a.GetOwner()))
	}
	if a.GetSlot() > 1<<63-1 || a.GetWriteVersion() > 1<<63-1 || a.GetLamports() > 1<<63-1 {
		return Row{}, fmt.Errorf("%w: slot, write_version or lamports beyond int64", ErrBadAccount)
	}
	r := Row{
		Pubkey:       a.GetPubkey(),
		Owner:        a.GetOwner(),
		Slot:         int64(a.GetSlot()),
		WriteVersion: int64(a.GetWriteVersion()),
		Lamports:     int64(a.GetLamports()),
		Executable:   a.GetExecutable(),
		RentEpoch:    int64(a.GetRentEpoch()), // u64::MAX becomes -1 by design
		Data:         a.GetData(),
		Commitment:   int16(a.GetCommitment()),
		Program:      noNUL(m.GetProgram()),
		AccountType:  noNUL(m.GetAccountType()),
		JSONParsed:   m.GetJsonParsed(),
		DecodeStatus: int16(m.GetStatus()),
		DecodeError:  noNUL(m.GetError()),
	}
	if r.Data == nil {
		r.Data = []byte{}
	}
	if sig := a.GetTxnSignature(); len(sig) > 0 {
		r.TxnSignature = sig
	}
	if p := m.GetParsed(); len(p) > 0 {
		if err := checkJSONB(p); err != nil {
			return Row{}, fmt.Errorf("%w: parsed: %v", ErrBadAccount, err)
		}
		r.Parsed = p
	}
	if a.GetDataSlice() == nil && isTokenAccount(a.GetOwner(), m.GetAccountType(), r.Data) {
		r.TokenMint = r.Data[0:32]
		r.TokenOwner = r.Data[32:64]
		if binary.LittleEndian.Uint32(r.Data[72:76]) == 1 {
			r.TokenDelegate = r.Data[76:108]
		}
	}
	return r, nil
}

// isTokenAccount: an SPL Token or Token-2022 token account (not a mint or
// multisig). The base layout is 165 bytes; Token-2022 accounts with
// extensions are longer and carry AccountType 2 (Account) at byte 165.
func isTokenAccount(owner []byte, accountType string, data []byte) bool {
	switch {
	case bytes.Equal(owner, solana.TokenProgramID[:]):
		if len(data) != 165 {
			return false
		}
	case bytes.Equal(owner, solana.Token2022ProgramID[:]):
		// 355 is a multisig; Token-2022 never sizes an account to it.
		if len(data) < 165 || len(data) == 355 || (len(data) > 165 && data[165] != 2) {
			return false
		}
	default:
		return false
	}
	if accountType != "" && accountType != "account" {
		return false
	}
	// State byte at 108: 0 uninitialized, 1 initialized, 2 frozen.
	return data[108] == 1 || data[108] == 2
}

// checkJSONB rejects what Postgres's jsonb input would refuse (and so would
// fail a whole COPY): invalid UTF-8, invalid JSON, and the \u0000 escape.
func checkJSONB(p []byte) error {
	if !utf8.Valid(p) {
		return errors.New("not UTF-8")
	}
	if !json.Valid(p) {
		return errors.New("not JSON")
	}
	if bytes.Contains(p, []byte(`\u0000`)) {
		return errors.New(`contains \u0000, which jsonb cannot store`)
	}
	return nil
}

// noNUL drops NUL characters, which Postgres text cannot hold.
func noNUL(s string) string {
	if strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\x00", "")
}

// SlotRow is the latest slot seen at one commitment.
type SlotRow struct {
	Commitment int16
	Slot       int64
}

// SlotFromUpdate maps a slot status to the commitment it establishes; ok is
// false for statuses the slots table does not track (dead, completed, ...).
func SlotFromUpdate(u *fireholev1.SlotUpdate) (SlotRow, bool) {
	var c fireholev1.Commitment
	switch u.GetStatus() {
	case fireholev1.SlotStatus_SLOT_STATUS_PROCESSED:
		c = fireholev1.Commitment_COMMITMENT_PROCESSED
	case fireholev1.SlotStatus_SLOT_STATUS_CONFIRMED:
		c = fireholev1.Commitment_COMMITMENT_CONFIRMED
	case fireholev1.SlotStatus_SLOT_STATUS_FINALIZED:
		c = fireholev1.Commitment_COMMITMENT_FINALIZED
	default:
		return SlotRow{}, false
	}
	if u.GetSlot() > 1<<63-1 {
		return SlotRow{}, false
	}
	return SlotRow{Commitment: int16(c), Slot: int64(u.GetSlot())}, true
}
