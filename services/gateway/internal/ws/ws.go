// Package ws accepts Solana RPC PubSub WebSocket connections: API key check
// at the upgrade (401 without a valid key), permessage-deflate when the
// client offers it, the inbound frame limit (1009 above it), one
// internal/conn.Conn and one pubsub.Session per connection, and a graceful
// shutdown that closes every connection with 1001 "going away".
package ws

import (
	"context"
	"errors"
	"net/http"
	"sync"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"

	"github.com/firehole/firehole/services/gateway/internal/auth"
	"github.com/firehole/firehole/services/gateway/internal/conn"
	"github.com/firehole/firehole/services/gateway/internal/metrics"
	"github.com/firehole/firehole/services/gateway/internal/pubsub"
)

// Options configure the endpoint.
type Options struct {
	MaxFrameBytes int64
	Conn          conn.Options
	Compression   bool
}

// Handler serves WebSocket upgrades. Safe for concurrent use.
type Handler struct {
	opts Options
	keys *auth.Keys
	ps   *pubsub.Server
	log  zerolog.Logger
	m    *metrics.Metrics

	mu      sync.Mutex
	conns   map[*conn.Conn]struct{}
	closing bool
	wg      sync.WaitGroup
}

// New returns a Handler; keys nil means auth off.
func New(opts Options, keys *auth.Keys, ps *pubsub.Server, log zerolog.Logger, m *metrics.Metrics) *Handler {
	return &Handler{opts: opts, keys: keys, ps: ps, log: log.With().Str("component", "ws").Logger(), m: m,
		conns: map[*conn.Conn]struct{}{}}
}

// ServeHTTP implements http.Handler. After the upgrade it hands the
// connection to a goroutine of its own and returns, so that net/http's
// per-connection state (its 4 KiB buffered writer, the request, the deeper
// stack) is released: an idle client then costs one small goroutine and
// small buffers.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key, err := h.keys.Check(r)
	if err != nil {
		h.reject("unauthorized")
		http.Error(w, "Unauthorized: "+err.Error(), http.StatusUnauthorized)
		return
	}
	if !key.AcquireConn() {
		h.reject("connection_limit")
		http.Error(w, "Too many connections for this API key", http.StatusTooManyRequests)
		return
	}
	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		key.ReleaseConn()
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	h.wg.Add(1)
	h.mu.Unlock()

	mode := websocket.CompressionDisabled
	if h.opts.Compression {
		mode = websocket.CompressionNoContextTakeover
	}
	wsc, wire, err := conn.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true, CompressionMode: mode, CompressionThreshold: 256})
	if err != nil {
		key.ReleaseConn()
		h.wg.Done()
		return // Accept has answered
	}
	go h.serve(wsc, wire, key, r.RemoteAddr)
}

// serve runs one accepted connection until it ends.
func (h *Handler) serve(wsc *websocket.Conn, wire *conn.Wire, key *auth.Key, remote string) {
	defer h.wg.Done()
	defer key.ReleaseConn()
	wsc.SetReadLimit(h.opts.MaxFrameBytes)
	var hooks conn.Hooks
	if h.m != nil {
		hooks = conn.Hooks{
			SlowConsumer: h.m.SlowConsumers.Inc,
			QueueDepth:   func(d int) { h.m.QueueDepth.Add(float64(d)) },
		}
	}
	c := conn.NewWire(wsc, wire, h.opts.Conn, hooks)
	var quota pubsub.Quota
	if key != nil {
		quota = key
	}
	sess := h.ps.NewSession(c, quota)
	h.mu.Lock()
	h.conns[c] = struct{}{}
	closing := h.closing
	h.mu.Unlock()
	if closing {
		// Shutdown began after the upgrade and did not see this connection.
		c.Close(websocket.StatusGoingAway, conn.ReasonGoingAway)
	}
	if h.m != nil {
		h.m.Connections.WithLabelValues("ws").Inc()
	}
	defer func() {
		sess.Close()
		h.mu.Lock()
		delete(h.conns, c)
		h.mu.Unlock()
		if h.m != nil {
			h.m.Connections.WithLabelValues("ws").Dec()
		}
	}()
	err := c.Run(context.Background(), sess.Handle)
	if ce := c.CloseReason(); ce != nil && ce.Code == websocket.StatusPolicyViolation {
		h.log.Info().Str("remote", remote).Str("reason", ce.Reason).Msg("closed connection")
	} else if err != nil && websocket.CloseStatus(err) == -1 && !errors.Is(err, context.Canceled) {
		h.log.Debug().Err(err).Str("remote", remote).Msg("connection ended")
	}
}

func (h *Handler) reject(reason string) {
	if h.m != nil {
		h.m.AuthRejected.WithLabelValues(reason).Inc()
	}
}

// Conns is the number of open connections.
func (h *Handler) Conns() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

// Shutdown refuses new connections, closes every open one with 1001 "going
// away" and waits for them to end or ctx to expire.
func (h *Handler) Shutdown(ctx context.Context) {
	h.mu.Lock()
	h.closing = true
	cs := make([]*conn.Conn, 0, len(h.conns))
	for c := range h.conns {
		cs = append(cs, c)
	}
	h.mu.Unlock()
	for _, c := range cs {
		c.Close(websocket.StatusGoingAway, conn.ReasonGoingAway)
	}
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}
