package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/firehole/firehole/pkg/testenv"
)

func TestCheckConfiguredKeys(t *testing.T) {
	t.Parallel()
	digest := sha256.Sum256([]byte("hashed-key"))
	ks, err := Parse([]string{"plain-key", "sha256:" + hex.EncodeToString(digest[:]), " "}, Limits{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		target, header string
		want           error
	}{
		{"/?api-key=plain-key", "", nil},
		{"/", "hashed-key", nil},
		{"/plain-key", "", nil},
		{"/", "", ErrNoKey},
		{"/?api-key=wrong", "", ErrBadKey},
	} {
		r := httptest.NewRequest("GET", tc.target, nil)
		if tc.header != "" {
			r.Header.Set("x-api-key", tc.header)
		}
		k, err := ks.Check(r)
		if !errors.Is(err, tc.want) || (err == nil) != (k != nil) {
			t.Errorf("%s %q: key %v err %v, want err %v", tc.target, tc.header, k, err, tc.want)
		}
	}
	k, _ := ks.Check(httptest.NewRequest("GET", "/?api-key=plain-key", nil))
	if !k.AcquireConn() || k.AcquireConn() {
		t.Error("MaxConns 1 must allow one connection and refuse the second")
	}
	if _, err := Parse([]string{"sha256:abcd"}, Limits{}); err == nil {
		t.Error("a short sha256 entry must be refused")
	}
	var off *Keys
	if k, err := off.Check(httptest.NewRequest("GET", "/", nil)); k != nil || err != nil {
		t.Error("auth off must allow everything")
	}
}

// TestKeysFromPostgres runs the persister's api_keys migration in a schema
// of its own and checks loading, disabling, limits and refresh.
func TestKeysFromPostgres(t *testing.T) {
	t.Parallel()
	url := testenv.PostgresURL(t)
	schema := testenv.Name(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	s := pgx.Identifier{schema}.Sanitize()
	// Cleanups run last-in first-out: drop the schema, then close the pool.
	t.Cleanup(pool.Close)
	t.Cleanup(func() { _, _ = pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+s+" CASCADE") })
	ddl, err := os.ReadFile("../../../persister/internal/schema/migrations/0003_api_keys.sql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+s+"; SET search_path TO "+s+"; "+string(ddl)+"; RESET search_path"); err != nil {
		t.Fatal(err)
	}
	insert := func(key, name string, conns int, disabled bool) {
		d := sha256.Sum256([]byte(key))
		if _, err := pool.Exec(ctx, "INSERT INTO "+s+".api_keys (key_sha256, name, max_connections, disabled) VALUES ($1, $2, $3, $4)",
			d[:], name, conns, disabled); err != nil {
			t.Fatal(err)
		}
	}
	insert("team-a-key", "team-a", 2, false)
	insert("revoked-key", "revoked", 0, true)

	ks, err := Parse(nil, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	reload := func() {
		entries, err := LoadPostgres(ctx, pool, schema)
		if err != nil {
			t.Fatal(err)
		}
		ks.SetLoaded(entries)
	}
	check := func(key string) (*Key, error) {
		return ks.Check(httptest.NewRequest("GET", "/?api-key="+key, nil))
	}
	reload()
	a, err := check("team-a-key")
	if err != nil || a.Name != "team-a" {
		t.Fatalf("team-a: key %v err %v", a, err)
	}
	if _, err := check("revoked-key"); !errors.Is(err, ErrBadKey) {
		t.Fatalf("a disabled key: err %v, want ErrBadKey", err)
	}
	if !a.AcquireConn() || !a.AcquireConn() || a.AcquireConn() {
		t.Fatal("max_connections 2 must allow two connections, not three")
	}
	// A refresh with unchanged limits keeps the key's state.
	reload()
	if again, _ := check("team-a-key"); again != a || again.AcquireConn() {
		t.Fatal("refresh reset team-a's connection count")
	}
	// Deleting the row revokes the key at the next refresh.
	if _, err := pool.Exec(ctx, "DELETE FROM "+s+".api_keys WHERE name = 'team-a'"); err != nil {
		t.Fatal(err)
	}
	reload()
	if _, err := check("team-a-key"); !errors.Is(err, ErrBadKey) {
		t.Fatalf("deleted key: err %v, want ErrBadKey", err)
	}
}
