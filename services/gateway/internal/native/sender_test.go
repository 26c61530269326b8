package native

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// stuckWriter blocks every write until released; it records what it wrote
// and how it was closed.
type stuckWriter struct {
	release chan struct{}
	mu      sync.Mutex
	wrote   [][]byte
	code    websocket.StatusCode
	reason  string
}

func (w *stuckWriter) Write(ctx context.Context, _ websocket.MessageType, p []byte) error {
	select {
	case <-w.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	w.mu.Lock()
	w.wrote = append(w.wrote, p)
	w.mu.Unlock()
	return nil
}

func (w *stuckWriter) Close(code websocket.StatusCode, reason string) error {
	w.mu.Lock()
	w.code, w.reason = code, reason
	w.mu.Unlock()
	return nil
}

func TestSenderOverflow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		gapA      bool
		gapB      bool
		wantClose bool
	}{
		{"all disconnect", false, false, true},
		{"one asks gap, one does not", true, false, true},
		{"all gap", true, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := &stuckWriter{release: make(chan struct{})}
			s := newSender(w, 4, 1<<20, time.Minute, hooks{})
			go s.run(context.Background())
			defer s.close(websocket.StatusNormalClosure, "")
			a := &subscription{id: "a", gapOnSlow: tc.gapA}
			b := &subscription{id: "b", gapOnSlow: tc.gapB}
			// The writer takes the first frame of a and blocks on it.
			s.push(frame{b: []byte(`a1`), sub: a, cursor: 1, hasCur: true})
			waitFor(t, func() bool { s.mu.Lock(); defer s.mu.Unlock(); return len(s.queue) == 0 && a.taken == 1 })
			for i, f := range []frame{
				{b: []byte(`a2`), sub: a, cursor: 2, hasCur: true},
				{b: []byte(`b3`), sub: b, cursor: 3, hasCur: true},
				{b: pongFrame},
				{b: []byte(`a4`), sub: a, cursor: 4, hasCur: true},
			} {
				if !s.push(f) {
					t.Fatalf("push %d refused below the bound", i)
				}
			}
			ok := s.push(frame{b: []byte(`b5`), sub: b, cursor: 5, hasCur: true})
			if tc.wantClose {
				if ok {
					t.Fatal("overflow accepted")
				}
				waitFor(t, func() bool { w.mu.Lock(); defer w.mu.Unlock(); return w.code != 0 })
				w.mu.Lock()
				defer w.mu.Unlock()
				if w.code != websocket.StatusPolicyViolation || w.reason != reasonSlowConsumer {
					t.Fatalf("closed with %d %q, want 1008 slow consumer", w.code, w.reason)
				}
				return
			}
			if !ok {
				t.Fatal("gap mode refused the frame")
			}
			close(w.release)
			want := map[string]string{"a": "1", "b": "0"} // b had nothing taken yet
			waitFor(t, func() bool { w.mu.Lock(); defer w.mu.Unlock(); return len(w.wrote) == 4 })
			w.mu.Lock()
			defer w.mu.Unlock()
			if string(w.wrote[0]) != "a1" || string(w.wrote[1]) != string(pongFrame) {
				t.Fatalf("wrote %q first, want a1 then the pong kept", w.wrote[:2])
			}
			for _, b := range w.wrote[2:] {
				var g struct{ Type, ID, Reason, Cursor string }
				if err := json.Unmarshal(b, &g); err != nil || g.Type != "gap" || g.Reason != "slow consumer" || g.Cursor != want[g.ID] {
					t.Fatalf("frame %s, want a gap for a at 1 or b at 0", b)
				}
				delete(want, g.ID)
			}
			if len(want) != 0 {
				t.Fatalf("no gap notice for %v", want)
			}
		})
	}
}
