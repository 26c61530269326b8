package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"

	"github.com/firehole/firehole/pkg/bus"
	"github.com/firehole/firehole/pkg/bus/embedded"
	"github.com/firehole/firehole/pkg/lifecycle"
	"github.com/firehole/firehole/pkg/solana"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
	"github.com/firehole/firehole/services/parser/internal/jsonparsed"
	"github.com/firehole/firehole/services/parser/internal/mints"
	"github.com/firehole/firehole/services/parser/internal/pipeline"
	"github.com/firehole/firehole/services/parser/internal/service"
)

type options struct {
	n, mints, accounts int
	server             string // "process" or "embedded"
	natsBin            string
	memory             bool
	persistAsync       bool
	single             bool
	batch, inFlight    int
	timeout            time.Duration
	cpuProfile         string
	memProfile         string
	serverProfile      string
	serverProfileFor   time.Duration
	idlDir             string
	seed               uint64
}

func run(ctx context.Context, args []string, out io.Writer) error {
	var o options
	fs := flag.NewFlagSet("parserbench", flag.ContinueOnError)
	fs.IntVar(&o.n, "n", 100_000, "token account updates to pre-load")
	fs.IntVar(&o.mints, "mints", 1_000, "mints (pre-loaded before the accounts)")
	fs.IntVar(&o.accounts, "accounts", 10_000, "distinct token accounts")
	fs.StringVar(&o.server, "server", "process", "nats-server as its own \"process\" or \"embedded\" in this one")
	fs.StringVar(&o.natsBin, "nats-server", "", "nats-server binary for -server=process (default: go install nats-server@v2.15.3 into a temp GOBIN)")
	fs.BoolVar(&o.memory, "memory", false, "memory storage for the streams (default file)")
	fs.BoolVar(&o.persistAsync, "persist-async", false, "file streams with persist_mode async (what a replicated stream does anyway; a single server loses unflushed writes on a hard kill)")
	fs.BoolVar(&o.single, "single", false, "one consumer over all partitions (PARSER_SINGLE_CONSUMER)")
	fs.IntVar(&o.batch, "batch", 0, "pipeline.Options.Batch (0: the pipeline's default)")
	fs.IntVar(&o.inFlight, "inflight", 0, "pipeline.Options.MaxInFlight (0: the pipeline's default)")
	fs.DurationVar(&o.timeout, "timeout", 3*time.Minute, "give up draining after this long")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the drain to this file")
	fs.StringVar(&o.memProfile, "memprofile", "", "write an allocation profile after the drain to this file")
	fs.StringVar(&o.serverProfile, "server-cpuprofile", "", "for -server=process: write a CPU profile of nats-server (its -profile port) taken during the drain to this file")
	fs.DurationVar(&o.serverProfileFor, "server-profile-for", 5*time.Second, "length of the nats-server CPU profile")
	fs.StringVar(&o.idlDir, "idl-dir", "", "Anchor IDLs to load (default: none)")
	fs.Uint64Var(&o.seed, "seed", 1, "seed for keys and amounts")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.server != "process" && o.server != "embedded" {
		return fmt.Errorf("-server %q: want process or embedded", o.server)
	}

	tmp, err := os.MkdirTemp("", "parserbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	url, profURL, serverCPU, stopServer, err := startServer(ctx, o, tmp)
	if err != nil {
		return err
	}
	defer stopServer()

	nc, err := nats.Connect(url)
	if err != nil {
		return fmt.Errorf("connect nats: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return err
	}
	sopts := bus.DefaultStreamOptions()
	sopts.MemoryStorage = o.memory
	sopts.MaxBytes = -1
	for _, cfg := range bus.Streams(sopts) {
		if o.persistAsync {
			cfg.PersistMode = jetstream.AsyncPersistMode
		}
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("create stream %s: %w", cfg.Name, err)
		}
	}
	// The service's GC default (GOGC unset: service.GCPercent).
	gcPercent := os.Getenv("GOGC")
	if pct, set := lifecycle.DefaultGCPercent(os.Getenv, service.GCPercent); set {
		debug.SetGCPercent(pct)
		gcPercent = strconv.Itoa(pct)
	}
	preStart := time.Now()
	if err := preload(ctx, js, o); err != nil {
		return err
	}
	total := float64(o.n + o.mints)
	fmt.Fprintf(out, "preloaded %d updates (%d mints) in %s\n", int(total), o.mints, time.Since(preStart).Round(time.Millisecond))

	book := mints.NewBook(jsonparsed.MintFromAccount, nil, 1_000_000)
	registry, _, err := service.BuildRegistry(o.idlDir, "", book)
	if err != nil {
		return err
	}
	pnc, err := nats.Connect(url)
	if err != nil {
		return fmt.Errorf("connect nats: %w", err)
	}
	defer pnc.Close()
	pjs, err := jetstream.New(pnc)
	if err != nil {
		return err
	}
	parts := make([]int, bus.Partitions)
	for i := range parts {
		parts[i] = i
	}
	reg := prometheus.NewRegistry()
	p, err := pipeline.New(pnc, pjs, registry, book, pipeline.Options{
		Partitions: parts, Batch: o.batch, MaxInFlight: o.inFlight, Single: o.single,
	}, zerolog.New(os.Stderr).Level(zerolog.WarnLevel), reg)
	if err != nil {
		return err
	}

	runtime.GC()
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0, srv0 := selfCPU(), serverCPU()
	start := time.Now()
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(pctx) }()
	profDone := make(chan error, 1)
	if o.serverProfile != "" && profURL != "" {
		go func() { profDone <- fetchProfile(profURL, o.serverProfileFor, o.serverProfile) }()
	} else {
		profDone <- nil
	}

	deadline := time.After(o.timeout)
	var settled, lastSettled float64
	lastProgress := time.Now()
	for settled < total {
		if settled != lastSettled {
			lastSettled, lastProgress = settled, time.Now()
		} else if time.Since(lastProgress) > 3*time.Second {
			reportStall(ctx, out, js, settled)
			lastProgress = time.Now()
		}
		select {
		case <-ctx.Done():
			cancel()
			return ctx.Err()
		case <-deadline:
			cancel()
			<-done
			return fmt.Errorf("drained %.0f of %.0f updates in %s", settled, total, o.timeout)
		case err := <-done:
			cancel()
			return fmt.Errorf("parser stopped: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
		settled = metricSum(reg, "firehole_bus_settled_total")
	}
	elapsed := time.Since(start)
	cpu, srv := selfCPU()-cpu0, serverCPU()-srv0
	var ms1 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	if o.cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	awaiting := metricSum(reg, "firehole_parser_awaiting_mint_total")
	rewinds := metricSum(reg, "firehole_parser_rewinds_total")
	cancel()
	if err := <-done; err != nil {
		return fmt.Errorf("parser run: %w", err)
	}
	if o.memProfile != "" {
		f, err := os.Create(o.memProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			return err
		}
	}
	if err := <-profDone; err != nil {
		return fmt.Errorf("nats-server profile: %w", err)
	}
	info, err := js.Stream(ctx, bus.StreamDecoded)
	if err != nil {
		return err
	}
	decodedMsgs := info.CachedInfo().State.Msgs

	us := func(d time.Duration) float64 { return float64(d.Microseconds()) / total }
	fmt.Fprintf(out, "server=%s single=%v storage=%s persist-async=%v n=%d batch=%d inflight=%d GOGC=%s GOMAXPROCS=%d\n",
		o.server, o.single, storageName(o.memory), o.persistAsync, int(total), o.batch, o.inFlight, gcPercent, runtime.GOMAXPROCS(0))
	fmt.Fprintf(out, "drained in %s: %.0f updates/s; awaiting-mint %.0f; rewinds %.0f; decoded stream holds %d\n",
		elapsed.Round(time.Millisecond), total/elapsed.Seconds(), awaiting, rewinds, decodedMsgs)
	if o.server == "process" {
		fmt.Fprintf(out, "cpu-µs/update: parser %.1f, nats-server %.1f, sum %.1f\n", us(cpu), us(srv), us(cpu+srv))
	} else {
		fmt.Fprintf(out, "cpu-µs/update: parser+embedded nats-server %.1f\n", us(cpu))
	}
	fmt.Fprintf(out, "parser process: %.1f KiB allocated/update, %d GCs\n",
		float64(ms1.TotalAlloc-ms0.TotalAlloc)/1024/total, ms1.NumGC-ms0.NumGC)
	return nil
}

// reportStall prints the partition consumers' state when the drain makes
// no progress.
func reportStall(ctx context.Context, out io.Writer, js jetstream.JetStream, settled float64) {
	fmt.Fprintf(out, "no progress for 3s at %.0f settled:\n", settled)
	for p := -1; p < bus.Partitions; p++ {
		c, err := js.Consumer(ctx, bus.StreamRaw, pipeline.ConsumerName("parser", p))
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			continue
		}
		if err != nil {
			fmt.Fprintf(out, "  partition %d: %v\n", p, err)
			continue
		}
		ci := c.CachedInfo()
		fmt.Fprintf(out, "  %s: pending %d ack-pending %d redelivered %d waiting %d delivered %d ack-floor %d\n",
			ci.Name, ci.NumPending, ci.NumAckPending, ci.NumRedelivered, ci.NumWaiting, ci.Delivered.Stream, ci.AckFloor.Stream)
	}
}

func storageName(memory bool) string {
	if memory {
		return "memory"
	}
	return "file"
}

// startServer starts nats-server and returns its URL, the URL of its
// profiling port (process only), a function reading its CPU time and a
// function stopping it.
func startServer(ctx context.Context, o options, tmp string) (url, profURL string, cpu func() time.Duration, stop func(), err error) {
	if o.server == "embedded" {
		s, err := embedded.Start(embedded.Options{Port: -1, StoreDir: filepath.Join(tmp, "js")})
		if err != nil {
			return "", "", nil, nil, err
		}
		return s.ClientURL(), "", func() time.Duration { return 0 }, func() { s.Shutdown(); s.WaitForShutdown() }, nil
	}
	bin := o.natsBin
	if bin == "" {
		gobin := filepath.Join(tmp, "bin")
		cmd := exec.CommandContext(ctx, "go", "install", "github.com/nats-io/nats-server/v2@v2.15.3")
		cmd.Env = append(os.Environ(), "GOBIN="+gobin, "GOFLAGS=", "GOWORK=off")
		cmd.Dir = tmp
		if b, err := cmd.CombinedOutput(); err != nil {
			return "", "", nil, nil, fmt.Errorf("install nats-server: %v: %s", err, b)
		}
		bin = filepath.Join(gobin, "nats-server")
	}
	port, err := freePort()
	if err != nil {
		return "", "", nil, nil, err
	}
	cmdArgs := []string{"-a", "127.0.0.1", "-p", strconv.Itoa(port), "-js", "-sd", filepath.Join(tmp, "js"), "-l", filepath.Join(tmp, "nats-server.log")}
	if o.serverProfile != "" {
		pp, err := freePort()
		if err != nil {
			return "", "", nil, nil, err
		}
		cmdArgs = append(cmdArgs, "-profile", strconv.Itoa(pp))
		profURL = fmt.Sprintf("http://127.0.0.1:%d", pp)
	}
	cmd := exec.Command(bin, cmdArgs...)
	if err := cmd.Start(); err != nil {
		return "", "", nil, nil, fmt.Errorf("start nats-server: %w", err)
	}
	pid := cmd.Process.Pid
	stop = func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		waited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-waited
		}
	}
	url = fmt.Sprintf("nats://127.0.0.1:%d", port)
	for i := 0; ; i++ {
		nc, err := nats.Connect(url)
		if err == nil {
			nc.Close()
			break
		}
		if i == 100 {
			stop()
			return "", "", nil, nil, fmt.Errorf("nats-server (pid %d) not answering: %w", pid, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return url, profURL, func() time.Duration { return procCPU(pid) }, stop, nil
}

// fetchProfile writes a CPU profile of d from a Go pprof endpoint to file.
func fetchProfile(base string, d time.Duration, file string) error {
	resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, max(int(d.Seconds()), 1)))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", base, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// preload publishes o.mints SPL Token mints, then o.n token account updates
// over o.accounts accounts.
func preload(ctx context.Context, js jetstream.JetStream, o options) error {
	rng := rand.New(rand.NewPCG(o.seed, 0))
	newKey := func() (k [32]byte) {
		for i := 0; i < 32; i += 8 {
			binary.LittleEndian.PutUint64(k[i:], rng.Uint64())
		}
		return k
	}
	pub := func(owner, pk [32]byte, data []byte, slot uint64) error {
		u := &fireholev1.AccountUpdate{
			Pubkey: pk[:], Owner: owner[:], Lamports: 2039280, Data: data,
			Slot: slot, WriteVersion: slot * 10, RentEpoch: ^uint64(0),
			Commitment: fireholev1.Commitment_COMMITMENT_CONFIRMED, Source: "bench",
		}
		body, err := proto.Marshal(u)
		if err != nil {
			return err
		}
		m := nats.NewMsg(bus.RawAccountSubject(owner[:], pk[:]))
		m.Data = body
		m.Header.Set(bus.HeaderMsgID, bus.AccountMsgID(u))
		m.Header.Set(bus.HeaderSlot, strconv.FormatUint(slot, 10))
		m.Header.Set(bus.HeaderWriteVersion, strconv.FormatUint(slot*10, 10))
		m.Header.Set(bus.HeaderCommitment, "confirmed")
		m.Header.Set(bus.HeaderSource, "bench")
		_, err = js.PublishMsgAsync(m, jetstream.WithStallWait(time.Minute))
		return err
	}
	mintKeys := make([][32]byte, o.mints)
	for i := range mintKeys {
		mintKeys[i] = newKey()
		b := make([]byte, 82)
		binary.LittleEndian.PutUint32(b[0:], 1)
		b[4] = 7
		binary.LittleEndian.PutUint64(b[36:], 1e12)
		b[44] = uint8(i % 10)
		b[45] = 1
		if err := pub(solana.TokenProgramID, mintKeys[i], b, 1); err != nil {
			return err
		}
	}
	holders := make([][32]byte, o.accounts)
	for i := range holders {
		holders[i] = newKey()
	}
	for i := range o.n {
		b := make([]byte, 165)
		copy(b[0:], mintKeys[i%len(mintKeys)][:])
		copy(b[32:], holders[(i*7)%len(holders)][:])
		binary.LittleEndian.PutUint64(b[64:], uint64(i)*1000)
		b[108] = 1
		if err := pub(solana.TokenProgramID, holders[i%len(holders)], b, uint64(2+i)); err != nil {
			return err
		}
	}
	select {
	case <-js.PublishAsyncComplete():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(5 * time.Minute):
		return errors.New("preload did not complete in 5 minutes")
	}
}

func metricSum(g prometheus.Gatherer, name string) float64 {
	mfs, err := g.Gather()
	if err != nil {
		return 0
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if c := m.GetCounter(); c != nil {
				sum += c.GetValue()
			}
		}
	}
	return sum
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is the user+system CPU time of pid from /proc (Linux).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	// Fields after the command name, which is in parentheses.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	const ticksPerSecond = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / ticksPerSecond
}
