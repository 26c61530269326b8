// Command parser decodes raw Solana account updates from JetStream and
// republishes them decoded. It is configured by PARSER_* environment
// variables; -help lists them. `parser idl fetch` reads a program's Anchor
// IDL from the chain.
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

func run(ctx context.Context) error {
	if len(os.Args) > 1 && os.Args[1] == "idl" {
		return service.IDLCommand(ctx, os.Args[2:], os.Stdout)
	}
	return service.Main(ctx, os.Args[1:], os.Stdout)
}
