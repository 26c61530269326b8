package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/rueidis"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"

	"github.com/firehole/firehole/pkg/accountcache"
	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/pkg/bus"
	"github.com/firehole/firehole/pkg/bus/embedded"
	"github.com/firehole/firehole/pkg/testenv"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
)

var services = []string{"geyser-sim", "ingestor", "parser", "persister", "cacher", "gateway"}

// buildServices builds every service binary into one directory.
func buildServices(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, svc := range services {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, svc), ".")
		cmd.Dir = filepath.Join(repoRoot, "services", svc)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", svc, err, out)
		}
	}
	return dir
}

// freePorts finds n consecutive free loopback ports.
func freePorts(t *testing.T, n int) int {
	t.Helper()
	for try := 0; try < 200; try++ {
		base := 30000 + rand.IntN(25000)
		ok := true
		var ls []net.Listener
		for i := 0; i < n && ok; i++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+i))
			if err != nil {
				ok = false
				break
			}
			ls = append(ls, l)
		}
		for _, l := range ls {
			_ = l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free port range")
	return 0
}

type stack struct {
	cfg   Config
	sup   *supervisor
	js    jetstream.JetStream
	pg    *pgxpool.Pool
	redis rueidis.Client
	logs  string
}

func (s *stack) dumpLogs(t *testing.T) {
	t.Helper()
	for _, svc := range services {
		b, _ := os.ReadFile(filepath.Join(s.logs, svc+".log"))
		if len(b) > 4000 {
			b = b[len(b)-4000:]
		}
		t.Logf("---- %s log (tail) ----\n%s", svc, b)
	}
}

// TestEndToEnd runs the dev command's stack as real processes: geyser-sim →
// ingestor → JetStream → parser → persister/cacher/gateway, crashes the
// persister and cacher with SIGKILL mid-stream, stops the source, and then
// checks that Postgres and Redis hold, for every account, exactly the newest
// update on the bus, and that the gateway serves it to a WebSocket client.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs every service")
	}
	pgURL := testenv.PostgresURL(t)
	redisAddr := testenv.RedisAddr(t)
	name := testenv.Name(t)
	bin := buildServices(t)

	ns, err := embedded.Start(embedded.Options{Port: -1, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	base := freePorts(t, 10)
	st := &stack{logs: t.TempDir()}
	st.cfg = Config{
		BinDir: bin, SimRate: 400, Commitment: "confirmed",
		PostgresURL: pgURL, PostgresSchema: name, RedisAddr: redisAddr, RedisPrefix: name + ":",
		APIKey: "e2e-key", IDLDir: mustAbs(t, filepath.Join(repoRoot, "deploy", "idl")),
		SimAddr:  fmt.Sprintf("127.0.0.1:%d", base),
		HTTPAddr: fmt.Sprintf("127.0.0.1:%d", base+1), WSAddr: fmt.Sprintf("127.0.0.1:%d", base+2),
		OpsPortBase: base + 3,
	}

	pg, err := pgxpool.New(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	st.pg = pg
	t.Cleanup(func() {
		_, _ = pg.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+name+" CASCADE")
		pg.Close()
	})
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{redisAddr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	st.redis = rc
	t.Cleanup(func() { deletePrefix(rc, name+":"); rc.Close() })

	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	st.js, _ = jetstream.New(nc)

	st.sup = newSupervisor(zerolog.New(io.Discard), bin, st.logs)
	st.sup.start(ctx, plan(st.cfg, ns.ClientURL()))
	stopped := false
	defer func() {
		if !stopped {
			st.sup.stop(5 * time.Second)
		}
		if t.Failed() {
			st.dumpLogs(t)
		}
	}()

	// 1. Data flows all the way into Postgres.
	waitFor(t, ctx, 90*time.Second, "accounts in Postgres", func() bool {
		var n int
		_ = pg.QueryRow(ctx, "SELECT count(*) FROM "+name+".accounts").Scan(&n)
		return n >= 100
	})

	// 2. The gateway serves live updates and reads to Solana-style clients.
	checkGateway(t, ctx, st)

	// 3. Crash the sinks mid-stream; the supervisor restarts them.
	for _, svc := range []string{"persister", "cacher"} {
		if !st.sup.signal(svc, syscall.SIGKILL) {
			t.Fatalf("could not kill %s", svc)
		}
	}
	time.Sleep(6 * time.Second)

	// 4. Stop the source, let the pipeline drain.
	st.sup.stopOne("ingestor", 5*time.Second)
	st.sup.stopOne("geyser-sim", 5*time.Second)
	waitDrained(t, ctx, st.js)

	// 5. Postgres and Redis equal the newest decoded update per account.
	want := newestOnBus(t, ctx, st.js)
	if len(want) < 100 {
		t.Fatalf("only %d accounts on the bus", len(want))
	}
	checkPostgres(t, ctx, pg, name, want)
	checkRedis(t, ctx, rc, name+":", want)
	checkRawDecoded(t, ctx, st.js)

	st.sup.stop(5 * time.Second)
	stopped = true
}

func mustAbs(t *testing.T, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func waitFor(t *testing.T, ctx context.Context, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// waitDrained waits until every durable consumer has nothing pending or
// unacknowledged, twice in a row.
func waitDrained(t *testing.T, ctx context.Context, js jetstream.JetStream) {
	t.Helper()
	quiet := 0
	waitFor(t, ctx, 90*time.Second, "consumers to drain", func() bool {
		busy := false
		for _, stream := range []string{bus.StreamRaw, bus.StreamDecoded} {
			s, err := js.Stream(ctx, stream)
			if err != nil {
				busy = true
				continue
			}
			for c := range s.ListConsumers(ctx).Info() {
				if c.NumPending > 0 || c.NumAckPending > 0 {
					busy = true
				}
			}
		}
		if busy {
			quiet = 0
			return false
		}
		quiet++
		return quiet >= 3
	})
}

type version struct {
	slot, wv uint64
	ok       bool
	acct     *fireholev1.DecodedAccount
}

func (v version) newer(o version) bool {
	if v.slot != o.slot {
		return v.slot > o.slot
	}
	if v.wv != o.wv {
		return v.wv > o.wv
	}
	return v.ok && !o.ok
}

// newestOnBus reads the whole decoded stream and keeps the newest update
// per account, by the contract's rule.
func newestOnBus(t *testing.T, ctx context.Context, js jetstream.JetStream) map[string]version {
	t.Helper()
	out := map[string]version{}
	eachMsg(t, ctx, js, bus.StreamDecoded, bus.DecodedAccountRoot+".>", func(m jetstream.Msg) {
		d := &fireholev1.DecodedAccount{}
		if err := proto.Unmarshal(m.Data(), d); err != nil {
			t.Fatalf("decoded message %s: %v", m.Subject(), err)
		}
		a := d.GetAccount()
		v := version{a.GetSlot(), a.GetWriteVersion(), d.GetStatus() == fireholev1.DecodeStatus_DECODE_STATUS_OK, d}
		k := base58.Encode(a.GetPubkey())
		if cur, ok := out[k]; !ok || v.newer(cur) {
			out[k] = v
		}
	})
	return out
}

func eachMsg(t *testing.T, ctx context.Context, js jetstream.JetStream, stream, filter string, fn func(jetstream.Msg)) {
	t.Helper()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		t.Fatal(err)
	}
	total := uint64(0)
	for _, n := range info.State.Subjects {
		total += n
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		t.Fatal(err)
	}
	for seen := uint64(0); seen < total; {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for m := range batch.Messages() {
			fn(m)
			got++
		}
		if got == 0 {
			t.Fatalf("read %d of %d messages of %s", seen, total, filter)
		}
		seen += uint64(got)
	}
}

func checkPostgres(t *testing.T, ctx context.Context, pg *pgxpool.Pool, schema string, want map[string]version) {
	t.Helper()
	rows, err := pg.Query(ctx, "SELECT pubkey, slot, write_version, lamports, data, decode_status FROM "+schema+".accounts")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var pk, data []byte
		var slot, wv, lamports int64
		var status int16
		if err := rows.Scan(&pk, &slot, &wv, &lamports, &data, &status); err != nil {
			t.Fatal(err)
		}
		k := base58.Encode(pk)
		w, ok := want[k]
		if !ok {
			t.Errorf("postgres has %s, which is not on the bus", k)
			continue
		}
		seen++
		a := w.acct.GetAccount()
		if uint64(slot) != a.GetSlot() || uint64(wv) != a.GetWriteVersion() || uint64(lamports) != a.GetLamports() ||
			!bytes.Equal(data, a.GetData()) || int32(status) != int32(w.acct.GetStatus()) {
			t.Errorf("postgres %s = slot %d wv %d lamports %d status %d; newest on the bus: slot %d wv %d lamports %d status %v",
				k, slot, wv, lamports, status, a.GetSlot(), a.GetWriteVersion(), a.GetLamports(), w.acct.GetStatus())
		}
	}
	if seen != len(want) {
		t.Errorf("postgres holds %d of the %d accounts on the bus", seen, len(want))
	}
}

func checkRedis(t *testing.T, ctx context.Context, rc rueidis.Client, prefix string, want map[string]version) {
	t.Helper()
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	got, err := accountcache.MGet(ctx, rc, prefix, keys)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		w := want[k].acct
		switch {
		case got[i] == nil:
			t.Errorf("redis lacks %s", k)
		case !proto.Equal(got[i].GetAccount(), w.GetAccount()) || got[i].GetStatus() != w.GetStatus() || !bytes.Equal(got[i].GetParsed(), w.GetParsed()):
			t.Errorf("redis %s = slot %d wv %d status %v; newest on the bus: slot %d wv %d status %v", k,
				got[i].GetAccount().GetSlot(), got[i].GetAccount().GetWriteVersion(), got[i].GetStatus(),
				w.GetAccount().GetSlot(), w.GetAccount().GetWriteVersion(), w.GetStatus())
		}
	}
}

// checkRawDecoded: every raw account update was decoded and republished
// under its message id.
func checkRawDecoded(t *testing.T, ctx context.Context, js jetstream.JetStream) {
	t.Helper()
	raw := map[string]bool{}
	eachMsg(t, ctx, js, bus.StreamRaw, bus.RawAccountRoot+".>", func(m jetstream.Msg) {
		raw[m.Headers().Get(bus.HeaderMsgID)] = true
	})
	decoded := map[string]bool{}
	eachMsg(t, ctx, js, bus.StreamDecoded, bus.DecodedAccountRoot+".>", func(m jetstream.Msg) {
		decoded[strings.TrimSuffix(m.Headers().Get(bus.HeaderMsgID), ":m")] = true
	})
	missing := 0
	for id := range raw {
		if !decoded[id] {
			missing++
		}
	}
	if missing > 0 || len(raw) == 0 {
		t.Errorf("%d of %d raw updates have no decoded copy", missing, len(raw))
	}
}

// checkGateway subscribes like a Solana client and reads what it was told.
func checkGateway(t *testing.T, ctx context.Context, st *stack) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(wctx, "ws://"+st.cfg.WSAddr+"/?api-key="+st.cfg.APIKey, nil)
	if err != nil {
		t.Fatalf("dial gateway websocket: %v", err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(1 << 20)
	sub := `{"jsonrpc":"2.0","id":1,"method":"programSubscribe","params":["TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",{"encoding":"base64","commitment":"confirmed"}]}`
	if err := ws.Write(wctx, websocket.MessageText, []byte(sub)); err != nil {
		t.Fatal(err)
	}
	var note struct {
		Method string `json:"method"`
		Result *int   `json:"result"`
		Params struct {
			Result struct {
				Context struct{ Slot uint64 } `json:"context"`
				Value   struct {
					Pubkey  string `json:"pubkey"`
					Account struct {
						Data  []string `json:"data"`
						Owner string   `json:"owner"`
					} `json:"account"`
				} `json:"value"`
			} `json:"result"`
		} `json:"params"`
	}
	for note.Method != "programNotification" {
		_, msg, err := ws.Read(wctx)
		if err != nil {
			t.Fatalf("waiting for a programNotification: %v", err)
		}
		if err := json.Unmarshal(msg, &note); err != nil {
			t.Fatalf("frame %s: %v", msg, err)
		}
	}
	v := note.Params.Result.Value
	if v.Account.Owner != "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA" || len(v.Account.Data) != 2 || v.Account.Data[1] != "base64" {
		t.Fatalf("programNotification value = %+v", v)
	}
	// The same account over JSON-RPC, at the same or a later slot.
	body := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"getAccountInfo","params":["%s",{"encoding":"base64"}]}`, v.Pubkey)
	req, _ := http.NewRequestWithContext(wctx, http.MethodPost, "http://"+st.cfg.HTTPAddr+"/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-api-key", st.cfg.APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info struct {
		Result struct {
			Context struct{ Slot uint64 } `json:"context"`
			Value   *struct {
				Data  []string `json:"data"`
				Owner string   `json:"owner"`
				Space int      `json:"space"`
			} `json:"value"`
		} `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatal(err)
	}
	if info.Result.Value == nil {
		t.Fatalf("getAccountInfo(%s) returned null after a notification for it", v.Pubkey)
	}
	data, err := base64.StdEncoding.DecodeString(info.Result.Value.Data[0])
	// The Token program owns mints (82 bytes) and token accounts (165).
	space := info.Result.Value.Space
	if err != nil || len(data) != space || (space != 82 && space != 165) || info.Result.Value.Owner != v.Account.Owner {
		t.Fatalf("getAccountInfo(%s) = %+v (%v)", v.Pubkey, info.Result.Value, err)
	}
	// A request without a key is refused at the upgrade.
	if _, resp, err := websocket.Dial(wctx, "ws://"+st.cfg.WSAddr+"/", nil); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("upgrade without a key: err %v, response %v", err, resp)
	}
}

func deletePrefix(c rueidis.Client, prefix string) {
	ctx := context.Background()
	var cursor uint64
	for {
		e, err := c.Do(ctx, c.B().Scan().Cursor(cursor).Match(prefix+"*").Count(1000).Build()).AsScanEntry()
		if err != nil {
			return
		}
		for _, k := range e.Elements {
			c.Do(ctx, c.B().Del().Key(k).Build())
		}
		if e.Cursor == 0 {
			return
		}
		cursor = e.Cursor
	}
}
