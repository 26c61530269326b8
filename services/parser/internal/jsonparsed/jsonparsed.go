// Package jsonparsed renders Solana account data as the "parsed" member of
// RPC's jsonParsed encoding, byte for byte as agave's account-decoder does
// (agave 3.x), without reflection: every decoder appends JSON to a caller's
// buffer.
//
// Output conventions copied from agave, which builds a serde_json::Value and
// therefore prints every object's keys in byte order: {"info":…,"type":…};
// u64 amounts that agave stringifies are JSON strings, other integers are
// bare numbers (possibly above 2^53); f64 values use serde_json's format
// (1.0, 0.0, 9999999779.5, 1e-7); absent optionals are null unless agave
// skips them.
//
// Known agave version differences (we match 3.x):
//   - stakeConfig (config program, StakeConfig1111…): parsed up to 3.x; 4.1
//     no longer recognises it and returns base64.
//   - stake delegation.warmupCooldownRate: present up to 3.x, dropped in 4.1.
//   - vote: 2.3 prints the VoteState v3 fields only; 3.x adds the VoteState
//     v4 fields (inflationRewardsCollector, blockRevenueCollector, their
//     commissions in basis points, pendingDelegatorRewards,
//     blsPubkeyCompressed) and derives them for older layouts.
//   - rent sysvar: 4.x prints only lamportsPerByte; 3.x prints
//     lamportsPerByteYear, exemptionThreshold and burnPercent.
//   - vote votes[].latency: added with the v4 view (3.x); 2.3 has only slot
//     and confirmationCount.
//
// Behaviour that follows agave even where it may surprise:
//   - an uninitialized nonce, token account, mint or multisig is not
//     parsable (agave falls back to base64); stake, lookup table and loader
//     accounts do have an "uninitialized" type.
//   - Token-2022 extensions are all-or-nothing: one unknown extension type or
//     a length running past the data drops the whole "extensions" list, while
//     a known extension with a bad size, or one that belongs to the other
//     base state, renders as {"extension":"unparseableExtension"}.
//     Extension types above 27 (pausableAccount) are treated as unknown.
//   - uiAmount is null when 10^decimals overflows a u64 (decimals >= 20).
//   - interest-bearing and scaled-UI-amount mints use Token-2022's
//     amount_to_ui_amount: fixed `decimals` digits, trimmed; scaled amounts
//     are truncated to whole base units before the decimals are applied.
//     math.Exp may differ from Rust's exp in the last bit, which can move a
//     rounded digit in rare cases.
//
// A Registry is safe for concurrent use once built.
package jsonparsed

import (
	"errors"
	"fmt"

	"github.com/firehole/firehole/pkg/solana"
	"github.com/firehole/firehole/pkg/solana/uiamount"
)

// ErrMintUnknown is returned for a token account whose mint decimals the
// MintSource does not know yet. Agave refuses to render such an account;
// callers should wait for the mint rather than guess decimals.
var ErrMintUnknown = errors.New("jsonparsed: mint of token account not known")

// ErrNotParsable is returned (wrapped) when the owner has no parser or the
// data does not match the program's layouts. Agave then falls back to the
// base64 encoding.
var ErrNotParsable = errors.New("jsonparsed: account not parsable")

// The mint description token UI amounts depend on (pkg/solana/uiamount).
type (
	InterestBearingConfig = uiamount.InterestBearingConfig
	ScaledUIAmountConfig  = uiamount.ScaledUIAmountConfig
	MintInfo              = uiamount.MintInfo
)

// MintSource looks up mints by address. It is called on the parsing
// goroutine and must be safe for that.
type MintSource interface {
	Mint(pubkey [32]byte) (MintInfo, bool)
}

// Input is one account to render. Data is only read during the call.
type Input struct {
	Owner, Pubkey [32]byte
	Data          []byte
	// UnixTimestamp is the cluster's Clock unix_timestamp, used for
	// interest-bearing and scaled UI amounts.
	UnixTimestamp int64
}

// parseFunc appends the parsed value for in to dst. On error the content
// appended to dst is discarded by the caller.
type parseFunc func(dst []byte, in Input, mints MintSource) ([]byte, string, error)

type entry struct {
	program string
	parse   parseFunc
}

// Registry maps owner programs to their decoders.
type Registry struct {
	byOwner map[[32]byte]entry
}

// NewRegistry returns a registry with every parser agave 3.x has.
func NewRegistry() *Registry {
	r := &Registry{byOwner: make(map[[32]byte]entry)}
	for _, e := range []struct {
		owner   [32]byte
		program string
		parse   parseFunc
	}{
		{solana.TokenProgramID, "spl-token", parseToken},
		{solana.Token2022ProgramID, "spl-token-2022", parseToken},
		{solana.SystemProgramID, "nonce", parseNonce},
		{solana.StakeProgramID, "stake", parseStake},
		{solana.VoteProgramID, "vote", parseVote},
		{solana.AddressLookupTableProgramID, "address-lookup-table", parseLookupTable},
		{solana.BPFLoaderUpgradeableID, "bpf-upgradeable-loader", parseUpgradeableLoader},
		{solana.ConfigProgramID, "config", parseConfig},
		{solana.SysvarOwnerID, "sysvar", parseSysvar},
	} {
		if err := r.register(e.owner, e.program, e.parse); err != nil {
			// The table above is static; a duplicate is a programming error
			// that every test of this package catches.
			panic(err)
		}
	}
	return r
}

func (r *Registry) register(owner [32]byte, program string, p parseFunc) error {
	if prev, ok := r.byOwner[owner]; ok {
		return fmt.Errorf("jsonparsed: program id of %q already registered for %q", program, prev.program)
	}
	r.byOwner[owner] = entry{program: program, parse: p}
	return nil
}

// Parsable reports whether accounts owned by owner have a parser.
func (r *Registry) Parsable(owner [32]byte) bool {
	_, ok := r.byOwner[owner]
	return ok
}

// AppendParsed appends the JSON of the jsonParsed "parsed" member
// ({"info":…,"type":…}) for in to dst. program is agave's kebab-case program
// name ("spl-token", "nonce", …) and accountType the "type" value. On error
// dst is returned unchanged; errors wrap ErrNotParsable or are
// ErrMintUnknown. mints may be nil when no token accounts are expected.
func (r *Registry) AppendParsed(dst []byte, in Input, mints MintSource) (out []byte, program, accountType string, err error) {
	e, ok := r.byOwner[in.Owner]
	if !ok {
		return dst, "", "", errNoParser
	}
	out, accountType, err = e.parse(dst, in, mints)
	if err != nil {
		return dst, e.program, "", err
	}
	return out, e.program, accountType, nil
}

var (
	errNoParser = fmt.Errorf("%w: owner has no parser", ErrNotParsable)
	errLayout   = fmt.Errorf("%w: data does not match any layout", ErrNotParsable)
)

// notParsable wraps a reason in ErrNotParsable.
func notParsable(what string) error { return fmt.Errorf("%w: %s", ErrNotParsable, what) }
