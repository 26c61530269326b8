package app

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/firehole/firehole/pkg/config"
	"github.com/firehole/firehole/pkg/lifecycle"
	"github.com/firehole/firehole/pkg/logging"
	"github.com/firehole/firehole/services/geyser-sim/sim"
)

// Run loads the configuration from the environment and serves until ctx ends.
func Run(ctx context.Context, args []string, stdout io.Writer) error {
	var cfg Config
	if err := config.Load(Prefix, &cfg, args, stdout); err != nil {
		return err
	}
	log := logging.New(cfg.Config, "geyser-sim")
	sim.RegisterCompressors()

	srv, err := sim.New(cfg.sim(), log)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(srv.Collectors()...)

	lis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("listen grpc: %w", err)
	}
	health := lifecycle.NewHealth()
	health.SetReady(true)
	defer health.SetReady(false)
	log.Info().Str("grpc", cfg.GRPCAddr).Str("http", cfg.HTTPAddr).Int64("seed", cfg.Seed).Msg("starting")
	return lifecycle.Run(ctx, log,
		lifecycle.Component{Name: "http", Run: func(ctx context.Context) error {
			return lifecycle.ServeHTTP(ctx, cfg.HTTPAddr, health.Handler(reg), 5*time.Second)
		}},
		lifecycle.Component{Name: "world", Run: srv.Run},
		lifecycle.Component{Name: "grpc", Run: func(ctx context.Context) error { return srv.Serve(ctx, lis) }},
	)
}
