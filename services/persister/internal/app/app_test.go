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

	"github.com/firehole/firehole/pkg/bus"
	"github.com/firehole/firehole/pkg/bus/bustest"
	"github.com/firehole/firehole/pkg/testenv"
	"github.com/firehole/firehole/services/persister/internal/pgtest"
	"github.com/firehole/firehole/services/persister/internal/schema"
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

// The binary's wiring: migrate commands, refusal to run unmigrated, then
// the service with its HTTP endpoints on a NATS server without streams.
func TestRunCommands(t *testing.T) {
	srv := bustest.Start(t)
	pgURL := testenv.PostgresURL(t)
	name := testenv.Name(t)
	verify := pgtest.Pool(t, pgURL)
	t.Cleanup(func() {
		_, _ = verify.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema.Ident(name)+" CASCADE")
	})
	httpAddr := freeAddr(t)
	t.Setenv("PERSISTER_NATS_URL", srv.URL)
	t.Setenv("PERSISTER_POSTGRES_URL", pgURL)
	t.Setenv("PERSISTER_SCHEMA", name)
	t.Setenv("PERSISTER_HTTP_ADDR", httpAddr)
	t.Setenv("PERSISTER_LOG_LEVEL", "warn")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var out bytes.Buffer
	if err := Run(ctx, []string{"migrate", "status"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "pending") {
		t.Errorf("status before migrating does not say pending:\n%s", out.String())
	}
	if err := Run(ctx, nil, io.Discard); !errors.Is(err, schema.ErrNotMigrated) {
		t.Fatalf("run on an unmigrated schema = %v, want ErrNotMigrated", err)
	}
	if err := Run(ctx, []string{"migrate", "sideways"}, io.Discard); err == nil {
		t.Fatal("unknown migrate argument accepted")
	}
	out.Reset()
	if err := Run(ctx, []string{"migrate"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "applied 0001") {
		t.Errorf("migrate up printed %q", out.String())
	}
	out.Reset()
	if err := Run(ctx, []string{"migrate", "status"}, &out); err != nil || strings.Contains(out.String(), "pending") {
		t.Fatalf("status after migrating: %v\n%s", err, out.String())
	}

	t.Setenv("PERSISTER_GIN_INDEX", "true")
	t.Setenv("PERSISTER_TOKEN_AMOUNT_INDEX", "true")
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- Run(sctx, nil, io.Discard) }()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + httpAddr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitFor(t, 30*time.Second, func() bool { code, _ := get("/readyz"); return code == http.StatusOK })

	_, js := bustest.Connect(t, srv.URL)
	ups, want := stream(6, 20, 3, 0)
	publish(t, js, ups)
	waitDrained(t, js, bus.StreamDecoded, AccountsConsumer, 30*time.Second)
	checkState(t, verify, name, want)
	if code, body := get("/metrics"); code != http.StatusOK || !strings.Contains(body, `firehole_persister_messages_stored_total{kind="accounts"}`) {
		t.Errorf("/metrics: %d, stored counter missing", code)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d", code)
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop")
	}
}
