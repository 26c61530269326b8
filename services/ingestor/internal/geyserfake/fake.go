// Package geyserfake is a scriptable Yellowstone Geyser gRPC server for the
// ingestor's tests: each Subscribe stream runs a test-supplied script, and
// every request and piece of metadata the client sent is recorded.
package geyserfake

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/firehole/firehole/proto/geyser"
)

// Stream is one Subscribe call as a script sees it.
type Stream struct {
	N       int                      // 0 for the first stream, 1 for the second, ...
	Request *geyser.SubscribeRequest // the first request
	MD      metadata.MD
	srv     grpc.BidiStreamingServer[geyser.SubscribeRequest, geyser.SubscribeUpdate]
	// Pings receives the id of every ping request the client sends later.
	Pings chan int32
}

// Send sends one update.
func (s *Stream) Send(u *geyser.SubscribeUpdate) error { return s.srv.Send(u) }

// SetSendCompressor compresses the updates sent from now on (e.g. "zstd");
// it fails unless the client advertised the compressor.
func (s *Stream) SetSendCompressor(name string) error {
	return grpc.SetSendCompressor(s.srv.Context(), name)
}

// Context is the stream's context; it ends when the client goes away.
func (s *Stream) Context() context.Context { return s.srv.Context() }

// Script plays one stream; its error (e.g. a status.Error) ends the stream.
type Script func(s *Stream) error

// Server is the fake. Zero value is not usable; use Start.
type Server struct {
	geyser.UnimplementedGeyserServer
	Addr string
	// Slot is what GetSlot answers; 0 answers Unimplemented.
	Slot atomic.Uint64

	mu       sync.Mutex
	xToken   string
	script   Script
	n        int
	requests []*geyser.SubscribeRequest
}

// Start serves script on a loopback port until the test ends. opts are
// given to the gRPC server (TLS credentials, ...).
func Start(t testing.TB, script Script, opts ...grpc.ServerOption) *Server {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: lis.Addr().String(), script: script}
	g := grpc.NewServer(opts...)
	geyser.RegisterGeyserServer(g, s)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	return s
}

// RequireToken makes later streams require this x-token.
func (s *Server) RequireToken(token string) {
	s.mu.Lock()
	s.xToken = token
	s.mu.Unlock()
}

// SetScript replaces the script for later streams.
func (s *Server) SetScript(script Script) {
	s.mu.Lock()
	s.script = script
	s.mu.Unlock()
}

// Requests returns the first request of every stream so far.
func (s *Server) Requests() []*geyser.SubscribeRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*geyser.SubscribeRequest(nil), s.requests...)
}

// Subscribe implements geyser.GeyserServer.
func (s *Server) Subscribe(srv grpc.BidiStreamingServer[geyser.SubscribeRequest, geyser.SubscribeUpdate]) error {
	md, _ := metadata.FromIncomingContext(srv.Context())
	s.mu.Lock()
	token := s.xToken
	s.mu.Unlock()
	if token != "" {
		if v := md.Get("x-token"); len(v) == 0 || v[0] != token {
			return status.Error(codes.Unauthenticated, "No valid auth token")
		}
	}
	req, err := srv.Recv()
	if err != nil {
		return err
	}
	s.mu.Lock()
	st := &Stream{N: s.n, Request: req, MD: md, srv: srv, Pings: make(chan int32, 64)}
	s.n++
	s.requests = append(s.requests, req)
	script := s.script
	s.mu.Unlock()
	go func() {
		for {
			r, err := srv.Recv()
			if err != nil {
				return
			}
			if r.Ping != nil {
				select {
				case st.Pings <- r.Ping.GetId():
				default:
				}
			}
		}
	}()
	return script(st)
}

// GetSlot implements geyser.GeyserServer.
func (s *Server) GetSlot(context.Context, *geyser.GetSlotRequest) (*geyser.GetSlotResponse, error) {
	if n := s.Slot.Load(); n > 0 {
		return &geyser.GetSlotResponse{Slot: n}, nil
	}
	return nil, status.Error(codes.Unimplemented, "GetSlot")
}

// Hold is a script step that keeps the stream open until the client leaves.
func Hold(s *Stream) error {
	<-s.Context().Done()
	return nil
}
