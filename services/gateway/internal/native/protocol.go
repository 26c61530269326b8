package native

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/services/gateway/internal/filter"
)

// request is any client frame.
type request struct {
	Op         string          `json:"op"`
	ID         string          `json:"id"`
	Programs   []string        `json:"programs"`
	Accounts   []string        `json:"accounts"`
	TokenOwner string          `json:"tokenOwner"`
	TokenMint  string          `json:"tokenMint"`
	Filters    json.RawMessage `json:"filters"`
	Where      []whereSpec     `json:"where"`
	Snapshot   bool            `json:"snapshot"`
	Cursor     json.RawMessage `json:"cursor"`
	OnSlow     string          `json:"onSlow"`
	Encoding   string          `json:"encoding"`
}

// Bounds of one subscribe request.
const (
	maxPrograms = 16
	maxAccounts = 256
	maxIDLen    = 128
)

// spec is a validated subscribe request.
type spec struct {
	id         string
	programs   []string // base58, distinct
	accounts   []string // base58, distinct
	tokenOwner []byte   // 32 bytes or nil
	tokenMint  []byte
	filters    filter.Set
	where      []whereClause
	snapshot   bool
	cursor     uint64
	hasCursor  bool
	gapOnSlow  bool
	encoding   string
}

func (s *spec) token() bool { return s.tokenOwner != nil || s.tokenMint != nil }

// parseSubscribe validates a subscribe request. Exactly one selector kind:
// programs, accounts, or tokenOwner and/or tokenMint.
func parseSubscribe(r *request) (*spec, error) {
	if r.ID == "" {
		return nil, errors.New("id is required")
	}
	if len(r.ID) > maxIDLen {
		return nil, fmt.Errorf("id is longer than %d bytes", maxIDLen)
	}
	s := &spec{id: r.ID, snapshot: r.Snapshot, encoding: r.Encoding}
	kinds := 0
	if len(r.Programs) > 0 {
		kinds++
	}
	if len(r.Accounts) > 0 {
		kinds++
	}
	if r.TokenOwner != "" || r.TokenMint != "" {
		kinds++
	}
	if kinds != 1 {
		return nil, errors.New("give exactly one of programs, accounts, or tokenOwner/tokenMint")
	}
	var err error
	if s.programs, err = keys("programs", r.Programs, maxPrograms); err != nil {
		return nil, err
	}
	if s.accounts, err = keys("accounts", r.Accounts, maxAccounts); err != nil {
		return nil, err
	}
	if r.TokenOwner != "" {
		k, err := base58.Decode32(r.TokenOwner)
		if err != nil {
			return nil, fmt.Errorf("tokenOwner: invalid pubkey %q", r.TokenOwner)
		}
		s.tokenOwner = k[:]
	}
	if r.TokenMint != "" {
		k, err := base58.Decode32(r.TokenMint)
		if err != nil {
			return nil, fmt.Errorf("tokenMint: invalid pubkey %q", r.TokenMint)
		}
		s.tokenMint = k[:]
	}
	if s.filters, err = filter.Parse(r.Filters); err != nil {
		return nil, fmt.Errorf("filters: %w", err)
	}
	if s.where, err = parseWhere(r.Where); err != nil {
		return nil, err
	}
	switch r.OnSlow {
	case "", "disconnect":
	case "gap":
		s.gapOnSlow = true
	default:
		return nil, fmt.Errorf("onSlow: %q is neither \"disconnect\" nor \"gap\"", r.OnSlow)
	}
	if s.encoding == "" {
		s.encoding = encBase64
	}
	if !validEncoding(s.encoding) {
		return nil, fmt.Errorf("encoding: unknown %q (base64, base64+zstd, jsonParsed, none)", r.Encoding)
	}
	if len(r.Cursor) > 0 && string(r.Cursor) != "null" {
		c, err := parseCursor(r.Cursor)
		if err != nil {
			return nil, err
		}
		s.cursor, s.hasCursor = c, true
	}
	return s, nil
}

func keys(field string, in []string, limit int) ([]string, error) {
	if len(in) > limit {
		return nil, fmt.Errorf("%s: %d given, at most %d", field, len(in), limit)
	}
	seen := make(map[string]bool, len(in))
	out := make([]string, 0, len(in))
	for _, k := range in {
		if _, err := base58.Decode32(k); err != nil {
			return nil, fmt.Errorf("%s: invalid pubkey %q", field, k)
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out, nil
}

// parseCursor accepts a cursor as a decimal string or a JSON number.
func parseCursor(raw json.RawMessage) (uint64, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return 0, errors.New("cursor: not a string or number")
		}
		s = string(n)
	}
	c, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("cursor: %q is not a stream sequence", s)
	}
	return c, nil
}

// Server frames. Cursors are decimal strings (stream sequences can exceed
// 2^53, JavaScript's exact integers).

func appendCursor(dst []byte, c uint64) []byte {
	dst = append(dst, `,"cursor":"`...)
	dst = strconv.AppendUint(dst, c, 10)
	return append(dst, '"')
}

func accountFrame(typ, id string, a []byte, slot, cursor uint64) []byte {
	b := make([]byte, 0, len(a)+len(id)+96)
	b = append(b, `{"type":"`...)
	b = append(b, typ...)
	b = append(b, `","id":`...)
	b = appendString(b, id)
	b = append(b, `,"slot":`...)
	b = strconv.AppendUint(b, slot, 10)
	b = appendCursor(b, cursor)
	b = append(b, `,"account":`...)
	b = append(b, a...)
	return append(b, '}')
}

func snapshotEndFrame(id string, count int, cursor uint64) []byte {
	b := []byte(`{"type":"snapshotEnd","id":`)
	b = appendString(b, id)
	b = append(b, `,"count":`...)
	b = strconv.AppendInt(b, int64(count), 10)
	b = appendCursor(b, cursor)
	return append(b, '}')
}

func gapFrame(id, reason string, cursor uint64) []byte {
	b := []byte(`{"type":"gap","id":`)
	b = appendString(b, id)
	b = append(b, `,"reason":`...)
	b = appendString(b, reason)
	b = appendCursor(b, cursor)
	return append(b, '}')
}

func subscribedFrame(id string, cursor uint64) []byte {
	b := []byte(`{"type":"subscribed","id":`)
	b = appendString(b, id)
	b = appendCursor(b, cursor)
	return append(b, '}')
}

func unsubscribedFrame(id string) []byte {
	b := []byte(`{"type":"unsubscribed","id":`)
	b = appendString(b, id)
	return append(b, '}')
}

// Error codes of {"type":"error"}.
const (
	errBadFrame    = "badFrame"    // not JSON, or not an object with a known op
	errBadRequest  = "badRequest"  // a subscribe that does not validate
	errDuplicateID = "duplicateId" // id already subscribed on this connection
	errUnknownID   = "unknownId"   // unsubscribe of an id that is not subscribed
	errTooMany     = "tooManySubscriptions"
	errInternal    = "internal" // a dependency failed; the subscription ended
)

func errorFrame(id, code, msg string) []byte {
	b := []byte(`{"type":"error"`)
	if id != "" {
		b = append(b, `,"id":`...)
		b = appendString(b, id)
	}
	b = append(b, `,"code":"`...)
	b = append(b, code...)
	b = append(b, `","message":`...)
	b = appendString(b, msg)
	return append(b, '}')
}

var pongFrame = []byte(`{"type":"pong"}`)

// appendString appends s as a JSON string.
func appendString(dst []byte, s string) []byte {
	b, err := json.Marshal(s)
	if err != nil {
		return append(dst, `""`...)
	}
	return append(dst, b...)
}
