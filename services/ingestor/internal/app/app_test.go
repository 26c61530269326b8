package app

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"

	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/pkg/bus"
	"github.com/firehole/firehole/pkg/bus/bustest"
	"github.com/firehole/firehole/pkg/capture"
	"github.com/firehole/firehole/pkg/lifecycle"
	"github.com/firehole/firehole/pkg/logging"
	"github.com/firehole/firehole/pkg/solana"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
	"github.com/firehole/firehole/services/geyser-sim/sim"
	"github.com/firehole/firehole/services/ingestor/internal/config"
	"github.com/firehole/firehole/services/ingestor/internal/ingest"
	"github.com/firehole/firehole/services/ingestor/internal/metrics"
)

func TestMain(m *testing.M) {
	sim.RegisterCompressors()
	os.Exit(m.Run())
}

// simHarness is an embedded geyser-sim whose gRPC listener can be stopped
// and started again on the same port while its world keeps running.
type simHarness struct {
	t     *testing.T
	srv   *sim.Server
	addr  string
	mu    sync.Mutex
	stop  context.CancelFunc
	serve chan struct{}
}

func simConfig(seed int64) sim.Config {
	return sim.Config{Seed: seed, SlotInterval: 50 * time.Millisecond, Rate: 2000, RingSlots: 150,
		PingInterval: 500 * time.Millisecond, Mints: 4, TokenAccounts: 60, Wallets: 20}
}

func startSim(t *testing.T, cfg sim.Config) *simHarness {
	t.Helper()
	srv, err := sim.New(cfg, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- srv.Run(ctx) }()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &simHarness{t: t, srv: srv, addr: lis.Addr().String()}
	h.serveOn(lis)
	t.Cleanup(func() {
		h.Stop()
		cancel()
		if err := <-runDone; err != nil {
			t.Errorf("sim run: %v", err)
		}
	})
	return h
}

func (h *simHarness) serveOn(lis net.Listener) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	h.mu.Lock()
	h.stop, h.serve = cancel, done
	h.mu.Unlock()
	go func() {
		defer close(done)
		if err := h.srv.Serve(ctx, lis); err != nil {
			h.t.Errorf("sim serve: %v", err)
		}
	}()
}

// Stop ends the gRPC server (every stream breaks); the world keeps going.
func (h *simHarness) Stop() {
	h.mu.Lock()
	stop, done := h.stop, h.serve
	h.stop = nil
	h.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

// Start serves again on the same port.
func (h *simHarness) Start() {
	var lis net.Listener
	var err error
	for range 50 { // the old socket may linger for a moment
		if lis, err = net.Listen("tcp", h.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		h.t.Fatalf("listen again on %s: %v", h.addr, err)
	}
	h.serveOn(lis)
}

// ingestor is a running ingestor (RunConfig) with its metrics.
type ingestor struct {
	m        *metrics.Metrics
	health   *lifecycle.Health
	cancel   context.CancelFunc
	done     chan error
	lastFull uint64
}

func testConfig(endpoint, natsURL string) config.Config {
	return config.Config{
		Config:           logging.Config{Level: "warn", Format: "json"},
		Endpoint:         endpoint,
		KeepaliveTime:    10 * time.Second,
		KeepaliveTimeout: 5 * time.Second,
		MaxRecvBytes:     64 << 20,
		Commitment:       "processed",
		NATSURL:          natsURL,
		MaxInFlight:      512,
		SilenceTimeout:   3 * time.Second,
		PingInterval:     time.Second,
		BackoffMin:       20 * time.Millisecond,
		BackoffMax:       200 * time.Millisecond,
		FromSlotMargin:   2,
		HTTPAddr:         "127.0.0.1:0",
		StreamReplicas:   1,
		StreamMaxAge:     time.Hour,
		DuplicateWindow:  2 * time.Minute,
	}
}

func startIngestor(t *testing.T, cfg config.Config) *ingestor {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &ingestor{cancel: cancel, done: make(chan error, 1)}
	ready := make(chan struct{})
	go func() {
		in.done <- RunConfig(ctx, cfg, Hooks{
			Log:     zerolog.NewTestWriter(t),
			Ready:   func(h *lifecycle.Health, m *metrics.Metrics) { in.health, in.m = h, m; close(ready) },
			Stopped: func(s uint64) { in.lastFull = s },
		})
	}()
	select {
	case <-ready:
	case err := <-in.done:
		t.Fatalf("ingestor stopped before it was ready: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("ingestor not ready after 20s")
	}
	t.Cleanup(func() { in.Stop(t) })
	return in
}

// Stop cancels the ingestor and waits until it drained its publishes.
func (in *ingestor) Stop(t *testing.T) {
	t.Helper()
	if in.cancel == nil {
		return
	}
	in.cancel()
	in.cancel = nil
	select {
	case err := <-in.done:
		if err != nil {
			t.Errorf("ingestor: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("ingestor did not stop within 30s")
	}
}

// waitProcessedSlot waits until the raw stream holds a processed slot
// status at or beyond slot, and returns the newest one.
func waitProcessedSlot(t *testing.T, js jetstream.JetStream, slot uint64) uint64 {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(45 * time.Second)
	for {
		if got := lastProcessedSlot(t, js); got >= slot {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("no processed slot %d in the stream after 45s (have %d)", slot, lastProcessedSlot(t, js))
		}
		select {
		case <-time.After(25 * time.Millisecond):
		case <-ctx.Done():
		}
	}
}

func lastProcessedSlot(t *testing.T, js jetstream.JetStream) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, bus.StreamRaw)
	if err != nil {
		return 0 // NATS restarting
	}
	m, err := s.GetLastMsgForSubject(ctx, bus.SlotSubject(fireholev1.SlotStatus_SLOT_STATUS_PROCESSED))
	if err != nil {
		return 0
	}
	v, _ := strconv.ParseUint(m.Header.Get(bus.HeaderSlot), 10, 64)
	return v
}

// stored is one account message read back from JetStream.
type stored struct {
	id  string
	upd *fireholev1.AccountUpdate
}

// readAccounts reads every raw account message in stream order.
func readAccounts(t *testing.T, js jetstream.JetStream) []stored {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, bus.StreamRaw)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(bus.RawAccountRoot+".>"))
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, n := range info.State.Subjects {
		want += int(n)
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{bus.RawAccountRoot + ".>"}})
	if err != nil {
		t.Fatal(err)
	}
	var out []stored
	for len(out) < want {
		batch, err := c.FetchNoWait(1000)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			var u fireholev1.AccountUpdate
			if err := proto.Unmarshal(m.Data(), &u); err != nil {
				t.Fatalf("stored message does not decode: %v", err)
			}
			out = append(out, stored{id: m.Headers().Get(bus.HeaderMsgID), upd: &u})
		}
		if n == 0 {
			if ctx.Err() != nil {
				t.Fatalf("read %d of %d messages", len(out), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return out
}

// expectedIDs are the message ids of the sim's account updates in
// from..to that match keep, in sim order.
func expectedIDs(t *testing.T, h *simHarness, from, to uint64, keep func(*fireholev1.AccountUpdate) bool) []string {
	t.Helper()
	var ids []string
	for _, u := range h.srv.Updates(from, to) {
		a := u.GetAccount()
		if a == nil {
			continue
		}
		var au fireholev1.AccountUpdate
		if _, ok := ingest.Convert(&au, a, nil); !ok {
			t.Fatalf("sim produced a malformed update: %v", a)
		}
		au.Commitment = fireholev1.Commitment_COMMITMENT_PROCESSED
		if keep != nil && !keep(&au) {
			continue
		}
		ids = append(ids, bus.AccountMsgID(&au))
	}
	return ids
}

// checkComplete checks that each expected id was stored exactly once.
func checkComplete(t *testing.T, got []stored, want []string) {
	t.Helper()
	count := map[string]int{}
	for _, s := range got {
		count[s.id]++
	}
	for id, n := range count {
		if n != 1 {
			t.Errorf("message id %s stored %d times", id, n)
		}
	}
	missing := 0
	for _, id := range want {
		if count[id] == 0 {
			missing++
			if missing <= 5 {
				t.Errorf("update %s never reached JetStream", id)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d updates missing", missing, len(want))
	}
	if len(want) < 100 {
		t.Errorf("only %d updates in the checked range; the test checks too little", len(want))
	}
}

// slotRange is the range fully covered: after the first slot seen (joined
// mid-slot) up to the slot before the last processed one in the stream.
func slotRange(t *testing.T, got []stored, last uint64) (uint64, uint64) {
	t.Helper()
	if len(got) == 0 {
		t.Fatal("no account updates stored")
	}
	first := got[0].upd.Slot
	for _, s := range got {
		first = min(first, s.upd.Slot)
	}
	return first + 1, last - 1
}

func TestEndToEnd(t *testing.T) {
	t.Parallel()
	h := startSim(t, simConfig(1))
	ns, _, js := bustest.StartWithStreams(t)
	in := startIngestor(t, testConfig(h.addr, ns.URL))
	start := waitProcessedSlot(t, js, 1)
	last := waitProcessedSlot(t, js, start+20)
	in.Stop(t)

	got := readAccounts(t, js)
	from, to := slotRange(t, got, last)
	checkComplete(t, got, expectedIDs(t, h, from, to, nil))

	// In order per account: write_version never goes backwards in stream order.
	lastWV := map[string]uint64{}
	for _, s := range got {
		k := string(s.upd.Pubkey)
		if s.upd.WriteVersion <= lastWV[k] {
			t.Fatalf("account %s: write_version %d stored after %d", base58.Encode(s.upd.Pubkey), s.upd.WriteVersion, lastWV[k])
		}
		lastWV[k] = s.upd.WriteVersion
		if s.upd.Source != h.addr || s.upd.Commitment != fireholev1.Commitment_COMMITMENT_PROCESSED || s.upd.CreatedAt == nil || s.upd.IngestedAt == nil {
			t.Fatalf("stored update lacks source/commitment/timestamps: %v", s.upd)
		}
	}
	if got := testutil.ToFloat64(in.m.Received.WithLabelValues(base58.Encode32(&solana.TokenProgramID))); got == 0 {
		t.Error("no token-program updates counted")
	}
	if got := testutil.ToFloat64(in.m.Reconnects.WithLabelValues("unavailable")); got != 0 {
		t.Errorf("%v reconnects on a healthy sim", got)
	}
}

func TestFiltersHonoured(t *testing.T) {
	t.Parallel()
	h := startSim(t, simConfig(2))
	ns, _, js := bustest.StartWithStreams(t)
	cfg := testConfig(h.addr, ns.URL)
	cfg.Owners = base58.Encode32(&solana.TokenProgramID)
	cfg.DataSize = "165"
	cfg.CaptureFile = filepath.Join(t.TempDir(), "capture.fhcap.zst")
	in := startIngestor(t, cfg)
	start := waitProcessedSlot(t, js, 1)
	last := waitProcessedSlot(t, js, start+20)
	in.Stop(t)

	// The capture holds what the server sent: the filtered accounts and the slots.
	f, err := capture.Open(cfg.CaptureFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var accounts, slots int
	for {
		u, err := f.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read capture: %v", err)
		}
		if a := u.GetAccount().GetAccount(); a != nil {
			accounts++
			if [32]byte(a.Owner) != solana.TokenProgramID {
				t.Fatalf("capture holds an account of %s", base58.Encode(a.Owner))
			}
		}
		if u.GetSlot() != nil {
			slots++
		}
	}
	if accounts < 100 || slots < 20 {
		t.Errorf("capture has %d accounts and %d slot updates", accounts, slots)
	}

	got := readAccounts(t, js)
	for _, s := range got {
		if [32]byte(s.upd.Owner) != solana.TokenProgramID || len(s.upd.Data) != 165 {
			t.Fatalf("stored an update the filter excludes: owner %s, %d bytes", base58.Encode(s.upd.Owner), len(s.upd.Data))
		}
	}
	from, to := slotRange(t, got, last)
	checkComplete(t, got, expectedIDs(t, h, from, to, func(u *fireholev1.AccountUpdate) bool {
		return [32]byte(u.Owner) == solana.TokenProgramID && len(u.Data) == 165
	}))
}

func TestSimRestartResumesWithoutLoss(t *testing.T) {
	t.Parallel()
	h := startSim(t, simConfig(3))
	ns, _, js := bustest.StartWithStreams(t)
	in := startIngestor(t, testConfig(h.addr, ns.URL))
	start := waitProcessedSlot(t, js, 1)
	waitProcessedSlot(t, js, start+10)

	h.Stop()
	outage := h.srv.Slot()
	for h.srv.Slot() < outage+15 { // the world moves on for 15 slots
		time.Sleep(20 * time.Millisecond)
	}
	h.Start()
	last := waitProcessedSlot(t, js, h.srv.Slot()+10)
	in.Stop(t)

	if got := testutil.ToFloat64(in.m.Gaps); got != 0 {
		t.Errorf("%v gaps; the ring covers the outage", got)
	}
	var reconnects float64
	for _, r := range []string{"unavailable", "eof", "canceled", "internal", "other", "unknown"} {
		reconnects += testutil.ToFloat64(in.m.Reconnects.WithLabelValues(r))
	}
	if reconnects == 0 {
		t.Error("no reconnect counted")
	}
	got := readAccounts(t, js)
	from, to := slotRange(t, got, last)
	if from > outage || to < outage+15 {
		t.Fatalf("checked range %d..%d does not span the outage at %d", from, to, outage)
	}
	checkComplete(t, got, expectedIDs(t, h, from, to, nil))
}

func TestResumeBeyondRingPublishesGap(t *testing.T) {
	t.Parallel()
	cfg := simConfig(4)
	cfg.RingSlots = 10
	h := startSim(t, cfg)
	ns, _, js := bustest.StartWithStreams(t)
	in := startIngestor(t, testConfig(h.addr, ns.URL))
	start := waitProcessedSlot(t, js, 1)
	seen := waitProcessedSlot(t, js, start+5)

	h.Stop()
	outage := h.srv.Slot()
	for h.srv.Slot() < outage+40 { // far beyond the 10-slot ring
		time.Sleep(20 * time.Millisecond)
	}
	h.Start()
	g := waitGap(t, js)
	waitProcessedSlot(t, js, g.ToSlot+5)
	in.Stop(t)

	if g.FromSlot < seen-2 || g.FromSlot > outage+1 || g.ToSlot < outage+40 || g.ToSlot < g.FromSlot || g.Source != h.addr || g.Reason == "" {
		t.Errorf("gap %d..%d (%q, source %q); want from about %d..%d to at least %d", g.FromSlot, g.ToSlot, g.Reason, g.Source, seen, outage+1, outage+40)
	}
	if got := testutil.ToFloat64(in.m.Gaps); got != 1 {
		t.Errorf("gaps metric = %v", got)
	}
	// The stream went on live after the gap.
	got := readAccounts(t, js)
	if n := len(got); n == 0 {
		t.Fatal("no accounts stored")
	}
	after := 0
	for _, st := range got {
		if st.upd.Slot > g.ToSlot {
			after++
		}
	}
	if after == 0 {
		t.Error("no account updates after the gap")
	}
}

// waitGap waits for the gap event in the raw stream.
func waitGap(t *testing.T, js jetstream.JetStream) *fireholev1.GapEvent {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(45 * time.Second)
	for {
		if s, err := js.Stream(ctx, bus.StreamRaw); err == nil {
			if m, err := s.GetLastMsgForSubject(ctx, bus.GapSubject); err == nil {
				var g fireholev1.GapEvent
				if err := proto.Unmarshal(m.Data, &g); err != nil {
					t.Fatal(err)
				}
				return &g
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no gap event after 45s")
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func TestTwoIngestorsNoDuplicates(t *testing.T) {
	t.Parallel()
	cfgA, cfgB := simConfig(5), simConfig(5)
	cfgB.WriteVersionBase = 1 << 40
	a, b := startSim(t, cfgA), startSim(t, cfgB)
	ns, _, js := bustest.StartWithStreams(t)
	ia := startIngestor(t, testConfig(a.addr, ns.URL))
	ib := startIngestor(t, testConfig(b.addr, ns.URL))
	start := waitProcessedSlot(t, js, 1)
	waitProcessedSlot(t, js, start+20)
	ia.Stop(t)
	ib.Stop(t)

	pa, pb := publishedTotal(ia.m), publishedTotal(ib.m)
	if pa < 100 || pb < 100 {
		t.Fatalf("published %v and %v; both ingestors must carry traffic", pa, pb)
	}
	got := readAccounts(t, js)
	// One write: the same account, slot, transaction and resulting state.
	// (One account may be written twice in a slot by two transactions.)
	type content struct {
		pubkey string
		slot   uint64
		sig    string
		data   string
		lam    uint64
	}
	seen := map[content]uint64{}
	dups := 0
	for _, s := range got {
		c := content{string(s.upd.Pubkey), s.upd.Slot, string(s.upd.TxnSignature), string(s.upd.Data), s.upd.Lamports}
		if wv, ok := seen[c]; ok {
			dups++
			if dups <= 3 {
				t.Errorf("account %s slot %d stored twice (write_version %d and %d)", base58.Encode(s.upd.Pubkey), s.upd.Slot, wv, s.upd.WriteVersion)
			}
		}
		seen[c] = s.upd.WriteVersion
	}
	if dups > 0 {
		t.Errorf("%d duplicates among %d stored (ingestors published %v + %v)", dups, len(got), pa, pb)
	}
	if float64(len(got)) >= pa+pb {
		t.Errorf("stored %d of %v published: de-duplication did nothing", len(got), pa+pb)
	}
}

func receivedTotal(m *metrics.Metrics) float64 { return sumPrograms(m.Received) }

func publishedTotal(m *metrics.Metrics) float64 { return sumPrograms(m.Published) }

func sumPrograms(c *prometheus.CounterVec) float64 {
	var n float64
	for _, p := range append(ingest.KnownPrograms(), [32]byte{}) {
		label := "other"
		if p != ([32]byte{}) {
			label = base58.Encode32(&p)
		}
		n += testutil.ToFloat64(c.WithLabelValues(label))
	}
	return n
}

func TestNATSRestartNoLoss(t *testing.T) {
	t.Parallel()
	h := startSim(t, simConfig(6))
	ns, _, js := bustest.StartWithStreams(t)
	in := startIngestor(t, testConfig(h.addr, ns.URL))
	start := waitProcessedSlot(t, js, 1)
	waitProcessedSlot(t, js, start+10)

	// NATS is down for a second: the ingestor keeps at most MaxInFlight
	// publishes and stops reading the stream instead of buffering.
	ns.Shutdown()
	ns.WaitForShutdown()
	time.Sleep(300 * time.Millisecond)
	received := receivedTotal(in.m)
	time.Sleep(700 * time.Millisecond)
	if inflight := testutil.ToFloat64(in.m.InFlight); inflight > 512 {
		t.Errorf("%v publishes in flight; the bound is 512", inflight)
	}
	if more := receivedTotal(in.m) - received; more > 512 {
		t.Errorf("read %v more updates while NATS was down; reading should stop at the in-flight bound", more)
	}
	ns.Restart(t)
	last := waitProcessedSlot(t, js, h.srv.Slot()+15)
	in.Stop(t)

	got := readAccounts(t, js)
	from, to := slotRange(t, got, last)
	checkComplete(t, got, expectedIDs(t, h, from, to, nil))
	if r := testutil.ToFloat64(in.m.PublishErrors.WithLabelValues("permanent")); r != 0 {
		t.Errorf("%v publishes given up", r)
	}
}

func TestBadConfigFailsAtStart(t *testing.T) {
	t.Parallel()
	cfg := testConfig("127.0.0.1:1", "nats://127.0.0.1:1")
	cfg.Owners = "not-a-key"
	err := RunConfig(context.Background(), cfg, Hooks{})
	if err == nil || !strings.Contains(err.Error(), "INGESTOR_OWNERS") {
		t.Fatalf("RunConfig = %v; want an error naming INGESTOR_OWNERS", err)
	}
}

// TestProcessRestartResumesFromJetStream stops the ingestor and starts a new
// one later: it resumes from the newest complete slot in the stream, so the
// updates generated while no ingestor ran are not lost.
func TestProcessRestartResumesFromJetStream(t *testing.T) {
	t.Parallel()
	h := startSim(t, simConfig(7))
	ns, _, js := bustest.StartWithStreams(t)
	cfg := testConfig(h.addr, ns.URL)
	cfg.ResumeOnStart = true
	first := startIngestor(t, cfg)
	start := waitProcessedSlot(t, js, 1)
	waitProcessedSlot(t, js, start+10)
	first.Stop(t)
	down := lastProcessedSlot(t, js)
	for h.srv.Slot() < down+15 { // nobody ingests for 15 slots
		time.Sleep(20 * time.Millisecond)
	}
	second := startIngestor(t, cfg)
	last := waitProcessedSlot(t, js, h.srv.Slot()+10)
	second.Stop(t)

	got := readAccounts(t, js)
	from, to := slotRange(t, got, last)
	if from > down || to < down+15 {
		t.Fatalf("checked range %d..%d does not span the downtime after %d", from, to, down)
	}
	checkComplete(t, got, expectedIDs(t, h, from, to, nil))
	if g := testutil.ToFloat64(second.m.Gaps); g != 0 {
		t.Errorf("%v gaps; the ring covers the downtime", g)
	}
}
