// Package embedded runs nats-server with JetStream inside the process, for
// the dev command and for tests that need only NATS.
package embedded

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options choose the embedded server's listener and storage.
type Options struct {
	Host     string // default 127.0.0.1
	Port     int    // -1 picks a free port
	StoreDir string // JetStream file storage
	MaxStore int64  // bytes of JetStream file storage; 0 lets the server choose
}

// Start runs a server and waits until it accepts clients. The caller owns it
// and calls Shutdown (then WaitForShutdown) when done.
func Start(o Options) (*server.Server, error) {
	if o.StoreDir == "" {
		return nil, errors.New("embedded nats: StoreDir is required")
	}
	host := o.Host
	if host == "" {
		host = "127.0.0.1"
	}
	s, err := server.NewServer(&server.Options{
		ServerName:            "firehole-embedded",
		Host:                  host,
		Port:                  o.Port,
		JetStream:             true,
		StoreDir:              o.StoreDir,
		JetStreamMaxStore:     o.MaxStore,
		NoSigs:                true,
		MaxPayload:            8 << 20,
		DisableShortFirstPing: true,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, errors.New("embedded nats: not ready after 10s")
	}
	return s, nil
}
