package sim

import (
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/gzip" // grpc's gzip registers itself; the sim accepts and answers gzip
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// rawUpdate is a SubscribeUpdate already encoded: the per-client filters
// field and the shared body. Concatenated protobuf fields form one message,
// so the body is encoded once and shared by every client.
type rawUpdate struct {
	prefix, body []byte
}

// codec is the "proto" codec plus pass-through of rawUpdate.
type codec struct{}

func (codec) Name() string { return "proto" }

func (codec) Marshal(v any) (mem.BufferSlice, error) {
	switch m := v.(type) {
	case *rawUpdate:
		if len(m.prefix) == 0 {
			return mem.BufferSlice{mem.SliceBuffer(m.body)}, nil
		}
		return mem.BufferSlice{mem.SliceBuffer(m.prefix), mem.SliceBuffer(m.body)}, nil
	case proto.Message:
		b, err := proto.Marshal(m)
		if err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	default:
		return nil, fmt.Errorf("marshal %T: not a protobuf message", v)
	}
}

func (codec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("unmarshal into %T: not a protobuf message", v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	return proto.Unmarshal(buf.ReadOnlyData(), m)
}

// ZstdName is the grpc-encoding name of the zstd compressor.
const ZstdName = "zstd"

var registerOnce sync.Once

// RegisterCompressors registers the zstd compressor with grpc (gzip is
// grpc's own). Call it from main or TestMain before any server or client
// starts; grpc's registry is not safe for concurrent change.
func RegisterCompressors() {
	registerOnce.Do(func() { encoding.RegisterCompressor(newZstdCompressor()) })
}

type zstdCompressor struct {
	enc sync.Pool
	dec *zstd.Decoder
}

func newZstdCompressor() *zstdCompressor {
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(64<<20))
	if err != nil {
		panic("zstd decoder with constant options: " + err.Error())
	}
	return &zstdCompressor{dec: dec}
}

func (c *zstdCompressor) Name() string { return ZstdName }

type zstdWriter struct {
	*zstd.Encoder
	pool *sync.Pool
}

func (w *zstdWriter) Close() error {
	err := w.Encoder.Close()
	w.pool.Put(w)
	return err
}

func (c *zstdCompressor) Compress(w io.Writer) (io.WriteCloser, error) {
	if zw, ok := c.enc.Get().(*zstdWriter); ok {
		zw.Reset(w)
		return zw, nil
	}
	enc, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true))
	if err != nil {
		return nil, err
	}
	return &zstdWriter{Encoder: enc, pool: &c.enc}, nil
}

func (c *zstdCompressor) Decompress(r io.Reader) (io.Reader, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	out, err := c.dec.DecodeAll(b, nil)
	if err != nil {
		return nil, err
	}
	return &bytesReader{b: out}, nil
}

type bytesReader struct{ b []byte }

func (r *bytesReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}
