package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/flate"
)

// rawConn is a minimal WebSocket client for load: it parses frame headers
// and skips payloads it does not need, so that the load client, which shares
// the machine with the gateway, spends as little CPU per notification as it
// can. It speaks only what gwload needs: text frames out (masked with a zero
// key, which RFC 6455 allows), text, ping and close frames in.
type rawConn struct {
	nc      net.Conn
	br      *bufio.Reader
	buf     []byte
	deflate bool // permessage-deflate negotiated
	fr      io.ReadCloser
	out     []byte
}

// rawDial connects; with deflate it offers permessage-deflate (as browsers
// and Node's ws do) and accepts compressed frames.
func rawDial(ctx context.Context, raw string, deflate bool) (*rawConn, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	nc, err := d.DialContext(dctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	path := u.RequestURI()
	req := "GET " + path + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: Z3dsb2FkLWNsaWVudC0xNg==\r\nSec-WebSocket-Version: 13\r\n"
	if deflate {
		req += "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; server_no_context_takeover\r\n"
	}
	req += "\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		nc.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(nc, 64<<10)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("read upgrade response: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		nc.Close()
		return nil, fmt.Errorf("upgrade: %s", resp.Status)
	}
	if deflate && resp.Header.Get("Sec-WebSocket-Extensions") == "" {
		nc.Close()
		return nil, errors.New("server did not accept permessage-deflate")
	}
	return &rawConn{nc: nc, br: br, deflate: deflate}, nil
}

func (c *rawConn) Close() error { return c.nc.Close() }

// write sends one masked frame of opcode op.
func (c *rawConn) write(op byte, p []byte) error {
	h := make([]byte, 0, 14+len(p))
	h = append(h, 0x80|op)
	switch {
	case len(p) <= 125:
		h = append(h, 0x80|byte(len(p)))
	case len(p) <= 0xffff:
		h = append(h, 0x80|126)
		h = binary.BigEndian.AppendUint16(h, uint16(len(p)))
	default:
		h = append(h, 0x80|127)
		h = binary.BigEndian.AppendUint64(h, uint64(len(p)))
	}
	h = append(h, 0, 0, 0, 0) // zero mask key: payload unchanged
	_, err := c.nc.Write(append(h, p...))
	return err
}

func (c *rawConn) writeText(s string) error { return c.write(0x1, []byte(s)) }

// errClosed carries the close code the server sent.
type errClosed struct{ code int }

func (e errClosed) Error() string { return fmt.Sprintf("closed by server with %d", e.code) }

// next returns the next text message. With keep false the payload is
// skipped and nil is returned. Pings are answered on the way.
func (c *rawConn) next(keep bool) ([]byte, error) {
	for {
		var hdr [2]byte
		if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
			return nil, err
		}
		op := hdr[0] & 0x0f
		n := uint64(hdr[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(c.br, b[:]); err != nil {
				return nil, err
			}
			n = uint64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(c.br, b[:]); err != nil {
				return nil, err
			}
			n = binary.BigEndian.Uint64(b[:])
		}
		compressed := hdr[0]&0x40 != 0
		if hdr[0]&0x80 == 0 || hdr[1]&0x80 != 0 || hdr[0]&0x30 != 0 || (compressed && (!c.deflate || op != 0x1)) {
			return nil, errors.New("unexpected fragmented, masked or compressed frame")
		}
		if op == 0x1 && !keep {
			if _, err := c.br.Discard(int(n)); err != nil {
				return nil, err
			}
			return nil, nil
		}
		if uint64(cap(c.buf)) < n {
			c.buf = make([]byte, n)
		}
		p := c.buf[:n]
		if _, err := io.ReadFull(c.br, p); err != nil {
			return nil, err
		}
		switch op {
		case 0x1:
			if compressed {
				return c.inflate(p)
			}
			return p, nil
		case 0x8:
			code := 1005
			if len(p) >= 2 {
				code = int(binary.BigEndian.Uint16(p))
			}
			return nil, errClosed{code: code}
		case 0x9:
			if err := c.write(0xA, p); err != nil {
				return nil, err
			}
		}
	}
}

// httpWorker is a minimal HTTP/1.1 keep-alive client for one connection:
// it writes a prepared request and reads a Content-Length response.
type httpWorker struct {
	nc   net.Conn
	br   *bufio.Reader
	body []byte
}

func dialHTTP(ctx context.Context, host string) (*httpWorker, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, err
	}
	return &httpWorker{nc: nc, br: bufio.NewReaderSize(nc, 16<<10)}, nil
}

func (w *httpWorker) close() { _ = w.nc.Close() }

// do sends req and returns the status code and the body (valid until the next call).
func (w *httpWorker) do(req []byte) (int, []byte, error) {
	if _, err := w.nc.Write(req); err != nil {
		return 0, nil, err
	}
	line, err := w.br.ReadSlice('\n')
	if err != nil {
		return 0, nil, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, nil, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, nil, fmt.Errorf("bad status line %q", line)
	}
	n := -1
	for {
		line, err := w.br.ReadSlice('\n')
		if err != nil {
			return 0, nil, err
		}
		if len(line) <= 2 {
			break
		}
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
			if n, err = strconv.Atoi(string(bytes.TrimSpace(v))); err != nil {
				return 0, nil, fmt.Errorf("bad Content-Length %q", v)
			}
		}
	}
	if n < 0 {
		return 0, nil, errors.New("response without Content-Length")
	}
	if cap(w.body) < n {
		w.body = make([]byte, n)
	}
	w.body = w.body[:n]
	if _, err := io.ReadFull(w.br, w.body); err != nil {
		return 0, nil, err
	}
	return status, w.body, nil
}

// inflate decompresses one permessage-deflate message into c's reused
// buffers (valid until the next call).
func (c *rawConn) inflate(p []byte) ([]byte, error) {
	src := io.MultiReader(bytes.NewReader(p), strings.NewReader("\x00\x00\xff\xff"))
	if c.fr == nil {
		c.fr = flate.NewReader(src)
	} else if err := c.fr.(flate.Resetter).Reset(src, nil); err != nil {
		return nil, err
	}
	c.out = c.out[:0]
	// The appended tail is a sync flush, not the end of a stream: read
	// until the input is used up instead of waiting for a final block.
	for {
		if len(c.out) == cap(c.out) {
			c.out = append(c.out, 0)[:len(c.out)]
		}
		n, err := c.fr.Read(c.out[len(c.out):cap(c.out)])
		c.out = c.out[:len(c.out)+n]
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return c.out, nil
			}
			return nil, err
		}
	}
}
