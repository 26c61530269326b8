// Package base58 encodes and decodes the Bitcoin base58 alphabet used for
// Solana addresses, signatures and blockhashes.
//
// The 32-byte paths (Encode32, AppendEncode32, Decode32) work on fixed-size
// arrays of uint32 limbs and do not allocate beyond their result; they are
// meant for hot loops that print public keys. All functions are safe for
// concurrent use.
package base58

import (
	"errors"
	"fmt"
)

const alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// big58 is 58^5, the largest power of 58 that fits in 32 bits. Working in
// this radix lets one 64-bit division produce five base58 digits.
const big58 = 58 * 58 * 58 * 58 * 58

// pow58 holds 58^k for k = 0..5.
var pow58 = [6]uint64{1, 58, 58 * 58, 58 * 58 * 58, 58 * 58 * 58 * 58, big58}

// decodeTable maps an ASCII byte to its digit value, or 0xff if the byte is
// not in the alphabet.
var decodeTable = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// ErrInvalidLength is returned (wrapped) by Decode32 when the input does not
// decode to exactly 32 bytes.
var ErrInvalidLength = errors.New("base58: invalid length")

// InvalidCharError reports a byte outside the base58 alphabet.
type InvalidCharError struct {
	Char   byte
	Offset int
}

func (e *InvalidCharError) Error() string {
	return fmt.Sprintf("base58: invalid character %q at offset %d", e.Char, e.Offset)
}

// Encode returns the base58 encoding of b.
func Encode(b []byte) string {
	return string(AppendEncode(make([]byte, 0, maxEncodedLen(len(b))), b))
}

// maxEncodedLen is an upper bound on the encoded length of n bytes
// (log(256)/log(58) < 1.3658).
func maxEncodedLen(n int) int { return n*138/100 + 1 }

// AppendEncode appends the base58 encoding of b to dst and returns the
// extended buffer.
func AppendEncode(dst, b []byte) []byte {
	if len(b) == 32 {
		return AppendEncode32(dst, (*[32]byte)(b))
	}
	zeros := 0
	for zeros < len(b) && b[zeros] == 0 {
		zeros++
	}
	rest := b[zeros:]

	// Big-endian uint32 limbs of the significant bytes.
	limbs := make([]uint32, (len(rest)+3)/4)
	head := len(rest) % 4
	if head == 0 {
		head = 4
	}
	pos := 0
	for i := range limbs {
		n := 4
		if i == 0 {
			n = head
		}
		var v uint32
		for _, c := range rest[pos : pos+n] {
			v = v<<8 | uint32(c)
		}
		limbs[i] = v
		pos += n
	}

	// Repeated division by 58^5 yields base-58^5 digits, least significant
	// first.
	digits := make([]uint32, 0, len(rest)/3+1)
	for len(limbs) > 0 {
		var rem uint64
		for i, l := range limbs {
			cur := rem<<32 | uint64(l)
			limbs[i] = uint32(cur / big58)
			rem = cur % big58
		}
		digits = append(digits, uint32(rem))
		for len(limbs) > 0 && limbs[0] == 0 {
			limbs = limbs[1:]
		}
	}
	return appendDigits(dst, zeros, digits)
}

// appendDigits writes zeros '1' characters followed by the base58 digits of
// the little-endian base-58^5 number d, without leading '1's of its own.
func appendDigits(dst []byte, zeros int, d []uint32) []byte {
	for range zeros {
		dst = append(dst, '1')
	}
	if len(d) == 0 {
		return dst
	}
	var buf [5]byte
	// The most significant big digit is printed without leading zeros.
	top := d[len(d)-1]
	n := 5
	for top > 0 {
		n--
		buf[n] = alphabet[top%58]
		top /= 58
	}
	dst = append(dst, buf[n:]...)
	for i := len(d) - 2; i >= 0; i-- {
		v := d[i]
		for j := 4; j >= 0; j-- {
			buf[j] = alphabet[v%58]
			v /= 58
		}
		dst = append(dst, buf[:]...)
	}
	return dst
}

// Encode32 returns the base58 encoding of a 32-byte key.
func Encode32(k *[32]byte) string {
	var buf [44]byte
	return string(AppendEncode32(buf[:0], k))
}

// AppendEncode32 appends the base58 encoding of a 32-byte key to dst. It
// allocates only if dst lacks room for 44 more bytes.
func AppendEncode32(dst []byte, k *[32]byte) []byte {
	zeros := 0
	for zeros < 32 && k[zeros] == 0 {
		zeros++
	}
	var limbs [8]uint32
	for i := range limbs {
		limbs[i] = uint32(k[4*i])<<24 | uint32(k[4*i+1])<<16 | uint32(k[4*i+2])<<8 | uint32(k[4*i+3])
	}
	// 2^256 < 58^45, so at most nine base-58^5 digits.
	var digits [9]uint32
	nd := 0
	first := zeros / 4 // limbs before this are zero
	for first < 8 {
		var rem uint64
		for i := first; i < 8; i++ {
			cur := rem<<32 | uint64(limbs[i])
			limbs[i] = uint32(cur / big58)
			rem = cur % big58
		}
		digits[nd] = uint32(rem)
		nd++
		for first < 8 && limbs[first] == 0 {
			first++
		}
	}
	return appendDigits(dst, zeros, digits[:nd])
}

// Decode returns the bytes encoded by s.
func Decode(s string) ([]byte, error) {
	zeros := 0
	for zeros < len(s) && s[zeros] == '1' {
		zeros++
	}
	rest := s[zeros:]
	// Little-endian uint32 limbs of the value; every base58 digit adds fewer
	// than 6 bits.
	limbs := make([]uint32, 0, len(rest)*6/32+1)
	for i := 0; i < len(rest); {
		n := min(5, len(rest)-i)
		var add uint64
		for j := range n {
			c := rest[i+j]
			v := decodeTable[c]
			if v == 0xff {
				return nil, &InvalidCharError{Char: c, Offset: zeros + i + j}
			}
			add = add*58 + uint64(v)
		}
		i += n
		mul := pow58[n]
		carry := add
		for k := range limbs {
			t := uint64(limbs[k])*mul + carry
			limbs[k] = uint32(t)
			carry = t >> 32
		}
		for carry > 0 {
			limbs = append(limbs, uint32(carry))
			carry >>= 32
		}
	}
	// Count significant bytes of the top limb.
	nb := len(limbs) * 4
	if len(limbs) > 0 {
		top := limbs[len(limbs)-1]
		for nb > 0 && top>>24 == 0 {
			nb--
			top <<= 8
		}
	}
	out := make([]byte, zeros+nb)
	p := len(out)
	for _, l := range limbs {
		for range 4 {
			if p == zeros {
				break
			}
			p--
			out[p] = byte(l)
			l >>= 8
		}
	}
	return out, nil
}

// Decode32 decodes a base58 string that must encode exactly 32 bytes, such as
// a Solana public key.
func Decode32(s string) ([32]byte, error) {
	var out [32]byte
	// 32 bytes encode to between 32 ('1' * 32) and 44 characters.
	if len(s) < 32 || len(s) > 44 {
		return out, fmt.Errorf("%w: %d characters, want 32 to 44 for 32 bytes", ErrInvalidLength, len(s))
	}
	zeros := 0
	for zeros < len(s) && s[zeros] == '1' {
		zeros++
	}
	var limbs [8]uint32 // little-endian
	for i := zeros; i < len(s); {
		n := min(5, len(s)-i)
		var add uint64
		for j := range n {
			c := s[i+j]
			v := decodeTable[c]
			if v == 0xff {
				return [32]byte{}, &InvalidCharError{Char: c, Offset: i + j}
			}
			add = add*58 + uint64(v)
		}
		i += n
		mul := pow58[n]
		carry := add
		for k := range limbs {
			t := uint64(limbs[k])*mul + carry
			limbs[k] = uint32(t)
			carry = t >> 32
		}
		if carry != 0 {
			return [32]byte{}, fmt.Errorf("%w: %q decodes to more than 32 bytes", ErrInvalidLength, s)
		}
	}
	for k, l := range limbs {
		p := 31 - 4*k
		out[p] = byte(l)
		out[p-1] = byte(l >> 8)
		out[p-2] = byte(l >> 16)
		out[p-3] = byte(l >> 24)
	}
	// The value's own leading zero bytes must match the '1' prefix exactly,
	// or the string is a non-canonical encoding of a different length.
	lz := 0
	for lz < 32 && out[lz] == 0 {
		lz++
	}
	if lz != zeros {
		return [32]byte{}, fmt.Errorf("%w: %q decodes to %d bytes, want 32", ErrInvalidLength, s, 32-lz+zeros)
	}
	return out, nil
}
