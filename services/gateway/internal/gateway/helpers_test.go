package gateway_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/rueidis"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/firehole/firehole/pkg/accountcache"
	"github.com/firehole/firehole/pkg/bus"
	"github.com/firehole/firehole/pkg/bus/bustest"
	"github.com/firehole/firehole/pkg/testenv"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
	"github.com/firehole/firehole/services/gateway/internal/gateway"
)

// env is one in-process gateway with its own NATS server, Redis prefix and
// Postgres schema.
type env struct {
	t      *testing.T
	gw     *gateway.Gateway
	nc     *nats.Conn
	redis  rueidis.Client
	prefix string
	pg     *pgx.Conn
	schema string
	ws     string // ws://host:port
	http   string // http://host:port
	cancel context.CancelFunc
	done   chan error
}

const testKey = "test-key-1"

func newEnv(t *testing.T, mutate func(*gateway.Config)) *env {
	t.Helper()
	srv, nc, _ := bustest.StartWithStreams(t)
	redisAddr := testenv.RedisAddr(t)
	pgURL := testenv.PostgresURL(t)
	name := testenv.Name(t)
	e := &env{t: t, nc: nc, prefix: name + ":", schema: name}

	ctx := context.Background()
	var err error
	e.redis, err = rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{redisAddr}, DisableCache: true})
	if err != nil {
		t.Fatalf("redis: %v", err)
	}
	t.Cleanup(func() {
		keys, _ := e.redis.Do(ctx, e.redis.B().Keys().Pattern(e.prefix+"*").Build()).AsStrSlice()
		for _, k := range keys {
			e.redis.Do(ctx, e.redis.B().Del().Key(k).Build())
		}
		e.redis.Close()
	})
	e.pg, err = pgx.Connect(ctx, pgURL)
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	if _, err := e.pg.Exec(ctx, fmt.Sprintf(schemaDDL, name)); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		_, _ = e.pg.Exec(context.Background(), "DROP SCHEMA "+name+" CASCADE")
		_ = e.pg.Close(context.Background())
	})

	cfg := gateway.Config{
		NATSURL: srv.URL, RedisAddr: redisAddr, RedisKeyPrefix: e.prefix,
		PostgresURL: pgURL, PostgresSchema: name,
		WSAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0",
		Commitment: "confirmed", MaxFrameBytes: 4096, SendQueueMsgs: 1024, SendQueueBytes: 8 << 20,
		MaxSubsPerConn: 100, WriteTimeout: 5 * time.Second, PingInterval: 0, IdleTimeout: time.Minute,
		Compression: true, Auth: "off", KeyMaxConns: 100, KeyMaxSubs: 1000, QueryLimit: 1000,
		NotifiedWindow: 10 * time.Second, NotifiedMax: 1000,
		ShutdownGrace: 3 * time.Second,
	}
	cfg.Level, cfg.Format = "warn", "json"
	if mutate != nil {
		mutate(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	e.gw, err = gateway.New(ctx, cfg, log, prometheus.NewRegistry())
	if err != nil {
		t.Fatalf("new gateway: %v", err)
	}
	rctx, cancel := context.WithCancel(ctx)
	e.cancel = cancel
	e.done = make(chan error, 1)
	go func() { e.done <- e.gw.Run(rctx) }()
	t.Cleanup(e.stop)
	e.ws = "ws://" + e.gw.WSAddr()
	e.http = "http://" + e.gw.HTTPAddr()
	return e
}

func (e *env) stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	e.cancel = nil
	select {
	case err := <-e.done:
		if err != nil {
			e.t.Errorf("gateway run: %v", err)
		}
	case <-time.After(10 * time.Second):
		e.t.Errorf("gateway did not stop")
	}
}

// Same columns and types as the persister's migration (docs/postgres-schema.md).
const schemaDDL = `
CREATE SCHEMA %[1]s;
CREATE TABLE %[1]s.accounts (
    pubkey bytea PRIMARY KEY, owner bytea NOT NULL, slot bigint NOT NULL, write_version bigint NOT NULL,
    lamports bigint NOT NULL, executable boolean NOT NULL, rent_epoch bigint NOT NULL, data bytea NOT NULL,
    data_len integer NOT NULL, txn_signature bytea, commitment smallint NOT NULL, program text,
    account_type text, parsed jsonb, json_parsed boolean NOT NULL DEFAULT false, decode_status smallint NOT NULL,
    decode_error text, token_owner bytea, token_mint bytea, token_delegate bytea,
    updated_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX ON %[1]s.accounts (owner, data_len);
CREATE TABLE %[1]s.slots (commitment smallint PRIMARY KEY, slot bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now());
`

func key32() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b
}

func account(owner, pubkey []byte, slot uint64, data []byte) *fireholev1.DecodedAccount {
	return &fireholev1.DecodedAccount{
		Account: &fireholev1.AccountUpdate{
			Pubkey: pubkey, Owner: owner, Lamports: 1_000_000 + slot, RentEpoch: 18446744073709551615,
			Data: data, Slot: slot, WriteVersion: slot * 10, Commitment: fireholev1.Commitment_COMMITMENT_CONFIRMED,
			CreatedAt: timestamppb.Now(),
		},
		Status: fireholev1.DecodeStatus_DECODE_STATUS_UNKNOWN_PROGRAM,
	}
}

// publish sends a decoded account on its bus subject (core NATS publish;
// the gateway listens with core subscriptions).
func (e *env) publish(a *fireholev1.DecodedAccount) {
	e.t.Helper()
	b, err := proto.Marshal(a)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.nc.Publish(bus.DecodedAccountSubject(a.Account.Owner, a.Account.Pubkey), b); err != nil {
		e.t.Fatal(err)
	}
	_ = e.nc.Flush()
}

// cache writes accounts to Redis through the cacher's own writer.
func (e *env) cache(as ...*fireholev1.DecodedAccount) {
	e.t.Helper()
	w := accountcache.NewWriter(e.redis, e.prefix, 0)
	var ups []accountcache.Update
	for _, a := range as {
		b, _ := proto.Marshal(a)
		u, err := accountcache.UpdateFromDecoded(b)
		if err != nil {
			e.t.Fatal(err)
		}
		ups = append(ups, u)
	}
	if _, err := w.Write(context.Background(), ups); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) setSlot(commitment string, slot uint64) {
	e.t.Helper()
	w := accountcache.NewWriter(e.redis, e.prefix, 0)
	if _, err := w.WriteSlot(context.Background(), commitment, slot); err != nil {
		e.t.Fatal(err)
	}
}

// persist inserts accounts into the test schema as the persister would.
func (e *env) persist(as ...*fireholev1.DecodedAccount) {
	e.t.Helper()
	for _, a := range as {
		acc := a.Account
		var parsed any
		if len(a.Parsed) > 0 {
			parsed = string(a.Parsed)
		}
		var tokOwner, tokMint []byte
		if len(acc.Data) >= 64 && a.Program == "spl-token" {
			tokMint, tokOwner = acc.Data[0:32], acc.Data[32:64]
		}
		_, err := e.pg.Exec(context.Background(), `INSERT INTO `+e.schema+`.accounts
			(pubkey, owner, slot, write_version, lamports, executable, rent_epoch, data, data_len, commitment,
			 program, account_type, parsed, json_parsed, decode_status, token_owner, token_mint)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13::jsonb,$14,$15,$16,$17)`,
			acc.Pubkey, acc.Owner, int64(acc.Slot), int64(acc.WriteVersion), int64(acc.Lamports), acc.Executable,
			int64(acc.RentEpoch), acc.Data, len(acc.Data), int16(acc.Commitment), a.Program, a.AccountType, parsed,
			a.JsonParsed, int16(a.Status), tokOwner, tokMint)
		if err != nil {
			e.t.Fatalf("insert: %v", err)
		}
	}
}

// rawWS is a plain WebSocket client for exact-frame checks.
type rawWS struct {
	t *testing.T
	c *websocket.Conn
}

func (e *env) dial(path string, h http.Header) (*rawWS, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, e.ws+path, &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		return nil, resp, err
	}
	c.SetReadLimit(64 << 20)
	e.t.Cleanup(func() { _ = c.CloseNow() })
	return &rawWS{t: e.t, c: c}, resp, nil
}

func (e *env) mustDial() *rawWS {
	e.t.Helper()
	w, _, err := e.dial("/", nil)
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	return w
}

func (w *rawWS) send(s string) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		w.t.Fatalf("write: %v", err)
	}
}

func (w *rawWS) read() string {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := w.c.Read(ctx)
	if err != nil {
		w.t.Fatalf("read: %v", err)
	}
	return string(b)
}

// call sends a request and returns the next frame.
func (w *rawWS) call(s string) string {
	w.t.Helper()
	w.send(s)
	return w.read()
}

// subscribe sends a subscribe request and returns the subscription id.
func (w *rawWS) subscribe(s string) uint64 {
	w.t.Helper()
	resp := w.call(s)
	var r struct {
		Result *uint64 `json:"result"`
	}
	if err := json.Unmarshal([]byte(resp), &r); err != nil || r.Result == nil {
		w.t.Fatalf("subscribe %s: got %s", s, resp)
	}
	return *r.Result
}

func httpPost(t *testing.T, url, body string, h http.Header) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
