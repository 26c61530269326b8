package anchor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/firehole/firehole/services/parser/internal/jsonw"
	"strings"
)

// kind is the operation a plan node performs.
type kind uint8

const (
	kU8 kind = iota
	kI8
	kU16
	kI16
	kU32
	kI32
	kU64
	kI64
	kU128
	kI128
	kU256
	kI256
	kF32
	kF64
	kBool
	kString
	kBytes
	kPubkey
	kOption
	kCOption
	kVec
	kArray
	kStruct
	kTuple
	kEnum
)

// maxSize caps computed layout sizes so that hostile IDLs cannot overflow
// the arithmetic; no account comes near it.
const maxSize = 1 << 40

// maxInstantiationDepth bounds nested generic instantiations, which could
// otherwise grow without end (Foo<T> holding Foo<Vec<T>>).
const maxInstantiationDepth = 64

// node is one step of a compiled decode plan. Nodes are immutable after
// compilation and shared between all decodes.
type node struct {
	kind kind
	// size is the encoded size when it is the same for every value, else -1.
	size int64
	// minSize is the smallest possible encoded size; vec lengths are checked
	// against it before any element is decoded.
	minSize int64
	// align is the C alignment, used when the node sits in a repr C struct.
	align int64

	elem     *node     // option, coption, vec, array
	n        int64     // array length
	fields   []field   // struct, tuple
	tailPad  int64     // struct: trailing padding (repr C)
	variants []variant // enum

	sig string // canonical type signature, for instantiation caching
}

type field struct {
	name string
	key  []byte // pre-encoded `"name":`, with a leading comma after the first field
	pad  int64  // padding bytes before the field (repr C)
	node *node
}

type variant struct {
	name   string
	unit   []byte // pre-encoded `"Name"` for unit variants
	prefix []byte // pre-encoded `{"Name":` for variants with fields
	body   *node  // kStruct or kTuple; nil for unit variants
}

// primitives maps the IDL names of fixed types to their shared nodes.
var primitives = buildPrimitives()

func buildPrimitives() map[string]*node {
	primitives := make(map[string]*node)
	add := func(k kind, size int64, names ...string) {
		n := &node{kind: k, size: size, minSize: size, align: size, sig: names[0]}
		for _, name := range names {
			primitives[name] = n
		}
	}
	add(kU8, 1, "u8")
	add(kI8, 1, "i8")
	add(kU16, 2, "u16")
	add(kI16, 2, "i16")
	add(kU32, 4, "u32")
	add(kI32, 4, "i32")
	add(kU64, 8, "u64")
	add(kI64, 8, "i64")
	add(kU128, 16, "u128")
	add(kI128, 16, "i128")
	add(kU256, 32, "u256")
	add(kI256, 32, "i256")
	add(kF32, 4, "f32")
	add(kF64, 8, "f64")
	add(kBool, 1, "bool")
	primitives["u256"].align = 16
	primitives["i256"].align = 16
	pk := &node{kind: kPubkey, size: 32, minSize: 32, align: 1, sig: "pubkey"}
	primitives["pubkey"] = pk
	primitives["publicKey"] = pk
	primitives["string"] = &node{kind: kString, size: -1, minSize: 4, align: 1, sig: "string"}
	primitives["bytes"] = &node{kind: kBytes, size: -1, minSize: 4, align: 1, sig: "bytes"}
	return primitives
}

// genArg is a bound generic parameter: a type or a const value.
type genArg struct {
	isConst bool
	node    *node
	value   int64
}

// compiler turns IDL type references into plan nodes, caching each
// instantiation of a defined type.
type compiler struct {
	defs       map[string]*rawTypeDef
	done       map[string]*node
	inProgress map[string]bool
	depth      int
}

func newCompiler(defs []rawTypeDef) (*compiler, error) {
	c := &compiler{
		defs:       make(map[string]*rawTypeDef, len(defs)),
		done:       make(map[string]*node),
		inProgress: make(map[string]bool),
	}
	for i := range defs {
		d := &defs[i]
		if d.Name == "" {
			return nil, fmt.Errorf("types[%d] has no name", i)
		}
		if _, dup := c.defs[d.Name]; dup {
			return nil, fmt.Errorf("type %q is defined twice", d.Name)
		}
		c.defs[d.Name] = d
	}
	return c, nil
}

// typeRef compiles one type reference under the generic bindings env.
func (c *compiler) typeRef(raw json.RawMessage, env map[string]genArg) (*node, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, errors.New("missing type")
	}
	if raw[0] == '"' {
		var name string
		if err := json.Unmarshal(raw, &name); err != nil {
			return nil, err
		}
		if n, ok := primitives[name]; ok {
			return n, nil
		}
		return nil, fmt.Errorf("unknown type %q", name)
	}
	if raw[0] != '{' {
		return nil, fmt.Errorf("type %s is neither a string nor an object", truncate(raw))
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	if len(obj) != 1 {
		return nil, fmt.Errorf("type %s must have exactly one key", truncate(raw))
	}
	var k string
	var v json.RawMessage
	for k, v = range obj { // the only entry
	}
	switch k {
	case "option", "coption":
		elem, err := c.typeRef(v, env)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		n := &node{kind: kOption, size: -1, minSize: 1, align: 1, elem: elem, sig: k + "<" + elem.sig + ">"}
		if k == "coption" {
			n.kind, n.minSize = kCOption, 4
		}
		return n, nil
	case "vec":
		elem, err := c.typeRef(v, env)
		if err != nil {
			return nil, fmt.Errorf("vec: %w", err)
		}
		return &node{kind: kVec, size: -1, minSize: 4, align: 1, elem: elem, sig: "vec<" + elem.sig + ">"}, nil
	case "array":
		return c.array(v, env)
	case "defined":
		return c.defined(v, env)
	case "generic":
		var name string
		if err := json.Unmarshal(v, &name); err != nil {
			return nil, fmt.Errorf("generic: %w", err)
		}
		a, ok := env[name]
		if !ok {
			return nil, fmt.Errorf("unbound generic %q", name)
		}
		if a.isConst {
			return nil, fmt.Errorf("const generic %q used as a type", name)
		}
		return a.node, nil
	default:
		return nil, fmt.Errorf("unsupported type %q", k)
	}
}

func (c *compiler) array(raw json.RawMessage, env map[string]genArg) (*node, error) {
	var parts []json.RawMessage
	if err := json.Unmarshal(raw, &parts); err != nil || len(parts) != 2 {
		return nil, fmt.Errorf("array %s must be [type, length]", truncate(raw))
	}
	elem, err := c.typeRef(parts[0], env)
	if err != nil {
		return nil, fmt.Errorf("array: %w", err)
	}
	var length int64
	lenRaw := bytes.TrimSpace(parts[1])
	if len(lenRaw) > 0 && lenRaw[0] == '{' {
		var g struct {
			Generic string `json:"generic"`
		}
		if err := json.Unmarshal(lenRaw, &g); err != nil || g.Generic == "" {
			return nil, fmt.Errorf("array length %s is not a generic reference", truncate(lenRaw))
		}
		a, ok := env[g.Generic]
		if !ok || !a.isConst {
			return nil, fmt.Errorf("array length refers to unbound const generic %q", g.Generic)
		}
		length = a.value
	} else if length, err = parseConst(lenRaw); err != nil {
		return nil, fmt.Errorf("array: %w", err)
	}
	if length > maxSize {
		return nil, fmt.Errorf("array length %d is too large", length)
	}
	n := &node{kind: kArray, elem: elem, n: length, align: elem.align,
		size: -1, minSize: mulCap(elem.minSize, length),
		sig: fmt.Sprintf("[%s;%d]", elem.sig, length)}
	if elem.size >= 0 {
		n.size = n.minSize
	}
	return n, nil
}

func (c *compiler) defined(raw json.RawMessage, env map[string]genArg) (*node, error) {
	var ref rawDefined
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		if err := json.Unmarshal(raw, &ref.Name); err != nil {
			return nil, err
		}
	} else if err := json.Unmarshal(raw, &ref); err != nil {
		return nil, fmt.Errorf("defined: %w", err)
	}
	def, ok := c.defs[ref.Name]
	if !ok {
		return nil, fmt.Errorf("undefined type %q", ref.Name)
	}
	if len(ref.Generics) != len(def.Generics) {
		return nil, fmt.Errorf("type %q takes %d generic arguments, got %d", ref.Name, len(def.Generics), len(ref.Generics))
	}
	var inner map[string]genArg
	sigs := make([]string, 0, len(ref.Generics))
	if len(def.Generics) > 0 {
		inner = make(map[string]genArg, len(def.Generics))
	}
	for i, g := range def.Generics {
		arg := ref.Generics[i]
		switch g.Kind {
		case "type":
			if arg.Kind != "type" {
				return nil, fmt.Errorf("type %q generic %q: want a type argument", ref.Name, g.Name)
			}
			n, err := c.typeRef(arg.Type, env)
			if err != nil {
				return nil, fmt.Errorf("type %q generic %q: %w", ref.Name, g.Name, err)
			}
			inner[g.Name] = genArg{node: n}
			sigs = append(sigs, n.sig)
		case "const":
			if arg.Kind != "const" {
				return nil, fmt.Errorf("type %q generic %q: want a const argument", ref.Name, g.Name)
			}
			v, err := parseConst(arg.Value)
			if err != nil {
				return nil, fmt.Errorf("type %q generic %q: %w", ref.Name, g.Name, err)
			}
			inner[g.Name] = genArg{isConst: true, value: v}
			sigs = append(sigs, fmt.Sprint(v))
		default:
			return nil, fmt.Errorf("type %q generic %q has unknown kind %q", ref.Name, g.Name, g.Kind)
		}
	}
	key := ref.Name
	if len(sigs) > 0 {
		key += "<" + strings.Join(sigs, ",") + ">"
	}
	return c.instantiate(key, def, inner)
}

// instantiate compiles a type definition with its generics bound, once per
// distinct instantiation. A definition that reaches itself is rejected: a
// Borsh value of such a type has no bounded layout we could precompile.
func (c *compiler) instantiate(key string, def *rawTypeDef, env map[string]genArg) (*node, error) {
	if n, ok := c.done[key]; ok {
		return n, nil
	}
	if c.inProgress[key] {
		return nil, fmt.Errorf("type %s is recursive", key)
	}
	if c.depth >= maxInstantiationDepth {
		return nil, fmt.Errorf("type %s: generic instantiations nested too deeply", key)
	}
	c.inProgress[key] = true
	c.depth++
	n, err := c.typeDef(key, def, env)
	c.depth--
	delete(c.inProgress, key)
	if err != nil {
		return nil, err
	}
	c.done[key] = n
	return n, nil
}

// typeDef compiles the body of a type definition.
func (c *compiler) typeDef(sig string, def *rawTypeDef, env map[string]genArg) (*node, error) {
	ty := def.Type
	switch ty.Kind {
	case "struct":
		n, err := c.fields(ty.Fields, env)
		if err != nil {
			return nil, fmt.Errorf("type %s: %w", sig, err)
		}
		n.sig = sig
		c.layout(n, def)
		return n, nil
	case "enum":
		n, err := c.enum(ty.Variants, env)
		if err != nil {
			return nil, fmt.Errorf("type %s: %w", sig, err)
		}
		n.sig = sig
		return n, nil
	case "type", "alias":
		target := ty.Alias
		if len(target) == 0 {
			target = ty.Value
		}
		n, err := c.typeRef(target, env)
		if err != nil {
			return nil, fmt.Errorf("type %s: alias: %w", sig, err)
		}
		return n, nil
	default:
		return nil, fmt.Errorf("type %s has unsupported kind %q", sig, ty.Kind)
	}
}

// fields compiles a struct body: named fields give an object, bare types a
// tuple (JSON array).
func (c *compiler) fields(raws []json.RawMessage, env map[string]genArg) (*node, error) {
	n := &node{kind: kStruct, size: 0, align: 1}
	seen := make(map[string]bool, len(raws))
	for i, raw := range raws {
		f, named := isNamedField(raw)
		if i == 0 && !named {
			n.kind = kTuple
		}
		if named != (n.kind == kStruct) {
			return nil, errors.New("mixes named and unnamed fields")
		}
		typ := raw
		name := ""
		if named {
			name, typ = *f.Name, f.Type
			if seen[name] {
				return nil, fmt.Errorf("field %q appears twice", name)
			}
			seen[name] = true
		}
		child, err := c.typeRef(typ, env)
		if err != nil {
			if named {
				return nil, fmt.Errorf("field %q: %w", name, err)
			}
			return nil, fmt.Errorf("field %d: %w", i, err)
		}
		var key []byte
		if i > 0 {
			key = append(key, ',')
		}
		if named {
			key = jsonw.AppendString(key, name)
			key = append(key, ':')
		}
		n.fields = append(n.fields, field{name: name, key: key, node: child})
		n.minSize = addCap(n.minSize, child.minSize)
		if n.size >= 0 && child.size >= 0 {
			n.size = addCap(n.size, child.size)
		} else {
			n.size = -1
		}
		n.align = max(n.align, child.align)
	}
	return n, nil
}

// layout applies the definition's memory representation to a compiled
// struct: C padding for bytemuck repr C, alignment 1 for packed.
func (c *compiler) layout(n *node, def *rawTypeDef) {
	zeroCopy := def.Serialization == "bytemuck" || def.Serialization == "bytemuckunsafe"
	packed := def.Repr != nil && def.Repr.Packed
	reprC := def.Repr == nil || def.Repr.Kind == "c" || def.Repr.Kind == "transparent"
	if packed {
		n.align = 1
		return
	}
	if def.Repr != nil && def.Repr.Align > 0 && def.Repr.Align <= 1<<12 {
		n.align = max(n.align, int64(def.Repr.Align))
	}
	if !zeroCopy || !reprC || n.size < 0 {
		// Borsh layout: sequential, no padding. A zero-copy struct with a
		// variable-size field cannot exist in Rust; read it sequentially.
		return
	}
	var off int64
	for i := range n.fields {
		f := &n.fields[i]
		f.pad = padTo(off, f.node.align)
		off = addCap(off, f.pad+f.node.size)
	}
	n.tailPad = padTo(off, n.align)
	n.size = addCap(off, n.tailPad)
	n.minSize = n.size
}

func (c *compiler) enum(raws []rawVariant, env map[string]genArg) (*node, error) {
	if len(raws) == 0 {
		return nil, errors.New("enum has no variants")
	}
	if len(raws) > 256 {
		return nil, fmt.Errorf("enum has %d variants, Borsh tags are one byte", len(raws))
	}
	n := &node{kind: kEnum, size: 1, minSize: 1 << 62, align: 1}
	for i, v := range raws {
		if v.Name == "" {
			return nil, fmt.Errorf("variant %d has no name", i)
		}
		vr := variant{name: v.Name}
		var body int64
		if len(v.Fields) == 0 {
			vr.unit = jsonw.AppendString(nil, v.Name)
		} else {
			b, err := c.fields(v.Fields, env)
			if err != nil {
				return nil, fmt.Errorf("variant %q: %w", v.Name, err)
			}
			vr.body = b
			vr.prefix = append(jsonw.AppendString([]byte{'{'}, v.Name), ':')
			body = b.minSize
			if b.size != 0 {
				n.size = -1
			}
		}
		n.minSize = min(n.minSize, addCap(1, body))
		n.variants = append(n.variants, vr)
	}
	return n, nil
}

func padTo(off, align int64) int64 {
	if align <= 1 {
		return 0
	}
	return (align - off%align) % align
}

func addCap(a, b int64) int64 {
	if a+b > maxSize {
		return maxSize
	}
	return a + b
}

func mulCap(a, n int64) int64 {
	if a == 0 || n == 0 {
		return 0
	}
	if a > maxSize/n {
		return maxSize
	}
	return a * n
}

func truncate(raw []byte) string {
	if len(raw) > 60 {
		return string(raw[:60]) + "..."
	}
	return string(raw)
}
