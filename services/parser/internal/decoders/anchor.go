package decoders

import (
	"fmt"
	"sort"
	"strings"

	"github.com/firehole/firehole/pkg/base58"
	"github.com/firehole/firehole/services/parser/internal/anchor"
)

type anchorDecoder struct{ p *anchor.Program }

func (d anchorDecoder) AppendDecode(dst []byte, acc Account) ([]byte, string, string, error) {
	out, typ, err := d.p.AppendDecode(dst, acc.Data)
	return out, d.p.Name(), typ, err
}

// ParseAddressOverrides parses PARSER_IDL_PROGRAMS: "name=address,..." maps
// an IDL (by program name) to the address it is deployed at. An empty
// string is no overrides.
func ParseAddressOverrides(s string) (map[string][32]byte, error) {
	out := map[string][32]byte{}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, addr, ok := strings.Cut(item, "=")
		name, addr = strings.TrimSpace(name), strings.TrimSpace(addr)
		if !ok || name == "" || addr == "" {
			return nil, fmt.Errorf("override %q: want name=address", item)
		}
		key, err := base58.Decode32(addr)
		if err != nil {
			return nil, fmt.Errorf("override %q: address: %w", item, err)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("override %q: name given twice", item)
		}
		out[name] = key
	}
	return out, nil
}

// AddAnchor registers every IDL program at its declared address or at the
// override for its name. An IDL without either, or an override naming no
// loaded IDL, is an error. It returns the names registered.
func (r *Registry) AddAnchor(progs []*anchor.Program, overrides map[string][32]byte) ([]string, error) {
	used := map[string]bool{}
	var names []string
	for _, p := range progs {
		addr, ok := p.Address()
		if o, has := overrides[p.Name()]; has {
			addr, ok = o, true
			used[p.Name()] = true
		}
		if !ok {
			return nil, fmt.Errorf("anchor IDL %s has no address: set it in PARSER_IDL_PROGRAMS as %s=<address>", p.Name(), p.Name())
		}
		if err := r.Add(addr, "anchor IDL "+p.Name(), false, anchorDecoder{p}); err != nil {
			return nil, err
		}
		names = append(names, p.Name())
	}
	var unused []string
	for name := range overrides {
		if !used[name] {
			unused = append(unused, name)
		}
	}
	if len(unused) > 0 {
		sort.Strings(unused)
		return nil, fmt.Errorf("PARSER_IDL_PROGRAMS names IDLs that were not loaded: %s", strings.Join(unused, ", "))
	}
	return names, nil
}
