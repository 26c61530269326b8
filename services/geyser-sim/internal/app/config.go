// Package app wires the geyser-sim service: configuration, the simulator,
// its gRPC listener and the operational HTTP endpoints.
package app

import (
	"net"
	"time"

	"github.com/firehole/firehole/pkg/config"
	"github.com/firehole/firehole/pkg/logging"
	"github.com/firehole/firehole/services/geyser-sim/sim"
)

// Prefix is the environment variable prefix.
const Prefix = "GEYSERSIM"

// Config is the service configuration (GEYSERSIM_*).
type Config struct {
	logging.Config
	GRPCAddr        string        `envconfig:"GRPC_ADDR" default:"127.0.0.1:10000" desc:"gRPC listen address"`
	HTTPAddr        string        `envconfig:"HTTP_ADDR" default:"127.0.0.1:9106" desc:"/healthz /readyz /metrics listen address"`
	Seed            int64         `envconfig:"SEED" default:"1" desc:"world seed; same seed, same updates"`
	StartSlot       uint64        `envconfig:"START_SLOT" default:"1000" desc:"first slot"`
	SlotInterval    time.Duration `envconfig:"SLOT_INTERVAL" default:"400ms" desc:"time per slot"`
	Rate            int           `envconfig:"RATE" default:"0" desc:"target account updates per second; 0 = light traffic"`
	RingSlots       int           `envconfig:"RING_SLOTS" default:"150" desc:"slots from_slot can replay; 0 disables from_slot"`
	XToken          string        `envconfig:"X_TOKEN" desc:"required x-token metadata; empty = no auth"`
	PingInterval    time.Duration `envconfig:"PING_INTERVAL" default:"10s" desc:"server ping interval per stream"`
	WriteVersion    uint64        `envconfig:"WRITE_VERSION_BASE" default:"0" desc:"offset added to every write_version"`
	Mints           int           `envconfig:"MINTS" default:"6" desc:"SPL Token mints (plus a third as many Token-2022 mints)"`
	TokenAccounts   int           `envconfig:"TOKEN_ACCOUNTS" default:"200" desc:"token accounts"`
	Wallets         int           `envconfig:"WALLETS" default:"60" desc:"system wallets"`
	ReplayFile      string        `envconfig:"REPLAY_FILE" desc:"replay this capture instead of generating"`
	RecordFile      string        `envconfig:"RECORD_FILE" desc:"record the generated stream to this capture (.zst compresses)"`
	ChannelCapacity int           `envconfig:"CHANNEL_CAPACITY" default:"250000" desc:"messages a client may lag before it is disconnected"`
}

// Validate reports every bad variable.
func (c *Config) Validate() error {
	var p config.Problems
	if err := c.Config.Validate(); err != nil {
		p.Addf("%w", err)
	}
	_, _, err := net.SplitHostPort(c.GRPCAddr)
	p.Check(err != nil, Prefix+"_GRPC_ADDR", "must be host:port")
	_, _, err = net.SplitHostPort(c.HTTPAddr)
	p.Check(err != nil, Prefix+"_HTTP_ADDR", "must be host:port")
	p.Check(c.StartSlot == 0, Prefix+"_START_SLOT", "must be positive")
	p.Check(c.SlotInterval < time.Millisecond, Prefix+"_SLOT_INTERVAL", "must be at least 1ms")
	p.Check(c.Rate < 0 || c.Rate > 2_000_000, Prefix+"_RATE", "must be between 0 and 2000000")
	p.Check(c.RingSlots < 0, Prefix+"_RING_SLOTS", "must not be negative")
	p.Check(c.PingInterval < 100*time.Millisecond, Prefix+"_PING_INTERVAL", "must be at least 100ms")
	p.Check(c.Mints < 1, Prefix+"_MINTS", "must be at least 1")
	p.Check(c.TokenAccounts < 2, Prefix+"_TOKEN_ACCOUNTS", "must be at least 2")
	p.Check(c.Wallets < 2, Prefix+"_WALLETS", "must be at least 2")
	p.Check(c.ChannelCapacity < 1, Prefix+"_CHANNEL_CAPACITY", "must be positive")
	p.Check(c.ReplayFile != "" && c.ReplayFile == c.RecordFile, Prefix+"_RECORD_FILE", "must differ from "+Prefix+"_REPLAY_FILE")
	return p.Err()
}

func (c *Config) sim() sim.Config {
	return sim.Config{
		Seed: c.Seed, StartSlot: c.StartSlot, SlotInterval: c.SlotInterval, Rate: c.Rate, RingSlots: c.RingSlots,
		XToken: c.XToken, PingInterval: c.PingInterval, WriteVersionBase: c.WriteVersion,
		Mints: c.Mints, TokenAccounts: c.TokenAccounts, Wallets: c.Wallets,
		ReplayFile: c.ReplayFile, RecordFile: c.RecordFile, ChannelCapacity: c.ChannelCapacity,
	}
}
