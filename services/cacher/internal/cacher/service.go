// Package cacher keeps the latest state of every account in Redis: it
// consumes FIREHOLE_DECODED (durable "cacher") and the slot updates on
// FIREHOLE_RAW (durable "cacher-slots") and writes them through
// pkg/accountcache, whose scripts make every write slot-guarded, so any
// number of cacher replicas can share the consumers.
package cacher

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/rueidis"
	"github.com/rs/zerolog"

	"github.com/firehole/firehole/pkg/accountcache"
	"github.com/firehole/firehole/pkg/bus"
	"github.com/firehole/firehole/pkg/lifecycle"
)

// Durable consumer names (docs/bus-contract.md).
const (
	AccountsConsumer = "cacher"
	SlotsConsumer    = "cacher-slots"
)

// Run runs the cacher until ctx ends: it dials NATS and Redis (retrying
// until they answer), ensures its consumers, and serves /healthz, /readyz
// and /metrics (from reg) on cfg.HTTPAddr.
func Run(ctx context.Context, cfg Config, log zerolog.Logger, reg *prometheus.Registry) error {
	health := lifecycle.NewHealth()
	httpErr := make(chan error, 1)
	hctx, stopHTTP := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHTTP()
	go func() { httpErr <- lifecycle.ServeHTTP(hctx, cfg.HTTPAddr, health.Handler(reg), 5*time.Second) }()

	nc, err := bus.Connect(cfg.NATSURL, "firehole-cacher", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("open jetstream: %w", err)
	}
	rc, err := dialRedis(ctx, cfg, log)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it started
		}
		return err
	}
	defer rc.Close()
	health.AddCheck("nats", func(context.Context) error {
		if s := nc.Status(); s != nats.CONNECTED {
			return fmt.Errorf("nats %s", s)
		}
		return nil
	})
	health.AddCheck("redis", func(ctx context.Context) error {
		return rc.Do(ctx, rc.B().Ping().Build()).Error()
	})

	var accounts, slots jetstream.Consumer
	for delay := 250 * time.Millisecond; ; delay = min(delay*2, 10*time.Second) {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		accounts, slots, err = ensureConsumers(actx, js, cfg)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil // stopped before it started
		}
		log.Warn().Err(err).Dur("retry_in", delay).Msg("ensure consumers")
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
	}
	m := newMetrics(reg)
	m.redisUp.Set(1) // dialRedis has just had an answer
	policy := bus.NewPolicy(js, "cacher", log, reg)
	w := accountcache.NewWriter(rc, cfg.KeyPrefix, cfg.ClosedTTL)
	ap := &pipeline[accountcache.Update]{
		name: "accounts", cons: accounts, sink: &accountSink{w: w, m: m}, policy: policy,
		log: log.With().Str("component", "accounts").Logger(), m: m,
		workers: cfg.Workers, batchSize: cfg.BatchSize, pullMax: cfg.MaxAckPending, ackWait: cfg.AckWait,
		backoffMin: 100 * time.Millisecond, backoffMax: 5 * time.Second, grace: 5 * time.Second,
	}
	sp := &pipeline[slotItem]{
		name: "slots", cons: slots, sink: &slotSink{w: w, m: m}, policy: policy,
		log: log.With().Str("component", "slots").Logger(), m: m,
		workers: 1, batchSize: 256, pullMax: 1024, ackWait: cfg.AckWait,
		backoffMin: 100 * time.Millisecond, backoffMax: 5 * time.Second, grace: 5 * time.Second,
	}
	log.Info().Str("http", cfg.HTTPAddr).Strs("redis", cfg.RedisAddr).Str("prefix", cfg.KeyPrefix).
		Int("workers", cfg.Workers).Int("batch", cfg.BatchSize).Msg("cacher started")
	health.SetReady(true)
	runErr := lifecycle.Run(ctx, log,
		lifecycle.Component{Name: "accounts", Run: ap.Run},
		lifecycle.Component{Name: "slots", Run: sp.Run},
		lifecycle.Component{Name: "http", Run: func(ctx context.Context) error {
			select {
			case err := <-httpErr:
				return fmt.Errorf("serve http: %w", err)
			case <-ctx.Done():
				return nil
			}
		}},
	)
	health.SetReady(false)
	stopHTTP()
	if err := nc.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		log.Warn().Err(err).Msg("drain nats")
	}
	log.Info().Msg("cacher stopped")
	return runErr
}

// dialRedis connects to Redis (a cluster when the nodes say so), retrying
// with backoff until it answers or ctx ends.
func dialRedis(ctx context.Context, cfg Config, log zerolog.Logger) (rueidis.Client, error) {
	addrs := make([]string, len(cfg.RedisAddr))
	for i, a := range cfg.RedisAddr {
		addrs[i] = strings.TrimSpace(a)
	}
	opt := rueidis.ClientOption{
		InitAddress:  addrs,
		Username:     cfg.RedisUsername,
		Password:     cfg.RedisPassword,
		DisableCache: true, // the cacher only writes
	}
	delay := 250 * time.Millisecond
	for {
		c, err := rueidis.NewClient(opt)
		if err == nil {
			return c, nil
		}
		log.Warn().Err(err).Strs("redis", cfg.RedisAddr).Dur("retry_in", delay).Msg("connect redis")
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connect redis %v: %w", cfg.RedisAddr, err)
		case <-time.After(delay):
		}
		delay = min(delay*2, 10*time.Second)
	}
}

// ensureConsumers creates the two durable consumers. The streams are created
// with the contract's defaults only when missing: their limits belong to the
// deployment, not to the cacher.
func ensureConsumers(ctx context.Context, js jetstream.JetStream, cfg Config) (accounts, slots jetstream.Consumer, err error) {
	if err := bus.CreateStreamsIfMissing(ctx, js, bus.DefaultStreamOptions()); err != nil {
		return nil, nil, err
	}
	accounts, err = bus.EnsureConsumer(ctx, js, bus.StreamDecoded,
		bus.ConsumerConfig(AccountsConsumer, []string{bus.DecodedAccountRoot + ".>"}, cfg.AckWait, cfg.MaxAckPending))
	if err != nil {
		return nil, nil, err
	}
	slots, err = bus.EnsureConsumer(ctx, js, bus.StreamRaw,
		bus.ConsumerConfig(SlotsConsumer, []string{bus.RawSlotRoot + ".>"}, cfg.AckWait, 1024))
	if err != nil {
		return nil, nil, err
	}
	return accounts, slots, nil
}
