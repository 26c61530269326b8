package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kelseyhightower/envconfig"

	"github.com/firehole/firehole/proto/geyser"
)

const tokenProgram = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"

func valid(t *testing.T) Config {
	t.Helper()
	var c Config
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, Prefix+"_") {
			t.Fatalf("environment has %s; tests need a clean INGESTOR_ environment", kv)
		}
	}
	t.Setenv("INGESTOR_ENDPOINT", "127.0.0.1:10000")
	if err := envconfig.Process(Prefix, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string // substrings of the error; none means valid
	}{
		{"defaults", func(*Config) {}, nil},
		{"all filters", func(c *Config) {
			c.Owners = tokenProgram + ", 11111111111111111111111111111111"
			c.Accounts = "So11111111111111111111111111111111111111112"
			c.Memcmp = "0:base58:3yZe7d;32:base64:AQID"
			c.DataSize = "165"
			c.TokenAccountState = true
			c.NonemptyTxnSignature = "true"
			c.DataSlice = "0:32,64:8"
			c.Commitment = "confirmed"
		}, nil},
		{"https endpoint", func(c *Config) { c.Endpoint = "https://example.rpcpool.com" }, nil},
		{"no endpoint", func(c *Config) { c.Endpoint = "" }, []string{"INGESTOR_ENDPOINT"}},
		{"endpoint without port", func(c *Config) { c.Endpoint = "localhost" }, []string{"INGESTOR_ENDPOINT"}},
		{"http endpoint with TLS", func(c *Config) { c.Endpoint = "http://x:1"; c.TLS = true }, []string{"INGESTOR_ENDPOINT", "https://"}},
		{"endpoint bad scheme", func(c *Config) { c.Endpoint = "grpc://x:1" }, []string{"INGESTOR_ENDPOINT", "scheme"}},
		{"bad owner", func(c *Config) { c.Owners = tokenProgram + ",notakey0" }, []string{"INGESTOR_OWNERS", "notakey0"}},
		{"bad account", func(c *Config) { c.Accounts = "abc" }, []string{"INGESTOR_ACCOUNTS"}},
		{"bad memcmp encoding", func(c *Config) { c.Memcmp = "0:base32:abc" }, []string{"INGESTOR_MEMCMP", "base32"}},
		{"bad memcmp offset", func(c *Config) { c.Memcmp = "x:base58:abc" }, []string{"INGESTOR_MEMCMP", "offset"}},
		{"memcmp too long", func(c *Config) { c.Memcmp = "0:hex:" + strings.Repeat("ab", 129) }, []string{"INGESTOR_MEMCMP", "129 bytes"}},
		{"too many filters", func(c *Config) {
			c.Memcmp = "0:hex:01;1:hex:02;2:hex:03"
			c.DataSize = "165"
			c.Lamports = "gt:1"
		}, []string{"at most 4 filters"}},
		{"bad datasize", func(c *Config) { c.DataSize = "-1" }, []string{"INGESTOR_DATASIZE"}},
		{"bad lamports op", func(c *Config) { c.Lamports = "ge:5" }, []string{"INGESTOR_LAMPORTS", "ge"}},
		{"bad lamports value", func(c *Config) { c.Lamports = "gt:x" }, []string{"INGESTOR_LAMPORTS"}},
		{"bad txn signature flag", func(c *Config) { c.NonemptyTxnSignature = "maybe" }, []string{"INGESTOR_NONEMPTY_TXN_SIGNATURE"}},
		{"bad data slice", func(c *Config) { c.DataSlice = "0:32,7" }, []string{"INGESTOR_DATA_SLICE", "slice 2"}},
		{"bad commitment", func(c *Config) { c.Commitment = "rooted" }, []string{"INGESTOR_COMMITMENT"}},
		{"small recv limit", func(c *Config) { c.MaxRecvBytes = 1024 }, []string{"INGESTOR_MAX_RECV_BYTES"}},
		{"keepalive too short", func(c *Config) { c.KeepaliveTime = 1 }, []string{"INGESTOR_KEEPALIVE_TIME"}},
		{"backoff max below min", func(c *Config) { c.BackoffMax = 1 }, []string{"INGESTOR_BACKOFF_MAX"}},
		{"missing ca file", func(c *Config) { c.CAFile = "/nonexistent/ca.pem" }, []string{"INGESTOR_CA_FILE"}},
		{"bad log level", func(c *Config) { c.Level = "loud" }, []string{"INGESTOR_LOG_LEVEL"}},
		{"every problem at once", func(c *Config) {
			c.Owners = "bad"
			c.Lamports = "x"
			c.MaxInFlight = 0
			c.SilenceTimeout = 0
		}, []string{"INGESTOR_OWNERS", "INGESTOR_LAMPORTS", "INGESTOR_MAX_IN_FLIGHT", "INGESTOR_SILENCE_TIMEOUT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid(t)
			tt.mutate(&c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate passed; want an error naming %v", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestTarget(t *testing.T) {
	tests := []struct {
		endpoint string
		tls      bool
		want     string
		wantTLS  bool
	}{
		{"127.0.0.1:10000", false, "127.0.0.1:10000", false},
		{"127.0.0.1:10000", true, "127.0.0.1:10000", true},
		{"http://geyser:10000", false, "geyser:10000", false},
		{"https://mainnet.example.com", false, "mainnet.example.com:443", true},
		{"https://mainnet.example.com:2053/", false, "mainnet.example.com:2053", true},
		{"http://[::1]:9000", false, "[::1]:9000", false},
	}
	for _, tt := range tests {
		t.Run(tt.endpoint, func(t *testing.T) {
			c := Config{Endpoint: tt.endpoint, TLS: tt.tls}
			got, gotTLS, err := c.Target()
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || gotTLS != tt.wantTLS {
				t.Fatalf("Target = %q, %v; want %q, %v", got, gotTLS, tt.want, tt.wantTLS)
			}
		})
	}
}

func TestSubscribeRequest(t *testing.T) {
	c := valid(t)
	c.Owners = tokenProgram
	c.Memcmp = "32:base58:11111111111111111111111111111112"
	c.DataSize = "165"
	c.Lamports = "gt:1000"
	c.NonemptyTxnSignature = "false"
	c.DataSlice = "0:64"
	c.Commitment = "finalized"
	req, err := c.SubscribeRequest()
	if err != nil {
		t.Fatal(err)
	}
	if req.GetCommitment() != geyser.CommitmentLevel_FINALIZED {
		t.Errorf("commitment = %v", req.GetCommitment())
	}
	f := req.GetAccounts()[AccountsFilterName]
	if f == nil || len(f.GetOwner()) != 1 || f.GetOwner()[0] != tokenProgram {
		t.Fatalf("owners = %v", f.GetOwner())
	}
	if len(f.GetFilters()) != 3 {
		t.Fatalf("filters = %v", f.GetFilters())
	}
	mc := f.GetFilters()[0].GetMemcmp()
	if mc.GetOffset() != 32 || len(mc.GetBytes()) != 32 || mc.GetBytes()[31] != 1 {
		t.Errorf("memcmp = %v", mc)
	}
	if f.GetFilters()[1].GetDatasize() != 165 {
		t.Errorf("datasize = %v", f.GetFilters()[1])
	}
	if f.GetFilters()[2].GetLamports().GetGt() != 1000 {
		t.Errorf("lamports = %v", f.GetFilters()[2])
	}
	if f.NonemptyTxnSignature == nil || *f.NonemptyTxnSignature {
		t.Errorf("nonempty_txn_signature = %v", f.NonemptyTxnSignature)
	}
	if len(req.GetAccountsDataSlice()) != 1 || req.GetAccountsDataSlice()[0].GetLength() != 64 {
		t.Errorf("data slice = %v", req.GetAccountsDataSlice())
	}
}

func TestFilterFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.json", `{"accounts":{"tokens":{"owner":["`+tokenProgram+`"],"filters":[{"datasize":"165"}]}},"commitment":"CONFIRMED"}`)
	tests := []struct {
		name   string
		file   string
		extra  func(*Config)
		want   string
		commit geyser.CommitmentLevel
	}{
		{"good", good, nil, "", geyser.CommitmentLevel_CONFIRMED},
		{"missing", filepath.Join(dir, "nope.json"), nil, "INGESTOR_FILTER_FILE", 0},
		{"not json", write("bad.json", `{accounts`), nil, "INGESTOR_FILTER_FILE", 0},
		{"unknown field", write("unknown.json", `{"acounts":{}}`), nil, "INGESTOR_FILTER_FILE", 0},
		{"bad owner", write("owner.json", `{"accounts":{"x":{"owner":["zzz"]}}}`), nil, "zzz", 0},
		{"from_slot", write("from.json", `{"accounts":{"x":{}},"from_slot":"5"}`), nil, "from_slot", 0},
		{"no accounts", write("slots.json", `{"slots":{"x":{}}}`), nil, "no accounts filter", 0},
		{"combined with owners", good, func(c *Config) { c.Owners = tokenProgram }, "INGESTOR_OWNERS", 0},
		{"commitment from env", write("nocommit.json", `{"accounts":{"x":{}}}`), nil, "", geyser.CommitmentLevel_PROCESSED},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid(t)
			c.FilterFile = tt.file
			if tt.extra != nil {
				tt.extra(&c)
			}
			req, err := c.SubscribeRequest()
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("err = %v; want it to mention %q", err, tt.want)
				}
				if verr := c.Validate(); verr == nil {
					t.Fatal("Validate passed")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if req.GetCommitment() != tt.commit {
				t.Errorf("commitment = %v; want %v", req.GetCommitment(), tt.commit)
			}
		})
	}
}
