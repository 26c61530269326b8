// Package bustest gives tests an in-process nats-server with JetStream and
// the contract's streams.
package bustest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/firehole/firehole/pkg/bus"
	"github.com/firehole/firehole/pkg/bus/embedded"
)

// Server is a running in-process NATS server for one test.
type Server struct {
	*server.Server
	URL  string
	Dir  string
	Port int
}

// Start runs a server on a free loopback port with storage in t.TempDir();
// it is shut down when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	dir := t.TempDir()
	s, err := embedded.Start(embedded.Options{Port: -1, StoreDir: dir})
	if err != nil {
		t.Fatalf("start nats: %v", err)
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return &Server{Server: s, URL: s.ClientURL(), Dir: dir, Port: s.Addr().(*net.TCPAddr).Port}
}

// Restart shuts the server down (if it is running) and starts it again on
// the same port and storage, as a NATS restart in production would. Clients
// with reconnect enabled find it again.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	port := s.Port
	s.Shutdown()
	s.WaitForShutdown()
	ns, err := embedded.Start(embedded.Options{Port: port, StoreDir: s.Dir})
	if err != nil {
		t.Fatalf("restart nats: %v", err)
	}
	s.Server = ns
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
}

// Connect dials the server and closes the connection when the test ends.
func Connect(t testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatalf("connect nats: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return nc, js
}

// StartWithStreams starts a server and creates the contract's streams on it
// (memory storage is not used: tests see the real file store).
func StartWithStreams(t testing.TB) (*Server, *nats.Conn, jetstream.JetStream) {
	t.Helper()
	s := Start(t)
	nc, js := Connect(t, s.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := bus.EnsureStreams(ctx, js, bus.DefaultStreamOptions()); err != nil {
		t.Fatalf("ensure streams: %v", err)
	}
	return s, nc, js
}

// WaitDrained waits until durable on stream has acknowledged everything its
// filters match that the stream held when WaitDrained was called: nothing
// pending, nothing unacknowledged, and the ack floor at or past the last
// matching message. (A consumer's pending count alone can lag a publish
// that was just acknowledged.)
func WaitDrained(t testing.TB, js jetstream.JetStream, stream, durable string, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	// The consumer may not exist yet (its service is starting): wait for it.
	target, err := lastMatching(ctx, js, stream, durable)
	for errors.Is(err, jetstream.ErrConsumerNotFound) {
		select {
		case <-ctx.Done():
			t.Fatalf("consumer %s did not appear within %s", durable, within)
		case <-time.After(50 * time.Millisecond):
		}
		target, err = lastMatching(ctx, js, stream, durable)
	}
	if err != nil {
		t.Fatalf("wait drained %s: %v", durable, err)
	}
	var info *jetstream.ConsumerInfo
	for {
		c, err := js.Consumer(ctx, stream, durable)
		if err == nil {
			info, err = c.Info(ctx)
		}
		if err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.AckFloor.Stream >= target {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("consumer %s not drained after %s (want ack floor %d): info %+v err %v", durable, within, target, info, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// lastMatching is the stream sequence of the newest message durable's
// filters match, or 0.
func lastMatching(ctx context.Context, js jetstream.JetStream, stream, durable string) (uint64, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return 0, err
	}
	c, err := s.Consumer(ctx, durable)
	if err != nil {
		return 0, err
	}
	info, err := c.Info(ctx)
	if err != nil {
		return 0, err
	}
	filters := info.Config.FilterSubjects
	if info.Config.FilterSubject != "" {
		filters = append(filters, info.Config.FilterSubject)
	}
	if len(filters) == 0 {
		filters = []string{">"}
	}
	var last uint64
	for _, f := range filters {
		m, err := s.GetLastMsgForSubject(ctx, f)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("last message on %s: %w", f, err)
		}
		last = max(last, m.Sequence)
	}
	return last, nil
}
