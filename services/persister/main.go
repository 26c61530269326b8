// Command persister stores decoded account updates and slots from
// JetStream in Postgres. `persister migrate [up|status]` manages the schema.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/firehole/firehole/pkg/config"
	"github.com/firehole/firehole/services/persister/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := app.Run(ctx, os.Args[1:], os.Stdout)
	stop()
	os.Exit(config.Exit(err))
}
