package consumer

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
)

// fakeMsg is a jetstream.Msg that records how it was settled.
type fakeMsg struct {
	jetstream.Msg // unused methods panic
	data          []byte
	mu            sync.Mutex
	inProgress    int
	naks          int
}

func (m *fakeMsg) Data() []byte      { return m.data }
func (m *fakeMsg) Subject() string   { return "firehole.v1.decoded.account.o.p.0" }
func (m *fakeMsg) InProgress() error { m.mu.Lock(); m.inProgress++; m.mu.Unlock(); return nil }
func (m *fakeMsg) Nak() error        { m.mu.Lock(); m.naks++; m.mu.Unlock(); return nil }
func (m *fakeMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{Timestamp: time.Now()}, nil
}

type fakeBatch struct{ ch chan jetstream.Msg }

func (b fakeBatch) Messages() <-chan jetstream.Msg { return b.ch }
func (b fakeBatch) Error() error                   { return nil }

// fakeFetcher hands out its messages in batches of the requested size, then
// empty batches.
type fakeFetcher struct {
	mu   sync.Mutex
	msgs []*fakeMsg
}

func (f *fakeFetcher) Fetch(n int, _ ...jetstream.FetchOpt) (jetstream.MessageBatch, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := min(n, len(f.msgs))
	ch := make(chan jetstream.Msg, k)
	for _, m := range f.msgs[:k] {
		ch <- m
	}
	close(ch)
	f.msgs = f.msgs[k:]
	if k == 0 {
		time.Sleep(time.Millisecond)
	}
	return fakeBatch{ch}, nil
}

type settler struct {
	mu    sync.Mutex
	acked []string
	dead  []string
}

func (s *settler) Ack(m jetstream.Msg) {
	s.mu.Lock()
	s.acked = append(s.acked, string(m.Data()))
	s.mu.Unlock()
}
func (s *settler) DeadLetter(_ context.Context, m jetstream.Msg, _ error) {
	s.mu.Lock()
	s.dead = append(s.dead, string(m.Data()))
	s.mu.Unlock()
}
func (s *settler) counts() (int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.acked), len(s.dead)
}

func parse(b []byte) (string, error) {
	switch string(b) {
	case "garbage":
		return "", errors.New("bad protobuf")
	case "skip":
		return "", ErrSkip
	}
	return string(b), nil
}

func isDataErr(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code[:2] == "22"
}

func msgs(bodies ...string) []*fakeMsg {
	out := make([]*fakeMsg, len(bodies))
	for i, b := range bodies {
		out[i] = &fakeMsg{data: []byte(b)}
	}
	return out
}

func TestLoop(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		bodies    []string
		failFirst int // transient failures before the sink works
		wantAcked int
		wantDead  []string
		wantRows  int
	}{
		{"all good", []string{"a", "b", "c", "d", "e"}, 0, 5, nil, 5},
		{"garbage dead-lettered before the batch", []string{"a", "garbage", "b"}, 0, 2, []string{"garbage"}, 2},
		{"skipped messages acked", []string{"a", "skip", "b"}, 0, 3, nil, 2},
		{"row Postgres rejects: only it is dead-lettered", []string{"a", "poison", "b", "c"}, 0, 3, []string{"poison"}, 3},
		{"transient failures retried, then acked", []string{"a", "b", "c"}, 3, 3, nil, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			stored := map[string]bool{}
			fails := tc.failFirst
			sink := SinkFunc[string](func(_ context.Context, items []string) (int64, error) {
				mu.Lock()
				defer mu.Unlock()
				if fails > 0 {
					fails--
					return 0, errors.New("connection refused")
				}
				for _, it := range items {
					if it == "poison" {
						return 0, &pgconn.PgError{Code: "22P02", Message: "invalid input"}
					}
				}
				for _, it := range items {
					stored[it] = true
				}
				return int64(len(items)), nil
			})
			f := &fakeFetcher{msgs: msgs(tc.bodies...)}
			s := &settler{}
			l := &Loop[string]{
				Kind: "test", Fetcher: f, Settler: s, Parse: parse, Sink: sink, IsDataErr: isDataErr,
				BatchSize: 10, BatchWait: time.Millisecond, Writers: 2, Log: zerolog.Nop(), Metrics: NewMetrics(nil),
				RetryMin: time.Millisecond, RetryMax: 2 * time.Millisecond,
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error)
			go func() { done <- l.Run(ctx) }()
			deadline := time.Now().Add(10 * time.Second)
			for {
				a, d := s.counts()
				if a+d >= len(tc.bodies) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("settled %d acked + %d dead of %d", a, d, len(tc.bodies))
				}
				time.Sleep(time.Millisecond)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			a, _ := s.counts()
			if a != tc.wantAcked {
				t.Errorf("acked %d, want %d", a, tc.wantAcked)
			}
			if got := testutil.ToFloat64(l.Metrics.messages.WithLabelValues("test")); int(got) != tc.wantAcked {
				t.Errorf("stored counter %v, want %d (the messages acked)", got, tc.wantAcked)
			}
			if len(s.dead) != len(tc.wantDead) || (len(tc.wantDead) > 0 && s.dead[0] != tc.wantDead[0]) {
				t.Errorf("dead-lettered %v, want %v", s.dead, tc.wantDead)
			}
			if len(stored) != tc.wantRows {
				t.Errorf("stored %d rows, want %d", len(stored), tc.wantRows)
			}
		})
	}
}

// A write that keeps failing is never acked; when the loop stops, its
// messages are handed back (nak) and were kept alive (in progress) meanwhile.
func TestLoopNeverAcksUnwritten(t *testing.T) {
	t.Parallel()
	f := &fakeFetcher{msgs: msgs("a", "b")}
	held := append([]*fakeMsg(nil), f.msgs...)
	s := &settler{}
	attempts := make(chan struct{}, 100)
	l := &Loop[string]{
		Kind: "test", Fetcher: f, Settler: s, Parse: parse, IsDataErr: isDataErr,
		Sink: SinkFunc[string](func(context.Context, []string) (int64, error) {
			attempts <- struct{}{}
			return 0, errors.New("postgres down")
		}),
		BatchSize: 10, BatchWait: time.Millisecond, Log: zerolog.Nop(), Metrics: NewMetrics(nil),
		RetryMin: time.Millisecond, RetryMax: 2 * time.Millisecond,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.Run(ctx) }()
	for range 5 {
		<-attempts
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if a, d := s.counts(); a != 0 || d != 0 {
		t.Fatalf("acked %d, dead-lettered %d; want none", a, d)
	}
	for _, m := range held {
		if m.inProgress == 0 || m.naks != 1 {
			t.Errorf("message %s: %d in-progress, %d naks; want some and 1", m.data, m.inProgress, m.naks)
		}
	}
}

// After an outage, a batch that recovers through the row-by-row path must
// report the write state as healthy again (readiness follows it).
func TestLoopReportsRecoveryThroughRowByRow(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	fails := 1
	sink := SinkFunc[string](func(_ context.Context, items []string) (int64, error) {
		mu.Lock()
		defer mu.Unlock()
		if fails > 0 {
			fails--
			return 0, errors.New("connection refused")
		}
		for _, it := range items {
			if it == "poison" {
				return 0, &pgconn.PgError{Code: "22P02", Message: "invalid input"}
			}
		}
		return int64(len(items)), nil
	})
	var states []bool
	s := &settler{}
	l := &Loop[string]{
		Kind: "test", Fetcher: &fakeFetcher{msgs: msgs("a", "poison", "b")}, Settler: s, Parse: parse, Sink: sink, IsDataErr: isDataErr,
		BatchSize: 10, BatchWait: time.Millisecond, Writers: 1, Log: zerolog.Nop(), Metrics: NewMetrics(nil),
		RetryMin: time.Millisecond, RetryMax: 2 * time.Millisecond,
		OnWriteState: func(ok bool) { mu.Lock(); states = append(states, ok); mu.Unlock() },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for a, d := s.counts(); a+d < 3; a, d = s.counts() {
		if time.Now().After(deadline) {
			t.Fatalf("settled %d acked + %d dead of 3", a, d)
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(states) < 2 || states[0] || !states[len(states)-1] {
		t.Fatalf("write states %v: want a failure reported, then recovery as the last state", states)
	}
}
