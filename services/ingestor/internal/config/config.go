// Package config is the ingestor's configuration: the environment variables
// under INGESTOR_, their validation, and the Yellowstone SubscribeRequest
// they describe.
package config

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/pkg/config"
	"github.com/firehole/firehole/pkg/logging"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
	"github.com/firehole/firehole/proto/geyser"
)

// Prefix is the environment variable prefix.
const Prefix = "INGESTOR"

// AccountsFilterName is the key of the account filter built from the
// environment in the SubscribeRequest.
const AccountsFilterName = "firehole"

// Server-side limits of the Yellowstone reference server on account filters.
const (
	maxFilters     = 4
	maxMemcmpBytes = 128
)

// Config is every setting of the ingestor.
type Config struct {
	logging.Config

	Endpoint         string        `envconfig:"ENDPOINT" required:"true" desc:"Yellowstone gRPC endpoint: host:port, http://host:port or https://host[:port]"`
	XToken           string        `envconfig:"X_TOKEN" desc:"x-token sent as gRPC metadata"`
	TLS              bool          `envconfig:"TLS" desc:"use TLS with the system roots (implied by https:// and CA_FILE)"`
	CAFile           string        `envconfig:"CA_FILE" desc:"PEM file of CA certificates to trust instead of the system roots"`
	KeepaliveTime    time.Duration `envconfig:"KEEPALIVE_TIME" default:"10s" desc:"gRPC keepalive ping interval (>= 10s)"`
	KeepaliveTimeout time.Duration `envconfig:"KEEPALIVE_TIMEOUT" default:"5s" desc:"gRPC keepalive ack timeout"`
	MaxRecvBytes     int           `envconfig:"MAX_RECV_BYTES" default:"67108864" desc:"largest gRPC message accepted"`
	Commitment       string        `envconfig:"COMMITMENT" default:"processed" desc:"processed, confirmed or finalized"`

	Owners               string `envconfig:"OWNERS" desc:"comma list of base58 owner program ids"`
	Accounts             string `envconfig:"ACCOUNTS" desc:"comma list of base58 account pubkeys"`
	Memcmp               string `envconfig:"MEMCMP" desc:"memcmp filters offset:encoding:data separated by ';' (encoding base58, base64 or hex)"`
	DataSize             string `envconfig:"DATASIZE" desc:"only accounts with exactly this many data bytes"`
	TokenAccountState    bool   `envconfig:"TOKEN_ACCOUNT_STATE" desc:"only valid SPL token accounts"`
	Lamports             string `envconfig:"LAMPORTS" desc:"lamports comparison eq|ne|lt|gt:<n>, e.g. gt:1000"`
	NonemptyTxnSignature string `envconfig:"NONEMPTY_TXN_SIGNATURE" desc:"true: only updates with a transaction signature; false: only without"`
	DataSlice            string `envconfig:"DATA_SLICE" desc:"data slices offset:length separated by ','"`
	FilterFile           string `envconfig:"FILTER_FILE" desc:"JSON SubscribeRequest (protojson); replaces the filter variables above"`

	Source          string        `envconfig:"SOURCE" desc:"name of this endpoint in messages (default: the endpoint's host:port)"`
	NATSURL         string        `envconfig:"NATS_URL" default:"nats://127.0.0.1:4222" desc:"NATS server URL(s), comma separated"`
	MaxInFlight     int           `envconfig:"MAX_IN_FLIGHT" default:"4096" desc:"bound on unacknowledged JetStream publishes"`
	SilenceTimeout  time.Duration `envconfig:"SILENCE_TIMEOUT" default:"30s" desc:"reconnect when no message arrives for this long"`
	PingInterval    time.Duration `envconfig:"PING_INTERVAL" default:"10s" desc:"interval of the client's own pings on the stream"`
	BackoffMin      time.Duration `envconfig:"BACKOFF_MIN" default:"100ms" desc:"first reconnect delay"`
	BackoffMax      time.Duration `envconfig:"BACKOFF_MAX" default:"30s" desc:"cap on the reconnect delay (it doubles, with jitter)"`
	FromSlotMargin  uint64        `envconfig:"FROM_SLOT_MARGIN" default:"2" desc:"resume this many slots before the last fully seen slot"`
	ResumeOnStart   bool          `envconfig:"RESUME_ON_START" default:"true" desc:"at start, resume from the newest complete slot in JetStream (else start live)"`
	CaptureFile     string        `envconfig:"CAPTURE_FILE" desc:"also write every received update to this capture file"`
	HTTPAddr        string        `envconfig:"HTTP_ADDR" default:"127.0.0.1:9101" desc:"address of /healthz, /readyz and /metrics"`
	Pprof           bool          `envconfig:"PPROF" desc:"also serve /debug/pprof/ on HTTP_ADDR"`
	StreamReplicas  int           `envconfig:"STREAM_REPLICAS" default:"1" desc:"replicas of the Firehole streams when this service creates them"`
	StreamMaxAge    time.Duration `envconfig:"STREAM_MAX_AGE" default:"24h" desc:"retention of the Firehole streams when this service creates them"`
	DuplicateWindow time.Duration `envconfig:"DUPLICATE_WINDOW" default:"2m" desc:"JetStream de-duplication window (resume replays must fall inside it)"`
}

// Validate reports every bad variable at once.
func (c *Config) Validate() error {
	var p config.Problems
	if err := c.Config.Validate(); err != nil {
		p.Addf("%s_%w", Prefix, err)
	}
	if _, _, err := c.Target(); err != nil {
		p.Addf("INGESTOR_ENDPOINT: %v", err)
	}
	if c.CAFile != "" {
		if _, err := os.Stat(c.CAFile); err != nil {
			p.Addf("INGESTOR_CA_FILE: %v", err)
		}
	}
	p.Check(c.KeepaliveTime < 10*time.Second, "INGESTOR_KEEPALIVE_TIME", "must be at least 10s (gRPC raises smaller values)")
	p.Check(c.KeepaliveTimeout <= 0, "INGESTOR_KEEPALIVE_TIMEOUT", "must be positive")
	p.Check(c.MaxRecvBytes < 4<<20, "INGESTOR_MAX_RECV_BYTES", "must be at least 4194304 (4 MiB); Geyser messages exceed gRPC's default")
	if _, err := ParseCommitment(c.Commitment); err != nil {
		p.Addf("INGESTOR_COMMITMENT: %v", err)
	}
	if _, err := c.SubscribeRequest(); err != nil {
		p.Addf("%w", err)
	}
	p.Check(c.NATSURL == "", "INGESTOR_NATS_URL", "must be set")
	p.Check(c.MaxInFlight <= 0, "INGESTOR_MAX_IN_FLIGHT", "must be positive")
	p.Check(c.SilenceTimeout <= 0, "INGESTOR_SILENCE_TIMEOUT", "must be positive")
	p.Check(c.PingInterval <= 0, "INGESTOR_PING_INTERVAL", "must be positive")
	p.Check(c.BackoffMin <= 0, "INGESTOR_BACKOFF_MIN", "must be positive")
	p.Check(c.BackoffMax < c.BackoffMin, "INGESTOR_BACKOFF_MAX", "must be at least INGESTOR_BACKOFF_MIN")
	p.Check(c.HTTPAddr == "", "INGESTOR_HTTP_ADDR", "must be set")
	p.Check(c.StreamReplicas < 1 || c.StreamReplicas > 5, "INGESTOR_STREAM_REPLICAS", "must be 1..5")
	p.Check(c.StreamMaxAge <= 0, "INGESTOR_STREAM_MAX_AGE", "must be positive")
	p.Check(c.DuplicateWindow <= 0, "INGESTOR_DUPLICATE_WINDOW", "must be positive")
	return p.Err()
}

// Target returns the gRPC dial target (host:port) and whether TLS is used.
func (c *Config) Target() (target string, useTLS bool, err error) {
	ep := strings.TrimSpace(c.Endpoint)
	if ep == "" {
		return "", false, errors.New("must be set")
	}
	useTLS = c.TLS || c.CAFile != ""
	if strings.Contains(ep, "://") {
		u, err := url.Parse(ep)
		if err != nil {
			return "", false, fmt.Errorf("parse %q: %w", ep, err)
		}
		switch u.Scheme {
		case "https":
			useTLS = true
		case "http":
			if useTLS {
				return "", false, fmt.Errorf("%q is plain text but INGESTOR_TLS or INGESTOR_CA_FILE asks for TLS; use https://", ep)
			}
		default:
			return "", false, fmt.Errorf("scheme %q: want http or https", u.Scheme)
		}
		if u.Host == "" {
			return "", false, fmt.Errorf("%q has no host", ep)
		}
		if u.Path != "" && u.Path != "/" {
			return "", false, fmt.Errorf("%q: a gRPC endpoint has no path", ep)
		}
		host, port := u.Hostname(), u.Port()
		if port == "" {
			port = "80"
			if useTLS {
				port = "443"
			}
		}
		return net.JoinHostPort(host, port), useTLS, nil
	}
	host, port, err := net.SplitHostPort(ep)
	if err != nil {
		return "", false, fmt.Errorf("%q: want host:port or a URL", ep)
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return "", false, fmt.Errorf("%q: bad port", ep)
	}
	return net.JoinHostPort(host, port), useTLS, nil
}

// SourceName is SOURCE, or the endpoint's host:port when SOURCE is unset.
func (c *Config) SourceName() string {
	if c.Source != "" {
		return c.Source
	}
	if t, _, err := c.Target(); err == nil {
		return t
	}
	return c.Endpoint
}

// ParseCommitment reads processed, confirmed or finalized.
func ParseCommitment(s string) (geyser.CommitmentLevel, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "processed":
		return geyser.CommitmentLevel_PROCESSED, nil
	case "confirmed":
		return geyser.CommitmentLevel_CONFIRMED, nil
	case "finalized":
		return geyser.CommitmentLevel_FINALIZED, nil
	}
	return 0, fmt.Errorf("%q: want processed, confirmed or finalized", s)
}

// BusCommitment maps a Geyser commitment level to the bus enum.
func BusCommitment(c geyser.CommitmentLevel) fireholev1.Commitment {
	switch c {
	case geyser.CommitmentLevel_PROCESSED:
		return fireholev1.Commitment_COMMITMENT_PROCESSED
	case geyser.CommitmentLevel_CONFIRMED:
		return fireholev1.Commitment_COMMITMENT_CONFIRMED
	case geyser.CommitmentLevel_FINALIZED:
		return fireholev1.Commitment_COMMITMENT_FINALIZED
	}
	return fireholev1.Commitment_COMMITMENT_UNSPECIFIED
}

// SubscribeRequest builds the request the filter variables (or FILTER_FILE)
// describe. Its commitment is always set. The error names every bad variable.
func (c *Config) SubscribeRequest() (*geyser.SubscribeRequest, error) {
	var p config.Problems
	commitment, cerr := ParseCommitment(c.Commitment)
	if c.FilterFile != "" {
		req, err := c.fileRequest()
		if err != nil {
			return nil, err
		}
		for _, v := range []struct{ name, val string }{
			{"INGESTOR_OWNERS", c.Owners}, {"INGESTOR_ACCOUNTS", c.Accounts}, {"INGESTOR_MEMCMP", c.Memcmp},
			{"INGESTOR_DATASIZE", c.DataSize}, {"INGESTOR_LAMPORTS", c.Lamports},
			{"INGESTOR_NONEMPTY_TXN_SIGNATURE", c.NonemptyTxnSignature}, {"INGESTOR_DATA_SLICE", c.DataSlice},
		} {
			p.Check(v.val != "", v.name, "cannot be combined with INGESTOR_FILTER_FILE")
		}
		p.Check(c.TokenAccountState, "INGESTOR_TOKEN_ACCOUNT_STATE", "cannot be combined with INGESTOR_FILTER_FILE")
		if req.Commitment == nil && cerr == nil {
			req.Commitment = &commitment
		}
		if err := p.Err(); err != nil {
			return nil, err
		}
		return req, nil
	}

	f := &geyser.SubscribeRequestFilterAccounts{}
	f.Owner = parseKeys(&p, "INGESTOR_OWNERS", c.Owners)
	f.Account = parseKeys(&p, "INGESTOR_ACCOUNTS", c.Accounts)
	if c.Memcmp != "" {
		for i, part := range strings.Split(c.Memcmp, ";") {
			m, err := parseMemcmp(strings.TrimSpace(part))
			if err != nil {
				p.Addf("INGESTOR_MEMCMP: filter %d (%q): %v", i+1, part, err)
				continue
			}
			f.Filters = append(f.Filters, &geyser.SubscribeRequestFilterAccountsFilter{
				Filter: &geyser.SubscribeRequestFilterAccountsFilter_Memcmp{Memcmp: m},
			})
		}
	}
	if c.DataSize != "" {
		n, err := strconv.ParseUint(strings.TrimSpace(c.DataSize), 10, 64)
		if err != nil {
			p.Addf("INGESTOR_DATASIZE: %q is not a byte count", c.DataSize)
		} else {
			f.Filters = append(f.Filters, &geyser.SubscribeRequestFilterAccountsFilter{
				Filter: &geyser.SubscribeRequestFilterAccountsFilter_Datasize{Datasize: n},
			})
		}
	}
	if c.TokenAccountState {
		f.Filters = append(f.Filters, &geyser.SubscribeRequestFilterAccountsFilter{
			Filter: &geyser.SubscribeRequestFilterAccountsFilter_TokenAccountState{TokenAccountState: true},
		})
	}
	if c.Lamports != "" {
		l, err := parseLamports(c.Lamports)
		if err != nil {
			p.Addf("INGESTOR_LAMPORTS: %v", err)
		} else {
			f.Filters = append(f.Filters, &geyser.SubscribeRequestFilterAccountsFilter{
				Filter: &geyser.SubscribeRequestFilterAccountsFilter_Lamports{Lamports: l},
			})
		}
	}
	p.Check(len(f.Filters) > maxFilters, "INGESTOR_MEMCMP", fmt.Sprintf("with DATASIZE, TOKEN_ACCOUNT_STATE and LAMPORTS at most %d filters are allowed, got %d", maxFilters, len(f.Filters)))
	if s := strings.TrimSpace(c.NonemptyTxnSignature); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			p.Addf("INGESTOR_NONEMPTY_TXN_SIGNATURE: %q: want true or false", s)
		} else {
			f.NonemptyTxnSignature = &b
		}
	}
	req := &geyser.SubscribeRequest{
		Accounts: map[string]*geyser.SubscribeRequestFilterAccounts{AccountsFilterName: f},
	}
	if cerr == nil {
		req.Commitment = &commitment
	}
	if c.DataSlice != "" {
		for i, part := range strings.Split(c.DataSlice, ",") {
			off, ln, ok := strings.Cut(strings.TrimSpace(part), ":")
			o, oerr := strconv.ParseUint(off, 10, 64)
			l, lerr := strconv.ParseUint(ln, 10, 64)
			if !ok || oerr != nil || lerr != nil {
				p.Addf("INGESTOR_DATA_SLICE: slice %d (%q): want offset:length", i+1, part)
				continue
			}
			req.AccountsDataSlice = append(req.AccountsDataSlice, &geyser.SubscribeRequestAccountsDataSlice{Offset: o, Length: l})
		}
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	return req, nil
}

func (c *Config) fileRequest() (*geyser.SubscribeRequest, error) {
	b, err := os.ReadFile(c.FilterFile)
	if err != nil {
		return nil, fmt.Errorf("INGESTOR_FILTER_FILE: %w", err)
	}
	req := &geyser.SubscribeRequest{}
	if err := protojson.Unmarshal(b, req); err != nil {
		return nil, fmt.Errorf("INGESTOR_FILTER_FILE: %s: %w", c.FilterFile, err)
	}
	var p config.Problems
	p.Check(req.FromSlot != nil, "INGESTOR_FILTER_FILE", "from_slot is managed by the ingestor; remove it")
	p.Check(req.Ping != nil, "INGESTOR_FILTER_FILE", "ping is managed by the ingestor; remove it")
	p.Check(len(req.Accounts) == 0, "INGESTOR_FILTER_FILE", "has no accounts filter; the ingestor only handles account updates")
	for name, f := range req.Accounts {
		for _, k := range append(append([]string{}, f.GetOwner()...), f.GetAccount()...) {
			if _, err := base58.Decode32(k); err != nil {
				p.Addf("INGESTOR_FILTER_FILE: accounts filter %q: %q is not a base58 32-byte key", name, k)
			}
		}
		p.Check(len(f.GetFilters()) > maxFilters, "INGESTOR_FILTER_FILE", fmt.Sprintf("accounts filter %q has more than %d filters", name, maxFilters))
	}
	return req, p.Err()
}

func parseKeys(p *config.Problems, name, list string) []string {
	if strings.TrimSpace(list) == "" {
		return nil
	}
	var out []string
	for _, k := range strings.Split(list, ",") {
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		if _, err := base58.Decode32(k); err != nil {
			p.Addf("%s: %q is not a base58 32-byte key", name, k)
			continue
		}
		out = append(out, k)
	}
	return out
}

func parseMemcmp(s string) (*geyser.SubscribeRequestFilterAccountsFilterMemcmp, error) {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) != 3 {
		return nil, errors.New("want offset:encoding:data")
	}
	off, err := strconv.ParseUint(parts[0], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("offset %q is not a number", parts[0])
	}
	var data []byte
	switch parts[1] {
	case "base58":
		data, err = base58.Decode(parts[2])
	case "base64":
		data, err = base64.StdEncoding.DecodeString(parts[2])
	case "hex":
		data, err = hex.DecodeString(parts[2])
	default:
		return nil, fmt.Errorf("encoding %q: want base58, base64 or hex", parts[1])
	}
	if err != nil {
		return nil, fmt.Errorf("decode %s data: %w", parts[1], err)
	}
	if len(data) == 0 || len(data) > maxMemcmpBytes {
		return nil, fmt.Errorf("data is %d bytes; want 1..%d", len(data), maxMemcmpBytes)
	}
	return &geyser.SubscribeRequestFilterAccountsFilterMemcmp{
		Offset: off,
		Data:   &geyser.SubscribeRequestFilterAccountsFilterMemcmp_Bytes{Bytes: data},
	}, nil
}

func parseLamports(s string) (*geyser.SubscribeRequestFilterAccountsFilterLamports, error) {
	op, val, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return nil, fmt.Errorf("%q: want eq|ne|lt|gt:<lamports>", s)
	}
	n, err := strconv.ParseUint(val, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%q: %q is not a lamport amount", s, val)
	}
	l := &geyser.SubscribeRequestFilterAccountsFilterLamports{}
	switch op {
	case "eq":
		l.Cmp = &geyser.SubscribeRequestFilterAccountsFilterLamports_Eq{Eq: n}
	case "ne":
		l.Cmp = &geyser.SubscribeRequestFilterAccountsFilterLamports_Ne{Ne: n}
	case "lt":
		l.Cmp = &geyser.SubscribeRequestFilterAccountsFilterLamports_Lt{Lt: n}
	case "gt":
		l.Cmp = &geyser.SubscribeRequestFilterAccountsFilterLamports_Gt{Gt: n}
	default:
		return nil, fmt.Errorf("%q: comparison %q: want eq, ne, lt or gt", s, op)
	}
	return l, nil
}
