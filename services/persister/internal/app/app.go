package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"

	"github.com/firehole/firehole/pkg/bus"
	pkgconfig "github.com/firehole/firehole/pkg/config"
	"github.com/firehole/firehole/pkg/lifecycle"
	"github.com/firehole/firehole/pkg/logging"
	"github.com/firehole/firehole/services/persister/internal/config"
	"github.com/firehole/firehole/services/persister/internal/schema"
	"github.com/firehole/firehole/services/persister/internal/store"
)

const usage = `usage: persister [-help]            consume and store (the service)
       persister migrate [up|status] apply or list the schema migrations`

// Run is the persister's main: args are the command-line arguments without
// the program name.
func Run(ctx context.Context, args []string, stdout io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && args[0] == "migrate" {
		cmd, args = "migrate up", args[1:]
		if len(args) > 0 && (args[0] == "up" || args[0] == "status") {
			cmd, args = "migrate "+args[0], args[1:]
		}
	}
	if len(args) > 0 && args[0] != "-help" && args[0] != "--help" && args[0] != "-h" {
		return fmt.Errorf("unknown argument %q\n%s", args[0], usage)
	}
	var cfg config.Config
	if err := pkgconfig.Load(config.Prefix, &cfg, args, stdout); err != nil {
		return err
	}
	log := logging.New(cfg.Config, "persister")

	pcfg, err := store.PoolConfig(cfg.PostgresURL)
	if err != nil {
		return err
	}
	pcfg.MaxConns = int32(cfg.Writers + 3) // writers, slots, retention, readiness
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return fmt.Errorf("open postgres pool: %w", err)
	}
	defer pool.Close()

	switch cmd {
	case "migrate up":
		done, err := schema.Up(ctx, pool, cfg.Schema)
		for _, v := range done {
			fmt.Fprintf(stdout, "applied %04d\n", v)
		}
		if err == nil && len(done) == 0 {
			fmt.Fprintf(stdout, "schema %s is up to date (version %d)\n", cfg.Schema, schema.Latest())
		}
		return err
	case "migrate status":
		return printStatus(ctx, pool, cfg.Schema, stdout)
	}

	// Postgres may come up after us: retry until it answers; once it has
	// answered, an error (not migrated, no permission) is final.
	for wait := 250 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		err := prepareSchema(ctx, pool, cfg, log)
		var pgErr *pgconn.PgError
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil // stopped while starting: a clean stop
		}
		if errors.Is(err, schema.ErrNotMigrated) || errors.As(err, &pgErr) {
			return err
		}
		log.Warn().Err(err).Dur("retry_in", wait).Msg("prepare postgres schema; will retry")
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}

	nc, err := bus.Connect(cfg.NATSURL, "persister", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("open jetstream: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	opts := Options{
		Schema:                cfg.Schema,
		BatchSize:             cfg.BatchSize,
		BatchWait:             cfg.BatchWait,
		Writers:               cfg.Writers,
		AckWait:               cfg.AckWait,
		MaxAckPending:         cfg.MaxAckPending,
		History:               cfg.History,
		HistoryRetentionSlots: cfg.HistoryRetentionSlots,
		HistoryPartitionSlots: cfg.HistoryPartitionSlots,
	}
	// NATS may come up after us (compose, Kubernetes): keep trying.
	var p *Persister
	for wait := 250 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = ensureStreamsExist(sctx, js)
		if err == nil {
			p, err = New(sctx, pool, js, opts, log, reg)
		}
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil // stopped while starting: a clean stop
		}
		log.Warn().Err(err).Dur("retry_in", wait).Msg("set up jetstream; will retry")
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}

	health := lifecycle.NewHealth()
	var writing atomic.Bool
	writing.Store(true)
	p.OnWriteState(writing.Store)
	health.AddCheck("postgres", func(ctx context.Context) error {
		if !writing.Load() {
			return errors.New("last batch write failed")
		}
		return pool.Ping(ctx)
	})
	health.AddCheck("nats", func(context.Context) error {
		if s := nc.Status(); s != nats.CONNECTED {
			return fmt.Errorf("nats %s", s)
		}
		return nil
	})
	handler := health.Handler(reg)

	health.SetReady(true)
	log.Info().Str("schema", cfg.Schema).Int("batch_size", cfg.BatchSize).Dur("batch_wait", cfg.BatchWait).
		Bool("history", cfg.History).Str("http", cfg.HTTPAddr).Msg("persister started")
	err = lifecycle.Run(ctx, log,
		lifecycle.Component{Name: "http", Run: func(ctx context.Context) error {
			return lifecycle.ServeHTTP(ctx, cfg.HTTPAddr, handler, 5*time.Second)
		}},
		lifecycle.Component{Name: "persister", Run: p.Run},
		lifecycle.Component{Name: "readiness", Run: func(ctx context.Context) error {
			<-ctx.Done()
			health.SetReady(false)
			return nil
		}},
	)
	if err != nil {
		return err
	}
	log.Info().Msg("persister stopped")
	return nil
}

// prepareSchema migrates (PERSISTER_MIGRATE) or checks the schema, and
// creates the optional indexes.
func prepareSchema(ctx context.Context, pool *pgxpool.Pool, cfg config.Config, log zerolog.Logger) error {
	if cfg.Migrate {
		done, err := schema.Up(ctx, pool, cfg.Schema)
		if err != nil {
			return err
		}
		log.Info().Ints("applied", done).Str("schema", cfg.Schema).Msg("migrations")
	} else if err := schema.Check(ctx, pool, cfg.Schema); err != nil {
		return err
	}
	if cfg.GINIndex {
		if err := schema.EnsureGIN(ctx, pool, cfg.Schema); err != nil {
			return err
		}
	}
	if cfg.TokenAmountIndex {
		return schema.EnsureTokenAmountIndex(ctx, pool, cfg.Schema)
	}
	return nil
}

// ensureStreamsExist creates the contract's streams with the default
// options when they are missing, and leaves existing ones alone: the
// persister only consumes, so it must not undo the replicas or retention
// a deployment (or the ingestor's configuration) chose.
func ensureStreamsExist(ctx context.Context, js jetstream.JetStream) error {
	return bus.CreateStreamsIfMissing(ctx, js, bus.DefaultStreamOptions())
}

func printStatus(ctx context.Context, pool *pgxpool.Pool, schemaName string, out io.Writer) error {
	st, err := schema.List(ctx, pool, schemaName)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tNAME\tAPPLIED")
	for _, s := range st {
		applied := "pending"
		if !s.AppliedAt.IsZero() {
			applied = s.AppliedAt.UTC().Format(time.RFC3339)
		}
		name := s.Name
		if name == "" {
			name = "(unknown to this binary)"
		}
		fmt.Fprintf(tw, "%04d\t%s\t%s\n", s.Version, name, applied)
	}
	return tw.Flush()
}
