// Package config is the persister's configuration, read from PERSISTER_*
// environment variables.
package config

import (
	"net"
	"net/url"
	"regexp"
	"time"

	"github.com/firehole/firehole/pkg/config"
	"github.com/firehole/firehole/pkg/logging"
)

// Prefix is the environment variable prefix.
const Prefix = "PERSISTER"

// Config is every setting of the persister.
type Config struct {
	logging.Config

	NATSURL               string        `envconfig:"NATS_URL" default:"nats://127.0.0.1:4222" desc:"NATS server URL"`
	PostgresURL           string        `envconfig:"POSTGRES_URL" default:"postgres://postgres@127.0.0.1:5432/firehole?sslmode=disable" desc:"Postgres connection URL"`
	Schema                string        `envconfig:"SCHEMA" default:"firehole" desc:"Postgres schema holding the tables"`
	BatchSize             int           `envconfig:"BATCH_SIZE" default:"5000" desc:"most account updates written in one transaction"`
	BatchWait             time.Duration `envconfig:"BATCH_WAIT" default:"50ms" desc:"longest wait to fill a batch"`
	Writers               int           `envconfig:"WRITERS" default:"2" desc:"batches written concurrently, each in its own transaction"`
	MaxAckPending         int           `envconfig:"MAX_ACK_PENDING" default:"20000" desc:"JetStream max unacknowledged messages per consumer (>= (WRITERS+1) x BATCH_SIZE)"`
	AckWait               time.Duration `envconfig:"ACK_WAIT" default:"30s" desc:"JetStream ack wait; in-flight batches are kept alive with in-progress acks"`
	Migrate               bool          `envconfig:"MIGRATE" default:"false" desc:"apply pending migrations at start (under an advisory lock)"`
	History               bool          `envconfig:"HISTORY" default:"false" desc:"also record every update in account_history"`
	HistoryRetentionSlots uint64        `envconfig:"HISTORY_RETENTION_SLOTS" default:"0" desc:"drop history partitions older than this many slots behind the newest; 0 keeps everything"`
	HistoryPartitionSlots uint64        `envconfig:"HISTORY_PARTITION_SLOTS" default:"432000" desc:"slots per account_history partition"`
	GINIndex              bool          `envconfig:"GIN_INDEX" default:"false" desc:"create a GIN index on accounts.parsed (jsonb_path_ops) at start"`
	TokenAmountIndex      bool          `envconfig:"TOKEN_AMOUNT_INDEX" default:"false" desc:"create the index that serves the gateway's getTokenLargestAccounts (token accounts of a mint by amount) at start"`
	HTTPAddr              string        `envconfig:"HTTP_ADDR" default:"127.0.0.1:9103" desc:"address of /healthz, /readyz and /metrics"`
}

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Validate reports every bad variable at once.
func (c Config) Validate() error {
	var p config.Problems
	if err := c.Config.Validate(); err != nil {
		p.Addf("%s_%w", Prefix, err)
	}
	if u, err := url.Parse(c.NATSURL); err != nil || u.Host == "" {
		p.Addf("PERSISTER_NATS_URL: not a URL: %q", c.NATSURL)
	}
	if u, err := url.Parse(c.PostgresURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		p.Addf("PERSISTER_POSTGRES_URL: want postgres://..., got %q", c.PostgresURL)
	}
	p.Check(!schemaName.MatchString(c.Schema), "PERSISTER_SCHEMA", "must be a lower-case SQL identifier ([a-z_][a-z0-9_]*, at most 63 characters)")
	p.Check(c.BatchSize < 1 || c.BatchSize > 100_000, "PERSISTER_BATCH_SIZE", "must be between 1 and 100000")
	p.Check(c.BatchWait <= 0 || c.BatchWait > time.Minute, "PERSISTER_BATCH_WAIT", "must be between 1ns and 1m")
	p.Check(c.Writers < 1 || c.Writers > 32, "PERSISTER_WRITERS", "must be between 1 and 32")
	p.Check(c.MaxAckPending < (c.Writers+1)*c.BatchSize, "PERSISTER_MAX_ACK_PENDING", "must be at least (PERSISTER_WRITERS+1) x PERSISTER_BATCH_SIZE")
	p.Check(c.AckWait < time.Second, "PERSISTER_ACK_WAIT", "must be at least 1s")
	p.Check(c.HistoryPartitionSlots < 1000, "PERSISTER_HISTORY_PARTITION_SLOTS", "must be at least 1000")
	p.Check(c.HistoryRetentionSlots != 0 && c.HistoryRetentionSlots < c.HistoryPartitionSlots, "PERSISTER_HISTORY_RETENTION_SLOTS", "must be 0 (keep) or at least PERSISTER_HISTORY_PARTITION_SLOTS")
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		p.Addf("PERSISTER_HTTP_ADDR: %v", err)
	}
	return p.Err()
}
