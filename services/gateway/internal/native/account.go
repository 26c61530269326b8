package native

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"

	"github.com/klauspost/compress/zstd"

	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/pkg/bus"
	fireholev1 "github.com/firehole/firehole/proto/firehole/v1"
)

// Data encodings of the native account object.
const (
	encBase64     = "base64"      // data as ["<base64>","base64"], parsed alongside
	encBase64Zstd = "base64+zstd" // data as ["<base64 of zstd>","base64+zstd"]
	encJSONParsed = "jsonParsed"  // parsed only; data (base64) only when there is no parsed form
	encNone       = "none"        // no data, parsed alongside
)

func validEncoding(e string) bool {
	switch e {
	case encBase64, encBase64Zstd, encJSONParsed, encNone:
		return true
	}
	return false
}

var zenc, _ = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))

// decodeStatusName is the wire name of a DecodeStatus: "ok", "unknownProgram",
// "error", "awaitingMint" or "unspecified".
func decodeStatusName(s fireholev1.DecodeStatus) string {
	switch s {
	case fireholev1.DecodeStatus_DECODE_STATUS_OK:
		return "ok"
	case fireholev1.DecodeStatus_DECODE_STATUS_UNKNOWN_PROGRAM:
		return "unknownProgram"
	case fireholev1.DecodeStatus_DECODE_STATUS_ERROR:
		return "error"
	case fireholev1.DecodeStatus_DECODE_STATUS_AWAITING_MINT:
		return "awaitingMint"
	}
	return "unspecified"
}

func appendKey(dst, k []byte) []byte {
	if len(k) == 32 {
		return base58.AppendEncode32(dst, (*[32]byte)(k))
	}
	return base58.AppendEncode(dst, k)
}

// hasParsed reports whether the account carries valid decoded JSON.
func hasParsed(a *fireholev1.DecodedAccount) bool {
	p := a.GetParsed()
	return len(p) > 0 && json.Valid(p)
}

// appendAccount appends the native account object of a (docs/native-protocol.md).
func appendAccount(dst []byte, a *fireholev1.DecodedAccount, enc string) []byte {
	acc := a.GetAccount()
	dst = append(dst, `{"pubkey":"`...)
	dst = appendKey(dst, acc.GetPubkey())
	dst = append(dst, `","owner":"`...)
	dst = appendKey(dst, acc.GetOwner())
	dst = append(dst, `","lamports":`...)
	dst = strconv.AppendUint(dst, acc.GetLamports(), 10)
	dst = append(dst, `,"executable":`...)
	dst = strconv.AppendBool(dst, acc.GetExecutable())
	dst = append(dst, `,"rentEpoch":`...)
	dst = strconv.AppendUint(dst, acc.GetRentEpoch(), 10)
	dst = append(dst, `,"space":`...)
	dst = strconv.AppendInt(dst, int64(len(acc.GetData())), 10)
	dst = append(dst, `,"slot":`...)
	dst = strconv.AppendUint(dst, acc.GetSlot(), 10)
	dst = append(dst, `,"writeVersion":`...)
	dst = strconv.AppendUint(dst, acc.GetWriteVersion(), 10)
	dst = append(dst, `,"commitment":"`...)
	dst = append(dst, bus.CommitmentToken(acc.GetCommitment())...)
	dst = append(dst, `","program":`...)
	dst = appendString(dst, a.GetProgram())
	dst = append(dst, `,"accountType":`...)
	dst = appendString(dst, a.GetAccountType())
	dst = append(dst, `,"decodeStatus":"`...)
	dst = append(dst, decodeStatusName(a.GetStatus())...)
	dst = append(dst, '"')
	if e := a.GetError(); e != "" {
		dst = append(dst, `,"decodeError":`...)
		dst = appendString(dst, e)
	}
	parsed := hasParsed(a)
	if parsed {
		dst = append(dst, `,"jsonParsed":`...)
		dst = strconv.AppendBool(dst, a.GetJsonParsed())
		dst = append(dst, `,"parsed":`...)
		dst = append(dst, a.GetParsed()...)
	}
	switch {
	case enc == encNone, enc == encJSONParsed && parsed:
	case enc == encBase64Zstd:
		dst = append(dst, `,"data":["`...)
		dst = base64.StdEncoding.AppendEncode(dst, zenc.EncodeAll(acc.GetData(), nil))
		dst = append(dst, `","base64+zstd"]`...)
	default:
		dst = append(dst, `,"data":["`...)
		dst = base64.StdEncoding.AppendEncode(dst, acc.GetData())
		dst = append(dst, `","base64"]`...)
	}
	return append(dst, '}')
}

// view is what where-clauses see of one account; parsed JSON is decoded on
// first use.
type view struct {
	a         *fireholev1.DecodedAccount
	parsed    any
	parsedOK  bool
	parsedTry bool
}

func (v *view) get(path []string) (any, bool) {
	acc := v.a.GetAccount()
	switch path[0] {
	case "pubkey":
		return string(appendKey(nil, acc.GetPubkey())), true
	case "owner":
		return string(appendKey(nil, acc.GetOwner())), true
	case "lamports":
		return json.Number(strconv.FormatUint(acc.GetLamports(), 10)), true
	case "executable":
		return acc.GetExecutable(), true
	case "rentEpoch":
		return json.Number(strconv.FormatUint(acc.GetRentEpoch(), 10)), true
	case "space":
		return json.Number(strconv.Itoa(len(acc.GetData()))), true
	case "slot":
		return json.Number(strconv.FormatUint(acc.GetSlot(), 10)), true
	case "writeVersion":
		return json.Number(strconv.FormatUint(acc.GetWriteVersion(), 10)), true
	case "commitment":
		return bus.CommitmentToken(acc.GetCommitment()), true
	case "program":
		return v.a.GetProgram(), v.a.GetProgram() != ""
	case "accountType":
		return v.a.GetAccountType(), v.a.GetAccountType() != ""
	case "decodeStatus":
		return decodeStatusName(v.a.GetStatus()), true
	case "parsed":
		if !v.parsedTry {
			v.parsedTry = true
			if p := v.a.GetParsed(); len(p) > 0 {
				d := json.NewDecoder(bytes.NewReader(p))
				d.UseNumber()
				v.parsedOK = d.Decode(&v.parsed) == nil
			}
		}
		if !v.parsedOK {
			return nil, false
		}
		return lookup(v.parsed, path[1:])
	}
	return nil, false
}

func matchWhere(a *fireholev1.DecodedAccount, where []whereClause) bool {
	if len(where) == 0 {
		return true
	}
	v := view{a: a}
	for i := range where {
		val, ok := v.get(where[i].path)
		if !where[i].match(val, ok) {
			return false
		}
	}
	return true
}
