package cacher

import (
	"strings"
	"time"

	"github.com/firehole/firehole/pkg/accountcache"
	"github.com/firehole/firehole/pkg/config"
	"github.com/firehole/firehole/pkg/logging"
)

// EnvPrefix is the prefix of every cacher environment variable.
const EnvPrefix = "CACHER"

// Config is the cacher's environment (prefix CACHER_).
type Config struct {
	logging.Config
	NATSURL       string        `envconfig:"NATS_URL" default:"nats://127.0.0.1:4222" desc:"NATS server(s), comma separated"`
	RedisAddr     []string      `envconfig:"REDIS_ADDR" default:"127.0.0.1:6379" desc:"Redis address(es), comma separated; a cluster is detected"`
	RedisUsername string        `envconfig:"REDIS_USERNAME" desc:"Redis ACL user (optional)"`
	RedisPassword string        `envconfig:"REDIS_PASSWORD" desc:"Redis password (optional)"`
	KeyPrefix     string        `envconfig:"KEY_PREFIX" default:"fh:" desc:"prefix of every Redis key (docs/redis-layout.md)"`
	BatchSize     int           `envconfig:"BATCH_SIZE" default:"512" desc:"most updates per Redis pipeline"`
	Workers       int           `envconfig:"WORKERS" default:"4" desc:"concurrent pipelines; an account always goes to the same one"`
	MaxAckPending int           `envconfig:"MAX_ACK_PENDING" default:"16384" desc:"most unacknowledged messages the consumer holds"`
	AckWait       time.Duration `envconfig:"ACK_WAIT" default:"30s" desc:"JetStream redelivers a message not acknowledged within this"`
	ClosedTTL     time.Duration `envconfig:"CLOSED_TTL" default:"0s" desc:"expire closed accounts (lamports 0) after this; 0 keeps them"`
	HTTPAddr      string        `envconfig:"HTTP_ADDR" default:"127.0.0.1:9104" desc:"/healthz, /readyz and /metrics"`
}

// Validate reports every bad variable at once.
func (c *Config) Validate() error {
	var p config.Problems
	if err := c.Config.Validate(); err != nil {
		p.Addf("%s_%v", EnvPrefix, err)
	}
	p.Check(strings.TrimSpace(c.NATSURL) == "", "CACHER_NATS_URL", "is required")
	bad := len(c.RedisAddr) == 0
	for _, a := range c.RedisAddr {
		bad = bad || strings.TrimSpace(a) == ""
	}
	p.Check(bad, "CACHER_REDIS_ADDR", "needs at least one host:port and no empty entries")
	p.Check(c.KeyPrefix == "", "CACHER_KEY_PREFIX", "must not be empty (the gateway and parser read the same prefix; default fh:)")
	p.Check(c.BatchSize < 1 || c.BatchSize > 10000, "CACHER_BATCH_SIZE", "must be 1..10000")
	p.Check(c.Workers < 1 || c.Workers > 64, "CACHER_WORKERS", "must be 1..64")
	p.Check(c.MaxAckPending < c.BatchSize, "CACHER_MAX_ACK_PENDING", "must be at least CACHER_BATCH_SIZE")
	p.Check(c.AckWait < time.Second, "CACHER_ACK_WAIT", "must be at least 1s")
	p.Check(c.ClosedTTL < 0 || (c.ClosedTTL > 0 && c.ClosedTTL < time.Millisecond), "CACHER_CLOSED_TTL", "must be 0 (keep) or at least 1ms")
	p.Check(c.HTTPAddr == "", "CACHER_HTTP_ADDR", "is required")
	return p.Err()
}

// Defaults returns the configuration with every default filled in (tests).
func Defaults() Config {
	return Config{
		Config:        logging.Config{Level: "info", Format: "json"},
		NATSURL:       "nats://127.0.0.1:4222",
		RedisAddr:     []string{"127.0.0.1:6379"},
		KeyPrefix:     accountcache.DefaultPrefix,
		BatchSize:     512,
		Workers:       4,
		MaxAckPending: 16384,
		AckWait:       30 * time.Second,
		HTTPAddr:      "127.0.0.1:9104",
	}
}
