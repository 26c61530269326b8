// Package decoders maps program ids to the decoders of their accounts.
//
// The Registry is built explicitly at start (see the service package): the
// jsonParsed programs, every Anchor IDL in the configured directory and
// Metaplex Token Metadata. A program id registered twice is an error, so two
// sources can never silently disagree about who decodes an owner.
package decoders

import (
	"errors"
	"fmt"

	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/services/parser/internal/jsonparsed"
)

// Account is one account to decode. Data is only read during the call.
type Account struct {
	Owner, Pubkey [32]byte
	Data          []byte
	// UnixTimestamp is the cluster clock, for Token-2022 interest-bearing and
	// scaled UI amounts.
	UnixTimestamp int64
}

// Decoder decodes the accounts of one program (or, for jsonParsed, of a
// family of programs). AppendDecode appends one JSON value to dst and names
// the program and account type; on error dst is returned unchanged, and
// program/accountType are set as far as they are known.
type Decoder interface {
	AppendDecode(dst []byte, acc Account) (out []byte, program, accountType string, err error)
}

// Result is a successful decode.
type Result struct {
	Program     string
	AccountType string
	// JSONParsed is true when Parsed is exactly Solana RPC's jsonParsed
	// "parsed" member.
	JSONParsed bool
	Parsed     []byte
}

// ErrUnknownProgram is returned by Decode when no decoder is registered for
// the account's owner.
var ErrUnknownProgram = errors.New("no decoder for program")

// ErrNotParsable is wrapped by errors for accounts whose owner has a decoder
// but whose layout is not one it parses (Solana RPC falls back to base64).
var ErrNotParsable = jsonparsed.ErrNotParsable

// AwaitingMintError is returned for a token account whose mint is not known
// yet: its amounts cannot be rendered without the mint's decimals, and
// decimals are never guessed.
type AwaitingMintError struct {
	Mint [32]byte
}

func (e *AwaitingMintError) Error() string {
	return "mint " + base58.Encode(e.Mint[:]) + " not known yet"
}

type entry struct {
	name       string
	jsonParsed bool
	dec        Decoder
}

// Registry maps program ids to decoders. Build it with Add before use; it
// is then read-only and safe for concurrent use.
type Registry struct {
	byID map[[32]byte]entry
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{byID: make(map[[32]byte]entry)}
}

// Add registers dec for program id under a name used in errors and logs.
// jsonParsed says whether dec produces RPC jsonParsed output. A program id
// that is already registered is an error.
func (r *Registry) Add(id [32]byte, name string, jsonParsed bool, dec Decoder) error {
	if prev, ok := r.byID[id]; ok {
		return fmt.Errorf("register %s: program id %s already registered by %s", name, base58.Encode(id[:]), prev.name)
	}
	r.byID[id] = entry{name: name, jsonParsed: jsonParsed, dec: dec}
	return nil
}

// Len is the number of registered program ids.
func (r *Registry) Len() int { return len(r.byID) }

// Has reports whether owner has a decoder.
func (r *Registry) Has(owner [32]byte) bool {
	_, ok := r.byID[owner]
	return ok
}

// Decode decodes acc with the decoder of its owner, appending the JSON to
// dst (Result.Parsed aliases the appended part). Errors: ErrUnknownProgram,
// *AwaitingMintError, or the decoder's error; in every error case the
// returned Result still names the program and account type as far as known.
func (r *Registry) Decode(dst []byte, acc Account) (Result, error) {
	e, ok := r.byID[acc.Owner]
	if !ok {
		return Result{}, ErrUnknownProgram
	}
	start := len(dst)
	out, program, typ, err := e.dec.AppendDecode(dst, acc)
	if program == "" {
		program = e.name
	}
	res := Result{Program: program, AccountType: typ, JSONParsed: e.jsonParsed}
	if err != nil {
		return res, err
	}
	res.Parsed = out[start:]
	return res, nil
}
