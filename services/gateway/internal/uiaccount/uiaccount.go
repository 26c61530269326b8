// Package uiaccount encodes a fireholev1.DecodedAccount as Solana RPC's
// UiAccount JSON object ({"data","executable","lamports","owner","rentEpoch",
// "space"} in that order) for every account encoding Solana clients ask for.
//
// Output is byte-compatible with agave's account-decoder. Encoding is pure
// and allocation-light; Cache memoizes the encoded bytes of one account per
// (encoding, slice) so that a notification fanned out to many subscriptions
// is encoded once.
package uiaccount

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/klauspost/compress/zstd"

	"github.com/firehole/firehole/pkg/base58"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
)

// Encoding is a UiAccountEncoding.
type Encoding uint8

// Encodings, as named on the wire.
const (
	Binary     Encoding = iota // legacy: data is a bare base58 string
	Base58                     // ["<b58>","base58"]
	Base64                     // ["<b64>","base64"]
	Base64Zstd                 // ["<b64 of zstd>","base64+zstd"]
	JSONParsed                 // {"program","parsed","space"} or the base64 fallback
)

// MaxBase58Bytes is agave's MAX_BASE58_BYTES: larger data is not base58-encoded.
const MaxBase58Bytes = 128

// TooLargeForBase58 is the data string agave sends instead of base58 above MaxBase58Bytes.
const TooLargeForBase58 = "error: data too large for bs58 encoding"

// ErrUnknownEncoding is returned by ParseEncoding.
var ErrUnknownEncoding = errors.New("unknown encoding")

// ParseEncoding maps a wire name to an Encoding; "" gives def.
func ParseEncoding(s string, def Encoding) (Encoding, error) {
	switch s {
	case "":
		return def, nil
	case "binary":
		return Binary, nil
	case "base58":
		return Base58, nil
	case "base64":
		return Base64, nil
	case "base64+zstd":
		return Base64Zstd, nil
	case "jsonParsed":
		return JSONParsed, nil
	}
	return 0, fmt.Errorf("%w %q", ErrUnknownEncoding, s)
}

// String is the wire name.
func (e Encoding) String() string {
	switch e {
	case Binary:
		return "binary"
	case Base58:
		return "base58"
	case Base64:
		return "base64"
	case Base64Zstd:
		return "base64+zstd"
	case JSONParsed:
		return "jsonParsed"
	}
	return "unknown"
}

// Slice is a dataSlice; the zero value means the whole data.
type Slice struct {
	Set    bool
	Offset uint64
	Length uint64
}

// Apply returns the sliced data as agave's slice_data does: an offset past
// the end gives empty data, a length past the end is clipped.
func (s Slice) Apply(data []byte) []byte {
	if !s.Set {
		return data
	}
	if s.Offset >= uint64(len(data)) {
		return data[:0]
	}
	end := s.Offset + s.Length
	if end > uint64(len(data)) || end < s.Offset {
		end = uint64(len(data))
	}
	return data[s.Offset:end]
}

var zenc, _ = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedDefault))

// Append appends the UiAccount JSON object of a to dst.
func Append(dst []byte, a *fireholev1.DecodedAccount, enc Encoding, s Slice) []byte {
	acc := a.GetAccount()
	data := acc.GetData()
	dst = append(dst, `{"data":`...)
	dst = appendData(dst, a, data, enc, s)
	dst = append(dst, `,"executable":`...)
	dst = strconv.AppendBool(dst, acc.GetExecutable())
	dst = append(dst, `,"lamports":`...)
	dst = strconv.AppendUint(dst, acc.GetLamports(), 10)
	dst = append(dst, `,"owner":"`...)
	dst = appendKey(dst, acc.GetOwner())
	dst = append(dst, `","rentEpoch":`...)
	dst = strconv.AppendUint(dst, acc.GetRentEpoch(), 10)
	dst = append(dst, `,"space":`...)
	dst = strconv.AppendUint(dst, uint64(len(data)), 10)
	return append(dst, '}')
}

func appendKey(dst, k []byte) []byte {
	if len(k) == 32 {
		return base58.AppendEncode32(dst, (*[32]byte)(k))
	}
	return base58.AppendEncode(dst, k)
}

// AppendKey appends the base58 form of a 32-byte key (or any byte string).
func AppendKey(dst, k []byte) []byte { return appendKey(dst, k) }

func appendData(dst []byte, a *fireholev1.DecodedAccount, data []byte, enc Encoding, s Slice) []byte {
	switch enc {
	case Binary, Base58:
		d := s.Apply(data)
		if enc == Base58 {
			dst = append(dst, '[')
		}
		dst = append(dst, '"')
		if len(d) > MaxBase58Bytes {
			dst = append(dst, TooLargeForBase58...)
		} else {
			dst = base58.AppendEncode(dst, d)
		}
		dst = append(dst, '"')
		if enc == Base58 {
			dst = append(dst, `,"base58"]`...)
		}
		return dst
	case Base64Zstd:
		z := zenc.EncodeAll(s.Apply(data), nil)
		dst = append(dst, `["`...)
		dst = base64.StdEncoding.AppendEncode(dst, z)
		return append(dst, `","base64+zstd"]`...)
	case JSONParsed:
		if Parsable(a) {
			dst = append(dst, `{"program":`...)
			dst = strconv.AppendQuote(dst, a.GetProgram())
			dst = append(dst, `,"parsed":`...)
			dst = append(dst, a.GetParsed()...)
			dst = append(dst, `,"space":`...)
			dst = strconv.AppendUint(dst, uint64(len(data)), 10)
			return append(dst, '}')
		}
		fallthrough
	default: // Base64 and the jsonParsed fallback
		dst = append(dst, `["`...)
		dst = base64.StdEncoding.AppendEncode(dst, s.Apply(data))
		return append(dst, `","base64"]`...)
	}
}

// Parsable reports whether a carries Solana's own jsonParsed form; otherwise
// jsonParsed falls back to base64, as agave does without a parser.
func Parsable(a *fireholev1.DecodedAccount) bool {
	return a.GetJsonParsed() && a.GetStatus() == fireholev1.DecodeStatus_DECODE_STATUS_OK &&
		len(a.GetParsed()) > 0 && a.GetProgram() != "" && json.Valid(a.GetParsed())
}

// Cache memoizes the encoded UiAccount of one account per (encoding, slice).
// It is not safe for concurrent use; one goroutine (one NATS message
// delivery) owns it. The returned bytes are shared: never modify them.
type Cache struct {
	acc     *fireholev1.DecodedAccount
	entries []cacheEntry
}

type cacheEntry struct {
	enc   Encoding
	slice Slice
	b     []byte
}

// NewCache returns a Cache for a.
func NewCache(a *fireholev1.DecodedAccount) *Cache { return &Cache{acc: a} }

// Account is the cached account.
func (c *Cache) Account() *fireholev1.DecodedAccount { return c.acc }

// Value returns the UiAccount JSON of the account, encoding it on first use.
func (c *Cache) Value(enc Encoding, s Slice) []byte {
	for _, e := range c.entries {
		if e.enc == enc && e.slice == s {
			return e.b
		}
	}
	b := Append(nil, c.acc, enc, s)
	c.entries = append(c.entries, cacheEntry{enc: enc, slice: s, b: b})
	return b
}
