package conn

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Buffer sizes of an accepted connection. net/http hands a hijacked
// connection a 4 KiB reader and a 4 KiB writer; an idle PubSub client needs
// neither. Inbound messages are small requests (a larger read goes straight
// into the caller's buffer), and the writer below coder/websocket carries only
// control frames once frames are written directly (see Wire). The writer must
// hold a whole control frame (14 + 125 bytes) so that each reaches the Wire in
// one Write.
const (
	ReadBufferSize  = 512
	WriteBufferSize = 256
)

// Wire is the byte stream of one accepted connection, below coder/websocket.
// The library writes its frames (control frames; data frames when
// permessage-deflate is on) through Write; Conn writes prepared frames
// through writeFrames. One mutex keeps whole frames from interleaving.
type Wire struct {
	mu      sync.Mutex
	nc      net.Conn
	err     error
	direct  bool
	deflate bool
}

// Direct reports whether Conn may write prepared frames itself. It may as
// long as coder/websocket writes no data frames of its own (Conn never asks
// it to) and every frame the library writes is a control frame that reaches
// Write in one call.
func (w *Wire) Direct() bool { return w.direct }

// Deflate reports whether the client negotiated permessage-deflate; its
// frames are then written in their compressed form (Frame.DeflatedWire).
func (w *Wire) Deflate() bool { return w.deflate }

// Write implements io.Writer for coder/websocket's buffered writer.
func (w *Wire) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	n, err := w.nc.Write(p)
	if err != nil {
		w.err = err
	}
	return n, err
}

// writeFrames writes bufs in as few syscalls as the kernel allows (writev
// on TCP), bounded by timeout. After an error the Wire refuses every write:
// the stream may end inside a frame.
func (w *Wire) writeFrames(bufs net.Buffers, timeout time.Duration) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if timeout > 0 {
		_ = w.nc.SetWriteDeadline(time.Now().Add(timeout))
	}
	_, err := bufs.WriteTo(w.nc)
	if timeout > 0 && err == nil {
		_ = w.nc.SetWriteDeadline(time.Time{})
	}
	if err != nil {
		w.err = err
	}
	return err
}

// Accept is websocket.Accept with small connection buffers and a Wire
// under the library's writer.
func Accept(w http.ResponseWriter, r *http.Request, opts *websocket.AcceptOptions) (*websocket.Conn, *Wire, error) {
	hw := &hijackWriter{ResponseWriter: w}
	ws, err := websocket.Accept(hw, r, opts)
	if err != nil {
		return nil, nil, err
	}
	if hw.wire == nil {
		_ = ws.CloseNow()
		return nil, nil, errors.New("accept websocket: connection not hijacked")
	}
	hw.wire.direct = true
	hw.wire.deflate = w.Header().Get("Sec-WebSocket-Extensions") != ""
	return ws, hw.wire, nil
}

// hijackWriter replaces the buffers net/http gives a hijacked connection.
type hijackWriter struct {
	http.ResponseWriter
	wire *Wire
}

func (h *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("hijack: response writer is not a Hijacker")
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	// Bytes the client sent right after the upgrade request (net/http may
	// already hold the first byte of its first frame) must stay in the new
	// reader's buffer: coder/websocket keeps only what Buffered reports.
	size := ReadBufferSize
	var pre []byte
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		pre = append([]byte(nil), b...)
		size = max(size, n)
	}
	br := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(pre), nc), size)
	if len(pre) > 0 {
		if _, err := br.Peek(len(pre)); err != nil {
			return nil, nil, fmt.Errorf("hijack: buffer pending bytes: %w", err)
		}
	}
	h.wire = &Wire{nc: nc}
	return nc, bufio.NewReadWriter(br, bufio.NewWriterSize(h.wire, WriteBufferSize)), nil
}

func (h *hijackWriter) Unwrap() http.ResponseWriter { return h.ResponseWriter }
