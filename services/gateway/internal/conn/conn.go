// Package conn owns one WebSocket connection's I/O: a reader loop, a writer
// goroutine draining a bounded send queue, server pings and an idle timeout.
//
// Frames handed to Send and SendFrame are shared between connections and
// never modified. Send never blocks: when the queue is over its message or
// byte bound the connection is closed with 1008 "slow consumer", so one slow
// client never slows the goroutine that fans out notifications to the others.
//
// The cost of fan-out is per frame and per syscall, not per byte. A
// connection accepted with Accept (and built with NewWire) writes prepared
// frames itself: everything queued since its last write goes out in one
// writev, with the header framed once per notification for all clients
// (and, for clients that negotiated permessage-deflate, compressed once).
package conn

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Options bound one connection.
type Options struct {
	MaxQueueMsgs  int           // queued frames before the client is a slow consumer
	MaxQueueBytes int           // queued bytes before the client is a slow consumer
	WriteTimeout  time.Duration // one frame write; a stuck socket is closed
	PingInterval  time.Duration // server ping period; 0 disables
	IdleTimeout   time.Duration // no frame and no pong for this long closes the connection
}

// Hooks receive connection events (metrics). All may be nil.
type Hooks struct {
	SlowConsumer func()
	Sent         func(n int)
	QueueDepth   func(delta int)
}

// Close reasons.
const (
	ReasonSlowConsumer = "slow consumer"
	ReasonGoingAway    = "going away"
	ReasonIdle         = "idle timeout"
)

// Conn is one client connection. Send and Close are safe for concurrent use.
//
// An idle connection costs one goroutine (the reader): the writer goroutine
// runs only while frames are queued, and pings run from a timer.
type Conn struct {
	ws    *websocket.Conn
	wire  *Wire // non-nil and direct: prepared frames bypass the library
	opts  Options
	hooks Hooks

	mu      sync.Mutex
	queue   []Frame
	spare   []Frame
	bytes   int
	closed  bool
	writing bool

	done      chan struct{}
	lastSeen  atomic.Int64 // unix nanos of the last inbound frame or pong
	closeOne  sync.Once
	reason    atomic.Pointer[websocket.CloseError]
	pingTimer *time.Timer
}

// New wraps an accepted WebSocket; every frame is written through
// coder/websocket.
func New(ws *websocket.Conn, opts Options, hooks Hooks) *Conn {
	return NewWire(ws, nil, opts, hooks)
}

// NewWire wraps a WebSocket accepted with Accept. When wire is direct,
// queued frames are written to it in batches.
func NewWire(ws *websocket.Conn, wire *Wire, opts Options, hooks Hooks) *Conn {
	if wire != nil && !wire.Direct() {
		wire = nil
	}
	c := &Conn{ws: ws, wire: wire, opts: opts, hooks: hooks, done: make(chan struct{})}
	c.lastSeen.Store(time.Now().UnixNano())
	return c
}

// Send queues payload as one text message (copied into a new Frame). It
// reports false when the connection is closed or was just closed as a slow
// consumer.
func (c *Conn) Send(payload []byte) bool { return c.SendFrame(TextFrame(payload)) }

// SendFrame queues a prepared frame, which may be queued on any number of
// connections at once. It reports false when the connection is closed or was
// just closed as a slow consumer.
func (c *Conn) SendFrame(f Frame) bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	frame := f.Payload()
	if len(c.queue) >= c.opts.MaxQueueMsgs || c.bytes+len(frame) > c.opts.MaxQueueBytes {
		c.mu.Unlock()
		if c.hooks.SlowConsumer != nil {
			c.hooks.SlowConsumer()
		}
		c.Close(websocket.StatusPolicyViolation, ReasonSlowConsumer)
		return false
	}
	c.queue = append(c.queue, f)
	c.bytes += len(frame)
	start := !c.writing
	c.writing = true
	c.mu.Unlock()
	if c.hooks.QueueDepth != nil {
		c.hooks.QueueDepth(1)
	}
	if start {
		go c.drain()
	}
	return true
}

// Close closes the connection with code and reason, once. Queued frames are
// dropped. It does not block: the close handshake runs in the background.
func (c *Conn) Close(code websocket.StatusCode, reason string) {
	c.closeOne.Do(func() {
		c.reason.Store(&websocket.CloseError{Code: code, Reason: reason})
		c.mu.Lock()
		c.closed = true
		dropped := len(c.queue)
		c.queue, c.bytes = nil, 0
		t := c.pingTimer
		c.mu.Unlock()
		if c.hooks.QueueDepth != nil && dropped > 0 {
			c.hooks.QueueDepth(-dropped)
		}
		if t != nil {
			t.Stop()
		}
		close(c.done)
		go func() { _ = c.ws.Close(code, reason) }()
	})
}

// Done is closed once Close has been called.
func (c *Conn) Done() <-chan struct{} { return c.done }

// CloseReason is what Close was called with, or nil.
func (c *Conn) CloseReason() *websocket.CloseError { return c.reason.Load() }

// Handler handles one inbound message; it runs on the reader goroutine.
type Handler func(ctx context.Context, typ websocket.MessageType, data []byte)

// Run reads messages into h until the connection ends and returns why it
// ended. Cancelling ctx closes the connection with 1001.
func (c *Conn) Run(ctx context.Context, h Handler) error {
	stop := context.AfterFunc(ctx, func() { c.Close(websocket.StatusGoingAway, ReasonGoingAway) })
	defer stop()
	if c.opts.PingInterval > 0 {
		c.mu.Lock()
		c.pingTimer = time.AfterFunc(time.Hour, c.ping)
		c.pingTimer.Reset(c.opts.PingInterval)
		c.mu.Unlock()
	}
	for {
		typ, data, err := c.ws.Read(context.Background())
		if err != nil {
			// An oversized message was already answered with 1009 by
			// coder/websocket; this Close then only releases the queue.
			c.Close(websocket.StatusNormalClosure, "")
			return err
		}
		c.lastSeen.Store(time.Now().UnixNano())
		handle(ctx, h, typ, data)
	}
}

// handle runs h on a short-lived goroutine and waits for it, so messages are
// still handled one at a time and in order. Handling a request (JSON
// decoding, subscribing) needs a deep stack; grown on the reader goroutine,
// that stack would stay with the connection for as long as it is idle.
func handle(ctx context.Context, h Handler, typ websocket.MessageType, data []byte) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		h(ctx, typ, data)
	}()
	<-done
}

// drain writes queued frames, a whole batch per wakeup, and exits when the
// queue is empty.
func (c *Conn) drain() {
	var bufs net.Buffers
	for {
		c.mu.Lock()
		if c.closed || len(c.queue) == 0 {
			c.writing = false
			c.mu.Unlock()
			return
		}
		batch := c.queue
		c.queue, c.spare = c.spare[:0], nil
		c.bytes = 0
		c.mu.Unlock()
		if c.hooks.QueueDepth != nil {
			c.hooks.QueueDepth(-len(batch))
		}
		var err error
		if c.wire != nil {
			bufs = bufs[:0]
			for _, f := range batch {
				if c.wire.deflate {
					bufs = append(bufs, f.DeflatedWire())
				} else {
					bufs = append(bufs, f.Wire())
				}
			}
			err = c.wire.writeFrames(bufs, c.opts.WriteTimeout)
			clear(bufs)
		} else {
			for _, f := range batch {
				wctx, cancel := context.WithTimeout(context.Background(), c.opts.WriteTimeout)
				err = c.ws.Write(wctx, websocket.MessageText, f.Payload())
				cancel()
				if err != nil {
					break
				}
			}
		}
		if err == nil && c.hooks.Sent != nil {
			for _, f := range batch {
				c.hooks.Sent(len(f.Payload()))
			}
		}
		clear(batch)
		if err != nil {
			c.Close(websocket.StatusPolicyViolation, ReasonSlowConsumer)
			c.mu.Lock()
			c.writing = false
			c.mu.Unlock()
			return
		}
		c.mu.Lock()
		if c.spare == nil && cap(batch) <= 1024 {
			c.spare = batch[:0]
		}
		c.mu.Unlock()
	}
}

// ping runs from the ping timer: one ping, the idle check, then re-arm.
func (c *Conn) ping() {
	select {
	case <-c.done:
		return
	default:
	}
	// coder/websocket closes the connection when a ping's context ends
	// while the ping waits to be written; behind a batch of frames that can
	// take up to WriteTimeout, which is the bound for a stuck socket.
	ctx, cancel := context.WithTimeout(context.Background(), max(c.opts.PingInterval, c.opts.WriteTimeout))
	err := c.ws.Ping(ctx)
	cancel()
	if err == nil {
		c.lastSeen.Store(time.Now().UnixNano())
	}
	if c.opts.IdleTimeout > 0 && time.Since(time.Unix(0, c.lastSeen.Load())) > c.opts.IdleTimeout {
		c.Close(websocket.StatusGoingAway, ReasonIdle)
		return
	}
	c.mu.Lock()
	if !c.closed {
		c.pingTimer.Reset(c.opts.PingInterval)
	}
	c.mu.Unlock()
}
