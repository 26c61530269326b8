package native

import (
	"context"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Close reasons.
const (
	reasonSlowConsumer = "slow consumer"
	reasonGoingAway    = "going away"
)

// frame is one queued text message. sub is nil for frames that belong to
// no subscription (pong, errors); cursor is the frame's resume point for sub.
type frame struct {
	b      []byte
	sub    *subscription
	cursor uint64
	hasCur bool
}

// sender is one connection's bounded send queue and its writer goroutine.
// push never blocks, so the NATS delivery goroutines that call it never wait
// for a slow client. When a push would exceed the bounds the queue is either
// dropped with a gap notice per affected subscription (every affected
// subscription asked onSlow:"gap") or the connection is closed with 1008.
type sender struct {
	ws           frameWriter
	maxMsgs      int
	maxBytes     int
	writeTimeout time.Duration
	hooks        hooks

	mu      sync.Mutex
	queue   []frame
	bytes   int
	closed  bool
	wake    chan struct{}
	space   *sync.Cond // signalled when the writer takes frames
	done    chan struct{}
	closeMu sync.Once
	reason  websocket.CloseError
}

// hooks feed the metrics; all may be nil.
type hooks struct {
	slow    func()
	gap     func()
	sent    func(n int)
	dropped func(n int)
}

// frameWriter is the part of *websocket.Conn the sender uses.
type frameWriter interface {
	Write(ctx context.Context, typ websocket.MessageType, p []byte) error
	Close(code websocket.StatusCode, reason string) error
}

func newSender(ws frameWriter, maxMsgs, maxBytes int, writeTimeout time.Duration, h hooks) *sender {
	s := &sender{ws: ws, maxMsgs: maxMsgs, maxBytes: maxBytes, writeTimeout: writeTimeout, hooks: h,
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	s.space = sync.NewCond(&s.mu)
	return s
}

// push queues f without waiting. It reports false when the connection is
// closed (or has just been closed as a slow consumer).
func (s *sender) push(f frame) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	if len(s.queue) >= s.maxMsgs || s.bytes+len(f.b) > s.maxBytes {
		if !s.overflowLocked(f) {
			s.mu.Unlock()
			if s.hooks.slow != nil {
				s.hooks.slow()
			}
			s.close(websocket.StatusPolicyViolation, reasonSlowConsumer)
			return false
		}
		// The queue now holds only gap notices; f itself is dropped too,
		// and its subscription's notice covers it.
		s.mu.Unlock()
		s.signal()
		return true
	}
	s.appendLocked(f)
	s.mu.Unlock()
	s.signal()
	return true
}

// pushWait queues f, waiting while the queue is full. It is for the
// snapshot, which may be larger than the queue: the snapshot goroutine of
// this connection waits, nobody else does.
func (s *sender) pushWait(ctx context.Context, f frame) bool {
	s.mu.Lock()
	for !s.closed && ctx.Err() == nil && len(s.queue) > 0 &&
		(len(s.queue) >= s.maxMsgs || s.bytes+len(f.b) > s.maxBytes) {
		s.space.Wait()
	}
	if s.closed || ctx.Err() != nil {
		s.mu.Unlock()
		return false
	}
	s.appendLocked(f)
	s.mu.Unlock()
	s.signal()
	return true
}

// wakeWaiters releases pushWait callers (after their context ended).
func (s *sender) wakeWaiters() {
	s.mu.Lock()
	s.space.Broadcast()
	s.mu.Unlock()
}

func (s *sender) appendLocked(f frame) {
	s.queue = append(s.queue, f)
	s.bytes += len(f.b)
}

func (s *sender) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// overflowLocked handles a full queue when f arrives. When every
// subscription with frames in the queue (and f's) asked for gap mode, it
// drops those frames, queues one gap notice per subscription carrying the
// cursor of the last frame the writer already took, and returns true.
func (s *sender) overflowLocked(f frame) bool {
	affected := map[*subscription]bool{}
	if f.sub != nil {
		affected[f.sub] = true
	}
	for _, q := range s.queue {
		if q.sub != nil {
			affected[q.sub] = true
		}
	}
	for sub := range affected {
		if !sub.gapOnSlow {
			return false
		}
	}
	kept := s.queue[:0]
	dropped, bytes := 0, 0
	for _, q := range s.queue {
		if q.sub == nil {
			kept = append(kept, q)
			bytes += len(q.b)
			continue
		}
		dropped++
	}
	for i := len(kept); i < len(s.queue); i++ {
		s.queue[i] = frame{}
	}
	s.queue, s.bytes = kept, bytes
	if s.hooks.dropped != nil {
		s.hooks.dropped(dropped + 1)
	}
	for sub := range affected {
		n := gapFrame(sub.id, "slow consumer", sub.taken)
		s.queue = append(s.queue, frame{b: n})
		s.bytes += len(n)
		if s.hooks.gap != nil {
			s.hooks.gap()
		}
	}
	return true
}

// close closes the connection once with code and reason; queued frames are
// dropped. It does not wait for the close handshake.
func (s *sender) close(code websocket.StatusCode, reason string) {
	s.closeMu.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.reason = websocket.CloseError{Code: code, Reason: reason}
		s.queue, s.bytes = nil, 0
		s.space.Broadcast()
		s.mu.Unlock()
		close(s.done)
		go func() { _ = s.ws.Close(code, reason) }()
	})
}

// run writes queued frames until the connection is closed.
func (s *sender) run(ctx context.Context) {
	var batch []frame
	for {
		select {
		case <-s.done:
			return
		case <-s.wake:
		}
		s.mu.Lock()
		batch, s.queue = s.queue, batch[:0]
		s.bytes = 0
		for _, f := range batch {
			if f.sub != nil && f.hasCur {
				f.sub.taken = f.cursor
			}
		}
		s.space.Broadcast()
		s.mu.Unlock()
		for i, f := range batch {
			wctx, cancel := context.WithTimeout(ctx, s.writeTimeout)
			err := s.ws.Write(wctx, websocket.MessageText, f.b)
			cancel()
			batch[i] = frame{}
			if err != nil {
				s.close(websocket.StatusPolicyViolation, reasonSlowConsumer)
				return
			}
			if s.hooks.sent != nil {
				s.hooks.sent(len(f.b))
			}
		}
	}
}
