package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/rueidis"
	"github.com/rs/zerolog"

	"github.com/firehole/firehole/pkg/bus"
	"github.com/firehole/firehole/pkg/config"
	"github.com/firehole/firehole/pkg/lifecycle"
	"github.com/firehole/firehole/pkg/logging"
	"github.com/firehole/firehole/pkg/solana"
	"github.com/firehole/firehole/services/parser/internal/anchor"
	"github.com/firehole/firehole/services/parser/internal/decoders"
	"github.com/firehole/firehole/services/parser/internal/jsonparsed"
	"github.com/firehole/firehole/services/parser/internal/mints"
	"github.com/firehole/firehole/services/parser/internal/pipeline"
)

// Main loads the configuration from the environment and runs the parser
// until ctx ends.
func Main(ctx context.Context, args []string, stdout io.Writer) error {
	var cfg Config
	if err := config.Load(Prefix, &cfg, args, stdout); err != nil {
		return err
	}
	log := logging.New(cfg.Config, "parser")
	lifecycle.SetGCDefault(log, GCPercent)
	return Run(ctx, cfg, log)
}

// GCPercent is the parser's garbage collection target when GOGC is not set.
// The parser allocates a few KiB per update that die at once, over a small
// live heap (mint cache, pending set): at the runtime's default of 100 the
// collector runs tens of times per second at full rate and costs about a
// tenth of the parser's CPU (BENCH.md). 400 lets the heap grow to five times
// the live set between collections. GOMEMLIMIT, when set, still caps it.
const GCPercent = 400

// nativeMints answers for the two wrapped-SOL mints when the book has not
// seen them. Their decimals are fixed at 9 and they never change, so the
// stream almost never brings them, while wrapped-SOL accounts are among the
// most common token accounts (agave's token RPC methods special-case the SPL
// one the same way). What the book knows, from the stream, wins.
type nativeMints struct{ book jsonparsed.MintSource }

func (n nativeMints) Mint(k [32]byte) (jsonparsed.MintInfo, bool) {
	if n.book != nil {
		if mi, ok := n.book.Mint(k); ok {
			return mi, true
		}
	}
	if k == solana.WrappedSOLMintID || k == solana.Token2022WrappedSOLMintID {
		return jsonparsed.MintInfo{Decimals: 9}, true
	}
	return jsonparsed.MintInfo{}, false
}

// BuildRegistry builds the decoder registry: the jsonParsed programs (token
// accounts reading mints from book), every Anchor IDL in idlDir at its
// declared or overridden address, and Metaplex Token Metadata. A program id
// claimed twice is an error.
func BuildRegistry(idlDir, idlPrograms string, book jsonparsed.MintSource) (*decoders.Registry, []string, error) {
	reg := decoders.NewRegistry()
	if err := reg.AddJSONParsed(jsonparsed.NewRegistry(), nativeMints{book}); err != nil {
		return nil, nil, err
	}
	if err := reg.AddMetaplex(); err != nil {
		return nil, nil, err
	}
	var names []string
	if idlDir != "" {
		progs, err := anchor.LoadDir(idlDir)
		if err != nil {
			return nil, nil, fmt.Errorf("load IDLs from %s: %w", idlDir, err)
		}
		overrides, err := decoders.ParseAddressOverrides(idlPrograms)
		if err != nil {
			return nil, nil, err
		}
		if names, err = reg.AddAnchor(progs, overrides); err != nil {
			return nil, nil, err
		}
	}
	return reg, names, nil
}

// Run runs the parser with cfg until ctx ends.
func Run(ctx context.Context, cfg Config, log zerolog.Logger) error {
	partitions, err := ParsePartitions(cfg.Partitions)
	if err != nil {
		return fmt.Errorf("PARSER_PARTITIONS: %w", err)
	}
	promReg := prometheus.NewRegistry()
	promReg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	health := lifecycle.NewHealth()

	var lookup mints.Lookup
	if cfg.RedisAddr != "" {
		rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{cfg.RedisAddr}, DisableCache: true})
		if err != nil {
			return fmt.Errorf("connect redis %s: %w", cfg.RedisAddr, err)
		}
		defer rc.Close()
		lookup = mints.NewRedisLookup(rc, cfg.RedisKeyPrefix)
		health.AddCheck("redis", func(ctx context.Context) error {
			return rc.Do(ctx, rc.B().Ping().Build()).Error()
		})
	}
	if cfg.RedisAddr == "" && len(partitions) < bus.Partitions {
		log.Warn().Ints("partitions", partitions).Msg("PARSER_REDIS_ADDR is empty and this replica owns only some partitions: token accounts whose mint is in another replica's partitions stay AWAITING_MINT")
	}
	book := mints.NewBook(jsonparsed.MintFromAccount, lookup, cfg.MintCacheSize)
	registry, idls, err := BuildRegistry(cfg.IDLDir, cfg.IDLPrograms, book)
	if err != nil {
		return err
	}
	log.Info().Int("programs", registry.Len()).Strs("idls", idls).Ints("partitions", partitions).Msg("decoders built")

	nc, err := bus.Connect(cfg.NATSURL, "firehole-parser", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	health.AddCheck("nats", func(context.Context) error {
		if s := nc.Status(); s != nats.CONNECTED {
			return fmt.Errorf("nats %s", s)
		}
		return nil
	})
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = bus.CreateStreamsIfMissing(sctx, js, bus.DefaultStreamOptions())
	cancel()
	if err != nil {
		return err
	}
	// Mints neither the stream nor Redis has (a mint that has not changed
	// since the system started) are asked of a Solana RPC node, off the
	// decode path; what it finds wakes the accounts waiting on it.
	var p *pipeline.Parser
	var mintRPC *mints.RPC[jsonparsed.MintInfo]
	var askMint func([32]byte)
	if cfg.MintRPCURL != "" {
		mintRPC, err = mints.NewRPC(mints.RPCOptions{URL: cfg.MintRPCURL, Timeout: cfg.MintRPCTimeout}, book,
			func(mint [32]byte) { p.MintKnown(mint) }, log, promReg)
		if err != nil {
			return err
		}
		askMint = mintRPC.Want
	}
	p, err = pipeline.New(nc, js, registry, book, pipeline.Options{
		Partitions:  partitions,
		Single:      cfg.SingleConsumer,
		Durable:     cfg.Durable,
		MaxInFlight: cfg.MaxInFlight,
		AckWait:     cfg.AckWait,
		MaxPending:  cfg.MaxPending,
		AskMint:     askMint,
	}, log, promReg)
	if err != nil {
		return err
	}
	components := []lifecycle.Component{
		lifecycle.Component{Name: "http", Run: func(ctx context.Context) error {
			return lifecycle.ServeHTTP(ctx, cfg.HTTPAddr, health.Handler(promReg), 5*time.Second)
		}},
		lifecycle.Component{Name: "pipeline", Run: p.Run},
		lifecycle.Component{Name: "readiness", Run: func(ctx context.Context) error {
			select {
			case <-p.Ready():
				health.SetReady(true)
			case <-ctx.Done():
			}
			<-ctx.Done()
			health.SetReady(false)
			return nil
		}},
	}
	if mintRPC != nil {
		components = append(components, lifecycle.Component{Name: "mint-rpc", Run: mintRPC.Run})
	}
	return lifecycle.Run(ctx, log, components...)
}

// Exit is the process exit code for Main's error.
func Exit(err error) int {
	if errors.Is(err, context.Canceled) {
		return 0
	}
	return config.Exit(err)
}
