package config

import (
	"strings"
	"testing"
	"time"

	"github.com/firehole/firehole/pkg/logging"
)

func valid() Config {
	return Config{
		Config:                logging.Config{Level: "info", Format: "json"},
		NATSURL:               "nats://127.0.0.1:4222",
		PostgresURL:           "postgres://root@127.0.0.1:5432/test",
		Schema:                "firehole",
		BatchSize:             5000,
		BatchWait:             50 * time.Millisecond,
		Writers:               2,
		MaxAckPending:         20000,
		AckWait:               30 * time.Second,
		HistoryPartitionSlots: 432000,
		HTTPAddr:              "127.0.0.1:9103",
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   []string
	}{
		{"defaults", func(*Config) {}, nil},
		{"bad schema", func(c *Config) { c.Schema = "Drop Table" }, []string{"PERSISTER_SCHEMA"}},
		{"everything", func(c *Config) {
			c.PostgresURL = "mysql://x"
			c.BatchSize = 0
			c.BatchWait = 0
			c.MaxAckPending = -1
			c.HTTPAddr = "nope"
			c.HistoryRetentionSlots = 5
		}, []string{"PERSISTER_POSTGRES_URL", "PERSISTER_BATCH_SIZE", "PERSISTER_BATCH_WAIT", "PERSISTER_MAX_ACK_PENDING", "PERSISTER_HTTP_ADDR", "PERSISTER_HISTORY_RETENTION_SLOTS"}},
		{"ack pending below the batches in flight", func(c *Config) { c.MaxAckPending = 14999 }, []string{"PERSISTER_MAX_ACK_PENDING"}},
		{"no writers", func(c *Config) { c.Writers = 0 }, []string{"PERSISTER_WRITERS"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := valid()
			tc.mutate(&c)
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want errors naming %v, got nil", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
		})
	}
}
