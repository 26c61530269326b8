// Command devstack brings the whole Firehole system up on one machine with no
// Docker: an embedded nats-server with JetStream (unless DEV_NATS_URL is
// set), geyser-sim as the source (unless DEV_GEYSER_ENDPOINT is set), and
// every service binary found in DEV_BIN_DIR, supervised as child processes.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/firehole/firehole/pkg/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	os.Exit(config.Exit(err))
}
