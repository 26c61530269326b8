package jsonparsed

import (
	"encoding/binary"
	"math"
)

// reader walks little-endian (bincode / borsh / Pod) data. Any read past the
// end, or an invalid tag, sets bad; later reads then return zero values, so
// callers check bad once at the end of a fixed-layout section. Lengths read
// from the data are always checked against what is left before use, so a
// hostile length never allocates.
type reader struct {
	b   []byte
	off int
	bad bool
}

var zeroKey [32]byte

func (r *reader) left() int { return len(r.b) - r.off }

func (r *reader) take(n int) []byte {
	if r.bad || n < 0 || r.left() < n {
		r.bad = true
		return nil
	}
	s := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return s
}

func (r *reader) u8() uint8 {
	if s := r.take(1); s != nil {
		return s[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if s := r.take(2); s != nil {
		return binary.LittleEndian.Uint16(s)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if s := r.take(4); s != nil {
		return binary.LittleEndian.Uint32(s)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if s := r.take(8); s != nil {
		return binary.LittleEndian.Uint64(s)
	}
	return 0
}

func (r *reader) i64() int64   { return int64(r.u64()) }
func (r *reader) i16() int16   { return int16(r.u16()) }
func (r *reader) f64() float64 { return math.Float64frombits(r.u64()) }

// key returns a pointer into the data; it is valid as long as the data is.
func (r *reader) key() *[32]byte {
	if s := r.take(32); s != nil {
		return (*[32]byte)(s)
	}
	return &zeroKey
}

// boolStrict reads a bincode/borsh bool: 0 or 1, anything else is invalid.
func (r *reader) boolStrict() bool {
	v := r.u8()
	if v > 1 {
		r.bad = true
	}
	return v == 1
}

// podBool reads a bytemuck PodBool, where any non-zero byte is true.
func (r *reader) podBool() bool { return r.u8() != 0 }

// option reads a bincode Option tag (one byte, 0 or 1).
func (r *reader) option() bool { return r.boolStrict() }

// count reads a u64 bincode collection length and checks that count
// elements of at least minSize bytes can still follow.
func (r *reader) count(minSize int) int {
	n := r.u64()
	if r.bad || minSize <= 0 || n > uint64(r.left()/minSize) {
		r.bad = true
		return 0
	}
	return int(n)
}

// count32 is count with a u32 length (borsh).
func (r *reader) count32(minSize int) int {
	n := r.u32()
	if r.bad || minSize <= 0 || uint64(n) > uint64(r.left()/minSize) {
		r.bad = true
		return 0
	}
	return int(n)
}

// shortVecLen reads Solana's compact-u16 length (1-3 bytes), rejecting
// over-long and aliased encodings as the Rust deserializer does.
func (r *reader) shortVecLen() int {
	var v uint32
	for i := 0; i < 3; i++ {
		b := r.u8()
		if r.bad {
			return 0
		}
		if b == 0 && i != 0 {
			r.bad = true // alias: a redundant zero continuation byte
			return 0
		}
		if i == 2 && b&0x80 != 0 {
			r.bad = true
			return 0
		}
		v |= uint32(b&0x7f) << (7 * i)
		if v > math.MaxUint16 {
			r.bad = true
			return 0
		}
		if b&0x80 == 0 {
			return int(v)
		}
	}
	r.bad = true
	return 0
}
