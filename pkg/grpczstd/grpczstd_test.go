package grpczstd

import (
	"bytes"
	"io"
	"testing"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/gzip"
)

func TestRoundTripAndRegistry(t *testing.T) {
	Register()
	Register() // idempotent
	for _, name := range []string{Name, gzip.Name} {
		if encoding.GetCompressor(name) == nil {
			t.Fatalf("%s is not registered", name)
		}
	}
	c := encoding.GetCompressor(Name)
	msg := bytes.Repeat([]byte("firehole account update "), 1000)
	for i := 0; i < 3; i++ { // pooled encoders and decoders are reused
		var buf bytes.Buffer
		w, err := c.Compress(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(msg); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if buf.Len() >= len(msg) {
			t.Fatalf("compressed %d bytes into %d", len(msg), buf.Len())
		}
		r, err := c.Decompress(&buf)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("round trip %d: %d bytes, err %v", i, len(got), err)
		}
	}
	if _, err := io.ReadAll(mustDecompress(t, c, []byte("not zstd at all"))); err == nil {
		t.Fatal("garbage must not decompress")
	}
}

func mustDecompress(t *testing.T, c encoding.Compressor, b []byte) io.Reader {
	r, err := c.Decompress(bytes.NewReader(b))
	if err != nil {
		return &errReader{err}
	}
	return r
}

type errReader struct{ err error }

func (e *errReader) Read([]byte) (int, error) { return 0, e.err }
