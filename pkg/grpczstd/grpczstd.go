// Package grpczstd registers a zstd compressor (and grpc's gzip) with
// grpc-go, as Yellowstone servers and clients use both. The ingestor (a
// client) and geyser-sim (a server) share it.
package grpczstd

import (
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/gzip"
)

// Name is the grpc-encoding token of zstd, as Yellowstone servers send it.
const Name = "zstd"

var registerOnce sync.Once

// Register makes gzip and zstd available to gRPC: a client advertises both
// in grpc-accept-encoding and reads compressed responses, a server accepts
// and answers them. gRPC keeps compressors in a process-wide registry that
// is not safe for concurrent change: call Register from run (or TestMain)
// before the first dial or server start. Calling it again does nothing.
func Register() {
	registerOnce.Do(func() {
		// Importing gzip registers it; name it so the dependency is explicit.
		_ = gzip.Name
		encoding.RegisterCompressor(&zstdCompressor{})
	})
}

// zstdCompressor is a gRPC encoding.Compressor backed by klauspost/compress.
// Decoders and encoders are pooled: one stream reuses them message after message.
type zstdCompressor struct {
	encoders sync.Pool
	decoders sync.Pool
}

func (c *zstdCompressor) Name() string { return Name }

func (c *zstdCompressor) Compress(w io.Writer) (io.WriteCloser, error) {
	if e, ok := c.encoders.Get().(*zstd.Encoder); ok {
		e.Reset(w)
		return &zstdWriter{Encoder: e, pool: &c.encoders}, nil
	}
	e, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, err
	}
	return &zstdWriter{Encoder: e, pool: &c.encoders}, nil
}

type zstdWriter struct {
	*zstd.Encoder
	pool *sync.Pool
}

func (w *zstdWriter) Close() error {
	err := w.Encoder.Close()
	w.pool.Put(w.Encoder)
	return err
}

func (c *zstdCompressor) Decompress(r io.Reader) (io.Reader, error) {
	d, ok := c.decoders.Get().(*zstd.Decoder)
	if !ok {
		var err error
		d, err = zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<30))
		if err != nil {
			return nil, err
		}
	} else if err := d.Reset(r); err != nil {
		return nil, err
	}
	return &zstdReader{d: d, pool: &c.decoders}, nil
}

// zstdReader returns its decoder to the pool at EOF; gRPC reads every
// message to EOF.
type zstdReader struct {
	d    *zstd.Decoder
	pool *sync.Pool
}

func (r *zstdReader) Read(p []byte) (int, error) {
	if r.d == nil {
		return 0, io.EOF
	}
	n, err := r.d.Read(p)
	if err == io.EOF {
		r.pool.Put(r.d)
		r.d = nil
	}
	return n, err
}
