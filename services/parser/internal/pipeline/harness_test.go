package pipeline_test

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"

	"github.com/firehole/firehole/pkg/bus"
	"github.com/firehole/firehole/pkg/bus/bustest"
	"github.com/firehole/firehole/pkg/solana"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
	"github.com/firehole/firehole/services/parser/internal/jsonparsed"
	"github.com/firehole/firehole/services/parser/internal/mints"
	"github.com/firehole/firehole/services/parser/internal/pipeline"
	"github.com/firehole/firehole/services/parser/internal/service"
)

// env is one test's NATS server with the contract's streams.
type env struct {
	t   testing.TB
	srv *bustest.Server
	nc  *nats.Conn
	js  jetstream.JetStream
}

func newEnv(t testing.TB) *env {
	t.Helper()
	srv, nc, js := bustest.StartWithStreams(t)
	return &env{t: t, srv: srv, nc: nc, js: js}
}

// replica is one running parser.
type replica struct {
	p      *pipeline.Parser
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
}

// stop stops the replica and waits for it; safe to call twice.
func (r *replica) stop(t testing.TB) {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok && err != nil {
			t.Errorf("parser run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("parser did not stop")
	}
}

type replicaOpts struct {
	partitions []int
	lookup     mints.Lookup
	durable    string
	batch      int
	inFlight   int
	single     bool
	mintRPC    string // Solana RPC URL for mints.RPC lookups (Options.AskMint)
	now        func() time.Time
}

// start runs a parser replica on its own NATS connection with the real
// decoder registry (IDLs from deploy/idl).
func (e *env) start(o replicaOpts) *replica {
	t := e.t
	t.Helper()
	if o.partitions == nil {
		o.partitions = all()
	}
	nc, js := bustest.Connect(t, e.srv.URL)
	book := mints.NewBook(jsonparsed.MintFromAccount, o.lookup, 10_000)
	registry, _, err := service.BuildRegistry("../../../../deploy/idl", "", book)
	if err != nil {
		t.Fatalf("build registry: %v", err)
	}
	reg := prometheus.NewRegistry()
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	var p *pipeline.Parser
	var mintRPC *mints.RPC[jsonparsed.MintInfo]
	var askMint func([32]byte)
	if o.mintRPC != "" {
		mintRPC, err = mints.NewRPC(mints.RPCOptions{URL: o.mintRPC, RetryMin: 100 * time.Millisecond}, book,
			func(m [32]byte) { p.MintKnown(m) }, log, reg)
		if err != nil {
			t.Fatal(err)
		}
		askMint = mintRPC.Want
	}
	p, err = pipeline.New(nc, js, registry, book, pipeline.Options{
		Partitions: o.partitions, Durable: o.durable, Batch: o.batch, MaxInFlight: o.inFlight, Single: o.single,
		Sweep: 100 * time.Millisecond, LagInterval: 200 * time.Millisecond, AskMint: askMint, Now: o.now,
	}, log, reg)
	if err != nil {
		t.Fatalf("new parser: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &replica{p: p, reg: reg, cancel: cancel, done: make(chan error, 1)}
	var rpcDone chan struct{}
	if mintRPC != nil {
		rpcDone = make(chan struct{})
		go func() {
			defer close(rpcDone)
			_ = mintRPC.Run(ctx)
		}()
	}
	go func() {
		r.done <- p.Run(ctx)
		if rpcDone != nil {
			<-rpcDone
		}
		close(r.done)
	}()
	t.Cleanup(func() { r.stop(t) })
	select {
	case <-p.Ready():
	case err := <-r.done:
		t.Fatalf("parser stopped before ready: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("parser not ready")
	}
	return r
}

func all() []int {
	out := make([]int, bus.Partitions)
	for i := range out {
		out[i] = i
	}
	return out
}

// publishRaw publishes u as the ingestor does and returns its message id.
func (e *env) publishRaw(u *fireholev1.AccountUpdate) string {
	e.t.Helper()
	data, err := proto.Marshal(u)
	if err != nil {
		e.t.Fatal(err)
	}
	id := bus.AccountMsgID(u)
	m := nats.NewMsg(bus.RawAccountSubject(u.GetOwner(), u.GetPubkey()))
	m.Data = data
	m.Header.Set(bus.HeaderMsgID, id)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := e.js.PublishMsg(ctx, m); err != nil {
		e.t.Fatalf("publish raw: %v", err)
	}
	return id
}

// decoded is one message read from FIREHOLE_DECODED.
type decoded struct {
	subject string
	header  nats.Header
	msg     *fireholev1.DecodedAccount
}

// reader reads FIREHOLE_DECODED in stream order from the start.
type reader struct {
	t    testing.TB
	mu   sync.Mutex
	iter jetstream.MessagesContext
}

func (e *env) reader(filter string) *reader {
	e.t.Helper()
	if filter == "" {
		filter = bus.DecodedAccountRoot + ".>"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := e.js.OrderedConsumer(ctx, bus.StreamDecoded, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		e.t.Fatalf("ordered consumer: %v", err)
	}
	it, err := c.Messages()
	if err != nil {
		e.t.Fatalf("messages: %v", err)
	}
	e.t.Cleanup(it.Stop)
	return &reader{t: e.t, iter: it}
}

// next returns the next decoded message, failing the test after timeout.
func (r *reader) next(timeout time.Duration) decoded {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	m, err := r.iter.Next(jetstream.NextMaxWait(timeout))
	if err != nil {
		r.t.Fatalf("no decoded message within %s: %v", timeout, err)
	}
	var d fireholev1.DecodedAccount
	if err := proto.Unmarshal(m.Data(), &d); err != nil {
		r.t.Fatalf("unmarshal decoded: %v", err)
	}
	return decoded{subject: m.Subject(), header: m.Headers(), msg: &d}
}

// none checks that nothing more arrives within d.
func (r *reader) none(d time.Duration) {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	m, err := r.iter.Next(jetstream.NextMaxWait(d))
	if err == nil {
		r.t.Fatalf("unexpected decoded message on %s (id %s)", m.Subject(), m.Headers().Get(bus.HeaderMsgID))
	}
}

func key(t testing.TB) [32]byte {
	t.Helper()
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		t.Fatal(err)
	}
	return k
}

// keyInPartition returns a random key whose partition is p.
func keyInPartition(t testing.TB, p int) [32]byte {
	for {
		k := key(t)
		if bus.Partition(k[:]) == p {
			return k
		}
	}
}

// mintData is an initialized SPL Token mint (82 bytes).
func mintData(decimals uint8, supply uint64) []byte {
	b := make([]byte, 82)
	binary.LittleEndian.PutUint32(b[0:], 1) // mint authority: Some
	b[4] = 7
	binary.LittleEndian.PutUint64(b[36:], supply)
	b[44] = decimals
	b[45] = 1 // initialized
	return b  // freeze authority: None
}

// tokenAccountData is an initialized SPL Token account (165 bytes).
func tokenAccountData(mint, owner [32]byte, amount uint64) []byte {
	b := make([]byte, 165)
	copy(b[0:], mint[:])
	copy(b[32:], owner[:])
	binary.LittleEndian.PutUint64(b[64:], amount)
	b[108] = 1 // initialized
	return b
}

func update(owner, pubkey [32]byte, data []byte, slot uint64) *fireholev1.AccountUpdate {
	return &fireholev1.AccountUpdate{
		Pubkey: pubkey[:], Owner: owner[:], Lamports: 2039280, Data: data,
		Slot: slot, WriteVersion: slot * 10, RentEpoch: ^uint64(0),
		Commitment: fireholev1.Commitment_COMMITMENT_CONFIRMED, Source: "test",
	}
}

func tokenProgram() [32]byte { return solana.TokenProgramID }

func contains(t testing.TB, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s\ndoes not contain %s", s, sub)
		}
	}
}
