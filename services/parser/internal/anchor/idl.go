package anchor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// The raw* types mirror the subset of both IDL generations that account
// decoding needs. Type references stay json.RawMessage until compile time
// because their shape (string or object, legacy or new) varies.

type rawIDL struct {
	Address  string       `json:"address"`
	Name     string       `json:"name"`
	Version  string       `json:"version"`
	Metadata *rawMetadata `json:"metadata"`
	Accounts []rawAccount `json:"accounts"`
	Types    []rawTypeDef `json:"types"`
}

type rawMetadata struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Address string `json:"address"`
}

type rawAccount struct {
	Name          string          `json:"name"`
	Discriminator json.RawMessage `json:"discriminator"`
	Type          json.RawMessage `json:"type"`
}

type rawTypeDef struct {
	Name          string       `json:"name"`
	Generics      []rawGeneric `json:"generics"`
	Serialization string       `json:"serialization"`
	Repr          *rawRepr     `json:"repr"`
	Type          rawTypeDefTy `json:"type"`
}

type rawRepr struct {
	Kind   string `json:"kind"`
	Packed bool   `json:"packed"`
	Align  int    `json:"align"`
}

type rawGeneric struct {
	Kind string `json:"kind"` // "type" or "const"
	Name string `json:"name"`
}

type rawTypeDefTy struct {
	Kind     string            `json:"kind"` // struct, enum, type (alias), alias (legacy)
	Fields   []json.RawMessage `json:"fields"`
	Variants []rawVariant      `json:"variants"`
	Alias    json.RawMessage   `json:"alias"`
	Value    json.RawMessage   `json:"value"`
}

type rawVariant struct {
	Name   string            `json:"name"`
	Fields []json.RawMessage `json:"fields"`
}

// rawField is a named struct or variant field.
type rawField struct {
	Name *string         `json:"name"`
	Type json.RawMessage `json:"type"`
}

// rawDefined is the object form of a "defined" reference (Anchor >= 0.30).
type rawDefined struct {
	Name     string          `json:"name"`
	Generics []rawGenericArg `json:"generics"`
}

type rawGenericArg struct {
	Kind  string          `json:"kind"` // "type" or "const"
	Type  json.RawMessage `json:"type"`
	Value json.RawMessage `json:"value"`
}

// parseRawIDL decodes the JSON document and checks the top-level shape.
func parseRawIDL(raw []byte) (*rawIDL, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, errors.New("IDL is not a JSON object")
	}
	var idl rawIDL
	if err := json.Unmarshal(raw, &idl); err != nil {
		return nil, fmt.Errorf("parse IDL JSON: %w", err)
	}
	return &idl, nil
}

// parseDiscriminator reads a JSON array of byte values.
func parseDiscriminator(raw json.RawMessage) ([]byte, error) {
	var vals []int
	if err := json.Unmarshal(raw, &vals); err != nil {
		return nil, fmt.Errorf("discriminator: %w", err)
	}
	if len(vals) == 0 {
		return nil, errors.New("discriminator is empty")
	}
	if len(vals) > 64 {
		return nil, fmt.Errorf("discriminator has %d bytes", len(vals))
	}
	out := make([]byte, len(vals))
	for i, v := range vals {
		if v < 0 || v > 255 {
			return nil, fmt.Errorf("discriminator byte %d is %d, not 0..255", i, v)
		}
		out[i] = byte(v)
	}
	return out, nil
}

// parseConst reads an array length or const generic value, written either as
// a JSON number or as a decimal string.
func parseConst(raw json.RawMessage) (int64, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, err
		}
		raw = []byte(s)
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("length %s is not an integer", raw)
	}
	if n < 0 {
		return 0, fmt.Errorf("length %d is negative", n)
	}
	return n, nil
}

// isNamedField reports whether a field entry is {"name":..,"type":..}
// rather than a bare type (tuple struct or tuple variant).
func isNamedField(raw json.RawMessage) (rawField, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return rawField{}, false
	}
	var f rawField
	if err := json.Unmarshal(raw, &f); err != nil || f.Name == nil || len(f.Type) == 0 {
		return rawField{}, false
	}
	return f, true
}
