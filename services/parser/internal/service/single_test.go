package service

import (
	"strings"
	"testing"
)

func TestSingleConsumerNeedsAllPartitions(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		partitions string
		single     bool
		wantErr    bool
	}{
		{"0-15", true, false},
		{"0-7", true, true},
		{"0-7", false, false},
	} {
		cfg := validConfig()
		cfg.Partitions, cfg.SingleConsumer = c.partitions, c.single
		err := cfg.Validate()
		if got := err != nil && strings.Contains(err.Error(), "PARSER_SINGLE_CONSUMER"); got != c.wantErr {
			t.Errorf("partitions %s single %v: error %v", c.partitions, c.single, err)
		}
	}
}
