package sim

import (
	"context"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/firehole/firehole/proto/geyser"
)

func TestMain(m *testing.M) {
	RegisterCompressors()
	os.Exit(m.Run())
}

// testConfig is a fast, small world.
func testConfig() Config {
	return Config{Seed: 42, StartSlot: 5000, SlotInterval: 20 * time.Millisecond, Rate: 2000, RingSlots: 150,
		PingInterval: time.Hour, Mints: 3, TokenAccounts: 40, Wallets: 12}
}

type harness struct {
	srv    *Server
	addr   string
	cancel context.CancelFunc
	done   chan struct{}
}

// start runs a Server (world and gRPC on a loopback listener) until the test ends.
func start(t *testing.T, cfg Config) *harness {
	t.Helper()
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	srv, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{srv: srv, addr: lis.Addr().String(), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		errc := make(chan error, 2)
		go func() { errc <- srv.Run(ctx) }()
		go func() { errc <- srv.Serve(ctx, lis) }()
		for range 2 {
			if err := <-errc; err != nil {
				t.Errorf("sim stopped: %v", err)
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-h.done })
	return h
}

func dial(t testing.TB, addr string, opts ...grpc.DialOption) geyser.GeyserClient {
	t.Helper()
	opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	cc, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return geyser.NewGeyserClient(cc)
}

// subscribe opens a stream and sends req.
func subscribe(t *testing.T, ctx context.Context, c geyser.GeyserClient, req *geyser.SubscribeRequest) geyser.Geyser_SubscribeClient {
	t.Helper()
	st, err := c.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(req); err != nil {
		t.Fatal(err)
	}
	return st
}

// waitSlot waits until the sim has processed slot.
func waitSlot(t *testing.T, srv *Server, slot uint64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for srv.Slot() < slot {
		if time.Now().After(deadline) {
			t.Fatalf("sim did not reach slot %d (at %d)", slot, srv.Slot())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return lis
}

func ptr[T any](v T) *T { return &v }

func strconvFormat(v uint64) string { return strconv.FormatUint(v, 10) }

func timestampOf(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }
