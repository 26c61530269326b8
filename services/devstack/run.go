package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/firehole/firehole/pkg/bus/embedded"
	"github.com/firehole/firehole/pkg/config"
	"github.com/firehole/firehole/pkg/logging"
)

// Config is the dev command's environment (prefix DEV_).
type Config struct {
	logging.Config
	BinDir         string `envconfig:"BIN_DIR" default:"bin" desc:"where the service binaries are (make build)"`
	DataDir        string `envconfig:"DATA_DIR" default:".dev" desc:"embedded JetStream storage and service logs"`
	NATSURL        string `envconfig:"NATS_URL" desc:"use this NATS instead of the embedded one"`
	NATSPort       int    `envconfig:"NATS_PORT" default:"14222" desc:"port of the embedded NATS (4222 is often taken by a system NATS)"`
	GeyserEndpoint string `envconfig:"GEYSER_ENDPOINT" desc:"a real Yellowstone endpoint; empty runs geyser-sim"`
	GeyserXToken   string `envconfig:"GEYSER_X_TOKEN" desc:"x-token for GEYSER_ENDPOINT"`
	SimRate        int    `envconfig:"SIM_RATE" default:"200" desc:"geyser-sim account updates per second"`
	PostgresURL    string `envconfig:"POSTGRES_URL" default:"postgres://root@127.0.0.1:5432/postgres?sslmode=disable"`
	PostgresSchema string `envconfig:"POSTGRES_SCHEMA" default:"firehole_dev"`
	RedisAddr      string `envconfig:"REDIS_ADDR" default:"127.0.0.1:6379"`
	RedisPrefix    string `envconfig:"REDIS_KEY_PREFIX" default:"fhdev:"`
	IDLDir         string `envconfig:"IDL_DIR" default:"deploy/idl" desc:"Anchor IDL files for the parser"`
	APIKey         string `envconfig:"API_KEY" default:"firehole-demo-key" desc:"the demo API key the gateway accepts"`
	Commitment     string `envconfig:"COMMITMENT" default:"confirmed"`
	SimAddr        string `envconfig:"SIM_ADDR" default:"127.0.0.1:10000" desc:"geyser-sim gRPC listen address"`
	HTTPAddr       string `envconfig:"HTTP_ADDR" default:"127.0.0.1:8899" desc:"gateway JSON-RPC address"`
	WSAddr         string `envconfig:"WS_ADDR" default:"127.0.0.1:8900" desc:"gateway WebSocket address"`
	OpsPortBase    int    `envconfig:"OPS_PORT_BASE" default:"9101" desc:"first of six ops ports (ingestor, parser, persister, cacher, gateway, geyser-sim)"`
}

// opsAddr is the ops (/healthz, /metrics) address of the i-th service.
func (c *Config) opsAddr(i int) string { return fmt.Sprintf("127.0.0.1:%d", c.OpsPortBase+i) }

// Validate reports every bad variable.
func (c *Config) Validate() error {
	var p config.Problems
	if err := c.Config.Validate(); err != nil {
		p.Addf("%v", err)
	}
	p.Check(c.NATSURL == "" && (c.NATSPort <= 0 || c.NATSPort > 65535), "DEV_NATS_PORT", "must be a TCP port")
	p.Check(c.BinDir == "", "DEV_BIN_DIR", "is required")
	p.Check(c.OpsPortBase <= 0 || c.OpsPortBase > 65530, "DEV_OPS_PORT_BASE", "must be a TCP port with five more after it")
	p.Check(c.SimRate < 0, "DEV_SIM_RATE", "must not be negative")
	switch c.Commitment {
	case "processed", "confirmed", "finalized":
	default:
		p.Addf("DEV_COMMITMENT: must be processed, confirmed or finalized, not %q", c.Commitment)
	}
	return p.Err()
}

func run(ctx context.Context, args []string) error {
	var cfg Config
	if err := config.Load("DEV", &cfg, args, os.Stdout); err != nil {
		return err
	}
	log := logging.New(cfg.Config, "devstack")
	if abs, err := filepath.Abs(cfg.IDLDir); err == nil {
		cfg.IDLDir = abs // children may run elsewhere
	}
	if err := os.MkdirAll(filepath.Join(cfg.DataDir, "logs"), 0o755); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}

	natsURL := cfg.NATSURL
	var ns *server.Server
	if natsURL == "" {
		var err error
		ns, err = embedded.Start(embedded.Options{Port: cfg.NATSPort, StoreDir: filepath.Join(cfg.DataDir, "jetstream")})
		if err != nil {
			return err
		}
		natsURL = ns.ClientURL()
		log.Info().Str("url", natsURL).Msg("embedded nats with jetstream started")
		defer func() {
			ns.Shutdown()
			ns.WaitForShutdown()
			log.Info().Msg("embedded nats stopped")
		}()
	}

	procs := plan(cfg, natsURL)
	sup := newSupervisor(log, cfg.BinDir, filepath.Join(cfg.DataDir, "logs"))
	started := sup.start(ctx, procs)
	printBanner(os.Stdout, cfg, natsURL, started)
	<-ctx.Done()
	log.Info().Msg("stopping")
	sup.stop(10 * time.Second)
	return nil
}

// proc is one child service.
type proc struct {
	name string   // binary name in BinDir
	env  []string // KEY=VALUE added to the environment
}

// plan lists the services in start order: sinks first, then the parser, the
// gateway, and the source last. They are stopped in reverse.
func plan(c Config, natsURL string) []proc {
	simAddr := c.SimAddr
	endpoint, xtoken := c.GeyserEndpoint, c.GeyserXToken
	var ps []proc
	ps = append(ps,
		proc{"persister", []string{"PERSISTER_NATS_URL=" + natsURL, "PERSISTER_POSTGRES_URL=" + c.PostgresURL, "PERSISTER_SCHEMA=" + c.PostgresSchema, "PERSISTER_MIGRATE=true", "PERSISTER_HTTP_ADDR=" + c.opsAddr(2)}},
		proc{"cacher", []string{"CACHER_NATS_URL=" + natsURL, "CACHER_REDIS_ADDR=" + c.RedisAddr, "CACHER_KEY_PREFIX=" + c.RedisPrefix, "CACHER_HTTP_ADDR=" + c.opsAddr(3)}},
		proc{"parser", []string{"PARSER_NATS_URL=" + natsURL, "PARSER_REDIS_ADDR=" + c.RedisAddr, "PARSER_REDIS_KEY_PREFIX=" + c.RedisPrefix, "PARSER_IDL_DIR=" + c.IDLDir, "PARSER_HTTP_ADDR=" + c.opsAddr(1),
			"PARSER_SINGLE_CONSUMER=true"}},
		proc{"gateway", []string{"GATEWAY_NATS_URL=" + natsURL, "GATEWAY_REDIS_ADDR=" + c.RedisAddr, "GATEWAY_REDIS_KEY_PREFIX=" + c.RedisPrefix,
			"GATEWAY_POSTGRES_URL=" + c.PostgresURL, "GATEWAY_POSTGRES_SCHEMA=" + c.PostgresSchema, "GATEWAY_COMMITMENT=" + c.Commitment,
			"GATEWAY_AUTH=on", "GATEWAY_API_KEYS=" + c.APIKey,
			"GATEWAY_HTTP_ADDR=" + c.HTTPAddr, "GATEWAY_WS_ADDR=" + c.WSAddr, "GATEWAY_METRICS_ADDR=" + c.opsAddr(4)}},
	)
	if endpoint == "" {
		endpoint = simAddr
		xtoken = ""
		ps = append(ps, proc{"geyser-sim", []string{"GEYSERSIM_GRPC_ADDR=" + simAddr, "GEYSERSIM_RATE=" + fmt.Sprint(c.SimRate), "GEYSERSIM_SEED=1", "GEYSERSIM_HTTP_ADDR=" + c.opsAddr(5)}})
	}
	ps = append(ps, proc{"ingestor", []string{"INGESTOR_NATS_URL=" + natsURL, "INGESTOR_ENDPOINT=" + endpoint, "INGESTOR_X_TOKEN=" + xtoken,
		"INGESTOR_COMMITMENT=" + c.Commitment, "INGESTOR_SOURCE=dev", "INGESTOR_HTTP_ADDR=" + c.opsAddr(0)}})
	return ps
}

func printBanner(w *os.File, c Config, natsURL string, started []string) {
	var b strings.Builder
	fmt.Fprintf(&b, "\nFirehole is up (%s). Services: %s\n", time.Now().Format(time.TimeOnly), strings.Join(started, ", "))
	if c.GeyserEndpoint == "" {
		fmt.Fprintf(&b, "  source      geyser-sim on %s (set DEV_GEYSER_ENDPOINT for a real endpoint)\n", c.SimAddr)
	} else {
		fmt.Fprintf(&b, "  source      %s\n", c.GeyserEndpoint)
		if os.Getenv("PARSER_MINT_RPC_URL") == "" {
			fmt.Fprintf(&b, "  mints       set PARSER_MINT_RPC_URL to a Solana RPC node, or token accounts of mints that do not change stay AWAITING_MINT\n")
		}
	}
	fmt.Fprintf(&b, "  nats        %s\n", natsURL)
	fmt.Fprintf(&b, "  watch       nats sub --server %s 'firehole.v1.decoded.account.>'\n", natsURL)
	fmt.Fprintf(&b, "  json-rpc    curl -s 'http://%s/?api-key=%s' -H 'content-type: application/json' -d '{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"getSlot\"}'\n", c.HTTPAddr, c.APIKey)
	fmt.Fprintf(&b, "  websocket   ws://%s/?api-key=%s  (web3.js: new Connection(\"http://%s/?api-key=%s\"))\n", c.WSAddr, c.APIKey, c.HTTPAddr, c.APIKey)
	fmt.Fprintf(&b, "  ops         /metrics and /readyz on ports %d-%d (ingestor, parser, persister, cacher, gateway, geyser-sim)\n", c.OpsPortBase, c.OpsPortBase+5)
	fmt.Fprintf(&b, "  logs        %s\n", filepath.Join(c.DataDir, "logs"))
	b.WriteString("Ctrl-C stops everything.\n\n")
	_, _ = w.WriteString(b.String())
}
