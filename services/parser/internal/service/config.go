// Package service wires the parser: configuration, the decoder registry,
// the mint book, the pipeline and the operational HTTP endpoints.
package service

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/firehole/firehole/pkg/bus"
	"github.com/firehole/firehole/pkg/config"
	"github.com/firehole/firehole/pkg/logging"
	"github.com/firehole/firehole/services/parser/internal/decoders"
)

// Prefix is the environment prefix of every parser variable.
const Prefix = "PARSER"

// Config is the parser's configuration (PARSER_*).
type Config struct {
	logging.Config
	NATSURL        string        `envconfig:"NATS_URL" default:"nats://127.0.0.1:4222" desc:"NATS server URL(s), comma-separated"`
	RedisAddr      string        `envconfig:"REDIS_ADDR" desc:"Redis host:port for mint lookups (the cacher's store); empty disables them"`
	RedisKeyPrefix string        `envconfig:"REDIS_KEY_PREFIX" default:"fh:" desc:"key prefix of the cacher's Redis layout"`
	IDLDir         string        `envconfig:"IDL_DIR" default:"deploy/idl" desc:"directory of Anchor IDL *.json files; empty loads none"`
	IDLPrograms    string        `envconfig:"IDL_PROGRAMS" desc:"name=address,... deploys IDLs (by program name) at these addresses; needed for legacy IDLs without one"`
	Partitions     string        `envconfig:"PARTITIONS" default:"0-15" desc:"partitions this replica consumes: list and ranges, e.g. 0-7 or 0,2,4-6"`
	SingleConsumer bool          `envconfig:"SINGLE_CONSUMER" default:"false" desc:"one consumer <DURABLE> over all partitions (needs PARTITIONS=0-15) instead of <DURABLE>-pNN per partition: less work for nats-server, one replica only"`
	MaxInFlight    int           `envconfig:"MAX_IN_FLIGHT" default:"4096" desc:"decoded messages published and not yet acknowledged, over all partitions"`
	MintRPCURL     string        `envconfig:"MINT_RPC_URL" desc:"Solana JSON-RPC URL to look up mints the stream and Redis lack (getMultipleAccounts, batched, off the decode path); empty disables"`
	MintRPCTimeout time.Duration `envconfig:"MINT_RPC_TIMEOUT" default:"10s" desc:"one mint lookup request to PARSER_MINT_RPC_URL"`
	MaxPending     int           `envconfig:"MAX_PENDING" default:"100000" desc:"token accounts kept while their mint is unknown"`
	MintCacheSize  int           `envconfig:"MINT_CACHE_SIZE" default:"1000000" desc:"mints kept in memory"`
	AckWait        time.Duration `envconfig:"ACK_WAIT" default:"30s" desc:"redelivery delay of a raw message not acknowledged"`
	Durable        string        `envconfig:"DURABLE" default:"parser" desc:"consumer name prefix (partition p is <prefix>-pNN)"`
	HTTPAddr       string        `envconfig:"HTTP_ADDR" default:"127.0.0.1:9102" desc:"address of /healthz, /readyz and /metrics"`
}

// Validate reports every bad variable at once.
func (c *Config) Validate() error {
	var p config.Problems
	if err := c.Config.Validate(); err != nil {
		p.Addf("%s_%w", Prefix, err)
	}
	p.Check(strings.TrimSpace(c.NATSURL) == "", Prefix+"_NATS_URL", "must not be empty")
	parts, perr := ParsePartitions(c.Partitions)
	if perr != nil {
		p.Addf("%s_PARTITIONS: %w", Prefix, perr)
	}
	if _, err := decoders.ParseAddressOverrides(c.IDLPrograms); err != nil {
		p.Addf("%s_IDL_PROGRAMS: %w", Prefix, err)
	}
	p.Check(perr == nil && c.SingleConsumer && len(parts) != bus.Partitions, Prefix+"_SINGLE_CONSUMER", "needs "+Prefix+"_PARTITIONS to be all of 0-15")
	p.Check(c.MaxInFlight < 1, Prefix+"_MAX_IN_FLIGHT", "must be at least 1")
	if c.MintRPCURL != "" {
		if u, err := url.Parse(c.MintRPCURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.Addf("%s_MINT_RPC_URL: must be an http(s) URL", Prefix)
		}
		p.Check(c.MintRPCTimeout <= 0, Prefix+"_MINT_RPC_TIMEOUT", "must be positive")
	}
	p.Check(c.MaxPending < 1, Prefix+"_MAX_PENDING", "must be at least 1")
	p.Check(c.MintCacheSize < 1, Prefix+"_MINT_CACHE_SIZE", "must be at least 1")
	p.Check(c.AckWait < time.Second, Prefix+"_ACK_WAIT", "must be at least 1s")
	p.Check(c.Durable == "" || strings.ContainsAny(c.Durable, ".*> \t"), Prefix+"_DURABLE", "must be a non-empty name without '.', '*', '>' or spaces")
	p.Check(c.HTTPAddr == "", Prefix+"_HTTP_ADDR", "must not be empty")
	return p.Err()
}

// ParsePartitions parses "0-15", "3", "0,2,4-6" into sorted, distinct
// partitions, each below bus.Partitions.
func ParsePartitions(s string) ([]int, error) {
	seen := map[int]bool{}
	var out []int
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(item, "-")
		a, err := strconv.Atoi(strings.TrimSpace(lo))
		if err != nil {
			return nil, fmt.Errorf("%q is not a partition or range", item)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil {
				return nil, fmt.Errorf("%q is not a partition or range", item)
			}
		}
		if a < 0 || b >= bus.Partitions || a > b {
			return nil, fmt.Errorf("%q is outside 0-%d", item, bus.Partitions-1)
		}
		for p := a; p <= b; p++ {
			if seen[p] {
				return nil, fmt.Errorf("partition %d given twice", p)
			}
			seen[p] = true
		}
	}
	for p := range bus.Partitions {
		if seen[p] {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no partitions in %q", s)
	}
	return out, nil
}
