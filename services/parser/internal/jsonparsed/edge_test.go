package jsonparsed

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/pkg/solana"
)

// Test keys: recognisable, non-zero.
var (
	keyA = key(1)
	keyB = key(2)
	keyC = key(3)
	keyD = key(4)
	sA   = base58.Encode32(&keyA)
	sB   = base58.Encode32(&keyB)
	sC   = base58.Encode32(&keyC)
	sD   = base58.Encode32(&keyD)
)

func key(b byte) [32]byte {
	var k [32]byte
	for i := range k {
		k[i] = b
	}
	return k
}

// le is a little-endian byte builder.
type le struct{ b []byte }

func (w *le) u8(v uint8) *le    { w.b = append(w.b, v); return w }
func (w *le) u16(v uint16) *le  { w.b = binary.LittleEndian.AppendUint16(w.b, v); return w }
func (w *le) u32(v uint32) *le  { w.b = binary.LittleEndian.AppendUint32(w.b, v); return w }
func (w *le) u64(v uint64) *le  { w.b = binary.LittleEndian.AppendUint64(w.b, v); return w }
func (w *le) i64(v int64) *le   { return w.u64(uint64(v)) }
func (w *le) f64(v float64) *le { return w.u64(math.Float64bits(v)) }
func (w *le) key(k [32]byte) *le {
	w.b = append(w.b, k[:]...)
	return w
}
func (w *le) raw(b []byte) *le { w.b = append(w.b, b...); return w }
func (w *le) zeros(n int) *le  { w.b = append(w.b, make([]byte, n)...); return w }
func (w *le) str32(s string) *le {
	w.u32(uint32(len(s)))
	w.b = append(w.b, s...)
	return w
}

type tokenAcctSpec struct {
	mint, owner     [32]byte
	amount          uint64
	delegate        *[32]byte
	state           uint8
	native          *uint64
	delegatedAmount uint64
	closeAuthority  *[32]byte
}

func (s tokenAcctSpec) bytes() []byte {
	w := &le{}
	w.key(s.mint).key(s.owner).u64(s.amount)
	optKey(w, s.delegate)
	w.u8(s.state)
	if s.native != nil {
		w.u32(1).u64(*s.native)
	} else {
		w.u32(0).u64(0)
	}
	w.u64(s.delegatedAmount)
	optKey(w, s.closeAuthority)
	return w.b
}

func optKey(w *le, k *[32]byte) {
	if k == nil {
		w.u32(0).zeros(32)
	} else {
		w.u32(1).key(*k)
	}
}

func mintBytes(authority *[32]byte, supply uint64, decimals uint8, freeze *[32]byte) []byte {
	w := &le{}
	optKey(w, authority)
	w.u64(supply).u8(decimals).u8(1)
	optKey(w, freeze)
	return w.b
}

// withTLV appends Token-2022 extensions after a base state.
func withTLV(base []byte, accountType byte, entries ...[]byte) []byte {
	out := append([]byte(nil), base...)
	out = append(out, make([]byte, tokenAccountLen-len(base))...)
	out = append(out, accountType)
	for _, e := range entries {
		out = append(out, e...)
	}
	return out
}

func tlv(t uint16, value []byte) []byte {
	w := (&le{}).u16(t).u16(uint16(len(value)))
	return append(w.b, value...)
}

func ptr[T any](v T) *T { return &v }

type parseCase struct {
	name    string
	owner   [32]byte
	pubkey  [32]byte
	data    []byte
	mints   mapMints
	now     int64
	want    string   // expected parsed JSON (compared semantically); "" with wantErr
	wantErr error    // expected error (errors.Is)
	exact   []string // substrings that must appear byte for byte
}

func runCases(t *testing.T, cases []parseCase) {
	t.Helper()
	reg := NewRegistry()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			prefix := []byte("prefix:")
			got, _, typ, err := reg.AppendParsed(prefix, Input{Owner: c.owner, Pubkey: c.pubkey, Data: c.data, UnixTimestamp: c.now}, c.mints)
			if !bytes.HasPrefix(got, []byte("prefix:")) {
				t.Fatalf("dst prefix lost: %q", got)
			}
			got = got[len("prefix:"):]
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) || len(got) != 0 {
					t.Fatalf("err = %v, out %q; want %v and no output", err, got, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := match("parsed", decodeNumbers(t, []byte(c.want)), decodeNumbers(t, got)); err != nil {
				t.Errorf("%v\ngot  %s\nwant %s", err, got, c.want)
			}
			if err := checkSortedKeys(got); err != nil {
				t.Errorf("key order: %v\n%s", err, got)
			}
			if !strings.Contains(string(got), `"type":"`+typ+`"`) {
				t.Errorf("accountType %q not in output", typ)
			}
			for _, s := range c.exact {
				if !strings.Contains(string(got), s) {
					t.Errorf("output lacks %s\n%s", s, got)
				}
			}
		})
	}
}

func amountJSON(amount, decimals, ui, uiString string) string {
	return `{"amount":"` + amount + `","decimals":` + decimals + `,"uiAmount":` + ui + `,"uiAmountString":"` + uiString + `"}`
}

func TestTokenAccountEdges(t *testing.T) {
	t.Parallel()
	mints := func(d uint8) mapMints { return mapMints{keyA: {Decimals: d}} }
	acct := func(amount string, d string, ui, uiStr string, extra string) string {
		return `{"type":"account","info":{"mint":"` + sA + `","owner":"` + sB + `","isNative":false,"state":"initialized","tokenAmount":` +
			amountJSON(amount, d, ui, uiStr) + extra + `}}`
	}
	cases := []parseCase{
		{
			name: "plain", owner: solana.TokenProgramID, mints: mints(6),
			data:  tokenAcctSpec{mint: keyA, owner: keyB, amount: 1, state: 1}.bytes(),
			want:  acct("1", "6", "0.000001", "0.000001", ""),
			exact: []string{`"uiAmount":1e-6,`},
		},
		{
			name: "delegate and close authority", owner: solana.TokenProgramID, mints: mints(2),
			data: tokenAcctSpec{mint: keyA, owner: keyB, amount: 12345, state: 1, delegate: &keyC, delegatedAmount: 100, closeAuthority: &keyD}.bytes(),
			want: `{"type":"account","info":{"mint":"` + sA + `","owner":"` + sB + `","isNative":false,"state":"initialized",
				"tokenAmount":` + amountJSON("12345", "2", "123.45", "123.45") + `,
				"delegate":"` + sC + `","delegatedAmount":` + amountJSON("100", "2", "1.0", "1") + `,"closeAuthority":"` + sD + `"}}`,
			exact: []string{`"uiAmount":1.0,`},
		},
		{
			name: "delegated amount without delegate is omitted", owner: solana.TokenProgramID, mints: mints(0),
			data: tokenAcctSpec{mint: keyA, owner: keyB, amount: 7, state: 1, delegatedAmount: 5}.bytes(),
			want: acct("7", "0", "7.0", "7", ""),
		},
		{
			name: "native", owner: solana.TokenProgramID, mints: mints(9),
			data: tokenAcctSpec{mint: keyA, owner: keyB, amount: 1_000_000_000, state: 1, native: ptr(uint64(2039280))}.bytes(),
			want: `{"type":"account","info":{"mint":"` + sA + `","owner":"` + sB + `","isNative":true,"state":"initialized",
				"tokenAmount":` + amountJSON("1000000000", "9", "1.0", "1") + `,
				"rentExemptReserve":` + amountJSON("2039280", "9", "0.00203928", "0.00203928") + `}}`,
		},
		{
			name: "frozen", owner: solana.Token2022ProgramID, mints: mints(0),
			data: tokenAcctSpec{mint: keyA, owner: keyB, amount: 0, state: 2}.bytes(),
			want: `{"type":"account","info":{"mint":"` + sA + `","owner":"` + sB + `","isNative":false,"state":"frozen","tokenAmount":` + amountJSON("0", "0", "0.0", "0") + `}}`,
		},
		{
			name: "u64 max, 0 decimals", owner: solana.TokenProgramID, mints: mints(0),
			data:  tokenAcctSpec{mint: keyA, owner: keyB, amount: math.MaxUint64, state: 1}.bytes(),
			want:  acct("18446744073709551615", "0", "18446744073709551616", "18446744073709551615", ""),
			exact: []string{`"uiAmount":1.8446744073709552e19,`},
		},
		{
			name: "u64 max, 9 decimals", owner: solana.TokenProgramID, mints: mints(9),
			data:  tokenAcctSpec{mint: keyA, owner: keyB, amount: math.MaxUint64, state: 1}.bytes(),
			want:  acct("18446744073709551615", "9", "18446744073.709553", "18446744073.709551615", ""),
			exact: []string{`"uiAmount":18446744073.709553,`},
		},
		{
			name: "18 decimals", owner: solana.TokenProgramID, mints: mints(18),
			data: tokenAcctSpec{mint: keyA, owner: keyB, amount: 1_500_000_000_000_000_000, state: 1}.bytes(),
			want: acct("1500000000000000000", "18", "1.5", "1.5", ""),
		},
		{
			name: "19 decimals", owner: solana.TokenProgramID, mints: mints(19),
			data:  tokenAcctSpec{mint: keyA, owner: keyB, amount: 1, state: 1}.bytes(),
			want:  acct("1", "19", "1e-19", "0.0000000000000000001", ""),
			exact: []string{`"uiAmount":1e-19,`},
		},
		{
			name: "20 decimals has no uiAmount", owner: solana.TokenProgramID, mints: mints(20),
			data: tokenAcctSpec{mint: keyA, owner: keyB, amount: 120, state: 1}.bytes(),
			want: acct("120", "20", "null", "0.0000000000000000012", ""),
		},
		{
			name: "255 decimals", owner: solana.TokenProgramID, mints: mints(255),
			data: tokenAcctSpec{mint: keyA, owner: keyB, amount: 0, state: 1}.bytes(),
			want: acct("0", "255", "null", "0", ""),
		},
		{
			name: "uninitialized is not parsable", owner: solana.TokenProgramID, mints: mints(0),
			data: tokenAcctSpec{mint: keyA, owner: keyB, state: 0}.bytes(), wantErr: ErrNotParsable,
		},
		{
			name: "bad state byte", owner: solana.TokenProgramID, mints: mints(0),
			data: tokenAcctSpec{mint: keyA, owner: keyB, state: 3}.bytes(), wantErr: ErrNotParsable,
		},
		{
			name: "mint unknown", owner: solana.TokenProgramID, mints: mapMints{},
			data: tokenAcctSpec{mint: keyA, owner: keyB, state: 1}.bytes(), wantErr: ErrMintUnknown,
		},
		{
			name: "nil mint source", owner: solana.TokenProgramID,
			data: tokenAcctSpec{mint: keyA, owner: keyB, state: 1}.bytes(), wantErr: ErrMintUnknown,
		},
		{
			name: "wrong account type byte", owner: solana.Token2022ProgramID, mints: mints(0),
			data: withTLV(tokenAcctSpec{mint: keyA, owner: keyB, state: 1}.bytes(), accountTypeMint), wantErr: ErrNotParsable,
		},
		{
			name: "invalid TLV drops all extensions", owner: solana.Token2022ProgramID, mints: mints(0),
			data: withTLV(tokenAcctSpec{mint: keyA, owner: keyB, state: 1}.bytes(), accountTypeAccount,
				tlv(extImmutableOwner, nil), tlv(999, nil)),
			want: acct("0", "0", "0.0", "0", ""),
		},
		{
			name: "mint extension in an account is unparseable", owner: solana.Token2022ProgramID, mints: mints(0),
			data: withTLV(tokenAcctSpec{mint: keyA, owner: keyB, state: 1}.bytes(), accountTypeAccount,
				tlv(extMintCloseAuthority, keyC[:])),
			want: acct("0", "0", "0.0", "0", `,"extensions":[{"extension":"unparseableExtension"}]`),
		},
		{
			name: "wrong extension size is unparseable", owner: solana.Token2022ProgramID, mints: mints(0),
			data: withTLV(tokenAcctSpec{mint: keyA, owner: keyB, state: 1}.bytes(), accountTypeAccount,
				tlv(extTransferFeeAmount, []byte{1, 2, 3}), tlv(extCpiGuard, []byte{1})),
			want: acct("0", "0", "0.0", "0", `,"extensions":[{"extension":"unparseableExtension"},{"extension":"cpiGuard","state":{"lockCpi":true}}]`),
		},
		{
			name: "trailing uninitialized TLV space", owner: solana.Token2022ProgramID, mints: mints(0),
			data: append(withTLV(tokenAcctSpec{mint: keyA, owner: keyB, state: 1}.bytes(), accountTypeAccount,
				tlv(extImmutableOwner, nil)), 0, 0, 0, 0, 0, 0),
			want: acct("0", "0", "0.0", "0", `,"extensions":[{"extension":"immutableOwner"}]`),
		},
	}
	runCases(t, cases)
}

func TestToken2022AccountExtensions(t *testing.T) {
	t.Parallel()
	ct := func(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }
	b64 := func(n int, b byte) string { return base64.StdEncoding.EncodeToString(ct(n, b)) }
	ctAccount := (&le{}).u8(1).raw(ct(32, 5)).raw(ct(64, 6)).raw(ct(64, 7)).raw(ct(64, 8)).raw(ct(36, 9)).
		u8(0).u8(1).u64(1).u64(2).u64(3).u64(4).b
	data := withTLV(tokenAcctSpec{mint: keyA, owner: keyB, amount: 5, state: 1}.bytes(), accountTypeAccount,
		tlv(extTransferFeeAmount, (&le{}).u64(42).b),
		tlv(extConfidentialTransferAccount, ctAccount),
		tlv(extImmutableOwner, nil),
		tlv(extMemoTransfer, []byte{1}),
		tlv(extCpiGuard, []byte{0}),
		tlv(extNonTransferableAccount, nil),
		tlv(extTransferHookAccount, []byte{1}),
		tlv(extConfidentialTransferFeeAmount, ct(64, 10)),
		tlv(extPausableAccount, nil),
	)
	want := `{"type":"account","info":{"mint":"` + sA + `","owner":"` + sB + `","isNative":false,"state":"initialized",
		"tokenAmount":` + amountJSON("5", "0", "5.0", "5") + `,"extensions":[
		{"extension":"transferFeeAmount","state":{"withheldAmount":42}},
		{"extension":"confidentialTransferAccount","state":{"approved":true,"elgamalPubkey":"` + b64(32, 5) + `",
			"pendingBalanceLo":"` + b64(64, 6) + `","pendingBalanceHi":"` + b64(64, 7) + `","availableBalance":"` + b64(64, 8) + `",
			"decryptableAvailableBalance":"` + b64(36, 9) + `","allowConfidentialCredits":false,"allowNonConfidentialCredits":true,
			"pendingBalanceCreditCounter":1,"maximumPendingBalanceCreditCounter":2,"expectedPendingBalanceCreditCounter":3,
			"actualPendingBalanceCreditCounter":4}},
		{"extension":"immutableOwner"},
		{"extension":"memoTransfer","state":{"requireIncomingTransferMemos":true}},
		{"extension":"cpiGuard","state":{"lockCpi":false}},
		{"extension":"nonTransferableAccount"},
		{"extension":"transferHookAccount","state":{"transferring":true}},
		{"extension":"confidentialTransferFeeAmount","state":{"withheldAmount":"` + b64(64, 10) + `"}},
		{"extension":"pausableAccount"}]}}`
	runCases(t, []parseCase{{name: "all account extensions", owner: solana.Token2022ProgramID, data: data,
		mints: mapMints{keyA: {Decimals: 0}}, want: want}})
}

func TestToken2022MintExtensions(t *testing.T) {
	t.Parallel()
	ct := func(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }
	b64 := func(n int, b byte) string { return base64.StdEncoding.EncodeToString(ct(n, b)) }
	var zero [32]byte
	transferFee := (&le{}).key(keyA).key(zero).u64(7).u64(10).u64(math.MaxUint64).u16(25).u64(11).u64(1000).u16(50).b
	ctMint := (&le{}).key(keyB).u8(1).raw(ct(32, 3)).b
	interest := (&le{}).key(keyC).i64(1000).u16(uint16(0xffff)).i64(2000).u16(300).b // pre rate -1
	ctFee := (&le{}).key(zero).raw(ct(32, 4)).u8(1).raw(ct(64, 5)).b
	metadata := (&le{}).key(keyA).key(keyD).str32("Name \"q\"\n").str32("SYM").str32("https://x/é").
		u32(2).str32("k1").str32("v1").str32("k2").str32("").b
	group := (&le{}).key(keyA).key(keyD).u64(3).u64(math.MaxUint64).b
	member := (&le{}).key(keyD).key(keyB).u64(9).b
	mintBurn := (&le{}).raw(ct(64, 1)).raw(ct(36, 2)).raw(ct(32, 3)).raw(ct(64, 4)).b
	scaled := (&le{}).key(keyB).f64(1.5).i64(1700000000).f64(2).b
	pausable := (&le{}).key(keyC).u8(1).b
	data := withTLV(mintBytes(&keyA, 1000, 6, nil), accountTypeMint,
		tlv(extTransferFeeConfig, transferFee),
		tlv(extMintCloseAuthority, keyB[:]),
		tlv(extConfidentialTransferMint, ctMint),
		tlv(extDefaultAccountState, []byte{2}),
		tlv(extNonTransferable, nil),
		tlv(extInterestBearingConfig, interest),
		tlv(extPermanentDelegate, zero[:]),
		tlv(extTransferHook, append(keyA[:32:32], keyB[:]...)),
		tlv(extConfidentialTransferFeeConfig, ctFee),
		tlv(extMetadataPointer, append(keyA[:32:32], keyD[:]...)),
		tlv(extTokenMetadata, metadata),
		tlv(extGroupPointer, append(zero[:32:32], keyD[:]...)),
		tlv(extGroupMemberPointer, append(keyC[:32:32], keyD[:]...)),
		tlv(extTokenGroup, group),
		tlv(extTokenGroupMember, member),
		tlv(extConfidentialMintBurn, mintBurn),
		tlv(extScaledUiAmount, scaled),
		tlv(extPausable, pausable),
		tlv(extDefaultAccountState, []byte{9}), // duplicate: agave reads the first entry again
	)
	want := `{"type":"mint","info":{"mintAuthority":"` + sA + `","supply":"1000","decimals":6,"isInitialized":true,"freezeAuthority":null,"extensions":[
		{"extension":"transferFeeConfig","state":{"transferFeeConfigAuthority":"` + sA + `","withdrawWithheldAuthority":null,"withheldAmount":7,
			"olderTransferFee":{"epoch":10,"maximumFee":18446744073709551615,"transferFeeBasisPoints":25},
			"newerTransferFee":{"epoch":11,"maximumFee":1000,"transferFeeBasisPoints":50}}},
		{"extension":"mintCloseAuthority","state":{"closeAuthority":"` + sB + `"}},
		{"extension":"confidentialTransferMint","state":{"authority":"` + sB + `","autoApproveNewAccounts":true,"auditorElgamalPubkey":"` + b64(32, 3) + `"}},
		{"extension":"defaultAccountState","state":{"accountState":"frozen"}},
		{"extension":"nonTransferable"},
		{"extension":"interestBearingConfig","state":{"rateAuthority":"` + sC + `","initializationTimestamp":1000,"preUpdateAverageRate":-1,"lastUpdateTimestamp":2000,"currentRate":300}},
		{"extension":"permanentDelegate","state":{"delegate":null}},
		{"extension":"transferHook","state":{"authority":"` + sA + `","programId":"` + sB + `"}},
		{"extension":"confidentialTransferFeeConfig","state":{"authority":null,"withdrawWithheldAuthorityElgamalPubkey":"` + b64(32, 4) + `","harvestToMintEnabled":true,"withheldAmount":"` + b64(64, 5) + `"}},
		{"extension":"metadataPointer","state":{"authority":"` + sA + `","metadataAddress":"` + sD + `"}},
		{"extension":"tokenMetadata","state":{"updateAuthority":"` + sA + `","mint":"` + sD + `","name":"Name \"q\"\n","symbol":"SYM","uri":"https://x/é","additionalMetadata":[["k1","v1"],["k2",""]]}},
		{"extension":"groupPointer","state":{"authority":null,"groupAddress":"` + sD + `"}},
		{"extension":"groupMemberPointer","state":{"authority":"` + sC + `","memberAddress":"` + sD + `"}},
		{"extension":"tokenGroup","state":{"updateAuthority":"` + sA + `","mint":"` + sD + `","size":3,"maxSize":18446744073709551615}},
		{"extension":"tokenGroupMember","state":{"mint":"` + sD + `","group":"` + sB + `","memberNumber":9}},
		{"extension":"confidentialMintBurn","state":{"confidentialSupply":"` + b64(64, 1) + `","decryptableSupply":"` + b64(36, 2) + `","supplyElgamalPubkey":"` + b64(32, 3) + `","pendingBurn":"` + b64(64, 4) + `"}},
		{"extension":"scaledUiAmountConfig","state":{"authority":"` + sB + `","multiplier":"1.5","newMultiplierEffectiveTimestamp":1700000000,"newMultiplier":"2"}},
		{"extension":"pausableConfig","state":{"authority":"` + sC + `","paused":true}},
		{"extension":"defaultAccountState","state":{"accountState":"frozen"}}]}}`
	cases := []parseCase{
		{name: "all mint extensions", owner: solana.Token2022ProgramID, data: data, want: want,
			exact: []string{`"name":"Name \"q\"\n"`, `"uri":"https://x/é"`}},
		{name: "bad utf-8 metadata is unparseable", owner: solana.Token2022ProgramID,
			data: withTLV(mintBytes(nil, 0, 0, nil), accountTypeMint,
				tlv(extTokenMetadata, (&le{}).key(keyA).key(keyD).str32("\xff").str32("").str32("").u32(0).b)),
			want: `{"type":"mint","info":{"mintAuthority":null,"supply":"0","decimals":0,"isInitialized":true,"freezeAuthority":null,"extensions":[{"extension":"unparseableExtension"}]}}`},
		{name: "metadata with trailing bytes is unparseable", owner: solana.Token2022ProgramID,
			data: withTLV(mintBytes(nil, 0, 0, nil), accountTypeMint,
				tlv(extTokenMetadata, (&le{}).key(keyA).key(keyD).str32("").str32("").str32("").u32(0).u8(0).b)),
			want: `{"type":"mint","info":{"mintAuthority":null,"supply":"0","decimals":0,"isInitialized":true,"freezeAuthority":null,"extensions":[{"extension":"unparseableExtension"}]}}`},
		{name: "metadata with a huge length prefix is unparseable", owner: solana.Token2022ProgramID,
			data: withTLV(mintBytes(nil, 0, 0, nil), accountTypeMint,
				tlv(extTokenMetadata, (&le{}).key(keyA).key(keyD).u32(math.MaxUint32).b)),
			want: `{"type":"mint","info":{"mintAuthority":null,"supply":"0","decimals":0,"isInitialized":true,"freezeAuthority":null,"extensions":[{"extension":"unparseableExtension"}]}}`},
		{name: "mint shorter than the account type offset", owner: solana.Token2022ProgramID,
			data: append(mintBytes(nil, 0, 0, nil), 0, 0, 0), wantErr: ErrNotParsable},
		{name: "mint with non-zero padding", owner: solana.Token2022ProgramID,
			data: func() []byte { b := withTLV(mintBytes(nil, 0, 0, nil), accountTypeMint); b[100] = 1; return b }(), wantErr: ErrNotParsable},
		{name: "uninitialized mint", owner: solana.TokenProgramID,
			data: func() []byte { b := mintBytes(nil, 0, 0, nil); b[45] = 0; return b }(), wantErr: ErrNotParsable},
	}
	runCases(t, cases)
}

func TestMultisig(t *testing.T) {
	t.Parallel()
	data := (&le{}).u8(2).u8(3).u8(1).key(keyA).zeros(32).key(keyB).key(keyC).zeros(32 * 7).b
	runCases(t, []parseCase{
		{name: "zero signers skipped", owner: solana.TokenProgramID, data: data,
			want: `{"type":"multisig","info":{"numRequiredSigners":2,"numValidSigners":3,"isInitialized":true,"signers":["` + sA + `","` + sB + `","` + sC + `"]}}`},
		{name: "uninitialized", owner: solana.TokenProgramID, data: append([]byte{1, 1, 0}, data[3:]...), wantErr: ErrNotParsable},
	})
}

func TestUIAmountWithMintExtensions(t *testing.T) {
	t.Parallel()
	// One year at 100% continuous interest multiplies by e.
	year := int64(60 * 60 * 24 * 365.24) // Token-2022's seconds per year
	interestMint := withTLV(mintBytes(nil, 0, 6, nil), accountTypeMint,
		tlv(extInterestBearingConfig, (&le{}).key(keyC).i64(0).u16(0).i64(0).u16(10000).b))
	scaledMint := withTLV(mintBytes(nil, 0, 2, nil), accountTypeMint,
		tlv(extScaledUiAmount, (&le{}).key(keyC).f64(1.5).i64(1000).f64(2).b))
	interestInfo, ok1 := MintFromAccount(solana.Token2022ProgramID, interestMint)
	scaledInfo, ok2 := MintFromAccount(solana.Token2022ProgramID, scaledMint)
	if !ok1 || !ok2 || !interestInfo.HasInterestBearing || !scaledInfo.HasScaledUIAmount || interestInfo.Decimals != 6 {
		t.Fatalf("MintFromAccount: %+v %v, %+v %v", interestInfo, ok1, scaledInfo, ok2)
	}
	acct := func(amount uint64) []byte {
		return tokenAcctSpec{mint: keyA, owner: keyB, amount: amount, state: 1}.bytes()
	}
	wrap := func(tokenAmount string) string {
		return `{"type":"account","info":{"mint":"` + sA + `","owner":"` + sB + `","isNative":false,"state":"initialized","tokenAmount":` + tokenAmount + `}}`
	}
	runCases(t, []parseCase{
		{name: "interest after one year", owner: solana.Token2022ProgramID, data: acct(1_000_000), now: year,
			mints: mapMints{keyA: interestInfo}, want: wrap(amountJSON("1000000", "6", "2.718282", "2.718282"))},
		{name: "interest at start", owner: solana.Token2022ProgramID, data: acct(1_500_000), now: 0,
			mints: mapMints{keyA: interestInfo}, want: wrap(amountJSON("1500000", "6", "1.5", "1.5"))},
		{name: "scaled before effective time", owner: solana.Token2022ProgramID, data: acct(101), now: 999,
			mints: mapMints{keyA: scaledInfo}, want: wrap(amountJSON("101", "2", "1.51", "1.51"))},
		{name: "scaled after effective time", owner: solana.Token2022ProgramID, data: acct(101), now: 1000,
			mints: mapMints{keyA: scaledInfo}, want: wrap(amountJSON("101", "2", "2.02", "2.02"))},
		{name: "interest overflow gives null and empty string", owner: solana.Token2022ProgramID, data: acct(1), now: math.MinInt64,
			mints: mapMints{keyA: {Decimals: 0, HasInterestBearing: true, InterestBearing: InterestBearingConfig{LastUpdateTimestamp: 1}}},
			want:  wrap(amountJSON("1", "0", "null", ""))},
	})
}

func TestTokenAccountMint(t *testing.T) {
	t.Parallel()
	data := tokenAcctSpec{mint: keyC, owner: keyB, state: 1}.bytes()
	if m, ok := TokenAccountMint(solana.TokenProgramID, data); !ok || m != keyC {
		t.Errorf("TokenAccountMint = %x, %v", m, ok)
	}
	if _, ok := TokenAccountMint(solana.SystemProgramID, data); ok {
		t.Error("system-owned data reported as token account")
	}
	if _, ok := TokenAccountMint(solana.TokenProgramID, mintBytes(nil, 0, 0, nil)); ok {
		t.Error("mint reported as token account")
	}
	if _, ok := MintFromAccount(solana.TokenProgramID, data); ok {
		t.Error("token account reported as mint")
	}
}
