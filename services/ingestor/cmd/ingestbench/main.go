// Command ingestbench is the ingestor's load harness: it runs geyser-sim at a
// target rate and an in-process NATS server with JetStream, starts the
// ingestor binary against them as a separate process, and reports updates/s
// stored in JetStream, the ingestor's memory, and the ingest latency
// (Geyser created_at → JetStream store time) measured from the stream.
//
//	go build -o /tmp/ingestor ./services/ingestor
//	go run ./services/ingestor/cmd/ingestbench -ingestor /tmp/ingestor -rate 5000 -duration 20s
//
// With -nats-only it only serves an empty JetStream on a loopback port, for
// `nats bench js pub` comparisons.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"

	"github.com/firehole/firehole/pkg/bus"
	"github.com/firehole/firehole/pkg/bus/embedded"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
	"github.com/firehole/firehole/services/geyser-sim/sim"
)

type options struct {
	ingestor    string
	rate        int
	duration    time.Duration
	warmup      time.Duration
	inFlight    int
	natsOnly    bool
	latencyMsgs int
	profile     string
	selfProfile string
}

func main() {
	var o options
	flag.StringVar(&o.ingestor, "ingestor", "", "path of the ingestor binary (go build -o /tmp/ingestor ./services/ingestor)")
	flag.IntVar(&o.rate, "rate", 5000, "geyser-sim target account updates per second")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "measured time, after the warm-up")
	flag.DurationVar(&o.warmup, "warmup", 3*time.Second, "time before measuring")
	flag.IntVar(&o.inFlight, "inflight", 4096, "INGESTOR_MAX_IN_FLIGHT")
	flag.BoolVar(&o.natsOnly, "nats-only", false, "only serve JetStream (for nats bench) until interrupted")
	flag.IntVar(&o.latencyMsgs, "latency-msgs", 50000, "how many stored messages from the measured window to read for latency")
	flag.StringVar(&o.profile, "cpuprofile", "", "save a CPU profile of the ingestor over the measured window to this file")
	flag.StringVar(&o.selfProfile, "harness-cpuprofile", "", "save a CPU profile of this process (sim + nats-server) over the measured window")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingestbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	dir, err := os.MkdirTemp("", "ingestbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ns, err := embedded.Start(embedded.Options{Port: -1, StoreDir: dir})
	if err != nil {
		return err
	}
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	sopts := bus.DefaultStreamOptions()
	sopts.MaxBytes = 8 << 30
	if err := bus.EnsureStreams(ctx, js, sopts); err != nil {
		return err
	}
	if o.natsOnly {
		fmt.Printf("JetStream at %s (store %s); Ctrl-C to stop\n", ns.ClientURL(), dir)
		<-ctx.Done()
		return nil
	}
	if o.ingestor == "" {
		return errors.New("-ingestor is required (go build -o /tmp/ingestor ./services/ingestor)")
	}

	sim.RegisterCompressors()
	srv, err := sim.New(sim.Config{Seed: 7, Rate: o.rate, RingSlots: 150, Mints: 50, TokenAccounts: 20000, Wallets: 5000},
		zerolog.New(os.Stderr).Level(zerolog.WarnLevel))
	if err != nil {
		return err
	}
	sctx, stopSim := context.WithCancel(ctx)
	defer stopSim()
	go func() { _ = srv.Run(sctx) }()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = srv.Serve(sctx, lis) }()

	httpLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	metricsAddr := httpLis.Addr().String()
	httpLis.Close()
	cmd := exec.CommandContext(ctx, o.ingestor)
	cmd.Env = append(os.Environ(),
		"INGESTOR_ENDPOINT="+lis.Addr().String(),
		"INGESTOR_NATS_URL="+ns.ClientURL(),
		"INGESTOR_HTTP_ADDR="+metricsAddr,
		"INGESTOR_MAX_IN_FLIGHT="+strconv.Itoa(o.inFlight),
		"INGESTOR_LOG_LEVEL=warn",
		"INGESTOR_SOURCE=bench",
		"INGESTOR_PPROF=true",
	)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start ingestor: %w", err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()

	stream, err := js.Stream(ctx, bus.StreamRaw)
	if err != nil {
		return err
	}
	count := func() (uint64, uint64) {
		info, err := stream.Info(ctx)
		if err != nil {
			return 0, 0
		}
		return info.State.Msgs, info.State.LastSeq
	}
	select {
	case <-time.After(o.warmup):
	case <-ctx.Done():
		return ctx.Err()
	}
	startMsgs, startSeq := count()
	startCPU := scrape(metricsAddr)["process_cpu_seconds_total"]
	if o.profile != "" {
		go saveProfile(metricsAddr, o.profile, o.duration)
	}
	if o.selfProfile != "" {
		f, err := os.Create(o.selfProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	var peakRSS, peakHeap, sumInFlight float64
	samples := 0
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for time.Since(start) < o.duration {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		m := scrape(metricsAddr)
		peakRSS = max(peakRSS, m["process_resident_memory_bytes"])
		peakHeap = max(peakHeap, m["go_memstats_heap_inuse_bytes"])
		sumInFlight += m["firehole_ingestor_publishes_in_flight"]
		samples++
	}
	endMsgs, endSeq := count()
	elapsed := time.Since(start)
	m := scrape(metricsAddr)

	lat, size, err := latencies(ctx, js, startSeq+1, endSeq, o.latencyMsgs)
	if err != nil {
		return err
	}
	rate := float64(endMsgs-startMsgs) / elapsed.Seconds()
	cpu := m["process_cpu_seconds_total"] - startCPU
	fmt.Printf("sim rate target      %d updates/s (%s measured after %s warm-up)\n", o.rate, o.duration, o.warmup)
	fmt.Printf("stored in JetStream  %.0f msgs/s (%d messages: accounts and slots)\n", rate, endMsgs-startMsgs)
	fmt.Printf("message size         %.0f bytes average (AccountUpdate protobuf)\n", size)
	fmt.Printf("ingestor RSS         peak %.1f MiB, heap in use peak %.1f MiB\n", peakRSS/(1<<20), peakHeap/(1<<20))
	fmt.Printf("ingestor CPU         %.2f s in the window = %.1f µs per stored message (%.0f%% of one core)\n",
		cpu, cpu*1e6/float64(max(1, endMsgs-startMsgs)), 100*cpu/elapsed.Seconds())
	fmt.Printf("publishes in flight  %.0f on average (bound %d): near the bound means JetStream is the limit\n",
		sumInFlight/float64(max(1, samples)), o.inFlight)
	fmt.Printf("ingestor counters    reconnects %.0f, bad input %.0f, publish retries %.0f\n",
		m["firehole_ingestor_reconnects_total"], m["firehole_ingestor_bad_input_total"], m["firehole_ingestor_publish_retries_total"])
	if len(lat) > 0 {
		slices.Sort(lat)
		q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
		fmt.Printf("ingest latency       p50 %s  p99 %s  max %s (created_at → stored, %d messages)\n",
			q(0.50).Round(10*time.Microsecond), q(0.99).Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond), len(lat))
	}
	return nil
}

// latencies reads up to n account messages from seq from..to and returns
// store time − created_at for each, and the average payload size.
func latencies(ctx context.Context, js jetstream.JetStream, from, to uint64, n int) ([]time.Duration, float64, error) {
	if to < from {
		return nil, 0, nil
	}
	// Read the tail of the window: the most recent messages reflect steady state.
	if to-from+1 > uint64(n) {
		from = to - uint64(n) + 1
	}
	c, err := js.OrderedConsumer(ctx, bus.StreamRaw, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{bus.RawAccountRoot + ".>"}, DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: from,
	})
	if err != nil {
		return nil, 0, err
	}
	var out []time.Duration
	var bytes int
	for {
		batch, err := c.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return nil, 0, err
		}
		got := 0
		for msg := range batch.Messages() {
			got++
			md, err := msg.Metadata()
			if err != nil {
				return nil, 0, err
			}
			if md.Sequence.Stream > to {
				return out, float64(bytes) / float64(max(1, len(out))), nil
			}
			var u fireholev1.AccountUpdate
			if err := proto.Unmarshal(msg.Data(), &u); err != nil {
				return nil, 0, err
			}
			bytes += len(msg.Data())
			if u.CreatedAt != nil {
				out = append(out, md.Timestamp.Sub(u.CreatedAt.AsTime()))
			}
		}
		if got == 0 {
			return out, float64(bytes) / float64(max(1, len(out))), nil
		}
	}
}

// saveProfile fetches the ingestor's CPU profile for d.
func saveProfile(addr, path string, d time.Duration) {
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, max(1, int(d.Seconds())-1)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return
	}
	defer f.Close()
	_, _ = io.Copy(f, resp.Body)
}

// scrape reads the ingestor's /metrics and sums samples per metric name.
func scrape(addr string) map[string]float64 {
	out := map[string]float64{}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 16<<20))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name = name[:i]
		}
		if v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64); err == nil {
			out[name] += v
		}
	}
	return out
}
