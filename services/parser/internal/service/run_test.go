package service

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"

	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/pkg/bus"
	"github.com/firehole/firehole/pkg/bus/bustest"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestRunServesAndDecodes runs the whole service against an in-process
// NATS: it becomes ready, decodes a Clock sysvar update and exports metrics.
func TestRunServesAndDecodes(t *testing.T) {
	t.Parallel()
	srv := bustest.Start(t)
	cfg := validConfig()
	cfg.NATSURL = srv.URL
	cfg.IDLDir = "../../../../deploy/idl"
	cfg.HTTPAddr = freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("run did not stop")
		}
	}()

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + cfg.HTTPAddr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if code, _ := get("/readyz"); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			code, body := get("/readyz")
			t.Fatalf("not ready: %d %s", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}

	nc, js := bustest.Connect(t, srv.URL)
	_ = nc
	clock := make([]byte, 40)
	clock[32] = 0x10 // unix_timestamp 16
	u := &fireholev1.AccountUpdate{
		Pubkey: mustKey(t, "SysvarC1ock11111111111111111111111111111111"), Owner: mustKey(t, "Sysvar1111111111111111111111111111111111111"),
		Data: clock, Slot: 9, Commitment: fireholev1.Commitment_COMMITMENT_FINALIZED,
	}
	body, _ := proto.Marshal(u)
	m := nats.NewMsg(bus.RawAccountSubject(u.Owner, u.Pubkey))
	m.Data = body
	m.Header.Set(bus.HeaderMsgID, bus.AccountMsgID(u))
	pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
	defer pcancel()
	if _, err := js.PublishMsg(pctx, m); err != nil {
		t.Fatal(err)
	}
	c, err := js.OrderedConsumer(pctx, bus.StreamDecoded, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Next(jetstream.FetchMaxWait(10 * time.Second))
	if err != nil {
		t.Fatalf("no decoded message: %v", err)
	}
	var d fireholev1.DecodedAccount
	if err := proto.Unmarshal(got.Data(), &d); err != nil {
		t.Fatal(err)
	}
	if d.GetStatus() != fireholev1.DecodeStatus_DECODE_STATUS_OK || d.GetProgram() != "sysvar" || !d.GetJsonParsed() {
		t.Fatalf("clock decoded as %v %q json_parsed=%v: %s", d.GetStatus(), d.GetProgram(), d.GetJsonParsed(), d.GetError())
	}
	if !strings.Contains(string(d.GetParsed()), `"unixTimestamp":16`) {
		t.Errorf("parsed clock %s", d.GetParsed())
	}
	code, metrics := get("/metrics")
	if code != http.StatusOK || !strings.Contains(metrics, `firehole_parser_decoded_total{account_type="clock",program="sysvar",status="ok"} 1`) {
		t.Errorf("metrics %d:\n%s", code, metrics)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("healthz %d", code)
	}
}

func mustKey(t *testing.T, s string) []byte {
	t.Helper()
	k, err := decodeKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k[:]
}

func decodeKey(s string) ([32]byte, error) { return base58.Decode32(s) }
