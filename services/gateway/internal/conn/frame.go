package conn

import (
	"encoding/binary"
	"sync"

	"github.com/klauspost/compress/flate"
)

// MaxHeader is the room a frame buffer keeps in front of the payload for
// the WebSocket frame header (server frames are unmasked: at most 10 bytes).
const MaxHeader = 10

// Frame is one complete server-to-client text message in wire form: the
// frame header followed by the payload. Server frames are not masked, so the
// bytes are the same for every client: a notification is framed once and the
// same Frame is queued on every connection that receives it. A Frame is never
// modified after Prepare.
type Frame struct {
	b   []byte // b[off:] is the wire form, b[MaxHeader:] the payload
	off int
	z   *deflated // the permessage-deflate form, made on first use
}

// deflated is shared by every copy of a Frame.
type deflated struct {
	once sync.Once
	wire []byte
}

// DeflateThreshold is the smallest payload sent compressed to a client that
// negotiated permessage-deflate; smaller ones go as they are (allowed per
// message).
const DeflateThreshold = 256

// FrameBuffer returns an empty buffer with room for the header; append the
// payload to it and hand it to Prepare.
func FrameBuffer(payloadCap int) []byte {
	return make([]byte, MaxHeader, MaxHeader+payloadCap)
}

// Prepare writes the header of a final text frame into the room FrameBuffer
// left in front of b's payload and returns the Frame. b must come from
// FrameBuffer (len(b) >= MaxHeader).
func Prepare(b []byte) Frame {
	n := len(b) - MaxHeader
	var off int
	switch {
	case n <= 125:
		off = MaxHeader - 2
		b[off+1] = byte(n)
	case n <= 0xffff:
		off = MaxHeader - 4
		b[off+1] = 126
		binary.BigEndian.PutUint16(b[off+2:], uint16(n))
	default:
		off = 0
		b[1] = 127
		binary.BigEndian.PutUint64(b[2:], uint64(n))
	}
	b[off] = 0x81 // FIN, text
	f := Frame{b: b, off: off}
	if n >= DeflateThreshold {
		f.z = &deflated{}
	}
	return f
}

// TextFrame copies payload into a new Frame.
func TextFrame(payload []byte) Frame {
	return Prepare(append(FrameBuffer(len(payload)), payload...))
}

// Payload is the message without the header.
func (f Frame) Payload() []byte { return f.b[MaxHeader:] }

// Wire is the header and payload as written to the socket.
func (f Frame) Wire() []byte { return f.b[f.off:] }

// DeflatedWire is the frame as written to a client that negotiated
// permessage-deflate: the payload compressed once, on first use, for every
// such client. Each message is compressed on its own (no context carried
// between messages), which a client decodes whatever context takeover it
// negotiated. Payloads under DeflateThreshold are not compressed.
func (f Frame) DeflatedWire() []byte {
	if f.z == nil {
		return f.Wire()
	}
	f.z.once.Do(func() { f.z.wire = deflateFrame(f.Payload()) })
	if f.z.wire == nil {
		return f.Wire()
	}
	return f.z.wire
}

var flateWriters = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.BestSpeed)
	return w
}}

// sliceWriter appends to a byte slice.
type sliceWriter struct{ b []byte }

func (w *sliceWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// deflateFrame returns a final compressed text frame (RSV1 set) of p, or nil.
func deflateFrame(p []byte) []byte {
	fw := flateWriters.Get().(*flate.Writer)
	defer flateWriters.Put(fw)
	out := &sliceWriter{b: FrameBuffer(len(p)/2 + 64)}
	fw.Reset(out)
	if _, err := fw.Write(p); err != nil {
		return nil
	}
	// A sync flush ends the data with 00 00 ff ff, which RFC 7692 drops.
	if err := fw.Flush(); err != nil {
		return nil
	}
	b := out.b
	if len(b) < MaxHeader+4 || string(b[len(b)-4:]) != "\x00\x00\xff\xff" {
		return nil
	}
	f := Prepare(b[:len(b)-4])
	f.b[f.off] |= 0x40 // RSV1: compressed
	return f.Wire()
}
