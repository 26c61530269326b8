package backfill

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/pkg/bus"
	pkgconfig "github.com/firehole/firehole/pkg/config"
	"github.com/firehole/firehole/pkg/logging"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
)

// Source is the source name of every backfilled update (AccountUpdate.source
// and the Firehole-Source header).
const Source = "backfill"

// Limits agave puts on getProgramAccounts filters.
const (
	maxFilters     = 4
	maxMemcmpBytes = 128
)

// Config is everything a backfill run needs: the command-line flags and the
// INGESTOR_ variables it shares with the streaming ingestor.
type Config struct {
	Log         logging.Config
	RPCURL      string
	Programs    []string        // base58, validated
	Filters     json.RawMessage // a JSON array in getProgramAccounts' format, or nil
	Commitment  fireholev1.Commitment
	Timeout     time.Duration // per RPC request, the whole response included
	NATSURL     string
	MaxInFlight int
	Streams     bus.StreamOptions // used only for streams that do not exist yet
}

// CommitmentToken is the commitment as the RPC node and the bus spell it.
func (c Config) CommitmentToken() string { return bus.CommitmentToken(c.Commitment) }

const usageHead = `usage: ingestor backfill -rpc URL [-program ids] [-filters JSON] [-commitment c] [-timeout d]

Loads the current accounts of programs from a Solana JSON-RPC node
(getProgramAccounts) into FIREHOLE_RAW, as account updates with source
"backfill" and write_version 0 at the snapshot's slot; every downstream
service takes them up like streamed updates.

Flags:
`

const usageTail = `
Environment (shared with the streaming ingestor):
  INGESTOR_NATS_URL          NATS server URL(s) (default nats://127.0.0.1:4222)
  INGESTOR_OWNERS            default for -program
  INGESTOR_COMMITMENT        default for -commitment (else confirmed)
  INGESTOR_MAX_IN_FLIGHT     bound on unacknowledged publishes (default 4096)
  INGESTOR_STREAM_REPLICAS, INGESTOR_STREAM_MAX_AGE, INGESTOR_DUPLICATE_WINDOW
                             settings of streams created because they are missing
  INGESTOR_LOG_LEVEL, INGESTOR_LOG_FORMAT

Example:
  INGESTOR_NATS_URL=nats://127.0.0.1:4222 ingestor backfill -rpc https://api.mainnet-beta.solana.com \
    -program TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA \
    -filters '[{"dataSize":165},{"memcmp":{"offset":0,"bytes":"<mint>"}}]'
`

// ParseArgs reads the flags in args (without "backfill") and the INGESTOR_
// variables through getenv. -help prints the usage to out and returns
// pkgconfig.ErrHelp. Every bad flag or variable is named, all at once.
func ParseArgs(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	fs := flag.NewFlagSet("ingestor backfill", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	rpc := fs.String("rpc", "", "Solana JSON-RPC URL, http:// or https:// (required)")
	programs := fs.String("program", "", "comma list of base58 program ids (default: INGESTOR_OWNERS)")
	filters := fs.String("filters", "", `getProgramAccounts filters as a JSON array, passed to the node as is, e.g. '[{"dataSize":165},{"memcmp":{"offset":32,"bytes":"<base58>"}}]'`)
	commitment := fs.String("commitment", "", "processed, confirmed or finalized (default: INGESTOR_COMMITMENT, else confirmed)")
	timeout := fs.Duration("timeout", 10*time.Minute, "limit on each RPC request, reading (and publishing) the whole response included")
	help := fs.Bool("help", false, "print this help")
	if err := fs.Parse(args); err != nil {
		return Config{}, fmt.Errorf("parse flags: %w (ingestor backfill -help lists them)", err)
	}
	if *help {
		fmt.Fprint(out, usageHead)
		fs.SetOutput(out)
		fs.PrintDefaults()
		fmt.Fprint(out, usageTail)
		return Config{}, pkgconfig.ErrHelp
	}
	var p pkgconfig.Problems
	if fs.NArg() > 0 {
		p.Addf("unexpected argument %q (ingestor backfill -help lists the flags)", fs.Arg(0))
	}

	cfg := Config{Timeout: *timeout}
	cfg.Log = logging.Config{Level: envOr(getenv, "INGESTOR_LOG_LEVEL", "info"), Format: envOr(getenv, "INGESTOR_LOG_FORMAT", "json")}
	if err := cfg.Log.Validate(); err != nil {
		p.Addf("INGESTOR_%w", err)
	}

	if err := checkRPCURL(*rpc); err != nil {
		p.Addf("-rpc: %v", err)
	}
	cfg.RPCURL = strings.TrimSpace(*rpc)

	progName, progList := "-program", *programs
	if strings.TrimSpace(progList) == "" {
		progName, progList = "INGESTOR_OWNERS (default of -program)", getenv("INGESTOR_OWNERS")
	}
	seen := map[string]bool{}
	for _, s := range strings.Split(progList, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if _, err := base58.Decode32(s); err != nil {
			p.Addf("%s: %q is not a base58 program id: %v", progName, s, err)
			continue
		}
		if seen[s] {
			p.Addf("%s: %s is listed twice", progName, s)
			continue
		}
		seen[s] = true
		cfg.Programs = append(cfg.Programs, s)
	}
	if strings.Trim(progList, ", \t") == "" {
		p.Addf("-program: no program given (and INGESTOR_OWNERS is empty)")
	}

	if strings.TrimSpace(*filters) != "" {
		if err := checkFilters([]byte(*filters)); err != nil {
			p.Addf("-filters: %v", err)
		} else {
			cfg.Filters = json.RawMessage(strings.TrimSpace(*filters))
		}
	}

	commName, comm := "-commitment", *commitment
	if comm == "" {
		commName, comm = "INGESTOR_COMMITMENT (default of -commitment)", envOr(getenv, "INGESTOR_COMMITMENT", "confirmed")
	}
	switch strings.ToLower(strings.TrimSpace(comm)) {
	case "processed":
		cfg.Commitment = fireholev1.Commitment_COMMITMENT_PROCESSED
	case "confirmed":
		cfg.Commitment = fireholev1.Commitment_COMMITMENT_CONFIRMED
	case "finalized":
		cfg.Commitment = fireholev1.Commitment_COMMITMENT_FINALIZED
	default:
		p.Addf("%s: %q: want processed, confirmed or finalized", commName, comm)
	}
	p.Check(*timeout <= 0, "-timeout", "must be positive")

	cfg.NATSURL = envOr(getenv, "INGESTOR_NATS_URL", "nats://127.0.0.1:4222")
	cfg.MaxInFlight = envInt(&p, getenv, "INGESTOR_MAX_IN_FLIGHT", 4096)
	p.Check(cfg.MaxInFlight <= 0, "INGESTOR_MAX_IN_FLIGHT", "must be positive")
	cfg.Streams = bus.DefaultStreamOptions()
	cfg.Streams.Replicas = envInt(&p, getenv, "INGESTOR_STREAM_REPLICAS", cfg.Streams.Replicas)
	p.Check(cfg.Streams.Replicas < 1 || cfg.Streams.Replicas > 5, "INGESTOR_STREAM_REPLICAS", "must be 1..5")
	cfg.Streams.MaxAge = envDuration(&p, getenv, "INGESTOR_STREAM_MAX_AGE", cfg.Streams.MaxAge)
	cfg.Streams.DuplicateWindow = envDuration(&p, getenv, "INGESTOR_DUPLICATE_WINDOW", cfg.Streams.DuplicateWindow)
	if err := p.Err(); err != nil {
		return Config{}, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, nil
}

func checkRPCURL(s string) error {
	s = strings.TrimSpace(s)
	if s == "" {
		return errors.New("must be set")
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("parse %q: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q: want an http:// or https:// URL", s)
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", s)
	}
	return nil
}

// checkFilters accepts what getProgramAccounts accepts: at most four filters,
// each {"dataSize":n}, {"memcmp":{"offset":n,"bytes":s[,"encoding":"base58"|"base64"]}}
// or "tokenAccountState". The JSON itself is sent unchanged.
func checkFilters(raw []byte) error {
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return fmt.Errorf("want a JSON array of filters: %v", err)
	}
	if list == nil {
		return errors.New("want a JSON array of filters, not null")
	}
	if len(list) > maxFilters {
		return fmt.Errorf("%d filters; nodes accept at most %d", len(list), maxFilters)
	}
	for i, f := range list {
		if err := checkFilter(f); err != nil {
			return fmt.Errorf("filter %d: %w", i+1, err)
		}
	}
	return nil
}

func checkFilter(raw json.RawMessage) error {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "tokenAccountState" {
			return nil
		}
		return fmt.Errorf("unknown filter %q", s)
	}
	var f map[string]json.RawMessage
	if err := json.Unmarshal(raw, &f); err != nil || len(f) != 1 {
		return errors.New(`want one of {"dataSize":n}, {"memcmp":{...}} or "tokenAccountState"`)
	}
	for k, v := range f {
		switch k {
		case "dataSize":
			if _, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64); err != nil {
				return fmt.Errorf("dataSize %s: want a byte count", v)
			}
		case "memcmp":
			return checkMemcmp(v)
		default:
			return fmt.Errorf("unknown filter %q (want dataSize, memcmp or tokenAccountState)", k)
		}
	}
	return nil
}

func checkMemcmp(raw json.RawMessage) error {
	var m struct {
		Offset   *json.Number `json:"offset"`
		Bytes    *string      `json:"bytes"`
		Encoding *string      `json:"encoding"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return fmt.Errorf("memcmp: %v", err)
	}
	if m.Offset == nil {
		return errors.New("memcmp: offset missing")
	}
	if _, err := strconv.ParseUint(m.Offset.String(), 10, 64); err != nil {
		return fmt.Errorf("memcmp: offset %s: want a byte offset", m.Offset)
	}
	if m.Bytes == nil {
		return errors.New("memcmp: bytes missing")
	}
	enc := "base58"
	if m.Encoding != nil {
		enc = *m.Encoding
	}
	var b []byte
	var err error
	switch enc {
	case "base58":
		b, err = base58.Decode(*m.Bytes)
	case "base64":
		b, err = base64.StdEncoding.DecodeString(*m.Bytes)
	default:
		return fmt.Errorf("memcmp: encoding %q: want base58 or base64", enc)
	}
	if err != nil {
		return fmt.Errorf("memcmp: bytes %q are not %s: %v", *m.Bytes, enc, err)
	}
	if len(b) > maxMemcmpBytes {
		return fmt.Errorf("memcmp: %d bytes; nodes accept at most %d", len(b), maxMemcmpBytes)
	}
	return nil
}

func envOr(getenv func(string) string, name, def string) string {
	if v := strings.TrimSpace(getenv(name)); v != "" {
		return v
	}
	return def
}

func envInt(p *pkgconfig.Problems, getenv func(string) string, name string, def int) int {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		p.Addf("%s: %q is not an integer", name, v)
		return def
	}
	return n
}

func envDuration(p *pkgconfig.Problems, getenv func(string) string, name string, def time.Duration) time.Duration {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		p.Addf("%s: %q: want a positive duration such as 24h", name, v)
		return def
	}
	return d
}
