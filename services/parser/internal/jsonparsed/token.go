package jsonparsed

import (
	"encoding/binary"
	"github.com/firehole/firehole/services/parser/internal/jsonw"

	"github.com/firehole/firehole/pkg/solana"
	"github.com/firehole/firehole/pkg/solana/uiamount"
)

// SPL Token and Token-2022 share one decoder, as in agave: a base Account
// (165 bytes), Mint (82 bytes) or Multisig (355 bytes), and for Token-2022
// an account-type byte plus TLV extensions after the base.

const (
	tokenAccountLen = 165
	mintLen         = 82
	multisigLen     = 355

	accountTypeMint    = 1
	accountTypeAccount = 2
)

type tokenAccount struct {
	mint, owner     *[32]byte
	amount          uint64
	delegate        *[32]byte // nil when unset
	state           uint8     // 1 initialized, 2 frozen
	isNative        bool
	nativeReserve   uint64
	delegatedAmount uint64
	closeAuthority  *[32]byte // nil when unset
}

type tokenMint struct {
	mintAuthority   *[32]byte // nil when unset
	supply          uint64
	decimals        uint8
	freezeAuthority *[32]byte // nil when unset
}

// cOption reads an SPL COption tag (u32: 0 or 1) and its fixed-size value.
func cOptionKey(r *reader) *[32]byte {
	tag := r.u32()
	k := r.key()
	switch {
	case tag == 0:
		return nil
	case tag == 1:
		return k
	default:
		r.bad = true
		return nil
	}
}

func cOptionU64(r *reader) (uint64, bool) {
	tag := r.u32()
	v := r.u64()
	if tag > 1 {
		r.bad = true
	}
	return v, tag == 1
}

// notMultisigAndAtLeast mirrors Token-2022's rule that a buffer of exactly
// the multisig size is never an account or a mint.
func notMultisigAndAtLeast(data []byte, n int) bool {
	return len(data) != multisigLen && len(data) >= n
}

// extensionTail validates what follows a base state and returns the TLV
// region: either nothing, or zero padding up to byte 165, the account type
// byte, then TLV data.
func extensionTail(rest []byte, baseLen int, want byte) ([]byte, bool) {
	if len(rest) == 0 {
		return nil, true
	}
	typeIdx := tokenAccountLen - baseLen
	if len(rest) < typeIdx+1 {
		return nil, false
	}
	for _, b := range rest[:typeIdx] {
		if b != 0 {
			return nil, false
		}
	}
	if rest[typeIdx] != want {
		return nil, false
	}
	return rest[typeIdx+1:], true
}

func unpackTokenAccount(data []byte) (a tokenAccount, tlv []byte, ok bool) {
	if !notMultisigAndAtLeast(data, tokenAccountLen) {
		return a, nil, false
	}
	r := reader{b: data[:tokenAccountLen]}
	a.mint = r.key()
	a.owner = r.key()
	a.amount = r.u64()
	a.delegate = cOptionKey(&r)
	a.state = r.u8()
	a.nativeReserve, a.isNative = cOptionU64(&r)
	a.delegatedAmount = r.u64()
	a.closeAuthority = cOptionKey(&r)
	// Pack::unpack rejects an uninitialized account, and the state must be
	// a known AccountState.
	if r.bad || a.state == 0 || a.state > 2 {
		return a, nil, false
	}
	tlv, ok = extensionTail(data[tokenAccountLen:], tokenAccountLen, accountTypeAccount)
	return a, tlv, ok
}

func unpackMint(data []byte) (m tokenMint, tlv []byte, ok bool) {
	if !notMultisigAndAtLeast(data, mintLen) {
		return m, nil, false
	}
	r := reader{b: data[:mintLen]}
	m.mintAuthority = cOptionKey(&r)
	m.supply = r.u64()
	m.decimals = r.u8()
	initialized := r.boolStrict()
	m.freezeAuthority = cOptionKey(&r)
	if r.bad || !initialized {
		return m, nil, false
	}
	tlv, ok = extensionTail(data[mintLen:], mintLen, accountTypeMint)
	return m, tlv, ok
}

func isTokenProgram(owner [32]byte) bool {
	return owner == solana.TokenProgramID || owner == solana.Token2022ProgramID
}

// TokenAccountMint returns the mint of an SPL Token or Token-2022 token
// account, so a caller can fetch the mint before rendering the account.
func TokenAccountMint(owner [32]byte, data []byte) ([32]byte, bool) {
	if !isTokenProgram(owner) {
		return [32]byte{}, false
	}
	a, _, ok := unpackTokenAccount(data)
	if !ok {
		return [32]byte{}, false
	}
	return *a.mint, true
}

// MintFromAccount extracts the MintInfo of an SPL Token or Token-2022 mint
// account, including the interest-bearing and scaled-UI-amount configs that
// token account UI amounts depend on.
func MintFromAccount(owner [32]byte, data []byte) (MintInfo, bool) {
	if !isTokenProgram(owner) {
		return MintInfo{}, false
	}
	m, tlv, ok := unpackMint(data)
	if !ok {
		return MintInfo{}, false
	}
	mi := MintInfo{Decimals: m.decimals}
	if v, ok := findExtension(tlv, extInterestBearingConfig, accountTypeMint); ok && len(v) == 52 {
		r := reader{b: v}
		r.take(32) // rate authority
		mi.HasInterestBearing = true
		mi.InterestBearing = InterestBearingConfig{
			InitializationTimestamp: r.i64(),
			PreUpdateAverageRate:    r.i16(),
			LastUpdateTimestamp:     r.i64(),
			CurrentRate:             r.i16(),
		}
	}
	if v, ok := findExtension(tlv, extScaledUiAmount, accountTypeMint); ok && len(v) == 56 {
		r := reader{b: v}
		r.take(32) // authority
		mi.HasScaledUIAmount = true
		mi.ScaledUIAmount = ScaledUIAmountConfig{
			Multiplier:                      r.f64(),
			NewMultiplierEffectiveTimestamp: r.i64(),
			NewMultiplier:                   r.f64(),
		}
	}
	return mi, true
}

func parseToken(dst []byte, in Input, mints MintSource) ([]byte, string, error) {
	if a, tlv, ok := unpackTokenAccount(in.Data); ok {
		if mints == nil {
			return dst, "", ErrMintUnknown
		}
		mi, ok := mints.Mint(*a.mint)
		if !ok {
			return dst, "", ErrMintUnknown
		}
		return appendTokenAccount(dst, &a, tlv, &mi, in.UnixTimestamp), "account", nil
	}
	if m, tlv, ok := unpackMint(in.Data); ok {
		return appendMint(dst, &m, tlv), "mint", nil
	}
	if len(in.Data) == multisigLen {
		if out, ok := appendMultisig(dst, in.Data); ok {
			return out, "multisig", nil
		}
	}
	return dst, "", errLayout
}

// appendKey writes a separator when needed and "k":.
func appendKey(dst []byte, n *int, k string) []byte {
	if *n > 0 {
		dst = append(dst, ',')
	}
	*n++
	dst = append(dst, '"')
	dst = append(dst, k...)
	return append(dst, '"', ':')
}

func appendTokenAccount(dst []byte, a *tokenAccount, tlv []byte, mi *MintInfo, now int64) []byte {
	n := 0
	dst = append(dst, `{"info":{`...)
	if a.closeAuthority != nil {
		dst = appendKey(dst, &n, "closeAuthority")
		dst = appendPubkey(dst, a.closeAuthority)
	}
	if a.delegate != nil {
		dst = appendKey(dst, &n, "delegate")
		dst = appendPubkey(dst, a.delegate)
		dst = appendKey(dst, &n, "delegatedAmount")
		dst = appendTokenAmount(dst, a.delegatedAmount, mi, now)
	}
	dst = appendExtensions(dst, &n, tlv, accountTypeAccount)
	dst = appendKey(dst, &n, "isNative")
	dst = appendBool(dst, a.isNative)
	dst = append(dst, `,"mint":`...)
	dst = appendPubkey(dst, a.mint)
	dst = append(dst, `,"owner":`...)
	dst = appendPubkey(dst, a.owner)
	if a.isNative {
		dst = append(dst, `,"rentExemptReserve":`...)
		dst = appendTokenAmount(dst, a.nativeReserve, mi, now)
	}
	if a.state == 2 {
		dst = append(dst, `,"state":"frozen","tokenAmount":`...)
	} else {
		dst = append(dst, `,"state":"initialized","tokenAmount":`...)
	}
	dst = appendTokenAmount(dst, a.amount, mi, now)
	return append(dst, `},"type":"account"}`...)
}

func appendMint(dst []byte, m *tokenMint, tlv []byte) []byte {
	n := 0
	dst = append(dst, `{"info":{`...)
	dst = appendKey(dst, &n, "decimals")
	dst = appendU64(dst, uint64(m.decimals))
	dst = appendExtensions(dst, &n, tlv, accountTypeMint)
	dst = append(dst, `,"freezeAuthority":`...)
	dst = appendNilablePubkey(dst, m.freezeAuthority)
	dst = append(dst, `,"isInitialized":true,"mintAuthority":`...)
	dst = appendNilablePubkey(dst, m.mintAuthority)
	dst = append(dst, `,"supply":`...)
	dst = jsonw.AppendQuotedUint(dst, m.supply)
	return append(dst, `},"type":"mint"}`...)
}

func appendNilablePubkey(dst []byte, k *[32]byte) []byte {
	if k == nil {
		return append(dst, "null"...)
	}
	return appendPubkey(dst, k)
}

func appendMultisig(dst []byte, data []byte) ([]byte, bool) {
	m, nSigners, init := data[0], data[1], data[2]
	if init != 1 { // 0 is uninitialized (rejected), >1 is invalid
		return dst, false
	}
	dst = append(dst, `{"info":{"isInitialized":true,"numRequiredSigners":`...)
	dst = appendU64(dst, uint64(m))
	dst = append(dst, `,"numValidSigners":`...)
	dst = appendU64(dst, uint64(nSigners))
	dst = append(dst, `,"signers":[`...)
	first := true
	for i := 3; i+32 <= len(data); i += 32 {
		k := (*[32]byte)(data[i : i+32])
		if *k == ([32]byte{}) {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendPubkey(dst, k)
	}
	return append(dst, `]},"type":"multisig"}`...), true
}

// appendTokenAmount writes agave's UiTokenAmount.
func appendTokenAmount(dst []byte, amount uint64, mi *MintInfo, now int64) []byte {
	return uiamount.AppendTokenAmount(dst, amount, mi, now)
}

// Token-2022 extension types.
const (
	extUninitialized                 = 0
	extTransferFeeConfig             = 1
	extTransferFeeAmount             = 2
	extMintCloseAuthority            = 3
	extConfidentialTransferMint      = 4
	extConfidentialTransferAccount   = 5
	extDefaultAccountState           = 6
	extImmutableOwner                = 7
	extMemoTransfer                  = 8
	extNonTransferable               = 9
	extInterestBearingConfig         = 10
	extCpiGuard                      = 11
	extPermanentDelegate             = 12
	extNonTransferableAccount        = 13
	extTransferHook                  = 14
	extTransferHookAccount           = 15
	extConfidentialTransferFeeConfig = 16
	extConfidentialTransferFeeAmount = 17
	extMetadataPointer               = 18
	extTokenMetadata                 = 19
	extGroupPointer                  = 20
	extTokenGroup                    = 21
	extGroupMemberPointer            = 22
	extTokenGroupMember              = 23
	extConfidentialMintBurn          = 24
	extScaledUiAmount                = 25
	extPausable                      = 26
	extPausableAccount               = 27
	extCount                         = 28
)

// extAccountType is the base state each extension belongs to.
var extAccountType = [extCount]byte{
	extTransferFeeConfig: accountTypeMint, extTransferFeeAmount: accountTypeAccount,
	extMintCloseAuthority: accountTypeMint, extConfidentialTransferMint: accountTypeMint,
	extConfidentialTransferAccount: accountTypeAccount, extDefaultAccountState: accountTypeMint,
	extImmutableOwner: accountTypeAccount, extMemoTransfer: accountTypeAccount,
	extNonTransferable: accountTypeMint, extInterestBearingConfig: accountTypeMint,
	extCpiGuard: accountTypeAccount, extPermanentDelegate: accountTypeMint,
	extNonTransferableAccount: accountTypeAccount, extTransferHook: accountTypeMint,
	extTransferHookAccount: accountTypeAccount, extConfidentialTransferFeeConfig: accountTypeMint,
	extConfidentialTransferFeeAmount: accountTypeAccount, extMetadataPointer: accountTypeMint,
	extTokenMetadata: accountTypeMint, extGroupPointer: accountTypeMint,
	extGroupMemberPointer: accountTypeMint, extTokenGroup: accountTypeMint,
	extTokenGroupMember: accountTypeMint, extConfidentialMintBurn: accountTypeMint,
	extScaledUiAmount: accountTypeMint, extPausable: accountTypeMint,
	extPausableAccount: accountTypeAccount,
}

// tlvValid mirrors Token-2022's get_extension_types: it walks the TLV
// entries up to the end or the first Uninitialized type and fails on an
// unknown type or a length past the end. Agave lists no extensions at all
// when this fails.
func tlvValid(tlv []byte) bool {
	start := 0
	for start < len(tlv) {
		if len(tlv) < start+2 {
			return true // a trailing byte is allowed
		}
		t := binary.LittleEndian.Uint16(tlv[start:])
		if t >= extCount {
			return false
		}
		if t == extUninitialized {
			return true
		}
		if len(tlv) < start+4 {
			return false
		}
		end := start + 4 + int(binary.LittleEndian.Uint16(tlv[start+2:]))
		if end > len(tlv) {
			return false
		}
		start = end
	}
	return true
}

// findExtension mirrors Token-2022's get_extension_bytes for a base state of
// type base: the value of the first entry of type t, or false if the type
// belongs to the other base state, an entry of the other base state comes
// first, or the walk hits an invalid entry.
func findExtension(tlv []byte, t uint16, base byte) ([]byte, bool) {
	if extAccountType[t] != base {
		return nil, false
	}
	start := 0
	for start < len(tlv) {
		if len(tlv) < start+4 {
			return nil, false
		}
		et := binary.LittleEndian.Uint16(tlv[start:])
		if et >= extCount {
			return nil, false
		}
		length := int(binary.LittleEndian.Uint16(tlv[start+2:]))
		switch {
		case et == t:
			end := start + 4 + length
			if end > len(tlv) {
				return nil, false
			}
			return tlv[start+4 : end], true
		case et == extUninitialized:
			return nil, false
		case extAccountType[et] != base:
			return nil, false
		}
		start += 4 + length
	}
	return nil, false
}

// appendExtensions writes `"extensions":[...]` when the TLV data lists any.
func appendExtensions(dst []byte, n *int, tlv []byte, base byte) []byte {
	if len(tlv) < 2 || !tlvValid(tlv) || binary.LittleEndian.Uint16(tlv) == extUninitialized {
		return dst
	}
	dst = appendKey(dst, n, "extensions")
	dst = append(dst, '[')
	start := 0
	for i := 0; start+4 <= len(tlv); i++ {
		t := binary.LittleEndian.Uint16(tlv[start:])
		if t == extUninitialized {
			break
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendExtension(dst, tlv, t, base)
		start += 4 + int(binary.LittleEndian.Uint16(tlv[start+2:]))
	}
	return append(dst, ']')
}

// extSize is the exact value size of each fixed-size extension; -1 marks
// the variable-length TokenMetadata, 0 the unit extensions.
var extSize = [extCount]int{
	extTransferFeeConfig: 108, extTransferFeeAmount: 8, extMintCloseAuthority: 32,
	extConfidentialTransferMint: 65, extConfidentialTransferAccount: 295,
	extDefaultAccountState: 1, extMemoTransfer: 1, extInterestBearingConfig: 52,
	extCpiGuard: 1, extPermanentDelegate: 32, extTransferHook: 64, extTransferHookAccount: 1,
	extConfidentialTransferFeeConfig: 129, extConfidentialTransferFeeAmount: 64,
	extMetadataPointer: 64, extTokenMetadata: -1, extGroupPointer: 64, extGroupMemberPointer: 64,
	extTokenGroup: 80, extTokenGroupMember: 72, extConfidentialMintBurn: 196,
	extScaledUiAmount: 56, extPausable: 33,
}

const unparseable = `{"extension":"unparseableExtension"}`

// appendExtension writes one UiExtension. Unit extensions need no lookup;
// the others are fetched like get_extension does and rendered as
// unparseableExtension when that fails or the size is wrong.
func appendExtension(dst []byte, tlv []byte, t uint16, base byte) []byte {
	switch t {
	case extImmutableOwner:
		return append(dst, `{"extension":"immutableOwner"}`...)
	case extNonTransferable:
		return append(dst, `{"extension":"nonTransferable"}`...)
	case extNonTransferableAccount:
		return append(dst, `{"extension":"nonTransferableAccount"}`...)
	case extPausableAccount:
		return append(dst, `{"extension":"pausableAccount"}`...)
	}
	v, ok := findExtension(tlv, t, base)
	if !ok || (extSize[t] >= 0 && len(v) != extSize[t]) {
		return append(dst, unparseable...)
	}
	r := reader{b: v}
	switch t {
	case extTransferFeeConfig:
		cfgAuth, wwAuth, withheld := r.key(), r.key(), r.u64()
		dst = append(dst, `{"extension":"transferFeeConfig","state":{"newerTransferFee":`...)
		older := r.take(18)
		dst = appendTransferFee(dst, r.take(18))
		dst = append(dst, `,"olderTransferFee":`...)
		dst = appendTransferFee(dst, older)
		dst = append(dst, `,"transferFeeConfigAuthority":`...)
		dst = appendOptPubkey(dst, cfgAuth)
		dst = append(dst, `,"withdrawWithheldAuthority":`...)
		dst = appendOptPubkey(dst, wwAuth)
		dst = append(dst, `,"withheldAmount":`...)
		dst = appendU64(dst, withheld)
	case extTransferFeeAmount:
		dst = append(dst, `{"extension":"transferFeeAmount","state":{"withheldAmount":`...)
		dst = appendU64(dst, r.u64())
	case extMintCloseAuthority:
		dst = append(dst, `{"extension":"mintCloseAuthority","state":{"closeAuthority":`...)
		dst = appendOptPubkey(dst, r.key())
	case extConfidentialTransferMint:
		auth, approve, auditor := r.key(), r.podBool(), r.key()
		dst = append(dst, `{"extension":"confidentialTransferMint","state":{"auditorElgamalPubkey":`...)
		if *auditor == ([32]byte{}) {
			dst = append(dst, "null"...)
		} else {
			dst = appendBase64String(dst, auditor[:])
		}
		dst = append(dst, `,"authority":`...)
		dst = appendOptPubkey(dst, auth)
		dst = append(dst, `,"autoApproveNewAccounts":`...)
		dst = appendBool(dst, approve)
	case extConfidentialTransferAccount:
		approved := r.podBool()
		elgamal := r.take(32)
		lo, hi, avail := r.take(64), r.take(64), r.take(64)
		decryptable := r.take(36)
		allowConf, allowNonConf := r.podBool(), r.podBool()
		pending, maxPending, expected, actual := r.u64(), r.u64(), r.u64(), r.u64()
		dst = append(dst, `{"extension":"confidentialTransferAccount","state":{"actualPendingBalanceCreditCounter":`...)
		dst = appendU64(dst, actual)
		dst = append(dst, `,"allowConfidentialCredits":`...)
		dst = appendBool(dst, allowConf)
		dst = append(dst, `,"allowNonConfidentialCredits":`...)
		dst = appendBool(dst, allowNonConf)
		dst = append(dst, `,"approved":`...)
		dst = appendBool(dst, approved)
		dst = append(dst, `,"availableBalance":`...)
		dst = appendBase64String(dst, avail)
		dst = append(dst, `,"decryptableAvailableBalance":`...)
		dst = appendBase64String(dst, decryptable)
		dst = append(dst, `,"elgamalPubkey":`...)
		dst = appendBase64String(dst, elgamal)
		dst = append(dst, `,"expectedPendingBalanceCreditCounter":`...)
		dst = appendU64(dst, expected)
		dst = append(dst, `,"maximumPendingBalanceCreditCounter":`...)
		dst = appendU64(dst, maxPending)
		dst = append(dst, `,"pendingBalanceCreditCounter":`...)
		dst = appendU64(dst, pending)
		dst = append(dst, `,"pendingBalanceHi":`...)
		dst = appendBase64String(dst, hi)
		dst = append(dst, `,"pendingBalanceLo":`...)
		dst = appendBase64String(dst, lo)
	case extDefaultAccountState:
		dst = append(dst, `{"extension":"defaultAccountState","state":{"accountState":`...)
		switch r.u8() {
		case 1:
			dst = append(dst, `"initialized"`...)
		case 2:
			dst = append(dst, `"frozen"`...)
		default: // unknown values fall back to the default state
			dst = append(dst, `"uninitialized"`...)
		}
	case extMemoTransfer:
		dst = append(dst, `{"extension":"memoTransfer","state":{"requireIncomingTransferMemos":`...)
		dst = appendBool(dst, r.podBool())
	case extInterestBearingConfig:
		auth, initTS, preRate, lastTS, curRate := r.key(), r.i64(), r.i16(), r.i64(), r.i16()
		dst = append(dst, `{"extension":"interestBearingConfig","state":{"currentRate":`...)
		dst = appendI64(dst, int64(curRate))
		dst = append(dst, `,"initializationTimestamp":`...)
		dst = appendI64(dst, initTS)
		dst = append(dst, `,"lastUpdateTimestamp":`...)
		dst = appendI64(dst, lastTS)
		dst = append(dst, `,"preUpdateAverageRate":`...)
		dst = appendI64(dst, int64(preRate))
		dst = append(dst, `,"rateAuthority":`...)
		dst = appendOptPubkey(dst, auth)
	case extCpiGuard:
		dst = append(dst, `{"extension":"cpiGuard","state":{"lockCpi":`...)
		dst = appendBool(dst, r.podBool())
	case extPermanentDelegate:
		dst = append(dst, `{"extension":"permanentDelegate","state":{"delegate":`...)
		dst = appendOptPubkey(dst, r.key())
	case extTransferHook:
		auth, prog := r.key(), r.key()
		dst = append(dst, `{"extension":"transferHook","state":{"authority":`...)
		dst = appendOptPubkey(dst, auth)
		dst = append(dst, `,"programId":`...)
		dst = appendOptPubkey(dst, prog)
	case extTransferHookAccount:
		dst = append(dst, `{"extension":"transferHookAccount","state":{"transferring":`...)
		dst = appendBool(dst, r.podBool())
	case extConfidentialTransferFeeConfig:
		auth, elgamal, harvest, withheld := r.key(), r.take(32), r.podBool(), r.take(64)
		dst = append(dst, `{"extension":"confidentialTransferFeeConfig","state":{"authority":`...)
		dst = appendOptPubkey(dst, auth)
		dst = append(dst, `,"harvestToMintEnabled":`...)
		dst = appendBool(dst, harvest)
		dst = append(dst, `,"withdrawWithheldAuthorityElgamalPubkey":`...)
		dst = appendBase64String(dst, elgamal)
		dst = append(dst, `,"withheldAmount":`...)
		dst = appendBase64String(dst, withheld)
	case extConfidentialTransferFeeAmount:
		dst = append(dst, `{"extension":"confidentialTransferFeeAmount","state":{"withheldAmount":`...)
		dst = appendBase64String(dst, r.take(64))
	case extMetadataPointer:
		dst = appendPointer(dst, &r, "metadataPointer", "metadataAddress")
	case extGroupPointer:
		dst = appendPointer(dst, &r, "groupPointer", "groupAddress")
	case extGroupMemberPointer:
		dst = appendPointer(dst, &r, "groupMemberPointer", "memberAddress")
	case extTokenMetadata:
		out, ok := appendTokenMetadata(dst, v)
		if !ok {
			return append(dst, unparseable...)
		}
		dst = out
	case extTokenGroup:
		auth, mint, size, maxSize := r.key(), r.key(), r.u64(), r.u64()
		dst = append(dst, `{"extension":"tokenGroup","state":{"maxSize":`...)
		dst = appendU64(dst, maxSize)
		dst = append(dst, `,"mint":`...)
		dst = appendPubkey(dst, mint)
		dst = append(dst, `,"size":`...)
		dst = appendU64(dst, size)
		dst = append(dst, `,"updateAuthority":`...)
		dst = appendOptPubkey(dst, auth)
	case extTokenGroupMember:
		mint, group, num := r.key(), r.key(), r.u64()
		dst = append(dst, `{"extension":"tokenGroupMember","state":{"group":`...)
		dst = appendPubkey(dst, group)
		dst = append(dst, `,"memberNumber":`...)
		dst = appendU64(dst, num)
		dst = append(dst, `,"mint":`...)
		dst = appendPubkey(dst, mint)
	case extConfidentialMintBurn:
		supply, decryptable, pubkey, pendingBurn := r.take(64), r.take(36), r.take(32), r.take(64)
		dst = append(dst, `{"extension":"confidentialMintBurn","state":{"confidentialSupply":`...)
		dst = appendBase64String(dst, supply)
		dst = append(dst, `,"decryptableSupply":`...)
		dst = appendBase64String(dst, decryptable)
		dst = append(dst, `,"pendingBurn":`...)
		dst = appendBase64String(dst, pendingBurn)
		dst = append(dst, `,"supplyElgamalPubkey":`...)
		dst = appendBase64String(dst, pubkey)
	case extScaledUiAmount:
		auth, mult, ts, newMult := r.key(), r.f64(), r.i64(), r.f64()
		dst = append(dst, `{"extension":"scaledUiAmountConfig","state":{"authority":`...)
		dst = appendOptPubkey(dst, auth)
		dst = append(dst, `,"multiplier":"`...)
		dst = appendRustDisplayF64(dst, mult)
		dst = append(dst, `","newMultiplier":"`...)
		dst = appendRustDisplayF64(dst, newMult)
		dst = append(dst, `","newMultiplierEffectiveTimestamp":`...)
		dst = appendI64(dst, ts)
	case extPausable:
		auth, paused := r.key(), r.podBool()
		dst = append(dst, `{"extension":"pausableConfig","state":{"authority":`...)
		dst = appendOptPubkey(dst, auth)
		dst = append(dst, `,"paused":`...)
		dst = appendBool(dst, paused)
	default:
		return append(dst, unparseable...)
	}
	return append(dst, "}}"...)
}

func appendTransferFee(dst []byte, b []byte) []byte {
	r := reader{b: b}
	epoch, maxFee, bps := r.u64(), r.u64(), r.u16()
	dst = append(dst, `{"epoch":`...)
	dst = appendU64(dst, epoch)
	dst = append(dst, `,"maximumFee":`...)
	dst = appendU64(dst, maxFee)
	dst = append(dst, `,"transferFeeBasisPoints":`...)
	dst = appendU64(dst, uint64(bps))
	return append(dst, '}')
}

// appendPointer writes the metadata/group/member pointer extensions; their
// address keys all sort after "authority".
func appendPointer(dst []byte, r *reader, name, addrKey string) []byte {
	auth, addr := r.key(), r.key()
	dst = append(dst, `{"extension":"`...)
	dst = append(dst, name...)
	dst = append(dst, `","state":{"authority":`...)
	dst = appendOptPubkey(dst, auth)
	dst = append(dst, `,"`...)
	dst = append(dst, addrKey...)
	dst = append(dst, `":`...)
	return appendOptPubkey(dst, addr)
}

// appendTokenMetadata renders the Borsh TokenMetadata; every byte must be
// consumed and strings must be UTF-8, as borsh::from_slice requires.
func appendTokenMetadata(dst []byte, v []byte) ([]byte, bool) {
	r := reader{b: v}
	auth, mint := r.key(), r.key()
	name, symbol, uri := borshString(&r), borshString(&r), borshString(&r)
	nExtra := r.count32(8) // each pair holds two u32 lengths
	if r.bad {
		return dst, false
	}
	start := len(dst)
	dst = append(dst, `{"extension":"tokenMetadata","state":{"additionalMetadata":[`...)
	for i := range nExtra {
		k, val := borshString(&r), borshString(&r)
		if r.bad {
			return dst[:start], false
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '[')
		dst = jsonw.AppendString(dst, k)
		dst = append(dst, ',')
		dst = jsonw.AppendString(dst, val)
		dst = append(dst, ']')
	}
	if r.left() != 0 {
		return dst[:start], false
	}
	dst = append(dst, `],"mint":`...)
	dst = appendPubkey(dst, mint)
	dst = append(dst, `,"name":`...)
	dst = jsonw.AppendString(dst, name)
	dst = append(dst, `,"symbol":`...)
	dst = jsonw.AppendString(dst, symbol)
	dst = append(dst, `,"updateAuthority":`...)
	dst = appendOptPubkey(dst, auth)
	dst = append(dst, `,"uri":`...)
	dst = jsonw.AppendString(dst, uri)
	return dst, true
}

// borshString reads a u32-length-prefixed UTF-8 string; the result aliases
// the data. The length is checked against the data before it is used.
func borshString(r *reader) []byte {
	n := r.u32()
	b := r.take(int(n))
	if r.bad {
		return nil
	}
	if !validString(b) {
		r.bad = true
		return nil
	}
	return b
}
