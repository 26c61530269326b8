package native

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/firehole/firehole/pkg/solana"
	"github.com/firehole/firehole/pkg/testenv"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
)

// accountsDDL is the accounts table of docs/postgres-schema.md (the
// persister's migration 0001), reduced to what the gateway reads.
const accountsDDL = `CREATE TABLE %s (
    pubkey bytea PRIMARY KEY, owner bytea NOT NULL, slot bigint NOT NULL, write_version bigint NOT NULL,
    lamports bigint NOT NULL, executable boolean NOT NULL, rent_epoch bigint NOT NULL, data bytea NOT NULL,
    data_len integer NOT NULL, txn_signature bytea, commitment smallint NOT NULL, program text, account_type text,
    parsed jsonb, json_parsed boolean NOT NULL DEFAULT false, decode_status smallint NOT NULL, decode_error text,
    token_owner bytea, token_mint bytea, token_delegate bytea, updated_at timestamptz NOT NULL DEFAULT now())`

func withPostgres(t *testing.T) envOption {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testenv.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	schema := testenv.Name(t)
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
		pool.Close()
	})
	for _, q := range []string{
		"CREATE SCHEMA " + pgx.Identifier{schema}.Sanitize(),
		fmt.Sprintf(accountsDDL, pgx.Identifier{schema, "accounts"}.Sanitize()),
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	return func(d *Deps, _ *httptest.Server) { d.PG, d.Schema = pool, schema }
}

func (e *env) persist(d *fireholev1.DecodedAccount) {
	e.t.Helper()
	a := d.Account
	var owner, mint []byte
	if m, o, ok := tokenAccount(a.Data); ok {
		mint, owner = m, o
	}
	_, err := e.deps.PG.Exec(context.Background(), "INSERT INTO "+pgx.Identifier{e.deps.Schema, "accounts"}.Sanitize()+
		` (pubkey, owner, slot, write_version, lamports, executable, rent_epoch, data, data_len, commitment, decode_status, token_owner, token_mint)
		VALUES ($1,$2,$3,$4,$5,false,0,$6,$7,2,1,$8,$9)`,
		a.Pubkey, a.Owner, int64(a.Slot), int64(a.WriteVersion), int64(a.Lamports), a.Data, len(a.Data), owner, mint)
	if err != nil {
		e.t.Fatalf("insert account: %v", err)
	}
}

func TestTokenOwnerSnapshot(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Limits{}, withPostgres(t))
	prog := solana.TokenProgramID
	alice, bob := key("alice"), key("bob")
	m1, m2 := key("mint1"), key("mint2")
	a1 := acct(prog, key("a1"), 5, tokenData(m1, alice, 10), "")
	a2 := acct(prog, key("a2"), 5, tokenData(m2, alice, 20), "")
	a3 := acct(prog, key("a3"), 5, tokenData(m1, bob, 30), "")
	moved := acct(prog, key("moved"), 5, tokenData(m1, alice, 40), "")
	for _, d := range []*fireholev1.DecodedAccount{a1, a2, a3, moved} {
		e.persist(d)
		e.cache(d)
	}
	// Redis is newer than Postgres for "moved": it now belongs to bob.
	e.cache(acct(prog, key("moved"), 6, tokenData(m1, bob, 40), ""))

	snapshot := func(c *client, id string) []string {
		c.expect("subscribed")
		var got []string
		for m := c.next(); m.Type != "snapshotEnd"; m = c.next() {
			if m.Type != "snapshot" || m.ID != id {
				t.Fatalf("unexpected %+v", m)
			}
			got = append(got, m.Account.Pubkey)
		}
		sort.Strings(got)
		return got
	}
	want := func(ds ...*fireholev1.DecodedAccount) []string {
		var out []string
		for _, d := range ds {
			out = append(out, b58k([32]byte(d.Account.Pubkey)))
		}
		sort.Strings(out)
		return out
	}
	c := e.dial()
	c.send(sub{"op": "subscribe", "id": "owner", "tokenOwner": b58k(alice), "snapshot": true})
	if got := snapshot(c, "owner"); fmt.Sprint(got) != fmt.Sprint(want(a1, a2)) {
		t.Fatalf("owner snapshot %v, want %v", got, want(a1, a2))
	}
	c2 := e.dial()
	c2.send(sub{"op": "subscribe", "id": "both", "tokenOwner": b58k(alice), "tokenMint": b58k(m1), "snapshot": true})
	if got := snapshot(c2, "both"); fmt.Sprint(got) != fmt.Sprint(want(a1)) {
		t.Fatalf("owner+mint snapshot %v, want %v", got, want(a1))
	}
	e.publish(acct(prog, key("a3"), 7, tokenData(m1, bob, 31), ""))
	e.publish(acct(prog, key("a1"), 8, tokenData(m1, alice, 11), ""))
	for _, cl := range []*client{c, c2} {
		if m := cl.expect("update"); m.Account.Pubkey != b58k(key("a1")) || m.Account.Slot != 8 {
			t.Fatalf("update %+v, want a1 at slot 8", m.Account)
		}
		cl.quiet(200 * time.Millisecond)
	}
	// a2 moves to bob: alice's subscription hears it once, then no more.
	e.publish(acct(prog, key("a2"), 9, tokenData(m2, bob, 20), ""))
	if m := c.expect("update"); m.Account.Pubkey != b58k(key("a2")) || m.Account.Slot != 9 {
		t.Fatalf("update %+v, want a2 leaving at slot 9", m.Account)
	}
	e.publish(acct(prog, key("a2"), 10, tokenData(m2, bob, 25), ""))
	// a1 is closed: both subscriptions hear it.
	closed := acct(prog, key("a1"), 11, nil, "")
	closed.Account.Lamports = 0
	e.publish(closed)
	for _, cl := range []*client{c, c2} {
		if m := cl.expect("update"); m.Account.Pubkey != b58k(key("a1")) || m.Account.Lamports != 0 {
			t.Fatalf("update %+v, want a1 closed", m.Account)
		}
		cl.quiet(200 * time.Millisecond)
	}
}
