package app

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/firehole/firehole/pkg/config"
	"github.com/firehole/firehole/proto/geyser"
)

func validConfig() Config {
	var c Config
	c.Level, c.Format = "info", "json"
	c.GRPCAddr, c.HTTPAddr = "127.0.0.1:10000", "127.0.0.1:9106"
	c.StartSlot, c.SlotInterval, c.RingSlots = 1000, 400*time.Millisecond, 150
	c.PingInterval, c.Mints, c.TokenAccounts, c.Wallets, c.ChannelCapacity = 10*time.Second, 6, 200, 60, 1000
	return c
}

func TestValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		edit  func(*Config)
		wants []string
	}{
		{"valid", func(*Config) {}, nil},
		{"bad addrs", func(c *Config) { c.GRPCAddr, c.HTTPAddr = "nope", "" }, []string{"GEYSERSIM_GRPC_ADDR", "GEYSERSIM_HTTP_ADDR"}},
		{"every number", func(c *Config) {
			c.StartSlot, c.SlotInterval, c.Rate, c.RingSlots, c.PingInterval = 0, 0, -1, -1, 0
			c.Mints, c.TokenAccounts, c.Wallets, c.ChannelCapacity = 0, 1, 1, 0
		}, []string{"START_SLOT", "SLOT_INTERVAL", "RATE", "RING_SLOTS", "PING_INTERVAL", "MINTS", "TOKEN_ACCOUNTS", "WALLETS", "CHANNEL_CAPACITY"}},
		{"record over replay", func(c *Config) { c.ReplayFile, c.RecordFile = "x", "x" }, []string{"GEYSERSIM_RECORD_FILE"}},
		{"log level", func(c *Config) { c.Level = "loud" }, []string{"LOG_LEVEL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.edit(&c)
			err := c.Validate()
			if len(tc.wants) == 0 {
				if err != nil {
					t.Fatalf("unexpected: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not name %s:\n%v", w, err)
				}
			}
		})
	}
}

func TestHelp(t *testing.T) {
	var out bytes.Buffer
	err := Run(context.Background(), []string{"-help"}, &out)
	if !errors.Is(err, config.ErrHelp) || !strings.Contains(out.String(), "GEYSERSIM_RATE") {
		t.Fatalf("help: %v\n%s", err, out.String())
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// TestRun starts the whole service and talks to both its ports.
func TestRun(t *testing.T) {
	grpcAddr, httpAddr := freeAddr(t), freeAddr(t)
	t.Setenv("GEYSERSIM_GRPC_ADDR", grpcAddr)
	t.Setenv("GEYSERSIM_HTTP_ADDR", httpAddr)
	t.Setenv("GEYSERSIM_SLOT_INTERVAL", "20ms")
	t.Setenv("GEYSERSIM_LOG_LEVEL", "warn")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, nil, io.Discard) }()

	cc, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	c := geyser.NewGeyserClient(cc)
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := c.GetSlot(ctx, &geyser.GetSlotRequest{})
		if err == nil && r.Slot >= 1001 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no slots: %v %v", r, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get("http://" + httpAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
		if path == "/metrics" && !strings.Contains(string(body), "firehole_geysersim_updates_generated_total") {
			t.Fatalf("metrics lack the simulator's counters")
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop")
	}
}
