// Package gateway wires the gateway service: configuration, dependencies
// (NATS, Redis, Postgres), the PubSub WebSocket endpoint, the JSON-RPC HTTP
// endpoint and the operational endpoints, run together with ordered shutdown.
package gateway

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/firehole/firehole/pkg/config"
	"github.com/firehole/firehole/pkg/logging"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
	"github.com/firehole/firehole/services/gateway/internal/jsonrpc"
)

// Prefix is the environment prefix.
const Prefix = "GATEWAY"

// Config is the gateway's configuration (GATEWAY_*).
type Config struct {
	logging.Config
	NATSURL           string        `envconfig:"NATS_URL" default:"nats://127.0.0.1:4222" desc:"NATS server URL"`
	RedisAddr         string        `envconfig:"REDIS_ADDR" default:"127.0.0.1:6379" desc:"Redis address (comma list for a cluster)"`
	RedisKeyPrefix    string        `envconfig:"REDIS_KEY_PREFIX" default:"fh:" desc:"key prefix of the cacher's layout"`
	PostgresURL       string        `envconfig:"POSTGRES_URL" desc:"Postgres URL for getProgramAccounts and token queries; empty disables them"`
	PostgresSchema    string        `envconfig:"POSTGRES_SCHEMA" default:"firehole" desc:"schema of the persister's tables"`
	WSAddr            string        `envconfig:"WS_ADDR" default:"127.0.0.1:8900" desc:"Solana RPC PubSub WebSocket listen address"`
	HTTPAddr          string        `envconfig:"HTTP_ADDR" default:"127.0.0.1:8899" desc:"Solana JSON-RPC HTTP listen address"`
	MetricsAddr       string        `envconfig:"METRICS_ADDR" default:"127.0.0.1:9105" desc:"/healthz /readyz /metrics listen address"`
	Commitment        string        `envconfig:"COMMITMENT" default:"confirmed" desc:"commitment of the deployment's data (processed, confirmed, finalized)"`
	MaxFrameBytes     int64         `envconfig:"MAX_FRAME_BYTES" default:"4096" desc:"largest inbound WebSocket message; larger closes with 1009"`
	SendQueueMsgs     int           `envconfig:"SEND_QUEUE_MSGS" default:"8192" desc:"frames queued per connection before it is closed as a slow consumer"`
	SendQueueBytes    int           `envconfig:"SEND_QUEUE_BYTES" default:"16777216" desc:"bytes queued per connection before it is closed as a slow consumer"`
	MaxSubsPerConn    int           `envconfig:"MAX_SUBSCRIPTIONS_PER_CONN" default:"1000" desc:"subscriptions one connection may hold"`
	WriteTimeout      time.Duration `envconfig:"WRITE_TIMEOUT" default:"10s" desc:"one frame write; a client stuck longer is closed"`
	PingInterval      time.Duration `envconfig:"PING_INTERVAL" default:"30s" desc:"server WebSocket ping period (0 disables)"`
	IdleTimeout       time.Duration `envconfig:"IDLE_TIMEOUT" default:"2m" desc:"close a connection silent (no frame, no pong) this long"`
	Compression       bool          `envconfig:"COMPRESSION" default:"true" desc:"permessage-deflate when the client offers it"`
	Auth              string        `envconfig:"AUTH" default:"on" desc:"on or off; off must be explicit"`
	APIKeys           []string      `envconfig:"API_KEYS" desc:"comma list of API keys, plain or sha256:<hex>"`
	APIKeysPG         bool          `envconfig:"API_KEYS_POSTGRES" default:"false" desc:"also accept the enabled keys in <POSTGRES_SCHEMA>.api_keys (needs POSTGRES_URL)"`
	APIKeysRefresh    time.Duration `envconfig:"API_KEYS_REFRESH" default:"30s" desc:"how often the api_keys table is read again"`
	KeyMaxConns       int           `envconfig:"KEY_MAX_CONNS" default:"1000" desc:"connections per API key (0 = unlimited)"`
	KeyMaxSubs        int           `envconfig:"KEY_MAX_SUBSCRIPTIONS" default:"100000" desc:"subscriptions per API key (0 = unlimited)"`
	KeyRPS            float64       `envconfig:"KEY_RPS" default:"0" desc:"JSON-RPC requests per second per API key (0 = unlimited)"`
	NativeMaxSubs     int           `envconfig:"NATIVE_MAX_SUBSCRIPTIONS" default:"64" desc:"native protocol: subscriptions per connection"`
	NativeQueueMsgs   int           `envconfig:"NATIVE_QUEUE_MSGS" default:"4096" desc:"native protocol: queued frames per connection before the slow-consumer policy"`
	NativeQueueBytes  int           `envconfig:"NATIVE_QUEUE_BYTES" default:"16777216" desc:"native protocol: queued bytes per connection before the slow-consumer policy"`
	NativeMaxFrame    int           `envconfig:"NATIVE_MAX_FRAME_BYTES" default:"65536" desc:"native protocol: largest client frame (larger: close 1009)"`
	NativeMaxSnapshot int           `envconfig:"NATIVE_MAX_SNAPSHOT_ACCOUNTS" default:"1000000" desc:"native protocol: accounts in one snapshot"`
	UpstreamRPC       string        `envconfig:"UPSTREAM_RPC" desc:"pass unknown HTTP methods through to this Solana RPC URL"`
	NotifiedWindow    time.Duration `envconfig:"NOTIFIED_READ_WINDOW" default:"10s" desc:"reads return an account version this replica notified, if newer than Redis's, for this long (0 disables)"`
	NotifiedMax       int           `envconfig:"NOTIFIED_READ_MAX" default:"100000" desc:"notified accounts remembered per generation (two generations; 0 disables)"`
	NotifiedMaxBytes  int           `envconfig:"NOTIFIED_READ_MAX_BYTES" default:"67108864" desc:"bytes of notified messages remembered per generation (two generations)"`
	QueryLimit        int           `envconfig:"QUERY_LIMIT" default:"100000" desc:"most accounts one getProgramAccounts may return"`
	ShutdownGrace     time.Duration `envconfig:"SHUTDOWN_GRACE" default:"10s" desc:"time to drain connections on shutdown"`
}

// Validate reports every problem at once, naming the variable.
func (c Config) Validate() error {
	var p config.Problems
	if err := c.Config.Validate(); err != nil {
		p.Addf("%s_%v", Prefix, err)
	}
	p.Check(c.NATSURL == "", Prefix+"_NATS_URL", "must be set")
	p.Check(c.RedisAddr == "", Prefix+"_REDIS_ADDR", "must be set")
	for name, a := range map[string]string{"WS_ADDR": c.WSAddr, "HTTP_ADDR": c.HTTPAddr, "METRICS_ADDR": c.MetricsAddr} {
		if _, _, err := net.SplitHostPort(a); err != nil {
			p.Addf("%s_%s: %v", Prefix, name, err)
		}
	}
	if _, err := c.CommitmentLevel(); err != nil {
		p.Addf("%s_COMMITMENT: must be processed, confirmed or finalized, not %q", Prefix, c.Commitment)
	}
	p.Check(c.MaxFrameBytes < 256, Prefix+"_MAX_FRAME_BYTES", "must be at least 256")
	p.Check(c.SendQueueMsgs < 1, Prefix+"_SEND_QUEUE_MSGS", "must be positive")
	p.Check(c.SendQueueBytes < 4096, Prefix+"_SEND_QUEUE_BYTES", "must be at least 4096")
	p.Check(c.MaxSubsPerConn < 1, Prefix+"_MAX_SUBSCRIPTIONS_PER_CONN", "must be positive")
	p.Check(c.WriteTimeout <= 0, Prefix+"_WRITE_TIMEOUT", "must be positive")
	p.Check(c.PingInterval < 0, Prefix+"_PING_INTERVAL", "must not be negative")
	switch c.Auth {
	case "on":
		p.Check(len(c.APIKeys) == 0 && !c.APIKeysPG, Prefix+"_API_KEYS", "must list at least one key when "+Prefix+"_AUTH=on and "+Prefix+"_API_KEYS_POSTGRES is off (set "+Prefix+"_AUTH=off to run without keys)")
		p.Check(c.APIKeysPG && c.PostgresURL == "", Prefix+"_API_KEYS_POSTGRES", "needs "+Prefix+"_POSTGRES_URL")
		p.Check(c.APIKeysPG && c.APIKeysRefresh <= 0, Prefix+"_API_KEYS_REFRESH", "must be positive")
	case "off":
	default:
		p.Addf("%s_AUTH: must be on or off, not %q", Prefix, c.Auth)
	}
	for _, k := range c.APIKeys {
		if hx, ok := strings.CutPrefix(strings.TrimSpace(k), "sha256:"); ok && len(hx) != 64 {
			p.Addf("%s_API_KEYS: sha256: entries need 64 hex digits", Prefix)
		}
	}
	p.Check(c.KeyRPS < 0, Prefix+"_KEY_RPS", "must not be negative")
	// Zero leaves the native protocol's own default (native.DefaultLimits).
	p.Check(c.NativeMaxSubs < 0, Prefix+"_NATIVE_MAX_SUBSCRIPTIONS", "must not be negative")
	p.Check(c.NativeQueueMsgs < 0, Prefix+"_NATIVE_QUEUE_MSGS", "must not be negative")
	p.Check(c.NativeQueueBytes != 0 && c.NativeQueueBytes < 4096, Prefix+"_NATIVE_QUEUE_BYTES", "must be at least 4096")
	p.Check(c.NativeMaxFrame != 0 && c.NativeMaxFrame < 256, Prefix+"_NATIVE_MAX_FRAME_BYTES", "must be at least 256")
	p.Check(c.NativeMaxSnapshot < 0, Prefix+"_NATIVE_MAX_SNAPSHOT_ACCOUNTS", "must not be negative")
	p.Check(c.NotifiedWindow < 0, Prefix+"_NOTIFIED_READ_WINDOW", "must not be negative")
	p.Check(c.NotifiedMax < 0, Prefix+"_NOTIFIED_READ_MAX", "must not be negative")
	p.Check(c.NotifiedMaxBytes < 0, Prefix+"_NOTIFIED_READ_MAX_BYTES", "must not be negative")
	p.Check(c.QueryLimit < 0, Prefix+"_QUERY_LIMIT", "must not be negative")
	return p.Err()
}

// CommitmentLevel is Commitment as the bus enum.
func (c Config) CommitmentLevel() (fireholev1.Commitment, error) {
	if c.Commitment == "" {
		return 0, fmt.Errorf("empty commitment")
	}
	v, err := jsonrpc.ParseCommitment(c.Commitment, 0)
	if err != nil {
		return 0, err
	}
	return v, nil
}
