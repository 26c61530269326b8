// Package auth checks API keys and enforces per-key limits on connections,
// subscriptions and requests per second.
//
// Keys are held only as SHA-256 digests: configured as plain keys (hashed at
// start) or as "sha256:<hex>". A key is read from the api-key query
// parameter, the x-api-key header, or the first URL path segment ("/<key>").
package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/time/rate"
)

// Limits bound one API key; zero means unlimited.
type Limits struct {
	MaxConns int
	MaxSubs  int
	RPS      float64
	Burst    int
}

// Key is one API key's state. Safe for concurrent use.
type Key struct {
	Name   string // first 8 hex digits of the digest, for logs and metrics
	limits Limits

	mu    sync.Mutex
	conns int
	subs  int
	rl    *rate.Limiter
}

// AcquireConn counts a connection; false when the key is at its limit.
func (k *Key) AcquireConn() bool {
	if k == nil {
		return true
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.limits.MaxConns > 0 && k.conns >= k.limits.MaxConns {
		return false
	}
	k.conns++
	return true
}

// ReleaseConn undoes AcquireConn.
func (k *Key) ReleaseConn() {
	if k == nil {
		return
	}
	k.mu.Lock()
	k.conns--
	k.mu.Unlock()
}

// AcquireSub counts a subscription; false when the key is at its limit.
func (k *Key) AcquireSub() bool {
	if k == nil {
		return true
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.limits.MaxSubs > 0 && k.subs >= k.limits.MaxSubs {
		return false
	}
	k.subs++
	return true
}

// ReleaseSub undoes AcquireSub.
func (k *Key) ReleaseSub() {
	if k == nil {
		return
	}
	k.mu.Lock()
	k.subs--
	k.mu.Unlock()
}

// AllowRequest takes one request from the key's rate.
func (k *Key) AllowRequest() bool {
	if k == nil || k.rl == nil {
		return true
	}
	return k.rl.Allow()
}

// Keys is the set of valid keys: the ones from configuration, fixed at
// start, and the ones loaded from Postgres, replaced as a whole by
// SetLoaded. A nil *Keys means auth is off: every request is allowed and
// has a nil *Key (no limits). Safe for concurrent use.
type Keys struct {
	byDigest map[[32]byte]*Key
	loaded   atomic.Pointer[map[[32]byte]*Key]
}

// Entry is one key from an outside store.
type Entry struct {
	Digest [32]byte
	Name   string
	Limits Limits
}

// newKey builds a Key with its rate limiter.
func newKey(name string, limits Limits) *Key {
	k := &Key{Name: name, limits: limits}
	if limits.RPS > 0 {
		burst := limits.Burst
		if burst <= 0 {
			burst = int(limits.RPS) + 1
		}
		k.rl = rate.NewLimiter(rate.Limit(limits.RPS), burst)
	}
	return k
}

// SetLoaded replaces the loaded keys with entries. A key that is still
// there with the same limits keeps its state (open connections and
// subscriptions, rate budget), so a refresh does not reset anyone's limits.
func (ks *Keys) SetLoaded(entries []Entry) {
	old := map[[32]byte]*Key{}
	if p := ks.loaded.Load(); p != nil {
		old = *p
	}
	next := make(map[[32]byte]*Key, len(entries))
	for _, e := range entries {
		if k, ok := old[e.Digest]; ok && k.limits == e.Limits {
			next[e.Digest] = k
			continue
		}
		name := e.Name
		if name == "" {
			name = hex.EncodeToString(e.Digest[:4])
		}
		next[e.Digest] = newKey(name, e.Limits)
	}
	ks.loaded.Store(&next)
}

// ErrNoKey and ErrBadKey are returned by Check.
var (
	ErrNoKey  = errors.New("no api key")
	ErrBadKey = errors.New("invalid api key")
)

// Parse builds Keys from config entries (plain keys or sha256:<hex>), all with limits.
func Parse(entries []string, limits Limits) (*Keys, error) {
	ks := &Keys{byDigest: map[[32]byte]*Key{}}
	var errs []error
	for i, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		var d [32]byte
		if hx, ok := strings.CutPrefix(e, "sha256:"); ok {
			b, err := hex.DecodeString(hx)
			if err != nil || len(b) != 32 {
				errs = append(errs, fmt.Errorf("entry %d: sha256: needs 64 hex digits", i+1))
				continue
			}
			copy(d[:], b)
		} else {
			d = sha256.Sum256([]byte(e))
		}
		ks.byDigest[d] = newKey(hex.EncodeToString(d[:4]), limits)
	}
	return ks, errors.Join(errs...)
}

// Len is the number of keys, configured and loaded.
func (ks *Keys) Len() int {
	if ks == nil {
		return 0
	}
	n := len(ks.byDigest)
	if p := ks.loaded.Load(); p != nil {
		n += len(*p)
	}
	return n
}

// FromRequest returns the key the request carries, or "".
func FromRequest(r *http.Request) string {
	if k := r.URL.Query().Get("api-key"); k != "" {
		return k
	}
	if k := r.Header.Get("x-api-key"); k != "" {
		return k
	}
	if p := strings.Trim(r.URL.Path, "/"); p != "" && !strings.Contains(p, "/") {
		return p
	}
	return ""
}

// Check finds the request's key. With auth off it returns (nil, nil).
func (ks *Keys) Check(r *http.Request) (*Key, error) {
	if ks == nil {
		return nil, nil
	}
	plain := FromRequest(r)
	if plain == "" {
		return nil, ErrNoKey
	}
	// Lookup is by digest: timing reveals nothing usable about a plain key.
	d := sha256.Sum256([]byte(plain))
	if k, ok := ks.byDigest[d]; ok {
		return k, nil
	}
	if p := ks.loaded.Load(); p != nil {
		if k, ok := (*p)[d]; ok {
			return k, nil
		}
	}
	return nil, ErrBadKey
}
