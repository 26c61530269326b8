// Package jsonrpc is the JSON-RPC 2.0 framing shared by the WebSocket PubSub
// and HTTP endpoints: request parsing, Solana's error codes and messages, and
// the parameter types (commitment, account config) both endpoints accept.
package jsonrpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/pkg/bus"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
	"github.com/firehole/firehole/services/gateway/internal/uiaccount"
)

// Standard and Solana error codes.
const (
	CodeParseError          = -32700
	CodeInvalidRequest      = -32600
	CodeMethodNotFound      = -32601
	CodeInvalidParams       = -32602
	CodeInternal            = -32603
	CodeMinContextSlot      = -32016
	CodeRateLimited         = 429 // not in agave; used when a key's request rate is exceeded
	MsgParseError           = "Parse error"
	MsgInvalidRequest       = "Invalid request"
	MsgMethodNotFound       = "Method not found"
	MsgInvalidSubscription  = "Invalid subscription id."
	MsgMinContextSlotReach  = "Minimum context slot has not been reached"
	MsgBase58TooLargeForRPC = "Encoded binary (base 58) data should be less than 128 bytes, please use Base64 encoding."
)

// Error is a JSON-RPC error object.
type Error struct {
	Code    int
	Message string
	Data    []byte // raw JSON, optional
}

func (e *Error) Error() string { return fmt.Sprintf("%d: %s", e.Code, e.Message) }

// InvalidParams is a -32602 error with msg.
func InvalidParams(msg string) *Error { return &Error{Code: CodeInvalidParams, Message: msg} }

// Request is one parsed call. ID is the raw JSON id (null when absent).
type Request struct {
	ID        json.RawMessage
	HasID     bool
	Method    string
	Params    json.RawMessage
	ParamsArr []json.RawMessage
}

var null = json.RawMessage("null")

// Parse reads one request object. A returned *Error is to be sent with the
// returned request's ID.
func Parse(raw []byte) (*Request, *Error) {
	var r struct {
		JSONRPC *string          `json:"jsonrpc"`
		ID      *json.RawMessage `json:"id"`
		Method  *string          `json:"method"`
		Params  json.RawMessage  `json:"params"`
	}
	req := &Request{ID: null}
	if err := json.Unmarshal(raw, &r); err != nil {
		return req, &Error{Code: CodeInvalidRequest, Message: MsgInvalidRequest}
	}
	if r.ID != nil {
		req.ID, req.HasID = *r.ID, true
		if c := firstByte(req.ID); c == '{' || c == '[' || c == 't' || c == 'f' {
			req.ID = null
			return req, &Error{Code: CodeInvalidRequest, Message: MsgInvalidRequest}
		}
	}
	if r.JSONRPC == nil || *r.JSONRPC != "2.0" || r.Method == nil {
		return req, &Error{Code: CodeInvalidRequest, Message: MsgInvalidRequest}
	}
	req.Method = *r.Method
	req.Params = r.Params
	if len(r.Params) > 0 && string(r.Params) != "null" {
		if firstByte(r.Params) != '[' {
			return req, InvalidParams("Invalid params: invalid type: map, expected a sequence.")
		}
		if err := json.Unmarshal(r.Params, &req.ParamsArr); err != nil {
			return req, InvalidParams("Invalid params: " + err.Error() + ".")
		}
	}
	return req, nil
}

func firstByte(b []byte) byte {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// IsBatch reports whether raw is a JSON array (a batch).
func IsBatch(raw []byte) bool { return firstByte(raw) == '[' }

// AppendResult appends {"jsonrpc":"2.0","result":<result>,"id":<id>}.
func AppendResult(dst []byte, id json.RawMessage, result []byte) []byte {
	dst = append(dst, `{"jsonrpc":"2.0","result":`...)
	dst = append(dst, result...)
	dst = append(dst, `,"id":`...)
	dst = append(dst, id...)
	return append(dst, '}')
}

// AppendError appends {"jsonrpc":"2.0","error":{"code":..,"message":..},"id":<id>}.
func AppendError(dst []byte, id json.RawMessage, e *Error) []byte {
	dst = append(dst, `{"jsonrpc":"2.0","error":{"code":`...)
	dst = strconv.AppendInt(dst, int64(e.Code), 10)
	dst = append(dst, `,"message":`...)
	m, _ := json.Marshal(e.Message)
	dst = append(dst, m...)
	if len(e.Data) > 0 {
		dst = append(dst, `,"data":`...)
		dst = append(dst, e.Data...)
	}
	dst = append(dst, `},"id":`...)
	if len(id) == 0 {
		id = null
	}
	dst = append(dst, id...)
	return append(dst, '}')
}

// ParseCommitment maps a commitment name (including agave's deprecated
// aliases) to the bus enum; "" gives def.
func ParseCommitment(s string, def fireholev1.Commitment) (fireholev1.Commitment, *Error) {
	switch s {
	case "":
		return def, nil
	case "processed", "recent":
		return fireholev1.Commitment_COMMITMENT_PROCESSED, nil
	case "confirmed", "single", "singleGossip":
		return fireholev1.Commitment_COMMITMENT_CONFIRMED, nil
	case "finalized", "root", "max":
		return fireholev1.Commitment_COMMITMENT_FINALIZED, nil
	}
	return 0, InvalidParams(fmt.Sprintf("Invalid params: unknown variant `%s`, expected one of `processed`, `confirmed`, `finalized`.", s))
}

// CheckCommitment refuses a commitment stronger than the deployment's data:
// nothing is served as more confirmed than it is.
func CheckCommitment(want, have fireholev1.Commitment) *Error {
	if want > have {
		return InvalidParams(fmt.Sprintf("Invalid params: commitment %q is not available; this deployment serves %q data.",
			bus.CommitmentToken(want), bus.CommitmentToken(have)))
	}
	return nil
}

// AccountConfig is RpcAccountInfoConfig plus the program-accounts fields
// (filters, withContext), as both are flattened in Solana's JSON.
type AccountConfig struct {
	Encoding       uiaccount.Encoding
	Slice          uiaccount.Slice
	Commitment     fireholev1.Commitment
	MinContextSlot uint64
	WithContext    bool
	Filters        json.RawMessage
	Mint           string // getTokenAccountsBy*: filter object, not config
	ProgramID      string
}

type rawConfig struct {
	Encoding  *string `json:"encoding"`
	DataSlice *struct {
		Offset *uint64 `json:"offset"`
		Length *uint64 `json:"length"`
	} `json:"dataSlice"`
	Commitment     *string         `json:"commitment"`
	MinContextSlot *uint64         `json:"minContextSlot"`
	WithContext    *bool           `json:"withContext"`
	Filters        json.RawMessage `json:"filters"`
}

// ParseAccountConfig reads the optional config object at raw. defEnc is the
// encoding when none is given; defCommit the commitment.
func ParseAccountConfig(raw json.RawMessage, defEnc uiaccount.Encoding, defCommit fireholev1.Commitment) (AccountConfig, *Error) {
	cfg := AccountConfig{Encoding: defEnc, Commitment: defCommit}
	if len(raw) == 0 || string(raw) == "null" {
		return cfg, nil
	}
	var rc rawConfig
	if err := json.Unmarshal(raw, &rc); err != nil {
		return cfg, InvalidParams("Invalid params: " + typeMsg(err) + ".")
	}
	if rc.Encoding != nil {
		e, err := uiaccount.ParseEncoding(*rc.Encoding, defEnc)
		if err != nil {
			return cfg, InvalidParams(fmt.Sprintf("Invalid params: unknown variant `%s`, expected one of `binary`, `base58`, `base64`, `jsonParsed`, `base64+zstd`.", *rc.Encoding))
		}
		cfg.Encoding = e
	}
	if rc.DataSlice != nil {
		if rc.DataSlice.Offset == nil || rc.DataSlice.Length == nil {
			return cfg, InvalidParams("Invalid params: missing field `offset` or `length` in dataSlice.")
		}
		cfg.Slice = uiaccount.Slice{Set: true, Offset: *rc.DataSlice.Offset, Length: *rc.DataSlice.Length}
	}
	if rc.Commitment != nil {
		c, e := ParseCommitment(*rc.Commitment, defCommit)
		if e != nil {
			return cfg, e
		}
		cfg.Commitment = c
	}
	if rc.MinContextSlot != nil {
		cfg.MinContextSlot = *rc.MinContextSlot
	}
	if rc.WithContext != nil {
		cfg.WithContext = *rc.WithContext
	}
	cfg.Filters = rc.Filters
	return cfg, nil
}

func typeMsg(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("invalid type: %s, expected %s for `%s`", te.Value, te.Type, te.Field)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return "invalid JSON"
	}
	return err.Error()
}

// StringParam reads params[i] as a string; the error names the parameter
// position like serde does.
func StringParam(params []json.RawMessage, i int) (string, *Error) {
	if i >= len(params) {
		return "", InvalidParams(fmt.Sprintf("Invalid params: invalid length %d, expected at least %d.", len(params), i+1))
	}
	var s string
	if err := json.Unmarshal(params[i], &s); err != nil {
		return "", InvalidParams(fmt.Sprintf("Invalid params: invalid type: %s, expected a string.", kind(params[i])))
	}
	return s, nil
}

// Uint64Param reads params[i] as a u64.
func Uint64Param(params []json.RawMessage, i int) (uint64, *Error) {
	if i >= len(params) {
		return 0, InvalidParams(fmt.Sprintf("Invalid params: invalid length %d, expected at least %d.", len(params), i+1))
	}
	var v uint64
	if err := json.Unmarshal(params[i], &v); err != nil {
		return 0, InvalidParams(fmt.Sprintf("Invalid params: invalid type: %s, expected u64.", kind(params[i])))
	}
	return v, nil
}

// OptParam is params[i] or nil.
func OptParam(params []json.RawMessage, i int) json.RawMessage {
	if i < len(params) {
		return params[i]
	}
	return nil
}

func kind(raw json.RawMessage) string {
	switch firstByte(raw) {
	case '"':
		return "string " + string(raw)
	case '{':
		return "map"
	case '[':
		return "sequence"
	case 't', 'f':
		return "boolean `" + string(raw) + "`"
	case 'n':
		return "null"
	}
	return "integer `" + string(raw) + "`"
}

// ParsePubkey decodes a base58 32-byte key with agave's error distinction:
// too long or wrong decoded size is WrongSize, bad characters Invalid.
func ParsePubkey(s string) ([32]byte, string) {
	var k [32]byte
	if len(s) > 44 {
		return k, "WrongSize"
	}
	b, err := base58.Decode(s)
	if err != nil {
		return k, "Invalid"
	}
	if len(b) != 32 {
		return k, "WrongSize"
	}
	copy(k[:], b)
	return k, ""
}
