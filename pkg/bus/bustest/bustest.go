// Package bustest gives tests an in-process nats-server with JetStream and
// the contract's streams.
package bustest

import (
	"context"
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
