package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/rueidis"
	"github.com/rs/zerolog"

	"github.com/firehole/firehole/pkg/bus"
	"github.com/firehole/firehole/pkg/config"
	"github.com/firehole/firehole/pkg/lifecycle"
	"github.com/firehole/firehole/pkg/logging"
	"github.com/firehole/firehole/services/gateway/internal/auth"
	"github.com/firehole/firehole/services/gateway/internal/conn"
	"github.com/firehole/firehole/services/gateway/internal/hub"
	"github.com/firehole/firehole/services/gateway/internal/metrics"
	"github.com/firehole/firehole/services/gateway/internal/native"
	"github.com/firehole/firehole/services/gateway/internal/pubsub"
	"github.com/firehole/firehole/services/gateway/internal/recent"
	"github.com/firehole/firehole/services/gateway/internal/rpc"
	"github.com/firehole/firehole/services/gateway/internal/store"
	"github.com/firehole/firehole/services/gateway/internal/ws"
)

// Run is the service: load config, build, serve until ctx ends.
func Run(ctx context.Context, args []string, stdout io.Writer) error {
	var cfg Config
	if err := config.Load(Prefix, &cfg, args, stdout); err != nil {
		return err
	}
	log := logging.New(cfg.Config, "gateway")
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	g, err := New(ctx, cfg, log, reg)
	if err != nil {
		return err
	}
	return g.Run(ctx)
}

// Gateway is a built gateway with its listeners bound.
type Gateway struct {
	cfg    Config
	log    zerolog.Logger
	health *lifecycle.Health
	reg    prometheus.Gatherer

	nc    *nats.Conn
	redis rueidis.Client
	pool  *pgxpool.Pool

	Hub    *hub.Hub
	PubSub *pubsub.Server
	WS     *ws.Handler
	RPC    *rpc.Handler

	keys                    *auth.Keys // refreshed from Postgres when set
	rpcHandler              http.Handler
	native                  http.Handler // Firehole's native protocol at /native on the WebSocket listener
	wsLn, httpLn, metricsLn net.Listener
}

// WSAddr, HTTPAddr and MetricsAddr are the bound addresses (useful with port 0).
func (g *Gateway) WSAddr() string      { return g.wsLn.Addr().String() }
func (g *Gateway) HTTPAddr() string    { return g.httpLn.Addr().String() }
func (g *Gateway) MetricsAddr() string { return g.metricsLn.Addr().String() }

// New dials the dependencies, builds the components and binds the listeners.
// reg must also be a prometheus.Gatherer (a *prometheus.Registry).
func New(ctx context.Context, cfg Config, log zerolog.Logger, reg *prometheus.Registry) (_ *Gateway, err error) {
	commitment, err := cfg.CommitmentLevel()
	if err != nil {
		return nil, fmt.Errorf("commitment: %w", err)
	}
	var keys *auth.Keys
	if cfg.Auth == "on" {
		keys, err = auth.Parse(cfg.APIKeys, auth.Limits{MaxConns: cfg.KeyMaxConns, MaxSubs: cfg.KeyMaxSubs, RPS: cfg.KeyRPS})
		if err != nil {
			return nil, fmt.Errorf("parse %s_API_KEYS: %w", Prefix, err)
		}
	}
	g := &Gateway{cfg: cfg, log: log, health: lifecycle.NewHealth(), reg: reg}
	defer func() {
		if err != nil {
			g.close()
		}
	}()
	m := metrics.New(reg)

	g.nc, err = bus.Connect(cfg.NATSURL, "firehole-gateway", log, nats.ErrorHandler(func(_ *nats.Conn, s *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrSlowConsumer) {
			m.NATSDroppedSubject.Inc()
		}
		ev := log.Warn().Str("component", "nats").Err(err)
		if s != nil {
			ev = ev.Str("subject", s.Subject)
		}
		ev.Msg("async error")
	}))
	if err != nil {
		return nil, err
	}
	g.health.AddCheck("nats", func(context.Context) error {
		if !g.nc.IsConnected() {
			return errors.New("nats not connected")
		}
		return nil
	})
	g.redis, err = rueidis.NewClient(rueidis.ClientOption{InitAddress: strings.Split(cfg.RedisAddr, ","), DisableCache: true})
	if err != nil {
		return nil, fmt.Errorf("connect redis %s: %w", cfg.RedisAddr, err)
	}
	// The accounts this replica notifies are also what its reads return
	// until Redis has them (the cacher trails the bus).
	notified := recent.New(cfg.NotifiedWindow, cfg.NotifiedMax, cfg.NotifiedMaxBytes)
	cache := store.NewRedis(g.redis, cfg.RedisKeyPrefix, notified)
	g.health.AddCheck("redis", cache.Ping)
	var index rpc.Index
	if cfg.PostgresURL != "" {
		g.pool, err = pgxpool.New(ctx, cfg.PostgresURL)
		if err != nil {
			return nil, fmt.Errorf("connect postgres: %w", err)
		}
		pg := store.NewPostgres(g.pool, cfg.PostgresSchema, cfg.QueryLimit)
		g.health.AddCheck("postgres", pg.Ping)
		index = pg
	}
	if keys != nil && cfg.APIKeysPG {
		if err := g.loadKeys(ctx, keys); err != nil {
			return nil, err
		}
		g.keys = keys
	}

	g.Hub = hub.New(g.nc, log, hub.Hooks{Subjects: func(d int) { m.NATSSubjects.Add(float64(d)) }})
	g.PubSub = pubsub.New(pubsub.Config{Commitment: commitment, MaxSubsPerConn: cfg.MaxSubsPerConn, Recent: notified}, g.Hub, log, m)
	g.WS = ws.New(ws.Options{
		MaxFrameBytes: cfg.MaxFrameBytes,
		Compression:   cfg.Compression,
		Conn: conn.Options{MaxQueueMsgs: cfg.SendQueueMsgs, MaxQueueBytes: cfg.SendQueueBytes,
			WriteTimeout: cfg.WriteTimeout, PingInterval: cfg.PingInterval, IdleTimeout: cfg.IdleTimeout},
	}, keys, g.PubSub, log, m)
	g.RPC = rpc.New(rpc.Config{Commitment: commitment, UpstreamURL: cfg.UpstreamRPC}, cache, index, log, m)
	g.RPC.LimiterFor = func(r *http.Request) rpc.Limiter {
		if k, ok := r.Context().Value(keyCtx{}).(*auth.Key); ok && k != nil {
			return k
		}
		return nil
	}
	rpcHandler := withKey(keys, g.RPC, m)
	js, err := jetstream.New(g.nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	g.native = withKey(keys, native.NewHandler(native.Deps{JS: js, Redis: g.redis, KeyPrefix: cfg.RedisKeyPrefix,
		PG: g.pool, Schema: cfg.PostgresSchema, Log: log, Registerer: reg, Context: ctx, Recent: notified,
		Limits: native.Limits{
			MaxSubscriptions: cfg.NativeMaxSubs, MaxQueueMsgs: cfg.NativeQueueMsgs, MaxQueueBytes: cfg.NativeQueueBytes,
			MaxFrameBytes: int64(cfg.NativeMaxFrame), MaxSnapshotAccounts: cfg.NativeMaxSnapshot,
			WriteTimeout: cfg.WriteTimeout, PingInterval: cfg.PingInterval,
		}}), m)

	if g.wsLn, err = net.Listen("tcp", cfg.WSAddr); err != nil {
		return nil, fmt.Errorf("listen %s_WS_ADDR %s: %w", Prefix, cfg.WSAddr, err)
	}
	if g.httpLn, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return nil, fmt.Errorf("listen %s_HTTP_ADDR %s: %w", Prefix, cfg.HTTPAddr, err)
	}
	if g.metricsLn, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
		return nil, fmt.Errorf("listen %s_METRICS_ADDR %s: %w", Prefix, cfg.MetricsAddr, err)
	}
	g.rpcHandler = rpcHandler
	return g, nil
}

// loadKeys replaces the Postgres-held keys with what api_keys holds now.
func (g *Gateway) loadKeys(ctx context.Context, keys *auth.Keys) error {
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	entries, err := auth.LoadPostgres(qctx, g.pool, g.cfg.PostgresSchema)
	if err != nil {
		return err
	}
	keys.SetLoaded(entries)
	return nil
}

// refreshKeys re-reads api_keys every API_KEYS_REFRESH until ctx ends. A
// failed read keeps the keys already loaded.
func (g *Gateway) refreshKeys(ctx context.Context) error {
	if g.keys == nil {
		return nil
	}
	t := time.NewTicker(g.cfg.APIKeysRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := g.loadKeys(ctx, g.keys); err != nil && ctx.Err() == nil {
				g.log.Warn().Err(err).Str("component", "auth").Msg("refresh api keys; keeping the previous set")
			}
		}
	}
}

type keyCtx struct{}

// withKey checks the API key of an HTTP JSON-RPC request (401 without one)
// and hands the key to the handler through the request context.
func withKey(keys *auth.Keys, next http.Handler, m *metrics.Metrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k, err := keys.Check(r)
		if err != nil {
			m.AuthRejected.WithLabelValues("unauthorized").Inc()
			http.Error(w, "Unauthorized: "+err.Error(), http.StatusUnauthorized)
			return
		}
		if k != nil {
			r = r.WithContext(context.WithValue(r.Context(), keyCtx{}, k))
		}
		next.ServeHTTP(w, r)
	})
}

// Run serves until ctx ends, then shuts down: readiness off, WebSocket
// clients closed with 1001 and drained, HTTP servers stopped, NATS drained.
func (g *Gateway) Run(ctx context.Context) error {
	defer g.close()
	g.health.SetReady(true)
	g.log.Info().Str("ws", g.WSAddr()).Str("http", g.HTTPAddr()).Str("metrics", g.MetricsAddr()).
		Str("commitment", g.cfg.Commitment).Bool("auth", g.cfg.Auth == "on").Msg("serving")
	err := lifecycle.Run(ctx, g.log,
		lifecycle.Component{Name: "metrics", Run: func(ctx context.Context) error {
			return lifecycle.ServeListener(ctx, g.metricsLn, g.health.Handler(g.reg), time.Second)
		}},
		lifecycle.Component{Name: "ws", Run: g.serveWS},
		lifecycle.Component{Name: "api-keys", Run: g.refreshKeys},
		lifecycle.Component{Name: "http", Run: func(ctx context.Context) error {
			return lifecycle.ServeListener(ctx, g.httpLn, g.rpcHandler, g.cfg.ShutdownGrace)
		}},
	)
	return err
}

func (g *Gateway) serveWS(ctx context.Context) error {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/native" {
			g.native.ServeHTTP(w, r)
			return
		}
		g.WS.ServeHTTP(w, r)
	})
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(g.wsLn) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve websocket: %w", err)
	case <-ctx.Done():
	}
	g.health.SetReady(false)
	sctx, cancel := context.WithTimeout(context.Background(), g.cfg.ShutdownGrace)
	defer cancel()
	_ = srv.Shutdown(sctx) // stops accepting; hijacked connections are ours
	g.WS.Shutdown(sctx)
	return nil
}

func (g *Gateway) close() {
	if g.metricsLn != nil {
		_ = g.metricsLn.Close()
	}
	if g.nc != nil {
		_ = g.nc.Drain()
	}
	if g.Hub != nil {
		g.Hub.Close()
	}
	if g.redis != nil {
		g.redis.Close()
	}
	if g.pool != nil {
		g.pool.Close()
	}
	for _, ln := range []net.Listener{g.wsLn, g.httpLn} {
		if ln != nil {
			_ = ln.Close()
		}
	}
}
