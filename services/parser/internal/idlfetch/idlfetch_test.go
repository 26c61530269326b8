package idlfetch

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/services/parser/internal/anchor"
)

const whirlpool = "whirLbMiicVdio4qvUfM5KAg6Ct8VwpYzGff3uctyCc"

func program(t *testing.T) [32]byte {
	k, err := base58.Decode32(whirlpool)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// idlAccount lays out an Anchor IdlAccount holding idl.
func idlAccount(t *testing.T, idl []byte) []byte {
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	_, _ = zw.Write(idl)
	_ = zw.Close()
	out := append([]byte(nil), discriminator[:]...)
	out = append(out, make([]byte, 32)...) // authority
	out = binary.LittleEndian.AppendUint32(out, uint32(z.Len()))
	out = append(out, z.Bytes()...)
	return append(out, make([]byte, 100)...) // accounts are allocated larger
}

// rpcServer answers getAccountInfo for exactly one address.
func rpcServer(t *testing.T, addr string, data []byte, owner string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Method string `json:"method"`
			Params []json.RawMessage
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Method != "getAccountInfo" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		var key string
		_ = json.Unmarshal(req.Params[0], &key)
		value := "null"
		if key == addr && data != nil {
			v, _ := json.Marshal(map[string]any{"data": []string{base64.StdEncoding.EncodeToString(data), "base64"},
				"owner": owner, "lamports": 1, "executable": false, "rentEpoch": 0, "space": len(data)})
			value = string(v)
		}
		_, _ = io.WriteString(w, `{"jsonrpc":"2.0","result":{"context":{"slot":1},"value":`+value+`},"id":1}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestFetchLegacyIDL(t *testing.T) {
	t.Parallel()
	idl, err := os.ReadFile("../anchor/testdata/orca-whirlpool/idl.json")
	if err != nil {
		t.Fatal(err)
	}
	prog := program(t)
	addr, err := Address(prog)
	if err != nil {
		t.Fatal(err)
	}
	// The address solana-go derives for this program (pkg/solana's vectors).
	if got := base58.Encode32(&addr); got != "2KFqE4RWoPVbvodo8vbggCFeHPS8TDvgpwp79ALMrcyn" {
		t.Fatalf("IDL address = %s", got)
	}
	srv := rpcServer(t, base58.Encode32(&addr), idlAccount(t, idl), whirlpool)
	got, err := Fetch(context.Background(), srv.Client(), srv.URL, prog)
	if err != nil {
		t.Fatal(err)
	}
	p, err := anchor.ParseIDL(got)
	if err != nil {
		t.Fatalf("fetched IDL does not load: %v", err)
	}
	if a, ok := p.Address(); !ok || a != prog {
		t.Fatalf("fetched IDL address = %v %v, want the program", a, ok)
	}
	if p.Name() != "whirlpool" {
		t.Fatalf("name %q", p.Name())
	}
}

func TestFetchErrors(t *testing.T) {
	t.Parallel()
	prog := program(t)
	addr, _ := Address(prog)
	a := base58.Encode32(&addr)
	good := idlAccount(t, []byte(`{"version":"0.1.0","name":"x","instructions":[],"accounts":[]}`))
	for _, tc := range []struct {
		name  string
		data  []byte
		owner string
		want  string
	}{
		{"no account", nil, whirlpool, "no on-chain IDL"},
		{"wrong owner", good, "11111111111111111111111111111111", "owned by"},
		{"wrong discriminator", append([]byte{1, 2, 3, 4, 5, 6, 7, 8}, good[8:]...), whirlpool, "discriminator"},
		{"length past the end", binary.LittleEndian.AppendUint32(append([]byte(nil), good[:40]...), 1<<30), whirlpool, "only"},
		{"not zlib", append(append([]byte(nil), good[:40]...), 3, 0, 0, 0, 'a', 'b', 'c'), whirlpool, "zlib"},
	} {
		srv := rpcServer(t, a, tc.data, tc.owner)
		_, err := Fetch(context.Background(), srv.Client(), srv.URL, prog)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want it to mention %q", tc.name, err, tc.want)
		}
		if tc.data == nil && !errors.Is(err, ErrNoIDL) {
			t.Errorf("%s: err %v is not ErrNoIDL", tc.name, err)
		}
	}
}

func TestDecodeBoundsDecompression(t *testing.T) {
	t.Parallel()
	bomb := idlAccount(t, bytes.Repeat([]byte{' '}, MaxIDLBytes+10))
	if _, err := Decode(bomb); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("err %v, want the size bound", err)
	}
}

func TestWithAddressRefusesAnotherProgram(t *testing.T) {
	t.Parallel()
	_, err := WithAddress([]byte(`{"address":"TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"}`), program(t))
	if err == nil {
		t.Fatal("an IDL naming another program must be refused")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte{})
	f.Add(append(append([]byte(nil), discriminator[:]...), make([]byte, 40)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := Decode(data)
		if err == nil && len(out) > MaxIDLBytes {
			t.Fatalf("decoded %d bytes past the bound", len(out))
		}
	})
}
