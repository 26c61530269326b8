// Package idlfetch reads a program's Anchor IDL from the chain: the IDL
// account that `anchor idl init` writes at a fixed address derived from the
// program id, holding the zlib-compressed IDL JSON.
package idlfetch

import (
	"bytes"
	"compress/zlib"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/pkg/solana"
	"github.com/firehole/firehole/pkg/solanarpc"
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
	var res struct {
		Value *solanarpc.Account `json:"value"`
	}
	params := []any{base58.Encode32(&addr), map[string]string{"encoding": "base64", "commitment": "confirmed"}}
	if err := solanarpc.Call(ctx, client, rpcURL, "getAccountInfo", params, 64<<20, &res); err != nil {
		return nil, err
	}
	if res.Value == nil {
		return nil, fmt.Errorf("%w (%s)", ErrNoIDL, base58.Encode32(&addr))
	}
	owner, data, err := res.Value.Decode()
	if err != nil {
		return nil, fmt.Errorf("getAccountInfo: %w", err)
	}
	if owner != program {
		return nil, fmt.Errorf("the IDL account is owned by %s, not the program", base58.Encode32(&owner))
	}
	idl, err := Decode(data)
	if err != nil {
		return nil, err
	}
	return WithAddress(idl, program)
}
