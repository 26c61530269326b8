// Package native serves Firehole's native WebSocket protocol
// (docs/native-protocol.md): subscriptions by program, account or token
// owner/mint with a snapshot of current state that joins live updates with
// no gap and no duplicate, a cursor on every message (the FIREHOLE_DECODED
// stream sequence) to resume from after a disconnect, filters on decoded
// fields, and a bounded send queue per connection.
//
// Live updates come from one ordered JetStream consumer per subscription,
// filtered to the subscription's subjects, so a replica only receives what
// its clients asked for and every message's stream sequence is known.
package native

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/rueidis"
	"github.com/rs/zerolog"

	"github.com/firehole/firehole/pkg/bus"
	"github.com/firehole/firehole/services/gateway/internal/recent"
)

// Limits bound what one connection may use.
type Limits struct {
	MaxSubscriptions    int           // per connection
	MaxQueueMsgs        int           // queued frames before the slow-consumer policy applies
	MaxQueueBytes       int           // queued bytes before the slow-consumer policy applies
	MaxFrameBytes       int64         // largest client frame
	MaxSnapshotAccounts int           // accounts in one snapshot
	WriteTimeout        time.Duration // one frame write; a stuck socket is closed
	PingInterval        time.Duration // server pings; 0 disables
	PullBatch           int           // JetStream pull batch per subscription
}

// DefaultLimits are the limits used for zero fields.
func DefaultLimits() Limits {
	return Limits{
		MaxSubscriptions:    64,
		MaxQueueMsgs:        4096,
		MaxQueueBytes:       16 << 20,
		MaxFrameBytes:       64 << 10,
		MaxSnapshotAccounts: 1_000_000,
		WriteTimeout:        10 * time.Second,
		PingInterval:        30 * time.Second,
		PullBatch:           256,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxSubscriptions <= 0 {
		l.MaxSubscriptions = d.MaxSubscriptions
	}
	if l.MaxQueueMsgs <= 0 {
		l.MaxQueueMsgs = d.MaxQueueMsgs
	}
	if l.MaxQueueBytes <= 0 {
		l.MaxQueueBytes = d.MaxQueueBytes
	}
	if l.MaxFrameBytes <= 0 {
		l.MaxFrameBytes = d.MaxFrameBytes
	}
	if l.MaxSnapshotAccounts <= 0 {
		l.MaxSnapshotAccounts = d.MaxSnapshotAccounts
	}
	if l.WriteTimeout <= 0 {
		l.WriteTimeout = d.WriteTimeout
	}
	if l.PingInterval < 0 {
		l.PingInterval = 0
	}
	if l.PullBatch <= 0 {
		l.PullBatch = d.PullBatch
	}
	return l
}

// Deps are what the handler needs; the caller owns every client in it.
type Deps struct {
	JS        jetstream.JetStream
	Stream    string         // default bus.StreamDecoded
	Redis     rueidis.Client // latest state (pkg/accountcache layout)
	KeyPrefix string         // default accountcache.DefaultPrefix
	PG        *pgxpool.Pool  // token owner/mint snapshots; nil disables them
	Schema    string         // default "firehole"
	// Durable consumers that write Redis (cacher) and Postgres (persister);
	// their ack floors tell where the snapshot stores are complete.
	// Defaults "cacher" and "persister"; "-" ignores one.
	CacherConsumer    string
	PersisterConsumer string
	Log               zerolog.Logger
	Registerer        prometheus.Registerer // nil: metrics are not registered
	Limits            Limits
	OriginPatterns    []string // websocket.AcceptOptions.OriginPatterns
	// Context, when done, closes every connection with 1001 "going away"
	// (http.Server.Shutdown does not see hijacked connections).
	Context context.Context
	// Recent remembers the accounts delivered to native clients, for the
	// replica's JSON-RPC reads (nil: not remembered).
	Recent *recent.Accounts
}

type handler struct {
	d        Deps
	shutdown <-chan struct{}
	log      zerolog.Logger
	m        *metrics
}

// NewHandler returns the /native WebSocket handler.
func NewHandler(d Deps) http.Handler {
	if d.Stream == "" {
		d.Stream = bus.StreamDecoded
	}
	if d.KeyPrefix == "" {
		d.KeyPrefix = "fh:"
	}
	if d.Schema == "" {
		d.Schema = "firehole"
	}
	d.CacherConsumer = consumerName(d.CacherConsumer, "cacher")
	d.PersisterConsumer = consumerName(d.PersisterConsumer, "persister")
	d.Limits = d.Limits.withDefaults()
	h := &handler{d: d, log: d.Log.With().Str("component", "native").Logger(), m: newMetrics(d.Registerer)}
	if d.Context != nil {
		h.shutdown = d.Context.Done()
	}
	return h
}

func consumerName(v, def string) string {
	switch v {
	case "":
		return def
	case "-":
		return ""
	}
	return v
}

// connection is one client: its sender and its subscriptions by id.
type connection struct {
	send *sender
	mu   sync.Mutex
	subs map[string]*subscription
}

func (c *connection) setCursor(sub *subscription, cur uint64) {
	c.send.mu.Lock()
	sub.taken = cur
	c.send.mu.Unlock()
}

// remove forgets sub if it is still registered and reports whether it was.
func (c *connection) remove(sub *subscription) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.subs[sub.id] == sub {
		delete(c.subs, sub.id)
		return true
	}
	return false
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: h.d.OriginPatterns})
	if err != nil {
		return // Accept has answered
	}
	ws.SetReadLimit(h.d.Limits.MaxFrameBytes)
	h.m.connections.Inc()
	defer h.m.connections.Dec()

	// Subscriptions end when the connection does. Reads use the request's
	// context and writes their own timeout: cancelling a context under a
	// read or write would drop the TCP connection before the close frame
	// ("slow consumer") reached the client.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &connection{subs: map[string]*subscription{}}
	c.send = newSender(ws, h.d.Limits.MaxQueueMsgs, h.d.Limits.MaxQueueBytes, h.d.Limits.WriteTimeout, hooks{
		slow:    h.m.slowConsumers.Inc,
		gap:     func() { h.m.gaps.WithLabelValues("slow").Inc() },
		sent:    func(n int) { h.m.framesSent.Inc(); h.m.bytesSent.Add(float64(n)) },
		dropped: func(n int) { h.m.framesDropped.Add(float64(n)) },
	})
	go c.send.run(context.Background())
	if h.d.Limits.PingInterval > 0 {
		go h.ping(ctx, c, ws)
	}
	go func() {
		select {
		case <-c.send.done:
		case <-h.shutdown:
			c.send.close(websocket.StatusGoingAway, reasonGoingAway)
		}
		cancel()
	}()

	for {
		typ, data, err := ws.Read(r.Context())
		if err != nil {
			c.send.close(websocket.StatusNormalClosure, "")
			break
		}
		if typ != websocket.MessageText {
			h.m.badFrames.Inc()
			c.send.push(frame{b: errorFrame("", errBadFrame, "binary frames are not supported; send JSON text")})
			continue
		}
		h.handle(ctx, c, data)
	}
	cancel()
	c.send.wakeWaiters()
	c.mu.Lock()
	subs := make([]*subscription, 0, len(c.subs))
	for _, s := range c.subs {
		subs = append(subs, s)
	}
	c.subs = nil
	c.mu.Unlock()
	for _, s := range subs {
		<-s.done
	}
	h.m.subscriptions.Sub(float64(len(subs)))
}

func (h *handler) ping(ctx context.Context, c *connection, ws *websocket.Conn) {
	t := time.NewTicker(h.d.Limits.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, h.d.Limits.PingInterval)
		err := ws.Ping(pctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			c.send.close(websocket.StatusGoingAway, "ping timeout")
			return
		}
	}
}

// handle runs one client frame on the reader goroutine.
func (h *handler) handle(ctx context.Context, c *connection, data []byte) {
	var req request
	if err := json.Unmarshal(data, &req); err != nil {
		h.m.badFrames.Inc()
		c.send.push(frame{b: errorFrame("", errBadFrame, "invalid JSON frame: "+err.Error())})
		return
	}
	switch req.Op {
	case "ping":
		c.send.push(frame{b: pongFrame})
	case "subscribe":
		h.subscribe(ctx, c, &req)
	case "unsubscribe":
		c.mu.Lock()
		sub := c.subs[req.ID]
		delete(c.subs, req.ID)
		c.mu.Unlock()
		if sub == nil {
			c.send.push(frame{b: errorFrame(req.ID, errUnknownID, "no subscription with this id")})
			return
		}
		sub.cancel()
		c.send.wakeWaiters()
		<-sub.done
		h.m.subscriptions.Dec()
		c.send.push(frame{b: unsubscribedFrame(req.ID)})
	default:
		h.m.badFrames.Inc()
		c.send.push(frame{b: errorFrame(req.ID, errBadFrame, `unknown op; expected "subscribe", "unsubscribe" or "ping"`)})
	}
}

func (h *handler) subscribe(ctx context.Context, c *connection, req *request) {
	sp, err := parseSubscribe(req)
	if err != nil {
		c.send.push(frame{b: errorFrame(req.ID, errBadRequest, err.Error())})
		return
	}
	if sp.token() && h.d.PG == nil && sp.snapshot && !sp.hasCursor {
		c.send.push(frame{b: errorFrame(req.ID, errBadRequest, "token snapshots are not available: no Postgres")})
		return
	}
	c.mu.Lock()
	if _, dup := c.subs[sp.id]; dup {
		c.mu.Unlock()
		c.send.push(frame{b: errorFrame(sp.id, errDuplicateID, "a subscription with this id exists")})
		return
	}
	if len(c.subs) >= h.d.Limits.MaxSubscriptions {
		c.mu.Unlock()
		c.send.push(frame{b: errorFrame(sp.id, errTooMany, "too many subscriptions on this connection")})
		return
	}
	sctx, cancel := context.WithCancel(ctx)
	sub := &subscription{id: sp.id, spec: sp, gapOnSlow: sp.gapOnSlow, ctx: sctx, cancel: cancel, done: make(chan struct{})}
	c.subs[sp.id] = sub
	c.mu.Unlock()
	h.m.subscriptions.Inc()
	go h.runSubscription(sctx, c, sub)
}
