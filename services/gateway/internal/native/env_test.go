package native

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/rueidis"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"

	"github.com/firehole/firehole/pkg/accountcache"
	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/pkg/bus"
	"github.com/firehole/firehole/pkg/bus/bustest"
	"github.com/firehole/firehole/pkg/testenv"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
)

// env is one test's world: its own NATS server with the contract's streams,
// its own Redis key prefix, and the handler on a loopback HTTP server.
type env struct {
	t      testing.TB
	js     jetstream.JetStream
	redis  rueidis.Client
	prefix string
	writer *accountcache.Writer
	deps   Deps
	url    string
}

type envOption func(*Deps, *httptest.Server)

// smallSocketBuffers makes the server's socket send buffer tiny, so that a
// client that stops reading backs frames up into the queue quickly.
func smallSocketBuffers(d *Deps, s *httptest.Server) {
	s.Listener = smallBufListener{s.Listener}
}

type smallBufListener struct{ net.Listener }

func (l smallBufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

func newEnv(t testing.TB, lim Limits, opts ...envOption) *env {
	t.Helper()
	addr := testenv.RedisAddr(t)
	_, _, js := bustest.StartWithStreams(t)
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	if err != nil {
		t.Fatalf("redis: %v", err)
	}
	prefix := testenv.Name(t) + ":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var cursor uint64
		for {
			e, err := rc.Do(ctx, rc.B().Scan().Cursor(cursor).Match(prefix+"*").Count(1000).Build()).AsScanEntry()
			if err != nil {
				break
			}
			for _, k := range e.Elements {
				rc.Do(ctx, rc.B().Del().Key(k).Build())
			}
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
		rc.Close()
	})
	e := &env{t: t, js: js, redis: rc, prefix: prefix, writer: accountcache.NewWriter(rc, prefix, 0)}
	e.deps = Deps{JS: js, Redis: rc, KeyPrefix: prefix, Log: zerolog.Nop(), Registerer: prometheus.NewRegistry(), Limits: lim}
	srv := httptest.NewUnstartedServer(nil)
	for _, o := range opts {
		o(&e.deps, srv)
	}
	srv.Config.Handler = NewHandler(e.deps)
	srv.Start()
	t.Cleanup(srv.Close)
	e.url = "ws" + strings.TrimPrefix(srv.URL, "http")
	return e
}

func key(s string) [32]byte { return sha256.Sum256([]byte(s)) }

func b58k(k [32]byte) string { return base58.Encode32(&k) }

// acct builds a decoded account at (slot, slot) with optional parsed JSON.
func acct(owner, pubkey [32]byte, slot uint64, data []byte, parsed string) *fireholev1.DecodedAccount {
	d := &fireholev1.DecodedAccount{
		Account: &fireholev1.AccountUpdate{
			Pubkey: pubkey[:], Owner: owner[:], Lamports: 1000 + slot, Data: data,
			Slot: slot, WriteVersion: slot, Commitment: fireholev1.Commitment_COMMITMENT_CONFIRMED,
		},
		Status: fireholev1.DecodeStatus_DECODE_STATUS_UNKNOWN_PROGRAM,
	}
	if parsed != "" {
		d.Parsed, d.Status, d.Program, d.AccountType = []byte(parsed), fireholev1.DecodeStatus_DECODE_STATUS_OK, "test", "thing"
	}
	return d
}

// publish puts d on its decoded subject and returns its stream sequence.
func (e *env) publish(d *fireholev1.DecodedAccount) uint64 {
	e.t.Helper()
	b, err := proto.Marshal(d)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ack, err := e.js.Publish(ctx, bus.DecodedAccountSubject(d.Account.Owner, d.Account.Pubkey), b)
	if err != nil {
		e.t.Fatalf("publish: %v", err)
	}
	return ack.Sequence
}

// cache writes d to Redis as the cacher would.
func (e *env) cache(ds ...*fireholev1.DecodedAccount) {
	e.t.Helper()
	ups := make([]accountcache.Update, len(ds))
	for i, d := range ds {
		b, _ := proto.Marshal(d)
		u, err := accountcache.UpdateFromDecoded(b)
		if err != nil {
			e.t.Fatal(err)
		}
		ups[i] = u
	}
	if _, err := e.writer.Write(context.Background(), ups); err != nil {
		e.t.Fatalf("write redis: %v", err)
	}
}

// runCacher consumes FIREHOLE_DECODED with the durable "cacher" consumer,
// writes each update to Redis and acks it: the real cacher's contract.
func (e *env) runCacher() {
	e.t.Helper()
	ctx := context.Background()
	cons, err := bus.EnsureConsumer(ctx, e.js, bus.StreamDecoded,
		bus.ConsumerConfig("cacher", []string{bus.DecodedAccountRoot + ".>"}, 30*time.Second, 1000))
	if err != nil {
		e.t.Fatal(err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		u, err := accountcache.UpdateFromDecoded(m.Data())
		if err == nil {
			_, err = e.writer.Write(ctx, []accountcache.Update{u})
		}
		if err != nil {
			_ = m.Nak()
			return
		}
		_ = m.Ack()
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(cc.Stop)
}

// client is a test WebSocket client.
type client struct {
	t  testing.TB
	ws *websocket.Conn
}

type account struct {
	Pubkey       string          `json:"pubkey"`
	Owner        string          `json:"owner"`
	Lamports     uint64          `json:"lamports"`
	Slot         uint64          `json:"slot"`
	WriteVersion uint64          `json:"writeVersion"`
	Program      string          `json:"program"`
	DecodeStatus string          `json:"decodeStatus"`
	Parsed       json.RawMessage `json:"parsed"`
	Data         []string        `json:"data"`
}

type message struct {
	Type    string   `json:"type"`
	ID      string   `json:"id"`
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Reason  string   `json:"reason"`
	Cursor  string   `json:"cursor"`
	Slot    uint64   `json:"slot"`
	Count   int      `json:"count"`
	Account *account `json:"account"`
}

func (m message) cursor(t *testing.T) uint64 {
	t.Helper()
	c, err := strconv.ParseUint(m.Cursor, 10, 64)
	if err != nil {
		t.Fatalf("%s frame with cursor %q", m.Type, m.Cursor)
	}
	return c
}

func (e *env) dial() *client {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, e.url, nil)
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	ws.SetReadLimit(16 << 20)
	e.t.Cleanup(func() { _ = ws.CloseNow() })
	return &client{t: e.t, ws: ws}
}

// dialSmall dials with a tiny socket receive buffer, so that a client that
// stops reading stalls the server's writes within a few frames.
func (e *env) dialSmall() *client {
	e.t.Helper()
	d := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
	}}
	hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, e.url, &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	ws.SetReadLimit(16 << 20)
	e.t.Cleanup(func() { _ = ws.CloseNow() })
	return &client{t: e.t, ws: ws}
}

func (c *client) send(v any) {
	c.t.Helper()
	b, ok := v.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(v); err != nil {
			c.t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// read returns the next frame or the error that ended the connection.
func (c *client) read(timeout time.Duration) (message, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		return message{}, err
	}
	var m message
	if err := json.Unmarshal(b, &m); err != nil {
		c.t.Fatalf("frame %s is not JSON: %v", b, err)
	}
	return m, nil
}

func (c *client) next() message {
	c.t.Helper()
	m, err := c.read(15 * time.Second)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return m
}

// expect reads the next frame and fails unless it has type typ.
func (c *client) expect(typ string) message {
	c.t.Helper()
	m := c.next()
	if m.Type != typ {
		c.t.Fatalf("got %+v, want a %q frame", m, typ)
	}
	return m
}

// quiet fails if a frame arrives within d. It waits, then pings: the pong
// must be the next frame. (A read deadline would close the connection.)
func (c *client) quiet(d time.Duration) {
	c.t.Helper()
	time.Sleep(d)
	c.send([]byte(`{"op":"ping"}`))
	if m := c.next(); m.Type != "pong" {
		c.t.Fatalf("unexpected frame %+v", m)
	}
}

// tokenData is a 165-byte SPL token account.
func tokenData(mint, owner [32]byte, amount uint64) []byte {
	b := make([]byte, 165)
	copy(b[0:], mint[:])
	copy(b[32:], owner[:])
	binary.LittleEndian.PutUint64(b[64:], amount)
	b[108] = 1
	return b
}

func asCloseError(err error, ce *websocket.CloseError) bool { return errors.As(err, ce) }
