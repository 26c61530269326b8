package sim

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"sort"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/proto/geyser"
)

// Limits enforced on account data filters, as the reference server does.
const (
	maxDataFilters   = 4
	maxMemcmpBytes   = 128
	maxMemcmpBase58  = 175
	maxMemcmpBase64  = 172
	maxAccountFilter = 64 // filter names per request (one bit each in the match mask)
)

type dataSlice struct{ offset, length uint64 }

type lamportsCmp uint8

const (
	lamEq lamportsCmp = iota + 1
	lamNe
	lamLt
	lamGt
)

type dataFilter struct {
	memcmp     []byte
	offset     uint64
	datasize   *uint64
	tokenState bool
	lamCmp     lamportsCmp
	lamports   uint64
	isMemcmp   bool
	isLamports bool
}

type accountFilter struct {
	name     string
	accounts map[[32]byte]struct{}
	owners   map[[32]byte]struct{}
	data     []dataFilter
	txnSig   *bool
}

type slotFilter struct {
	name         string
	byCommitment bool
	interslot    bool
}

// filterSet is one client's compiled SubscribeRequest. Immutable.
type filterSet struct {
	accounts   []accountFilter
	slots      []slotFilter
	metas      []string
	commitment geyser.CommitmentLevel
	slices     []dataSlice
	fromSlot   *uint64
}

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

// compileFilter validates req and builds its filter set; errors are
// InvalidArgument statuses.
func compileFilter(req *geyser.SubscribeRequest) (*filterSet, error) {
	fs := &filterSet{commitment: req.GetCommitment()}
	if _, ok := geyser.CommitmentLevel_name[int32(fs.commitment)]; !ok {
		return nil, invalid("failed to create filter: invalid commitment level %d", fs.commitment)
	}
	if len(req.Accounts) > maxAccountFilter {
		return nil, invalid("failed to create filter: too many account filters (%d, max %d)", len(req.Accounts), maxAccountFilter)
	}
	names := make([]string, 0, len(req.Accounts))
	for n := range req.Accounts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		af, err := compileAccountFilter(n, req.Accounts[n])
		if err != nil {
			return nil, err
		}
		fs.accounts = append(fs.accounts, af)
	}
	for n, f := range req.Slots {
		fs.slots = append(fs.slots, slotFilter{name: n, byCommitment: f.GetFilterByCommitment(), interslot: f.GetInterslotUpdates()})
	}
	sort.Slice(fs.slots, func(i, j int) bool { return fs.slots[i].name < fs.slots[j].name })
	for n := range req.BlocksMeta {
		fs.metas = append(fs.metas, n)
	}
	sort.Strings(fs.metas)
	var prevEnd uint64
	for i, s := range req.AccountsDataSlice {
		if i > 0 && s.Offset < prevEnd {
			return nil, invalid("failed to create filter: data slices out of order or overlapping")
		}
		prevEnd = s.Offset + s.Length
		if prevEnd < s.Offset { // overflow: nothing can follow
			prevEnd = ^uint64(0)
		}
		fs.slices = append(fs.slices, dataSlice{offset: s.Offset, length: s.Length})
	}
	if req.FromSlot != nil {
		v := *req.FromSlot
		fs.fromSlot = &v
	}
	return fs, nil
}

func decodeKeys(name, what string, in []string) (map[[32]byte]struct{}, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make(map[[32]byte]struct{}, len(in))
	for _, s := range in {
		k, err := base58.Decode32(s)
		if err != nil {
			return nil, invalid("failed to create filter: accounts[%s].%s: invalid pubkey %q", name, what, s)
		}
		out[k] = struct{}{}
	}
	return out, nil
}

func compileAccountFilter(name string, f *geyser.SubscribeRequestFilterAccounts) (accountFilter, error) {
	af := accountFilter{name: name}
	if f == nil {
		return af, nil
	}
	var err error
	if af.accounts, err = decodeKeys(name, "account", f.Account); err != nil {
		return af, err
	}
	if af.owners, err = decodeKeys(name, "owner", f.Owner); err != nil {
		return af, err
	}
	if f.NonemptyTxnSignature != nil {
		v := *f.NonemptyTxnSignature
		af.txnSig = &v
	}
	if len(f.Filters) > maxDataFilters {
		return af, invalid("failed to create filter: too many filters provided; max %d", maxDataFilters)
	}
	sawSize := false
	for _, df := range f.Filters {
		var d dataFilter
		switch x := df.GetFilter().(type) {
		case *geyser.SubscribeRequestFilterAccountsFilter_Memcmp:
			m := x.Memcmp
			d.isMemcmp, d.offset = true, m.GetOffset()
			switch data := m.GetData().(type) {
			case *geyser.SubscribeRequestFilterAccountsFilterMemcmp_Bytes:
				if len(data.Bytes) > maxMemcmpBytes {
					return af, invalid("failed to create filter: memcmp data too large (%d bytes, max %d)", len(data.Bytes), maxMemcmpBytes)
				}
				d.memcmp = bytes.Clone(data.Bytes)
			case *geyser.SubscribeRequestFilterAccountsFilterMemcmp_Base58:
				if len(data.Base58) > maxMemcmpBase58 {
					return af, invalid("failed to create filter: memcmp base58 data too large (%d chars, max %d)", len(data.Base58), maxMemcmpBase58)
				}
				b, err := base58.Decode(data.Base58)
				if err != nil {
					return af, invalid("failed to create filter: memcmp base58: %v", err)
				}
				d.memcmp = b
			case *geyser.SubscribeRequestFilterAccountsFilterMemcmp_Base64:
				if len(data.Base64) > maxMemcmpBase64 {
					return af, invalid("failed to create filter: memcmp base64 data too large (%d chars, max %d)", len(data.Base64), maxMemcmpBase64)
				}
				b, err := base64.StdEncoding.DecodeString(data.Base64)
				if err != nil {
					return af, invalid("failed to create filter: memcmp base64: %v", err)
				}
				d.memcmp = b
			default:
				return af, invalid("failed to create filter: memcmp without data")
			}
			if len(d.memcmp) > maxMemcmpBytes {
				return af, invalid("failed to create filter: memcmp data too large (%d bytes, max %d)", len(d.memcmp), maxMemcmpBytes)
			}
		case *geyser.SubscribeRequestFilterAccountsFilter_Datasize:
			if sawSize {
				return af, invalid("failed to create filter: datasize used more than once")
			}
			sawSize = true
			v := x.Datasize
			d.datasize = &v
		case *geyser.SubscribeRequestFilterAccountsFilter_TokenAccountState:
			if !x.TokenAccountState {
				return af, invalid("failed to create filter: token_account_state only allowed to be true")
			}
			d.tokenState = true
		case *geyser.SubscribeRequestFilterAccountsFilter_Lamports:
			d.isLamports = true
			switch c := x.Lamports.GetCmp().(type) {
			case *geyser.SubscribeRequestFilterAccountsFilterLamports_Eq:
				d.lamCmp, d.lamports = lamEq, c.Eq
			case *geyser.SubscribeRequestFilterAccountsFilterLamports_Ne:
				d.lamCmp, d.lamports = lamNe, c.Ne
			case *geyser.SubscribeRequestFilterAccountsFilterLamports_Lt:
				d.lamCmp, d.lamports = lamLt, c.Lt
			case *geyser.SubscribeRequestFilterAccountsFilterLamports_Gt:
				d.lamCmp, d.lamports = lamGt, c.Gt
			default:
				return af, invalid("failed to create filter: lamports filter without comparison")
			}
		default:
			return af, invalid("failed to create filter: empty account data filter")
		}
		af.data = append(af.data, d)
	}
	return af, nil
}

// match reports whether an account update passes every part of f.
func (f *accountFilter) match(u *acctUpdate) bool {
	if f.txnSig != nil && *f.txnSig != u.hasSig {
		return false
	}
	if f.accounts != nil {
		if _, ok := f.accounts[[32]byte(u.pubkey)]; !ok {
			return false
		}
	}
	if f.owners != nil {
		if _, ok := f.owners[[32]byte(u.owner)]; !ok {
			return false
		}
	}
	for i := range f.data {
		if !f.data[i].match(u.data, u.lamports) {
			return false
		}
	}
	return true
}

func (d *dataFilter) match(data []byte, lamports uint64) bool {
	switch {
	case d.isMemcmp:
		if d.offset > uint64(len(data)) || uint64(len(d.memcmp)) > uint64(len(data))-d.offset {
			return false
		}
		return bytes.Equal(data[d.offset:d.offset+uint64(len(d.memcmp))], d.memcmp)
	case d.datasize != nil:
		return uint64(len(data)) == *d.datasize
	case d.tokenState:
		return isTokenAccount(data)
	case d.isLamports:
		switch d.lamCmp {
		case lamEq:
			return lamports == d.lamports
		case lamNe:
			return lamports != d.lamports
		case lamLt:
			return lamports < d.lamports
		case lamGt:
			return lamports > d.lamports
		}
	}
	return false
}

// isTokenAccount reports whether data is an initialized SPL Token or
// Token-2022 token account: 165 bytes, or longer with account type 2 at
// byte 165, and state (byte 108) not uninitialized.
func isTokenAccount(data []byte) bool {
	const stateOffset, baseLen, accountType = 108, 165, 2
	switch {
	case len(data) == baseLen:
	case len(data) > baseLen && data[baseLen] == accountType:
	default:
		return false
	}
	return data[stateOffset] != 0
}

// matchAccount returns a bit mask of the account filters u passes.
func (fs *filterSet) matchAccount(u *acctUpdate) uint64 {
	var mask uint64
	for i := range fs.accounts {
		if fs.accounts[i].match(u) {
			mask |= 1 << uint(i)
		}
	}
	return mask
}

func (fs *filterSet) namesOf(mask uint64) []string {
	var out []string
	for i := range fs.accounts {
		if mask&(1<<uint(i)) != 0 {
			out = append(out, fs.accounts[i].name)
		}
	}
	return out
}

// slotNames lists the slot filters a slot update with st passes: by default
// processed, confirmed and finalized; the other statuses only with
// interslot_updates; only the commitment's own status with
// filter_by_commitment.
func (fs *filterSet) slotNames(st geyser.SlotStatus) []string {
	var out []string
	for _, f := range fs.slots {
		if f.byCommitment && st != commitmentStatus(fs.commitment) {
			continue
		}
		if !f.interslot && st > geyser.SlotStatus_SLOT_FINALIZED {
			continue
		}
		out = append(out, f.name)
	}
	return out
}

func commitmentStatus(c geyser.CommitmentLevel) geyser.SlotStatus {
	switch c {
	case geyser.CommitmentLevel_CONFIRMED:
		return geyser.SlotStatus_SLOT_CONFIRMED
	case geyser.CommitmentLevel_FINALIZED:
		return geyser.SlotStatus_SLOT_FINALIZED
	default:
		return geyser.SlotStatus_SLOT_PROCESSED
	}
}

func (fs *filterSet) String() string {
	return fmt.Sprintf("accounts=%d slots=%d blocks_meta=%d commitment=%s", len(fs.accounts), len(fs.slots), len(fs.metas), fs.commitment)
}
