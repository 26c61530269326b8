// Package filter parses and applies Solana RPC program-account filters
// (dataSize, memcmp, tokenAccountState) with agave's limits and error texts,
// shared by programSubscribe and getProgramAccounts.
package filter

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/firehole/firehole/pkg/base58"
)

// Limits from agave's rpc-client-api filter.rs.
const (
	MaxDataSize         = 128 // decoded memcmp bytes
	MaxDataBase58Size   = 175
	MaxDataBase64Size   = 172
	MaxFilters          = 4 // MAX_GET_PROGRAM_ACCOUNT_FILTERS
	tokenAccountLen     = 165
	tokenStateOffset    = 108
	tokenAccountTypeOff = 165
	accountTypeAccount  = 2
)

// ErrInvalid wraps every parse error; its message is the JSON-RPC error
// message to send (code -32602).
var ErrInvalid = errors.New("invalid filter")

// Error is a filter problem with the exact message agave sends.
type Error struct {
	Msg string
	// Verify marks what agave finds in verify_filters (count, size,
	// decoding) rather than while deserializing the params: its
	// programSubscribe sends those behind an "Invalid params: " prefix
	// (rpc/src/rpc_pubsub.rs), getProgramAccounts without one.
	Verify bool
}

func verifyErr(msg string) *Error { return &Error{Msg: msg, Verify: true} }

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return ErrInvalid }

// Memcmp compares Bytes at Offset.
type Memcmp struct {
	Offset uint64
	Bytes  []byte
}

// Filter is one filter; exactly one of its fields is meaningful.
type Filter struct {
	DataSize          *uint64
	Memcmp            *Memcmp
	TokenAccountState bool
}

// Set is a list of filters that must all match.
type Set []Filter

// Parse reads a JSON filters array. A nil or empty raw gives an empty Set.
func Parse(raw json.RawMessage) (Set, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, &Error{Msg: "Invalid params: invalid type: expected a sequence of filters."}
	}
	if len(items) > MaxFilters {
		return nil, verifyErr(fmt.Sprintf("Too many filters provided; max %d", MaxFilters))
	}
	out := make(Set, 0, len(items))
	for _, it := range items {
		f, err := parseOne(it)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

func parseOne(raw json.RawMessage) (Filter, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "tokenAccountState" {
			return Filter{TokenAccountState: true}, nil
		}
		return Filter{}, &Error{Msg: fmt.Sprintf("Invalid params: unknown variant `%s`, expected one of `dataSize`, `memcmp`, `tokenAccountState`.", s)}
	}
	var obj struct {
		DataSize *uint64 `json:"dataSize"`
		Memcmp   *struct {
			Offset   *uint64         `json:"offset"`
			Bytes    json.RawMessage `json:"bytes"`
			Encoding string          `json:"encoding"`
		} `json:"memcmp"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return Filter{}, &Error{Msg: "Invalid params: invalid filter: " + jsonMsg(err) + "."}
	}
	switch {
	case obj.DataSize != nil && obj.Memcmp == nil:
		return Filter{DataSize: obj.DataSize}, nil
	case obj.Memcmp != nil && obj.DataSize == nil:
		m := obj.Memcmp
		if m.Offset == nil {
			return Filter{}, &Error{Msg: "Invalid params: missing field `offset`."}
		}
		b, err := memcmpBytes(m.Bytes, m.Encoding)
		if err != nil {
			return Filter{}, err
		}
		return Filter{Memcmp: &Memcmp{Offset: *m.Offset, Bytes: b}}, nil
	}
	return Filter{}, &Error{Msg: "Invalid params: expected exactly one of `dataSize`, `memcmp`, `tokenAccountState`."}
}

func memcmpBytes(raw json.RawMessage, enc string) ([]byte, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		// agave also accepts a raw byte array.
		var arr []byte
		var nums []uint8
		if json.Unmarshal(raw, &nums) != nil {
			return nil, &Error{Msg: "Invalid params: invalid memcmp bytes."}
		}
		arr = append(arr, nums...)
		if len(arr) > MaxDataSize {
			return nil, verifyErr("Invalid param: DataTooLarge")
		}
		return arr, nil
	}
	switch enc {
	case "", "base58":
		if len(s) > MaxDataBase58Size {
			return nil, verifyErr("Invalid param: DataTooLarge")
		}
		b, err := base58.Decode(s)
		if err != nil {
			return nil, verifyErr("Invalid param: Base58DecodeError(" + bs58Debug(err) + ")")
		}
		if len(b) > MaxDataSize {
			return nil, verifyErr("Invalid param: DataTooLarge")
		}
		return b, nil
	case "base64":
		if len(s) > MaxDataBase64Size {
			return nil, verifyErr("Invalid param: DataTooLarge")
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, verifyErr("Invalid param: Base64DecodeError(InvalidByte)")
		}
		if len(b) > MaxDataSize {
			return nil, verifyErr("Invalid param: DataTooLarge")
		}
		return b, nil
	}
	return nil, &Error{Msg: fmt.Sprintf("Invalid params: unknown variant `%s`, expected `base58` or `base64`.", enc)}
}

// bs58Debug is the Rust Debug form of the bs58 crate's decode error that
// agave puts in the message, e.g. InvalidCharacter { character: '0', index: 0 }.
func bs58Debug(err error) string {
	var ce *base58.InvalidCharError
	if !errors.As(err, &ce) {
		return err.Error()
	}
	if ce.Char >= 0x80 {
		return fmt.Sprintf("NonAsciiCharacter { index: %d }", ce.Offset)
	}
	var c string
	switch ce.Char {
	case 0:
		c = `\0`
	case '\t':
		c = `\t`
	case '\n':
		c = `\n`
	case '\r':
		c = `\r`
	case '\'', '\\':
		c = `\` + string(ce.Char)
	default:
		if ce.Char < 0x20 || ce.Char == 0x7f {
			c = fmt.Sprintf(`\u{%x}`, ce.Char)
		} else {
			c = string(ce.Char)
		}
	}
	return fmt.Sprintf("InvalidCharacter { character: '%s', index: %d }", c, ce.Offset)
}

func jsonMsg(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("invalid type for %s, expected %s", te.Field, te.Type)
	}
	return err.Error()
}

// Match reports whether data passes every filter.
func (s Set) Match(data []byte) bool {
	for _, f := range s {
		switch {
		case f.DataSize != nil:
			if uint64(len(data)) != *f.DataSize {
				return false
			}
		case f.Memcmp != nil:
			m := f.Memcmp
			if m.Offset > uint64(len(data)) || uint64(len(data))-m.Offset < uint64(len(m.Bytes)) {
				return false
			}
			if !bytes.Equal(data[m.Offset:m.Offset+uint64(len(m.Bytes))], m.Bytes) {
				return false
			}
		case f.TokenAccountState:
			if !ValidTokenAccount(data) {
				return false
			}
		}
	}
	return true
}

// ValidTokenAccount is SPL Token's Account::valid_account_data: an
// initialized (or frozen) token account, including Token-2022 accounts with
// extensions (account type byte 2 at offset 165).
func ValidTokenAccount(data []byte) bool {
	switch {
	case len(data) == tokenAccountLen:
	case len(data) > tokenAccountLen && data[tokenAccountTypeOff] == accountTypeAccount:
	default:
		return false
	}
	return data[tokenStateOffset] != 0
}

// Key appends a canonical form of the set, used to de-duplicate identical
// subscriptions.
func (s Set) Key(dst []byte) []byte {
	var n [8]byte
	for _, f := range s {
		switch {
		case f.DataSize != nil:
			binary.LittleEndian.PutUint64(n[:], *f.DataSize)
			dst = append(append(dst, 'd'), n[:]...)
		case f.Memcmp != nil:
			binary.LittleEndian.PutUint64(n[:], f.Memcmp.Offset)
			dst = append(append(dst, 'm'), n[:]...)
			dst = append(dst, byte(len(f.Memcmp.Bytes)))
			dst = append(dst, f.Memcmp.Bytes...)
		case f.TokenAccountState:
			dst = append(dst, 't')
		}
	}
	return dst
}

// DataSize returns the first dataSize filter, if any (for index use).
func (s Set) DataSize() (uint64, bool) {
	for _, f := range s {
		if f.DataSize != nil {
			return *f.DataSize, true
		}
	}
	return 0, false
}
