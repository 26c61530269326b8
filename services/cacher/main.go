// Command cacher keeps the latest decoded state of every account, the
// program membership sets and the latest slots in Redis (docs/redis-layout.md).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/firehole/firehole/pkg/config"
	"github.com/firehole/firehole/pkg/logging"
	"github.com/firehole/firehole/services/cacher/internal/cacher"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	os.Exit(config.Exit(err))
}

func run(ctx context.Context, args []string) error {
	var cfg cacher.Config
	if err := config.Load(cacher.EnvPrefix, &cfg, args, os.Stdout); err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return cacher.Run(ctx, cfg, logging.New(cfg.Config, "cacher"), reg)
}
