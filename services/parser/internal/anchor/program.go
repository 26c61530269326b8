package anchor

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/firehole/firehole/pkg/base58"
)

// Program is one compiled IDL. It is immutable after ParseIDL and safe for
// concurrent use by any number of goroutines.
type Program struct {
	name       string
	version    string
	address    [32]byte
	hasAddress bool
	accounts   []*account
	// by8 indexes the (usual) 8-byte discriminators by their little-endian
	// value; others holds accounts with custom-length discriminators.
	by8    map[uint64]*account
	others []*account
}

type account struct {
	name string
	disc []byte
	root *node
}

// Name is the program name from the IDL (metadata.name in the 0.30 format,
// name in the legacy one).
func (p *Program) Name() string { return p.name }

// Version is the IDL's program version, if it has one.
func (p *Program) Version() string { return p.version }

// Address is the program id the IDL declares ("address", or legacy
// "metadata.address"). Callers may map an IDL to another address.
func (p *Program) Address() ([32]byte, bool) { return p.address, p.hasAddress }

// AccountTypes lists the account type names in IDL order.
func (p *Program) AccountTypes() []string {
	out := make([]string, len(p.accounts))
	for i, a := range p.accounts {
		out[i] = a.name
	}
	return out
}

// AppendDecode identifies the account type by its discriminator, decodes
// data and appends one JSON object to dst. On error dst is returned
// unchanged (same length); accountType is set whenever the discriminator
// matched. See the package doc for the JSON conventions.
func (p *Program) AppendDecode(dst, data []byte) (out []byte, accountType string, err error) {
	out, accountType, _, err = p.AppendDecodeConsumed(dst, data)
	return out, accountType, err
}

// AppendDecodeConsumed is AppendDecode that also reports how many bytes of
// data (discriminator included) the layout covered; the rest was ignored.
func (p *Program) AppendDecodeConsumed(dst, data []byte) (out []byte, accountType string, consumed int, err error) {
	acc := p.lookup(data)
	if acc == nil {
		head := data[:min(len(data), 8)]
		return dst, "", 0, fmt.Errorf("%w %x for program %s", ErrUnknownDiscriminator, head, p.name)
	}
	d := decoder{data: data, off: len(acc.disc), budget: len(data) + 1<<12}
	out, err = d.value(dst, acc.root)
	if err != nil {
		return dst, acc.name, 0, publicError(acc.name, err)
	}
	return out, acc.name, d.off, nil
}

func (p *Program) lookup(data []byte) *account {
	if len(data) >= 8 {
		if a, ok := p.by8[binary.LittleEndian.Uint64(data)]; ok {
			return a
		}
	}
	for _, a := range p.others {
		if bytes.HasPrefix(data, a.disc) {
			return a
		}
	}
	return nil
}

// ParseIDL compiles an Anchor IDL (legacy or >= 0.30 JSON). Every account
// layout is compiled now, so any problem in the types an account uses is
// reported here rather than at decode time. Types that no account uses are
// not compiled.
func ParseIDL(raw []byte) (*Program, error) {
	idl, err := parseRawIDL(raw)
	if err != nil {
		return nil, err
	}
	p := &Program{name: idl.Name, version: idl.Version, by8: make(map[uint64]*account)}
	addr := idl.Address
	if idl.Metadata != nil {
		if idl.Metadata.Name != "" {
			p.name = idl.Metadata.Name
		}
		if idl.Metadata.Version != "" {
			p.version = idl.Metadata.Version
		}
		if addr == "" {
			addr = idl.Metadata.Address
		}
	}
	if p.name == "" {
		return nil, errors.New("IDL has no program name (name or metadata.name)")
	}
	if addr != "" {
		if p.address, err = base58.Decode32(addr); err != nil {
			return nil, fmt.Errorf("idl %s: address %q: %w", p.name, addr, err)
		}
		p.hasAddress = true
	}
	if err := p.compileAccounts(idl); err != nil {
		return nil, fmt.Errorf("idl %s: %w", p.name, err)
	}
	return p, nil
}

func (p *Program) compileAccounts(idl *rawIDL) error {
	defs := idl.Types
	// Legacy IDLs write account layouts inline; other types may refer to
	// them by name, so they join the type table.
	for i, a := range idl.Accounts {
		if len(a.Type) == 0 {
			continue
		}
		var ty rawTypeDefTy
		if err := json.Unmarshal(a.Type, &ty); err != nil {
			return fmt.Errorf("account %q: type: %w", a.Name, err)
		}
		if a.Name == "" {
			return fmt.Errorf("accounts[%d] has no name", i)
		}
		if !hasType(defs, a.Name) {
			defs = append(defs, rawTypeDef{Name: a.Name, Type: ty})
		}
	}
	c, err := newCompiler(defs)
	if err != nil {
		return err
	}
	for i, a := range idl.Accounts {
		if a.Name == "" {
			return fmt.Errorf("accounts[%d] has no name", i)
		}
		acc := &account{name: a.Name}
		if len(a.Discriminator) > 0 {
			if acc.disc, err = parseDiscriminator(a.Discriminator); err != nil {
				return fmt.Errorf("account %q: %w", a.Name, err)
			}
		} else {
			sum := sha256.Sum256([]byte("account:" + a.Name))
			acc.disc = sum[:8]
		}
		ref, _ := json.Marshal(a.Name)
		if acc.root, err = c.defined(ref, nil); err != nil {
			return fmt.Errorf("account %q: %w", a.Name, err)
		}
		if err := p.addAccount(acc); err != nil {
			return err
		}
	}
	return nil
}

func (p *Program) addAccount(acc *account) error {
	for _, o := range p.accounts {
		if bytes.Equal(o.disc, acc.disc) {
			return fmt.Errorf("accounts %q and %q share discriminator %x", o.name, acc.name, acc.disc)
		}
	}
	p.accounts = append(p.accounts, acc)
	if len(acc.disc) == 8 {
		p.by8[binary.LittleEndian.Uint64(acc.disc)] = acc
	} else {
		p.others = append(p.others, acc)
		// Longest first, so a longer discriminator wins over its prefix.
		sort.SliceStable(p.others, func(i, j int) bool { return len(p.others[i].disc) > len(p.others[j].disc) })
	}
	return nil
}

func hasType(defs []rawTypeDef, name string) bool {
	for i := range defs {
		if defs[i].Name == name {
			return true
		}
	}
	return false
}

// LoadDir parses every *.json file in dir (not recursing), in name order.
// Any bad file fails the whole load, with every problem reported.
func LoadDir(dir string) ([]*Program, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("load IDL dir: %w", err)
	}
	var (
		progs []*Program
		errs  []error
	)
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		raw, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p, err := ParseIDL(raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			continue
		}
		progs = append(progs, p)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return progs, nil
}
