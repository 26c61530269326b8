// Command geyser-sim serves a simulated Yellowstone Geyser gRPC stream.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/firehole/firehole/pkg/config"
	"github.com/firehole/firehole/services/geyser-sim/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := app.Run(ctx, os.Args[1:], os.Stdout)
	stop()
	os.Exit(config.Exit(err))
}
