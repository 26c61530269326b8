package app

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/firehole/firehole/pkg/bus"
	"github.com/firehole/firehole/pkg/logging"
	"github.com/firehole/firehole/services/ingestor/internal/backfill"
)

// runBackfill is `ingestor backfill`: flags in args, INGESTOR_ variables
// through getenv, the summary to stdout, logs to logOut (stderr when nil).
func runBackfill(ctx context.Context, args []string, getenv func(string) string, stdout, logOut io.Writer) error {
	cfg, err := backfill.ParseArgs(args, getenv, stdout)
	if err != nil {
		return err
	}
	log := logging.New(cfg.Log, "ingestor")
	if logOut != nil {
		log = logging.NewTo(logOut, cfg.Log, "ingestor")
	}

	// NATS first: fail before a long RPC request rather than after it.
	nc, err := bus.Connect(cfg.NATSURL, "firehole-ingestor backfill", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("open jetstream: %w", err)
	}
	// The streaming ingestor owns the stream settings: create what is
	// missing, change nothing that exists.
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = bus.CreateStreamsIfMissing(sctx, js, cfg.Streams)
	cancel()
	if err != nil {
		return fmt.Errorf("nats %s: %w", cfg.NATSURL, err)
	}
	pub, err := bus.NewPublisher(nc, bus.PublisherOptions{MaxInFlight: cfg.MaxInFlight})
	if err != nil {
		return fmt.Errorf("make publisher: %w", err)
	}
	// The publisher outlives the backfill, which waits for every ack.
	pubCtx, stopPub := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPub()
	pubDone := make(chan error, 1)
	go func() { pubDone <- pub.Run(pubCtx) }()

	log.Info().Str("rpc", cfg.RPCURL).Strs("programs", cfg.Programs).Str("commitment", cfg.CommitmentToken()).Msg("backfill starting")
	b := backfill.New(backfill.NewClient(cfg.RPCURL, cfg.Timeout), pub, backfill.Options{
		Programs:   cfg.Programs,
		Filters:    cfg.Filters,
		Commitment: cfg.Commitment,
	}, log)
	sum, err := b.Run(ctx)
	stopPub()
	<-pubDone
	if flushErr := nc.FlushTimeout(2 * time.Second); flushErr != nil {
		log.Warn().Err(flushErr).Msg("flush nats")
	}
	sum.Print(stdout)
	ev := log.Info()
	if err != nil {
		ev = log.Error().Err(err)
	}
	ev.Int("programs", len(sum.Programs)).Uint64("published", sum.Published).Uint64("duplicates", sum.Duplicates).
		Int("skipped", sum.Skipped).Uint64("failed", sum.Failed).Dur("duration", sum.Duration).Msg("backfill done")
	return err
}
