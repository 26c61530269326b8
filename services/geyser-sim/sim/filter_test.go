package sim

import (
	"bytes"
	"context"
	"encoding/base64"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/pkg/solana"
	"github.com/firehole/firehole/proto/geyser"
	"github.com/firehole/firehole/services/geyser-sim/sim/world"
)

func memcmpBytes(off uint64, b []byte) *geyser.SubscribeRequestFilterAccountsFilter {
	return &geyser.SubscribeRequestFilterAccountsFilter{Filter: &geyser.SubscribeRequestFilterAccountsFilter_Memcmp{
		Memcmp: &geyser.SubscribeRequestFilterAccountsFilterMemcmp{Offset: off, Data: &geyser.SubscribeRequestFilterAccountsFilterMemcmp_Bytes{Bytes: b}}}}
}

func memcmpB58(off uint64, s string) *geyser.SubscribeRequestFilterAccountsFilter {
	return &geyser.SubscribeRequestFilterAccountsFilter{Filter: &geyser.SubscribeRequestFilterAccountsFilter_Memcmp{
		Memcmp: &geyser.SubscribeRequestFilterAccountsFilterMemcmp{Offset: off, Data: &geyser.SubscribeRequestFilterAccountsFilterMemcmp_Base58{Base58: s}}}}
}

func memcmpB64(off uint64, s string) *geyser.SubscribeRequestFilterAccountsFilter {
	return &geyser.SubscribeRequestFilterAccountsFilter{Filter: &geyser.SubscribeRequestFilterAccountsFilter_Memcmp{
		Memcmp: &geyser.SubscribeRequestFilterAccountsFilterMemcmp{Offset: off, Data: &geyser.SubscribeRequestFilterAccountsFilterMemcmp_Base64{Base64: s}}}}
}

func datasize(n uint64) *geyser.SubscribeRequestFilterAccountsFilter {
	return &geyser.SubscribeRequestFilterAccountsFilter{Filter: &geyser.SubscribeRequestFilterAccountsFilter_Datasize{Datasize: n}}
}

func tokenState(v bool) *geyser.SubscribeRequestFilterAccountsFilter {
	return &geyser.SubscribeRequestFilterAccountsFilter{Filter: &geyser.SubscribeRequestFilterAccountsFilter_TokenAccountState{TokenAccountState: v}}
}

func lamports(l *geyser.SubscribeRequestFilterAccountsFilterLamports) *geyser.SubscribeRequestFilterAccountsFilter {
	return &geyser.SubscribeRequestFilterAccountsFilter{Filter: &geyser.SubscribeRequestFilterAccountsFilter_Lamports{Lamports: l}}
}

// TestAccountFilters subscribes with one named filter per filter kind on one
// stream (with a startup snapshot, so unsigned updates occur too) and checks
// every update's `filters` against independent predicates.
func TestAccountFilters(t *testing.T) {
	t.Parallel()
	h := start(t, testConfig())
	w := h.srv.World()
	accts := w.Accounts()
	var wallet0, token0 *world.Account
	for _, a := range accts {
		if a.Kind == world.KindWallet && wallet0 == nil {
			wallet0 = a
		}
		if a.Kind == world.KindToken && token0 == nil {
			token0 = a
		}
	}
	mint0 := w.Mints()[0].Pubkey
	t22 := solana.Token2022ProgramID
	const rentToken = 2039280
	vaultB58 := base58.Encode(world.VaultDiscriminator[:])
	posB64 := base64.StdEncoding.EncodeToString(world.PositionDiscriminator[:])

	type tc struct {
		filter *geyser.SubscribeRequestFilterAccounts
		want   func(u *geyser.SubscribeUpdateAccountInfo) bool
	}
	cases := map[string]tc{
		"account": {&geyser.SubscribeRequestFilterAccounts{Account: []string{base58.Encode32(&wallet0.Pubkey), base58.Encode32(&token0.Pubkey)}},
			func(u *geyser.SubscribeUpdateAccountInfo) bool {
				return bytes.Equal(u.Pubkey, wallet0.Pubkey[:]) || bytes.Equal(u.Pubkey, token0.Pubkey[:])
			}},
		"owner": {&geyser.SubscribeRequestFilterAccounts{Owner: []string{base58.Encode32(&solana.TokenProgramID)}},
			func(u *geyser.SubscribeUpdateAccountInfo) bool { return bytes.Equal(u.Owner, solana.TokenProgramID[:]) }},
		"owner_and_size": {&geyser.SubscribeRequestFilterAccounts{Owner: []string{base58.Encode32(&t22)}, Filters: []*geyser.SubscribeRequestFilterAccountsFilter{datasize(182)}},
			func(u *geyser.SubscribeUpdateAccountInfo) bool {
				return bytes.Equal(u.Owner, t22[:]) && len(u.Data) == 182
			}},
		"memcmp_bytes": {&geyser.SubscribeRequestFilterAccounts{Filters: []*geyser.SubscribeRequestFilterAccountsFilter{memcmpBytes(0, mint0[:])}},
			func(u *geyser.SubscribeUpdateAccountInfo) bool {
				return len(u.Data) >= 32 && bytes.Equal(u.Data[:32], mint0[:])
			}},
		"memcmp_base58": {&geyser.SubscribeRequestFilterAccounts{Filters: []*geyser.SubscribeRequestFilterAccountsFilter{memcmpB58(0, vaultB58)}},
			func(u *geyser.SubscribeUpdateAccountInfo) bool {
				return len(u.Data) >= 8 && bytes.Equal(u.Data[:8], world.VaultDiscriminator[:])
			}},
		"memcmp_base64_offset": {&geyser.SubscribeRequestFilterAccounts{Filters: []*geyser.SubscribeRequestFilterAccountsFilter{memcmpB64(0, posB64), memcmpBytes(80, []byte{1})}},
			func(u *geyser.SubscribeUpdateAccountInfo) bool {
				return len(u.Data) > 80 && bytes.Equal(u.Data[:8], world.PositionDiscriminator[:]) && u.Data[80] == 1
			}},
		"datasize": {&geyser.SubscribeRequestFilterAccounts{Filters: []*geyser.SubscribeRequestFilterAccountsFilter{datasize(82)}},
			func(u *geyser.SubscribeUpdateAccountInfo) bool { return len(u.Data) == 82 }},
		"token_state": {&geyser.SubscribeRequestFilterAccounts{Filters: []*geyser.SubscribeRequestFilterAccountsFilter{tokenState(true)}},
			func(u *geyser.SubscribeUpdateAccountInfo) bool {
				return (bytes.Equal(u.Owner, solana.TokenProgramID[:]) && len(u.Data) == 165) ||
					(bytes.Equal(u.Owner, t22[:]) && len(u.Data) > 165 && u.Data[165] == 2)
			}},
		"lamports_eq": {&geyser.SubscribeRequestFilterAccounts{Filters: []*geyser.SubscribeRequestFilterAccountsFilter{lamports(&geyser.SubscribeRequestFilterAccountsFilterLamports{Cmp: &geyser.SubscribeRequestFilterAccountsFilterLamports_Eq{Eq: rentToken}})}},
			func(u *geyser.SubscribeUpdateAccountInfo) bool { return u.Lamports == rentToken }},
		"lamports_ne": {&geyser.SubscribeRequestFilterAccounts{Owner: []string{base58.Encode32(&world.DemoProgramID)}, Filters: []*geyser.SubscribeRequestFilterAccountsFilter{lamports(&geyser.SubscribeRequestFilterAccountsFilterLamports{Cmp: &geyser.SubscribeRequestFilterAccountsFilterLamports_Ne{Ne: 1461600}})}},
			func(u *geyser.SubscribeUpdateAccountInfo) bool {
				return bytes.Equal(u.Owner, world.DemoProgramID[:]) && u.Lamports != 1461600
			}},
		"lamports_lt": {&geyser.SubscribeRequestFilterAccounts{Filters: []*geyser.SubscribeRequestFilterAccountsFilter{lamports(&geyser.SubscribeRequestFilterAccountsFilterLamports{Cmp: &geyser.SubscribeRequestFilterAccountsFilterLamports_Lt{Lt: 2_000_000}})}},
			func(u *geyser.SubscribeUpdateAccountInfo) bool { return u.Lamports < 2_000_000 }},
		"lamports_gt": {&geyser.SubscribeRequestFilterAccounts{Filters: []*geyser.SubscribeRequestFilterAccountsFilter{lamports(&geyser.SubscribeRequestFilterAccountsFilterLamports{Cmp: &geyser.SubscribeRequestFilterAccountsFilterLamports_Gt{Gt: 20_000_000_000}})}},
			func(u *geyser.SubscribeUpdateAccountInfo) bool { return u.Lamports > 20_000_000_000 }},
		"signed": {&geyser.SubscribeRequestFilterAccounts{NonemptyTxnSignature: ptr(true), Owner: []string{base58.Encode32(&solana.SystemProgramID)}},
			func(u *geyser.SubscribeUpdateAccountInfo) bool {
				return u.TxnSignature != nil && bytes.Equal(u.Owner, solana.SystemProgramID[:])
			}},
		"unsigned": {&geyser.SubscribeRequestFilterAccounts{NonemptyTxnSignature: ptr(false)},
			func(u *geyser.SubscribeUpdateAccountInfo) bool { return u.TxnSignature == nil }},
	}
	req := &geyser.SubscribeRequest{Accounts: map[string]*geyser.SubscribeRequestFilterAccounts{}}
	for name, c := range cases {
		req.Accounts[name] = c.filter
	}
	c := dial(t, h.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "x-request-snapshot", "true")
	st := subscribe(t, ctx, c, req)

	seen := map[string]int{}
	for n := 0; n < 3000; n++ {
		u, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		a := u.GetAccount()
		if a == nil {
			t.Fatalf("unexpected non-account update %v", u)
		}
		var want []string
		for name, c := range cases {
			if c.want(a.Account) {
				want = append(want, name)
			}
		}
		sort.Strings(want)
		got := slices.Clone(u.Filters)
		sort.Strings(got)
		if len(want) == 0 {
			t.Fatalf("received an update no filter matches: owner %x len %d filters %v", a.Account.Owner, len(a.Account.Data), u.Filters)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("update %s len %d lamports %d: filters %v, want %v", base58.Encode(a.Account.Pubkey), len(a.Account.Data), a.Account.Lamports, got, want)
		}
		for _, f := range got {
			seen[f]++
		}
	}
	for name := range cases {
		if seen[name] == 0 {
			t.Errorf("filter %q never matched; the test needs traffic for it", name)
		}
	}
}

func TestDataSlice(t *testing.T) {
	t.Parallel()
	h := start(t, testConfig())
	c := dial(t, h.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st := subscribe(t, ctx, c, &geyser.SubscribeRequest{
		Accounts:          map[string]*geyser.SubscribeRequestFilterAccounts{"tok": {Owner: []string{base58.Encode32(&solana.TokenProgramID)}}},
		AccountsDataSlice: []*geyser.SubscribeRequestAccountsDataSlice{{Offset: 0, Length: 8}, {Offset: 64, Length: 8}, {Offset: 160, Length: 100}},
	})
	for range 200 {
		u, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		a := u.GetAccount().GetAccount()
		full := findInRing(t, h.srv, u.GetAccount().Slot, a.Pubkey, a.WriteVersion)
		var want []byte
		switch len(full) {
		case 82:
			want = append(append([]byte{}, full[0:8]...), full[64:72]...)
		case 165:
			want = append(append(append([]byte{}, full[0:8]...), full[64:72]...), full[160:165]...)
		default:
			t.Fatalf("unexpected token program data length %d", len(full))
		}
		if !bytes.Equal(a.Data, want) {
			t.Fatalf("sliced data %x, want %x", a.Data, want)
		}
		if u.Filters[0] != "tok" || a.Lamports == 0 || len(a.TxnSignature) != 64 {
			t.Fatalf("other fields lost in re-encoding: %v", u)
		}
	}
}

func findInRing(t *testing.T, srv *Server, slot uint64, pubkey []byte, wv uint64) []byte {
	t.Helper()
	for _, u := range srv.Updates(slot, slot) {
		if a := u.GetAccount().GetAccount(); a != nil && bytes.Equal(a.Pubkey, pubkey) && a.WriteVersion == wv {
			return a.Data
		}
	}
	t.Fatalf("update %x wv %d not in ring at slot %d", pubkey, wv, slot)
	return nil
}

func TestValidationErrors(t *testing.T) {
	t.Parallel()
	h := start(t, testConfig())
	c := dial(t, h.addr)
	acc := func(f *geyser.SubscribeRequestFilterAccounts) *geyser.SubscribeRequest {
		return &geyser.SubscribeRequest{Accounts: map[string]*geyser.SubscribeRequestFilterAccounts{"f": f}}
	}
	filters := func(fs ...*geyser.SubscribeRequestFilterAccountsFilter) *geyser.SubscribeRequest {
		return acc(&geyser.SubscribeRequestFilterAccounts{Filters: fs})
	}
	for _, tc := range []struct {
		name string
		req  *geyser.SubscribeRequest
		msg  string
	}{
		{"five filters", filters(datasize(1), tokenState(true), memcmpBytes(0, []byte{1}), memcmpBytes(1, []byte{1}), memcmpBytes(2, []byte{1})), "too many filters"},
		{"memcmp too long", filters(memcmpBytes(0, make([]byte, 129))), "too large"},
		{"memcmp base58 too long", filters(memcmpB58(0, strings.Repeat("1", 176))), "too large"},
		{"memcmp base64 too long", filters(memcmpB64(0, strings.Repeat("A", 176))), "too large"},
		{"memcmp bad base58", filters(memcmpB58(0, "0OIl")), "base58"},
		{"memcmp bad base64", filters(memcmpB64(0, "!!")), "base64"},
		{"token state false", filters(tokenState(false)), "token_account_state only allowed to be true"},
		{"datasize twice", filters(datasize(1), datasize(2)), "datasize used more than once"},
		{"lamports without cmp", filters(lamports(&geyser.SubscribeRequestFilterAccountsFilterLamports{})), "lamports"},
		{"empty filter", filters(&geyser.SubscribeRequestFilterAccountsFilter{}), "empty"},
		{"bad account", acc(&geyser.SubscribeRequestFilterAccounts{Account: []string{"notakey"}}), "invalid pubkey"},
		{"bad owner", acc(&geyser.SubscribeRequestFilterAccounts{Owner: []string{"111"}}), "invalid pubkey"},
		{"bad commitment", &geyser.SubscribeRequest{Commitment: geyser.CommitmentLevel(9).Enum()}, "commitment"},
		{"overlapping slices", &geyser.SubscribeRequest{AccountsDataSlice: []*geyser.SubscribeRequestAccountsDataSlice{{Offset: 0, Length: 10}, {Offset: 5, Length: 2}}}, "data slices"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			st := subscribe(t, ctx, c, tc.req)
			for {
				_, err := st.Recv()
				if err == nil {
					continue
				}
				if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), tc.msg) {
					t.Fatalf("got %v, want InvalidArgument containing %q", err, tc.msg)
				}
				return
			}
		})
	}
}

// TestFilterReplacement checks that a second request replaces the filter set.
func TestFilterReplacement(t *testing.T) {
	t.Parallel()
	h := start(t, testConfig())
	c := dial(t, h.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st := subscribe(t, ctx, c, &geyser.SubscribeRequest{Accounts: map[string]*geyser.SubscribeRequestFilterAccounts{
		"first": {Owner: []string{base58.Encode32(&solana.SystemProgramID)}}}})
	u, err := st.Recv()
	if err != nil || u.Filters[0] != "first" {
		t.Fatalf("first filter: %v %v", u, err)
	}
	if err := st.Send(&geyser.SubscribeRequest{Accounts: map[string]*geyser.SubscribeRequestFilterAccounts{
		"second": {Owner: []string{base58.Encode32(&world.DemoProgramID)}}}}); err != nil {
		t.Fatal(err)
	}
	for n := 0; ; n++ {
		u, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if u.Filters[0] == "second" {
			if !bytes.Equal(u.GetAccount().Account.Owner, world.DemoProgramID[:]) {
				t.Fatalf("second filter delivered owner %x", u.GetAccount().Account.Owner)
			}
			// Everything after this must be "second".
			for range 50 {
				u, err := st.Recv()
				if err != nil {
					t.Fatal(err)
				}
				if u.Filters[0] != "second" {
					t.Fatalf("old filter still delivering after replacement: %v", u.Filters)
				}
			}
			return
		}
		if n > 100000 {
			t.Fatal("replacement filter never took effect")
		}
	}
}
