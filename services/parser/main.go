// Command parser decodes raw Solana account updates from JetStream and
// republishes them decoded. It is configured by PARSER_* environment
// variables; -help lists them.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/firehole/firehole/services/parser/internal/service"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	os.Exit(service.Exit(err))
}

func run(ctx context.Context) error { return service.Main(ctx, os.Args[1:], os.Stdout) }
