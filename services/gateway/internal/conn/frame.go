package conn

import "encoding/binary"

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
}

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
	return Frame{b: b, off: off}
}

// TextFrame copies payload into a new Frame.
func TextFrame(payload []byte) Frame {
	return Prepare(append(FrameBuffer(len(payload)), payload...))
}

// Payload is the message without the header.
func (f Frame) Payload() []byte { return f.b[MaxHeader:] }

// Wire is the header and payload as written to the socket.
func (f Frame) Wire() []byte { return f.b[f.off:] }
