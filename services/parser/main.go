// Command parser decodes raw Solana account updates from JetStream and
// republishes them decoded. Configuration: PARSER_* variables (-help).
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
	err := service.Main(ctx, os.Args[1:], os.Stdout)
	stop()
	os.Exit(service.Exit(err))
}
