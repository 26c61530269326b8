// Package idlfetch reads a program's Anchor IDL from the chain: the IDL
// account that `anchor idl init` writes at a fixed address derived from the
// program id, holding the zlib-compressed IDL JSON.
package idlfetch

import (
	"bytes"
	"compress/zlib"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/pkg/solana"
)

// MaxIDLBytes bounds the decompressed IDL (a hostile account must not make
// the command allocate without limit).
const MaxIDLBytes = 16 << 20

// ErrNoIDL is returned when the program has no IDL account.
var ErrNoIDL = errors.New("the program has no on-chain IDL account")

var discriminator = func() [8]byte {
	h := sha256.Sum256([]byte("account:IdlAccount"))
	var d [8]byte
	copy(d[:], h[:8])
	return d
}()

// Address is where Anchor keeps program's IDL: create-with-seed of the
// program's seedless PDA, seed "anchor:idl", owner program.
func Address(program [32]byte) ([32]byte, error) {
	base, _, err := solana.FindProgramAddress(nil, program)
	if err != nil {
		return [32]byte{}, err
	}
	return solana.CreateWithSeed(base, "anchor:idl", program)
}

// Decode returns the IDL JSON held in an IDL account's data: discriminator
// (8), authority (32), length (u32 LE), then that many bytes of zlib data.
func Decode(data []byte) ([]byte, error) {
	const header = 8 + 32 + 4
	if len(data) < header {
		return nil, fmt.Errorf("decode idl account: %d bytes, want at least %d", len(data), header)
	}
	if !bytes.Equal(data[:8], discriminator[:]) {
		return nil, errors.New("decode idl account: not an Anchor IdlAccount (discriminator)")
	}
	n := binary.LittleEndian.Uint32(data[40:44])
	if uint64(n) > uint64(len(data)-header) {
		return nil, fmt.Errorf("decode idl account: length %d, only %d bytes follow", n, len(data)-header)
	}
	zr, err := zlib.NewReader(bytes.NewReader(data[header : header+int(n)]))
	if err != nil {
		return nil, fmt.Errorf("decode idl account: %w", err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, MaxIDLBytes+1))
	if err != nil {
		return nil, fmt.Errorf("decode idl account: %w", err)
	}
	if len(out) > MaxIDLBytes {
		return nil, fmt.Errorf("decode idl account: IDL larger than %d bytes", MaxIDLBytes)
	}
	return out, nil
}

// WithAddress returns the IDL with the program address recorded where the
// parser looks for it: legacy IDLs carry no address, so metadata.address is
// added; an IDL that names a different address is an error.
func WithAddress(idl []byte, program [32]byte) ([]byte, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(idl, &doc); err != nil {
		return nil, fmt.Errorf("idl json: %w", err)
	}
	want := base58.Encode32(&program)
	var have string
	if raw, ok := doc["address"]; ok {
		_ = json.Unmarshal(raw, &have)
	}
	meta := map[string]json.RawMessage{}
	if raw, ok := doc["metadata"]; ok {
		if err := json.Unmarshal(raw, &meta); err != nil {
			return nil, fmt.Errorf("idl json: metadata: %w", err)
		}
		if raw, ok := meta["address"]; ok && have == "" {
			_ = json.Unmarshal(raw, &have)
		}
	}
	switch {
	case have == want:
	case have != "":
		return nil, fmt.Errorf("idl names program %s, fetched for %s", have, want)
	default:
		meta["address"], _ = json.Marshal(want)
		doc["metadata"], _ = json.Marshal(meta)
	}
	return json.MarshalIndent(doc, "", "  ")
}

// Fetch reads program's IDL through a Solana JSON-RPC endpoint
// (getAccountInfo, base64) and returns its JSON with the address recorded.
func Fetch(ctx context.Context, client *http.Client, rpcURL string, program [32]byte) ([]byte, error) {
	addr, err := Address(program)
	if err != nil {
		return nil, err
	}
	body := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"getAccountInfo","params":[%q,{"encoding":"base64","commitment":"confirmed"}]}`,
		base58.Encode32(&addr))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rpcURL, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("getAccountInfo %s: %w", base58.Encode32(&addr), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("getAccountInfo %s: HTTP %s", base58.Encode32(&addr), resp.Status)
	}
	var out struct {
		Result *struct {
			Value *struct {
				Data  []string `json:"data"`
				Owner string   `json:"owner"`
			} `json:"value"`
		} `json:"result"`
		Error *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&out); err != nil {
		return nil, fmt.Errorf("getAccountInfo: %w", err)
	}
	switch {
	case out.Error != nil:
		return nil, fmt.Errorf("getAccountInfo: %d %s", out.Error.Code, out.Error.Message)
	case out.Result == nil || out.Result.Value == nil:
		return nil, fmt.Errorf("%w (%s)", ErrNoIDL, base58.Encode32(&addr))
	case len(out.Result.Value.Data) != 2 || out.Result.Value.Data[1] != "base64":
		return nil, errors.New("getAccountInfo: data is not base64")
	case out.Result.Value.Owner != base58.Encode32(&program):
		return nil, fmt.Errorf("the IDL account is owned by %s, not the program", out.Result.Value.Owner)
	}
	data, err := base64.StdEncoding.DecodeString(out.Result.Value.Data[0])
	if err != nil {
		return nil, fmt.Errorf("getAccountInfo: %w", err)
	}
	idl, err := Decode(data)
	if err != nil {
		return nil, err
	}
	return WithAddress(idl, program)
}
