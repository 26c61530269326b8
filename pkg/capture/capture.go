// Package capture reads and writes captured Yellowstone streams: a file of
// SubscribeUpdate protobufs, each preceded by its length as a uvarint, after a
// small header. The body after the header may be zstd-compressed.
//
// Layout:
//
//	magic "FHCAP" | version byte (1) | flags byte (bit 0: zstd body)
//	{ uvarint(len) | SubscribeUpdate protobuf (len bytes) }*
//
// The geyser simulator records and replays these files; the ingestor writes
// them to capture what a real endpoint sent. Timing is carried by each
// update's created_at.
package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/proto"

	"github.com/firehole/firehole/proto/geyser"
)

// Magic opens every capture file.
const Magic = "FHCAP"

// Version is the format version written by this package.
const Version = 1

// MaxRecordSize bounds one record; a larger length is treated as corruption.
const MaxRecordSize = 64 << 20

const flagZstd = 1

// ErrFormat is wrapped by every error about a malformed capture.
var ErrFormat = errors.New("capture: bad format")

// Options tune a Writer.
type Options struct {
	// Zstd compresses the body after the header.
	Zstd bool
}

// Writer appends records to a capture. It is not safe for concurrent use.
// Close flushes; it does not close the underlying writer.
type Writer struct {
	bw  *bufio.Writer
	zw  *zstd.Encoder
	out io.Writer
	buf []byte
	n   int64
}

// NewWriter writes the header to w and returns a Writer for the records.
func NewWriter(w io.Writer, opt Options) (*Writer, error) {
	hdr := []byte(Magic + "\x00\x00")
	hdr[len(Magic)] = Version
	if opt.Zstd {
		hdr[len(Magic)+1] = flagZstd
	}
	if _, err := w.Write(hdr); err != nil {
		return nil, fmt.Errorf("write capture header: %w", err)
	}
	cw := &Writer{out: w}
	var body io.Writer = w
	if opt.Zstd {
		zw, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("start zstd encoder: %w", err)
		}
		cw.zw = zw
		body = zw
	}
	cw.bw = bufio.NewWriterSize(body, 256<<10)
	return cw, nil
}

// Write appends one update.
func (w *Writer) Write(u *geyser.SubscribeUpdate) error {
	b, err := proto.MarshalOptions{}.MarshalAppend(w.buf[:0], u)
	if err != nil {
		return fmt.Errorf("marshal update: %w", err)
	}
	w.buf = b
	return w.WriteRaw(b)
}

// WriteRaw appends one already-encoded SubscribeUpdate; b is not retained.
func (w *Writer) WriteRaw(b []byte) error {
	var lb [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(lb[:], uint64(len(b)))
	if _, err := w.bw.Write(lb[:n]); err != nil {
		return fmt.Errorf("write record: %w", err)
	}
	if _, err := w.bw.Write(b); err != nil {
		return fmt.Errorf("write record: %w", err)
	}
	w.n++
	return nil
}

// Count is the number of records written.
func (w *Writer) Count() int64 { return w.n }

// Flush pushes buffered records to the underlying writer (and ends a zstd
// block, so a reader sees them).
func (w *Writer) Flush() error {
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("flush capture: %w", err)
	}
	if w.zw != nil {
		if err := w.zw.Flush(); err != nil {
			return fmt.Errorf("flush zstd: %w", err)
		}
	}
	return nil
}

// Close flushes and ends the zstd stream; the underlying writer stays open.
func (w *Writer) Close() error {
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("flush capture: %w", err)
	}
	if w.zw != nil {
		if err := w.zw.Close(); err != nil {
			return fmt.Errorf("close zstd: %w", err)
		}
	}
	return nil
}

// Reader reads records from a capture. It is not safe for concurrent use.
type Reader struct {
	br  *bufio.Reader
	zr  *zstd.Decoder
	buf []byte
}

// NewReader checks the header of r and returns a Reader for its records.
func NewReader(r io.Reader) (*Reader, error) {
	hdr := make([]byte, len(Magic)+2)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("%w: read header: %v", ErrFormat, err)
	}
	if string(hdr[:len(Magic)]) != Magic {
		return nil, fmt.Errorf("%w: not a capture (magic %q)", ErrFormat, hdr[:len(Magic)])
	}
	if v := hdr[len(Magic)]; v != Version {
		return nil, fmt.Errorf("%w: unsupported version %d", ErrFormat, v)
	}
	flags := hdr[len(Magic)+1]
	if flags&^flagZstd != 0 {
		return nil, fmt.Errorf("%w: unknown flags %#x", ErrFormat, flags)
	}
	cr := &Reader{}
	body := r
	if flags&flagZstd != 0 {
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(256<<20))
		if err != nil {
			return nil, fmt.Errorf("start zstd decoder: %w", err)
		}
		cr.zr = zr
		body = zr
	}
	cr.br = bufio.NewReaderSize(body, 256<<10)
	return cr, nil
}

// NextRaw returns the next record's bytes, valid until the next call, or
// io.EOF at a clean end.
func (r *Reader) NextRaw() ([]byte, error) {
	n, err := binary.ReadUvarint(r.br)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("%w: read record length: %v", ErrFormat, err)
	}
	if n > MaxRecordSize {
		return nil, fmt.Errorf("%w: record of %d bytes exceeds %d", ErrFormat, n, MaxRecordSize)
	}
	if uint64(cap(r.buf)) < n {
		r.buf = make([]byte, n)
	}
	b := r.buf[:n]
	if _, err := io.ReadFull(r.br, b); err != nil {
		return nil, fmt.Errorf("%w: truncated record: %v", ErrFormat, err)
	}
	return b, nil
}

// Next returns the next update, or io.EOF at a clean end.
func (r *Reader) Next() (*geyser.SubscribeUpdate, error) {
	b, err := r.NextRaw()
	if err != nil {
		return nil, err
	}
	u := &geyser.SubscribeUpdate{}
	if err := proto.Unmarshal(b, u); err != nil {
		return nil, fmt.Errorf("%w: decode record: %v", ErrFormat, err)
	}
	return u, nil
}

// Close releases the zstd decoder; the underlying reader stays open.
func (r *Reader) Close() error {
	if r.zr != nil {
		r.zr.Close()
	}
	return nil
}

// File is a Writer on a file it owns.
type File struct {
	*Writer
	f *os.File
}

// Create creates (truncates) path and writes a capture to it; a name ending
// in ".zst" is zstd-compressed.
func Create(path string) (*File, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create capture: %w", err)
	}
	w, err := NewWriter(f, Options{Zstd: strings.HasSuffix(path, ".zst")})
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return &File{Writer: w, f: f}, nil
}

// Close flushes the capture and closes the file.
func (f *File) Close() error {
	werr := f.Writer.Close()
	cerr := f.f.Close()
	return errors.Join(werr, cerr)
}

// OpenFile is a Reader on a file it owns.
type OpenFile struct {
	*Reader
	f *os.File
}

// Open opens a capture file (compressed or not, as its header says).
func Open(path string) (*OpenFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open capture: %w", err)
	}
	r, err := NewReader(f)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("open capture %s: %w", path, err)
	}
	return &OpenFile{Reader: r, f: f}, nil
}

// Close closes the reader and the file.
func (f *OpenFile) Close() error {
	_ = f.Reader.Close()
	return f.f.Close()
}
