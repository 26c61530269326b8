// Package app wires the ingestor together: configuration, logger, NATS,
// the bounded publisher, the Yellowstone client and the HTTP endpoints.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/protobuf/proto"

	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/pkg/bus"
	"github.com/firehole/firehole/pkg/capture"
	pkgconfig "github.com/firehole/firehole/pkg/config"
	"github.com/firehole/firehole/pkg/lifecycle"
	"github.com/firehole/firehole/pkg/logging"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
	"github.com/firehole/firehole/proto/geyser"
	"github.com/firehole/firehole/services/ingestor/internal/config"
	"github.com/firehole/firehole/services/ingestor/internal/ingest"
	"github.com/firehole/firehole/services/ingestor/internal/metrics"
	"github.com/firehole/firehole/services/ingestor/internal/yellowstone"
)

// Run loads the configuration from the environment and runs the ingestor
// until ctx ends; "ingestor backfill ..." loads programs' current accounts
// instead (internal/backfill).
func Run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "backfill" {
		return runBackfill(ctx, args[1:], os.Getenv, stdout, nil)
	}
	var cfg config.Config
	if err := pkgconfig.Load(config.Prefix, &cfg, args, stdout); err != nil {
		return err
	}
	lifecycle.SetGCDefault(logging.New(cfg.Config, "ingestor"), GCPercent)
	return RunConfig(ctx, cfg, Hooks{})
}

// GCPercent is the ingestor's garbage collection target when GOGC is not
// set: it allocates per update over a live heap bounded by the publishes in
// flight, and at 400 it spends a fifth less CPU per update than at the
// runtime's 100 for about twice the RSS (BENCH.md).
const GCPercent = 400

// Hooks let tests and benchmarks look inside a running ingestor. All optional.
type Hooks struct {
	Ready   func(*lifecycle.Health, *metrics.Metrics) // once wired, before the stream opens
	Stopped func(lastFullSlot uint64)
	Log     io.Writer // instead of stderr
}

// RunConfig runs the ingestor with cfg until ctx ends.
func RunConfig(ctx context.Context, cfg config.Config, hooks Hooks) error {
	log := logging.New(cfg.Config, "ingestor")
	if hooks.Log != nil {
		log = logging.NewTo(hooks.Log, cfg.Config, "ingestor")
	}
	req, err := cfg.SubscribeRequest()
	if err != nil {
		return err
	}
	target, useTLS, err := cfg.Target()
	if err != nil {
		return fmt.Errorf("INGESTOR_ENDPOINT: %w", err)
	}
	source := cfg.SourceName()

	nc, err := bus.Connect(cfg.NATSURL, "firehole-ingestor "+source, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("open jetstream: %w", err)
	}
	sopts := bus.DefaultStreamOptions()
	sopts.Replicas, sopts.MaxAge, sopts.DuplicateWindow = cfg.StreamReplicas, cfg.StreamMaxAge, cfg.DuplicateWindow
	ectx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = bus.EnsureStreams(ectx, js, sopts)
	cancel()
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var m *metrics.Metrics
	pub, err := bus.NewPublisher(nc, bus.PublisherOptions{
		MaxInFlight: cfg.MaxInFlight,
		OnRetry:     func(error) { m.PublishRetries.Inc() },
	})
	if err != nil {
		return fmt.Errorf("make publisher: %w", err)
	}
	m = metrics.New(reg, func() float64 { return float64(pub.InFlight()) })

	var programs [][32]byte
	for _, f := range req.GetAccounts() {
		for _, o := range f.GetOwner() {
			if k, err := base58.Decode32(o); err == nil {
				programs = append(programs, k)
			}
		}
	}
	commitment := req.GetCommitment()
	in := ingest.New(pub, ingest.Options{
		Source:     source,
		Commitment: config.BusCommitment(commitment),
		DataSlices: req.GetAccountsDataSlice(),
		Programs:   programs,
	}, log, m)

	yellowstone.RegisterCompressors()
	conn, err := yellowstone.Dial(yellowstone.DialOptions{
		Target: target, TLS: useTLS, CAFile: cfg.CAFile, XToken: cfg.XToken,
		KeepaliveTime: cfg.KeepaliveTime, KeepaliveTimeout: cfg.KeepaliveTimeout, MaxRecvBytes: cfg.MaxRecvBytes,
	})
	if err != nil {
		return err
	}
	defer conn.Close()
	var resume uint64
	var resumeAt time.Time
	if cfg.ResumeOnStart {
		resume, resumeAt, err = resumeSlot(ctx, js, commitment)
		if err != nil {
			log.Warn().Err(err).Msg("no resume point; starting live")
		}
		if resume > 0 {
			log.Info().Uint64("slot", resume).Msg("resuming after the newest complete slot in JetStream")
		}
	}
	var rec yellowstone.Recorder
	if cfg.CaptureFile != "" {
		f, err := capture.Create(cfg.CaptureFile)
		if err != nil {
			return fmt.Errorf("INGESTOR_CAPTURE_FILE: %w", err)
		}
		defer func() {
			if err := f.Close(); err != nil {
				log.Error().Err(err).Str("file", cfg.CaptureFile).Msg("close capture")
			}
		}()
		rec = recorder{f}
	}
	client := yellowstone.New(conn, yellowstone.Options{
		Request:         req,
		SilenceTimeout:  cfg.SilenceTimeout,
		PingInterval:    cfg.PingInterval,
		BackoffMin:      cfg.BackoffMin,
		BackoffMax:      cfg.BackoffMax,
		FromSlotMargin:  cfg.FromSlotMargin,
		ResumeSlot:      resume,
		ResumeSlotAt:    resumeAt,
		DuplicateWindow: cfg.DuplicateWindow,
		Recorder:        rec,
	}, in, log, m)

	health := lifecycle.NewHealth()
	health.AddCheck("nats", func(context.Context) error {
		if !nc.IsConnected() {
			return errors.New("nats not connected")
		}
		return nil
	})
	health.AddCheck("geyser", func(context.Context) error {
		if !client.Connected() {
			return errors.New("geyser stream not open")
		}
		return nil
	})
	log.Info().Str("endpoint", target).Bool("tls", useTLS).Str("source", source).
		Str("commitment", strings.ToLower(commitment.String())).Str("filters", req.String()).Msg("starting")

	// The publisher (sink) outlives the client (source): the client stops on
	// ctx, then the publisher drains what is in flight.
	srcCtx, stopSource := context.WithCancel(ctx)
	defer stopSource()
	pubCtx, stopPub := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPub()
	pubDone := make(chan error, 1)
	go func() { pubDone <- pub.Run(pubCtx) }()
	health.SetReady(true)
	if hooks.Ready != nil {
		hooks.Ready(health, m)
	}
	err = lifecycle.Run(srcCtx, log,
		lifecycle.Component{Name: "http", Run: func(ctx context.Context) error {
			return lifecycle.ServeHTTP(ctx, cfg.HTTPAddr, httpHandler(health.Handler(reg), cfg.Pprof), 5*time.Second)
		}},
		lifecycle.Component{Name: "yellowstone", Run: func(ctx context.Context) error {
			defer health.SetReady(false)
			return client.Run(ctx)
		}},
	)
	health.SetReady(false)
	drainInFlight(pub, 10*time.Second)
	stopPub()
	<-pubDone
	if flushErr := nc.FlushTimeout(2 * time.Second); flushErr != nil {
		log.Warn().Err(flushErr).Msg("flush nats")
	}
	log.Info().Uint64("last_full_slot", client.LastFullSlot()).Msg("stopped")
	if hooks.Stopped != nil {
		hooks.Stopped(client.LastFullSlot())
	}
	return err
}

// resumeSlot is the newest slot status in JetStream that marks a slot
// complete at the commitment and when it was stored, or 0 when there is none.
// An error means the stream could not be read: the caller starts live.
func resumeSlot(ctx context.Context, js jetstream.JetStream, c geyser.CommitmentLevel) (uint64, time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, bus.StreamRaw)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("look up stream %s: %w", bus.StreamRaw, err)
	}
	subject := bus.SlotSubject(ingest.SlotStatus(yellowstone.FullStatus(c)))
	msg, err := st.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("read last %s: %w", subject, err)
	}
	var su fireholev1.SlotUpdate
	if err := proto.Unmarshal(msg.Data, &su); err != nil {
		return 0, time.Time{}, fmt.Errorf("decode last %s: %w", subject, err)
	}
	return su.GetSlot(), msg.Time, nil
}

// httpHandler adds the profiler to the operational endpoints when asked.
func httpHandler(ops http.Handler, pprofOn bool) http.Handler {
	if !pprofOn {
		return ops
	}
	mux := http.NewServeMux()
	mux.Handle("/", ops)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// recorder adapts a capture file to yellowstone.Recorder.
type recorder struct{ f *capture.File }

func (r recorder) Record(u *geyser.SubscribeUpdate) error { return r.f.Write(u) }

// drainInFlight waits (bounded) until JetStream acknowledged what was published.
func drainInFlight(pub *bus.Publisher, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for pub.InFlight() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}
