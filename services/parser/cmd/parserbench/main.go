// Command parserbench measures how fast one parser replica drains a
// pre-loaded FIREHOLE_RAW stream of SPL Token accounts (consume, decode,
// republish, PubAck, raw ack), with nats-server as its own process or inside
// this one, and reports updates/s and CPU per update for each process.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "parserbench:", err)
		os.Exit(1)
	}
}
