package conn_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/klauspost/compress/flate"

	"github.com/firehole/firehole/services/gateway/internal/conn"
)

var testOpts = conn.Options{MaxQueueMsgs: 1 << 16, MaxQueueBytes: 64 << 20, WriteTimeout: 5 * time.Second}

// server accepts connections with conn.Accept and hands each Conn (running,
// echoing text messages back) and whether its Wire is direct to the test.
func server(t *testing.T, opts conn.Options, mode websocket.CompressionMode) (url string, conns <-chan *conn.Conn, direct <-chan bool) {
	t.Helper()
	cc, dc := make(chan *conn.Conn, 8), make(chan bool, 8)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, wire, err := conn.Accept(w, r, &websocket.AcceptOptions{CompressionMode: mode, CompressionThreshold: 64})
		if err != nil {
			t.Errorf("accept: %v", err)
			return
		}
		ws.SetReadLimit(1 << 20)
		c := conn.NewWire(ws, wire, opts, conn.Hooks{})
		dc <- wire.Direct()
		cc <- c
		_ = c.Run(context.Background(), func(_ context.Context, _ websocket.MessageType, data []byte) { c.Send(data) })
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http"), cc, dc
}

func dial(t *testing.T, url string, mode websocket.CompressionMode) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{CompressionMode: mode})
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

func payload(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + (seed+byte(i))%26
	}
	return b
}

func TestPrepareHeader(t *testing.T) {
	for _, tc := range []struct {
		n      int
		header []byte
	}{
		{0, []byte{0x81, 0}},
		{125, []byte{0x81, 125}},
		{126, []byte{0x81, 126, 0, 126}},
		{65535, []byte{0x81, 126, 0xff, 0xff}},
		{65536, []byte{0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
	} {
		t.Run(fmt.Sprint(tc.n), func(t *testing.T) {
			p := payload(tc.n, 1)
			f := conn.Prepare(append(conn.FrameBuffer(tc.n), p...))
			w := f.Wire()
			if !bytes.Equal(w[:len(tc.header)], tc.header) || !bytes.Equal(w[len(tc.header):], p) || !bytes.Equal(f.Payload(), p) {
				t.Fatalf("header % x, want % x; payload equal %v", w[:min(len(w), 10)], tc.header, bytes.Equal(f.Payload(), p))
			}
		})
	}
}

// Every size class of frame header arrives intact at a real client, in
// order, while the client pings the server and the server pings the client:
// control frames written by coder/websocket never split a prepared frame.
func TestDirectFramesWithControlFrames(t *testing.T) {
	opts := testOpts
	opts.PingInterval = 5 * time.Millisecond
	opts.MaxQueueBytes = 1 << 30
	url, conns, direct := server(t, opts, websocket.CompressionDisabled)
	cl := dial(t, url, websocket.CompressionDisabled)
	if !<-direct {
		t.Fatal("wire not direct without compression")
	}
	c := <-conns
	sizes := []int{0, 1, 125, 126, 127, 4000, 65535, 65536, 200000}
	const rounds = 300
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pingErr := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
			err := cl.Ping(pctx)
			pcancel()
			if err != nil {
				pingErr <- err
				return
			}
		}
		pingErr <- nil
	}()
	go func() {
		for i := range rounds {
			for j, n := range sizes {
				if !c.SendFrame(conn.TextFrame(payload(n, byte(i+j)))) {
					t.Error("send refused")
					return
				}
			}
		}
	}()
	for i := range rounds {
		for j, n := range sizes {
			typ, got, err := cl.Read(ctx)
			if err != nil {
				t.Fatalf("round %d size %d: %v", i, n, err)
			}
			if typ != websocket.MessageText || !bytes.Equal(got, payload(n, byte(i+j))) {
				t.Fatalf("round %d size %d: got %d bytes of type %v", i, n, len(got), typ)
			}
		}
	}
	// The client's pings are answered only while it reads; stop them now.
	cancel()
	go func() { _, _, _ = cl.Read(context.Background()) }()
	if err := <-pingErr; err != nil && !strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("client ping: %v", err)
	}
}

// With permessage-deflate frames are still written directly, compressed
// once; coder/websocket clients with either context mode read them.
func TestCompressedFrames(t *testing.T) {
	for _, mode := range []websocket.CompressionMode{websocket.CompressionNoContextTakeover, websocket.CompressionContextTakeover} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			url, conns, direct := server(t, testOpts, websocket.CompressionNoContextTakeover)
			cl := dial(t, url, mode)
			if !<-direct {
				t.Fatal("wire not direct")
			}
			c := <-conns
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for i, n := range []int{10, 255, 256, 1000, 100000, 1000} {
				want := payload(n, byte(i))
				c.SendFrame(conn.TextFrame(want))
				_, got, err := cl.Read(ctx)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("size %d: %v (%d bytes)", n, err, len(got))
				}
			}
		})
	}
}

func TestDeflatedWire(t *testing.T) {
	small := conn.TextFrame(payload(conn.DeflateThreshold-1, 0))
	if !bytes.Equal(small.DeflatedWire(), small.Wire()) {
		t.Fatal("payload under the threshold was compressed")
	}
	p := bytes.Repeat([]byte(`{"lamports":1,"data":["AAAA","base64"]}`), 40)
	f := conn.TextFrame(p)
	z := f.DeflatedWire()
	if z[0] != 0xC1 {
		t.Fatalf("first byte %#x, want FIN|RSV1|text", z[0])
	}
	if len(z) >= len(f.Wire()) {
		t.Fatalf("compressed frame %d bytes, plain %d", len(z), len(f.Wire()))
	}
	hl := 2
	switch z[1] {
	case 126:
		hl = 4
	case 127:
		hl = 10
	}
	r := flate.NewReader(io.MultiReader(bytes.NewReader(z[hl:]), strings.NewReader("\x00\x00\xff\xff")))
	got := make([]byte, len(p))
	if _, err := io.ReadFull(r, got); err != nil || !bytes.Equal(got, p) {
		t.Fatalf("inflate: %v", err)
	}
	if &f.DeflatedWire()[0] != &z[0] {
		t.Fatal("compressed again on second use")
	}
}

// A client that sends its first frame in the same packet as the upgrade
// request: the bytes net/http already buffered must reach coder/websocket.
func TestFrameRightAfterUpgrade(t *testing.T) {
	url, _, _ := server(t, testOpts, websocket.CompressionDisabled)
	host := strings.TrimPrefix(url, "ws://")
	nc, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	msg := []byte(`{"hello":"right after the upgrade"}`)
	var b []byte
	b = append(b, "GET / HTTP/1.1\r\nHost: "+host+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGVzdC1jbGllbnQta2V5MQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"...)
	mask := [4]byte{1, 2, 3, 4}
	b = append(b, 0x81, 0x80|byte(len(msg)))
	b = append(b, mask[:]...)
	for i, c := range msg {
		b = append(b, c^mask[i%4])
	}
	if _, err := nc.Write(b); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	var hdr [2]byte
	if _, err := br.Read(hdr[:1]); err != nil {
		t.Fatal(err)
	}
	if _, err := br.Read(hdr[1:]); err != nil {
		t.Fatal(err)
	}
	if hdr[0] != 0x81 || int(hdr[1]) != len(msg) {
		t.Fatalf("echo header % x", hdr)
	}
	got := make([]byte, len(msg))
	if _, err := bufioReadFull(br, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo %q, %v", got, err)
	}
}

func bufioReadFull(br *bufio.Reader, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := br.Read(p[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// A client that does not read is closed with 1008 once its queue is full,
// and Send reports it.
func TestSlowConsumerDirect(t *testing.T) {
	opts := testOpts
	opts.MaxQueueMsgs = 16
	opts.WriteTimeout = 200 * time.Millisecond
	url, conns, _ := server(t, opts, websocket.CompressionDisabled)
	cl := dial(t, url, websocket.CompressionDisabled)
	c := <-conns
	f := conn.TextFrame(payload(64<<10, 0))
	deadline := time.Now().Add(10 * time.Second)
	for c.SendFrame(f) {
		if time.Now().After(deadline) {
			t.Fatal("never closed as slow consumer")
		}
		time.Sleep(100 * time.Microsecond)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("not closed")
	}
	if r := c.CloseReason(); r == nil || r.Code != websocket.StatusPolicyViolation || r.Reason != conn.ReasonSlowConsumer {
		t.Fatalf("close reason %v", r)
	}
	_ = cl // never reads
}
