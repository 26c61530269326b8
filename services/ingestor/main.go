// Command ingestor streams Solana account updates from a Yellowstone Geyser
// gRPC endpoint into NATS JetStream (docs/bus-contract.md).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/firehole/firehole/pkg/config"
	"github.com/firehole/firehole/services/ingestor/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	os.Exit(config.Exit(err))
}

func run(ctx context.Context) error { return app.Run(ctx, os.Args[1:], os.Stdout) }
