// Command gateway serves Solana RPC PubSub (WebSocket) and JSON-RPC (HTTP)
// from Firehole's bus, Redis and Postgres.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/firehole/firehole/pkg/config"
	"github.com/firehole/firehole/services/gateway/internal/gateway"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := gateway.Run(ctx, os.Args[1:], os.Stdout)
	stop()
	os.Exit(config.Exit(err))
}
