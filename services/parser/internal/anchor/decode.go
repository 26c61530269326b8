package anchor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/firehole/firehole/services/parser/internal/jsonw"
	"math"
	"slices"
	"strings"

	"github.com/firehole/firehole/pkg/base58"
)

var (
	// ErrUnknownDiscriminator is returned when the account's leading bytes
	// match no account type of the IDL.
	ErrUnknownDiscriminator = errors.New("anchor: unknown account discriminator")
	// ErrShortData is returned (inside a *DecodeError) when the account ends
	// before its layout does.
	ErrShortData = errors.New("short data")
	// ErrInvalidData is returned (inside a *DecodeError) for bytes no value
	// of the type encodes: a bool other than 0/1, a bad option or enum tag.
	ErrInvalidData = errors.New("invalid data")
)

// DecodeError locates a decode failure in the account bytes.
type DecodeError struct {
	Account string // IDL account type being decoded
	Path    string // dotted field path, [i] for elements
	Offset  int    // byte offset in the account data, discriminator included
	Err     error  // ErrShortData or ErrInvalidData, possibly wrapped with detail
}

func (e *DecodeError) Error() string {
	path := e.Account
	if e.Path != "" {
		path += "." + e.Path
	}
	return fmt.Sprintf("anchor: decode %s at offset %d: %v", path, e.Offset, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// pathError is the error built while unwinding; the path is collected
// innermost first and reversed once at the top.
type pathError struct {
	offset int
	path   []string
	err    error
}

func (e *pathError) Error() string { return e.err.Error() }

// decoder is the state of one decode. It lives on the caller's stack.
type decoder struct {
	data []byte
	off  int
	// budget bounds the number of zero-size elements (e.g. [(); N]) an
	// account may produce, since those consume no bytes.
	budget int
}

func (d *decoder) fail(err error) error {
	return &pathError{offset: d.off, err: err}
}

func (d *decoder) short(need int64) error {
	return d.fail(fmt.Errorf("%w: need %d bytes, %d left", ErrShortData, need, len(d.data)-d.off))
}

// take returns the next n bytes.
func (d *decoder) take(n int) ([]byte, error) {
	if n > len(d.data)-d.off {
		return nil, d.short(int64(n))
	}
	b := d.data[d.off : d.off+n]
	d.off += n
	return b, nil
}

// withPath prepends a path element to a pathError from a child.
func withPath(err error, elem string) error {
	if pe, ok := err.(*pathError); ok {
		pe.path = append(pe.path, elem)
	}
	return err
}

func (d *decoder) value(dst []byte, n *node) ([]byte, error) {
	switch n.kind {
	case kU8:
		b, err := d.take(1)
		if err != nil {
			return dst, err
		}
		return append(dst, smallInts[b[0]]...), nil
	case kI8:
		b, err := d.take(1)
		if err != nil {
			return dst, err
		}
		return appendInt(dst, int64(int8(b[0]))), nil
	case kU16:
		b, err := d.take(2)
		if err != nil {
			return dst, err
		}
		return appendUint(dst, uint64(binary.LittleEndian.Uint16(b))), nil
	case kI16:
		b, err := d.take(2)
		if err != nil {
			return dst, err
		}
		return appendInt(dst, int64(int16(binary.LittleEndian.Uint16(b)))), nil
	case kU32:
		b, err := d.take(4)
		if err != nil {
			return dst, err
		}
		return appendUint(dst, uint64(binary.LittleEndian.Uint32(b))), nil
	case kI32:
		b, err := d.take(4)
		if err != nil {
			return dst, err
		}
		return appendInt(dst, int64(int32(binary.LittleEndian.Uint32(b)))), nil
	case kU64:
		b, err := d.take(8)
		if err != nil {
			return dst, err
		}
		return jsonw.AppendQuotedUint(dst, binary.LittleEndian.Uint64(b)), nil
	case kI64:
		b, err := d.take(8)
		if err != nil {
			return dst, err
		}
		return jsonw.AppendQuotedInt(dst, int64(binary.LittleEndian.Uint64(b))), nil
	case kU128, kI128:
		b, err := d.take(16)
		if err != nil {
			return dst, err
		}
		lo, hi := binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])
		dst = append(dst, '"')
		if n.kind == kU128 {
			dst = jsonw.AppendUint128(dst, hi, lo)
		} else {
			dst = jsonw.AppendInt128(dst, hi, lo)
		}
		return append(dst, '"'), nil
	case kU256, kI256:
		b, err := d.take(32)
		if err != nil {
			return dst, err
		}
		dst = append(dst, '"')
		dst = appendBig256(dst, b, n.kind == kI256)
		return append(dst, '"'), nil
	case kF32:
		b, err := d.take(4)
		if err != nil {
			return dst, err
		}
		return appendFloat(dst, float64(math.Float32frombits(binary.LittleEndian.Uint32(b))), 32), nil
	case kF64:
		b, err := d.take(8)
		if err != nil {
			return dst, err
		}
		return appendFloat(dst, math.Float64frombits(binary.LittleEndian.Uint64(b)), 64), nil
	case kBool:
		b, err := d.take(1)
		if err != nil {
			return dst, err
		}
		switch b[0] {
		case 0:
			return append(dst, "false"...), nil
		case 1:
			return append(dst, "true"...), nil
		}
		d.off--
		return dst, d.fail(fmt.Errorf("%w: bool byte %d", ErrInvalidData, b[0]))
	case kPubkey:
		b, err := d.take(32)
		if err != nil {
			return dst, err
		}
		dst = append(dst, '"')
		dst = base58.AppendEncode32(dst, (*[32]byte)(b))
		return append(dst, '"'), nil
	case kString, kBytes:
		l, err := d.length(1)
		if err != nil {
			return dst, err
		}
		b := d.data[d.off : d.off+l]
		d.off += l
		if n.kind == kString {
			return jsonw.AppendString(dst, b), nil
		}
		return appendByteArray(dst, b), nil
	case kOption, kCOption:
		var tag uint32
		if n.kind == kOption {
			b, err := d.take(1)
			if err != nil {
				return dst, err
			}
			tag = uint32(b[0])
		} else {
			b, err := d.take(4)
			if err != nil {
				return dst, err
			}
			tag = binary.LittleEndian.Uint32(b)
		}
		switch tag {
		case 0:
			return append(dst, "null"...), nil
		case 1:
			return d.value(dst, n.elem)
		}
		if n.kind == kOption {
			d.off--
		} else {
			d.off -= 4
		}
		return dst, d.fail(fmt.Errorf("%w: option tag %d", ErrInvalidData, tag))
	case kVec:
		l, err := d.length(n.elem.minSize)
		if err != nil {
			return dst, err
		}
		return d.elements(dst, n.elem, l)
	case kArray:
		if n.elem.kind == kU8 {
			b, err := d.take(int(n.n))
			if err != nil {
				return dst, err
			}
			return appendByteArray(dst, b), nil
		}
		if n.size > int64(len(d.data)-d.off) {
			return dst, d.short(n.size)
		}
		return d.elements(dst, n.elem, int(n.n))
	case kStruct, kTuple:
		return d.fields(dst, n)
	case kEnum:
		b, err := d.take(1)
		if err != nil {
			return dst, err
		}
		if int(b[0]) >= len(n.variants) {
			d.off--
			return dst, d.fail(fmt.Errorf("%w: enum tag %d, %d variants", ErrInvalidData, b[0], len(n.variants)))
		}
		v := &n.variants[b[0]]
		if v.body == nil {
			return append(dst, v.unit...), nil
		}
		dst = append(dst, v.prefix...)
		dst, err = d.fields(dst, v.body)
		if err != nil {
			return dst, withPath(err, v.name)
		}
		return append(dst, '}'), nil
	}
	return dst, d.fail(fmt.Errorf("internal: unknown plan node %d", n.kind))
}

// length reads a u32 length prefix and checks that that many elements of at
// least elemMin bytes each fit in the remaining data, so hostile lengths are
// rejected before anything is produced.
func (d *decoder) length(elemMin int64) (int, error) {
	b, err := d.take(4)
	if err != nil {
		return 0, err
	}
	l := int64(binary.LittleEndian.Uint32(b))
	if rem := int64(len(d.data) - d.off); elemMin > 0 && l > rem/elemMin {
		d.off -= 4
		return 0, d.fail(fmt.Errorf("%w: length prefix %d with elements of at least %d bytes, %d bytes left", ErrShortData, l, elemMin, rem))
	}
	return int(l), nil
}

func (d *decoder) elements(dst []byte, elem *node, count int) ([]byte, error) {
	if elem.minSize == 0 {
		d.budget -= count
		if d.budget < 0 {
			return dst, d.fail(fmt.Errorf("%w: too many zero-size elements", ErrInvalidData))
		}
	}
	dst = append(dst, '[')
	for i := 0; i < count; i++ {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = d.value(dst, elem); err != nil {
			return dst, withPath(err, fmt.Sprintf("[%d]", i))
		}
	}
	return append(dst, ']'), nil
}

func (d *decoder) fields(dst []byte, n *node) ([]byte, error) {
	open, close := byte('{'), byte('}')
	if n.kind == kTuple {
		open, close = '[', ']'
	}
	dst = append(dst, open)
	for i := range n.fields {
		f := &n.fields[i]
		if f.pad > 0 {
			if _, err := d.take(int(f.pad)); err != nil {
				return dst, withPath(err, f.label(i))
			}
		}
		dst = append(dst, f.key...)
		var err error
		if dst, err = d.value(dst, f.node); err != nil {
			return dst, withPath(err, f.label(i))
		}
	}
	if n.tailPad > 0 {
		if _, err := d.take(int(n.tailPad)); err != nil {
			return dst, err
		}
	}
	return append(dst, close), nil
}

func (f *field) label(i int) string {
	if f.name != "" {
		return f.name
	}
	return fmt.Sprint(i)
}

func appendUint(dst []byte, v uint64) []byte {
	if v < 256 {
		return append(dst, smallInts[v]...)
	}
	return jsonw.AppendUint128(dst, 0, v)
}

func appendInt(dst []byte, v int64) []byte {
	if v < 0 {
		dst = append(dst, '-')
		return jsonw.AppendUint128(dst, 0, uint64(-v))
	}
	return appendUint(dst, uint64(v))
}

func appendByteArray(dst []byte, b []byte) []byte {
	dst = append(dst, '[')
	for i, c := range b {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, smallInts[c]...)
	}
	return append(dst, ']')
}

// publicError converts the internal unwinding error into a *DecodeError.
func publicError(account string, err error) error {
	pe, ok := err.(*pathError)
	if !ok {
		return err
	}
	path := slices.Clone(pe.path)
	slices.Reverse(path)
	return &DecodeError{
		Account: account,
		Path:    strings.ReplaceAll(strings.Join(path, "."), ".[", "["),
		Offset:  pe.offset,
		Err:     pe.err,
	}
}
