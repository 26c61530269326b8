// Package testenv finds the real Postgres and Redis servers that tests use
// and gives each test its own namespace in them.
//
// URLs come from FIREHOLE_TEST_POSTGRES_URL and FIREHOLE_TEST_REDIS_ADDR
// (defaults: the local servers). When a server cannot be reached the test
// is skipped, except under CI=true, where it fails: CI must never pass by
// skipping.
package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// DefaultPostgresURL is the local test database.
const DefaultPostgresURL = "postgres://root@127.0.0.1:5432/test?sslmode=disable"

// DefaultRedisAddr is the local Redis.
const DefaultRedisAddr = "127.0.0.1:6379"

// PostgresURL returns the test database URL once the server answers on TCP.
func PostgresURL(t testing.TB) string {
	t.Helper()
	u := getenv("FIREHOLE_TEST_POSTGRES_URL", DefaultPostgresURL)
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatalf("FIREHOLE_TEST_POSTGRES_URL: %v", err)
	}
	host := pu.Host
	if pu.Port() == "" {
		host = net.JoinHostPort(pu.Hostname(), "5432")
	}
	require(t, "postgres", host)
	return u
}

// RedisAddr returns host:port of the test Redis once it answers on TCP.
func RedisAddr(t testing.TB) string {
	t.Helper()
	a := getenv("FIREHOLE_TEST_REDIS_ADDR", DefaultRedisAddr)
	require(t, "redis", a)
	return a
}

// Name returns a short unique lower-case identifier for this test, usable as
// a Postgres schema name or a Redis key prefix.
func Name(t testing.TB) string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	base := strings.ToLower(t.Name())
	base = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, base)
	if len(base) > 40 {
		base = base[:40]
	}
	return "t_" + base + "_" + hex.EncodeToString(b[:])
}

func require(t testing.TB, what, addr string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		_ = conn.Close()
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s at %s is not reachable under CI=true: %v", what, addr, err)
	}
	t.Skipf("%s at %s is not reachable: %v", what, addr, err)
}

func getenv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
