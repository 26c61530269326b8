package jsonparsed

import (
	"bytes"
	"encoding/json"
	"errors"
	"github.com/firehole/firehole/services/parser/internal/jsonw"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/firehole/firehole/pkg/solana"
)

// parseConfig renders the config program's two known accounts: the legacy
// StakeConfig (by address; agave 4.1 dropped it) and ValidatorInfo (first key
// is Va1idator1nfo…; the stored string is JSON and is re-printed the way
// serde_json prints a Value: keys sorted, serde number formatting). One
// known gap: encoding/json turns a lone UTF-16 surrogate escape into U+FFFD
// where serde_json rejects the document.
func parseConfig(dst []byte, in Input, _ MintSource) ([]byte, string, error) {
	r := reader{b: in.Data}
	n := r.shortVecLen()
	keys := r.take(n * 33)
	if r.bad {
		return dst, "", errLayout
	}
	for i := 32; i < len(keys); i += 33 {
		if keys[i] > 1 {
			return dst, "", errLayout
		}
	}
	if in.Pubkey == solana.StakeConfigID {
		rate, penalty := r.f64(), r.u8()
		if r.bad {
			return dst, "", errLayout
		}
		dst = append(dst, `{"info":{"slashPenalty":`...)
		dst = appendU64(dst, uint64(penalty))
		dst = append(dst, `,"warmupCooldownRate":`...)
		dst = appendF64(dst, rate)
		return append(dst, `},"type":"stakeConfig"}`...), "stakeConfig", nil
	}
	if n == 0 || [32]byte(keys[:32]) != solana.ValidatorInfoID {
		return dst, "", errLayout
	}
	// bincode String: u64 length, UTF-8 bytes.
	sl := r.u64()
	if r.bad || sl > uint64(r.left()) {
		return dst, "", errLayout
	}
	raw := r.take(int(sl))
	if !validString(raw) {
		return dst, "", errLayout
	}
	start := len(dst)
	dst = append(dst, `{"info":{"configData":`...)
	dst, err := appendSerdeJSON(dst, raw)
	if err != nil {
		return dst[:start], "", notParsable("validator info: " + err.Error())
	}
	dst = append(dst, `,"keys":[`...)
	for i := 0; i < len(keys); i += 33 {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"pubkey":`...)
		dst = appendPubkey(dst, (*[32]byte)(keys[i:i+32]))
		dst = append(dst, `,"signer":`...)
		dst = appendBool(dst, keys[i+32] == 1)
		dst = append(dst, '}')
	}
	return append(dst, `]},"type":"validatorInfo"}`...), "validatorInfo", nil
}

// serdeMaxDepth is serde_json's default recursion limit: 127 levels of
// nesting parse, 128 fail.
const serdeMaxDepth = 128

// appendSerdeJSON parses a JSON document and prints it as serde_json would
// print the serde_json::Value it parses to.
func appendSerdeJSON(dst, raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return dst, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return dst, errors.New("trailing data after JSON value")
	}
	return appendValue(dst, v, 1)
}

func appendValue(dst []byte, v any, depth int) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case bool:
		return appendBool(dst, x), nil
	case string:
		return jsonw.AppendString(dst, x), nil
	case json.Number:
		return appendSerdeNumber(dst, string(x))
	case []any:
		if depth >= serdeMaxDepth {
			return dst, errors.New("recursion limit exceeded")
		}
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendValue(dst, e, depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case map[string]any:
		if depth >= serdeMaxDepth {
			return dst, errors.New("recursion limit exceeded")
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = jsonw.AppendString(dst, k)
			dst = append(dst, ':')
			var err error
			if dst, err = appendValue(dst, x[k], depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, '}'), nil
	}
	return dst, errors.New("unexpected JSON value")
}

// appendSerdeNumber prints a JSON number literal the way serde_json's Value
// holds it: u64 if it fits, else i64 if negative and it fits, else f64
// (including "-0", which serde_json reads as -0.0).
func appendSerdeNumber(dst []byte, s string) ([]byte, error) {
	if !strings.ContainsAny(s, ".eE") {
		if s[0] != '-' {
			if u, err := strconv.ParseUint(s, 10, 64); err == nil {
				return strconv.AppendUint(dst, u, 10), nil
			}
		} else if i, err := strconv.ParseInt(s, 10, 64); err == nil && i != 0 {
			return strconv.AppendInt(dst, i, 10), nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return dst, errors.New("number out of range")
	}
	return appendF64(dst, f), nil
}
