package native

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// Where operators.
const (
	opEq     = "eq"
	opNe     = "ne"
	opGt     = "gt"
	opGte    = "gte"
	opLt     = "lt"
	opLte    = "lte"
	opIn     = "in"
	opExists = "exists"
)

// maxWhere bounds the conditions of one subscription.
const maxWhere = 16

// whereClause is one parsed {"path","op","value"} condition.
type whereClause struct {
	path   []string // "parsed.info.mint" → [parsed info mint]
	op     string
	val    any      // decoded with UseNumber: string, json.Number, bool, nil, []any, map[string]any
	num    *big.Rat // val as a number, when it is one
	in     []any
	inNum  []*big.Rat
	exists bool
}

type whereSpec struct {
	Path  string          `json:"path"`
	Op    string          `json:"op"`
	Value json.RawMessage `json:"value"`
}

// topLevel are the account fields a path may start with besides "parsed".
var topLevel = map[string]bool{
	"pubkey": true, "owner": true, "lamports": true, "executable": true, "rentEpoch": true,
	"space": true, "slot": true, "writeVersion": true, "commitment": true, "program": true,
	"accountType": true, "decodeStatus": true, "parsed": true,
}

func parseWhere(specs []whereSpec) ([]whereClause, error) {
	if len(specs) > maxWhere {
		return nil, fmt.Errorf("too many where conditions: %d, at most %d", len(specs), maxWhere)
	}
	out := make([]whereClause, 0, len(specs))
	for i, s := range specs {
		c, err := parseClause(s)
		if err != nil {
			return nil, fmt.Errorf("where[%d]: %w", i, err)
		}
		out = append(out, c)
	}
	return out, nil
}

func parseClause(s whereSpec) (whereClause, error) {
	if s.Path == "" {
		return whereClause{}, errors.New("path is empty")
	}
	path := strings.Split(s.Path, ".")
	for _, p := range path {
		if p == "" {
			return whereClause{}, fmt.Errorf("path %q has an empty element", s.Path)
		}
	}
	if !topLevel[path[0]] {
		return whereClause{}, fmt.Errorf("path %q: unknown field %q", s.Path, path[0])
	}
	if path[0] != "parsed" && len(path) > 1 {
		return whereClause{}, fmt.Errorf("path %q: %s has no members", s.Path, path[0])
	}
	c := whereClause{path: path, op: s.Op}
	var val any
	if len(s.Value) > 0 {
		d := json.NewDecoder(bytes.NewReader(s.Value))
		d.UseNumber()
		if err := d.Decode(&val); err != nil {
			return whereClause{}, fmt.Errorf("value: %w", err)
		}
	}
	switch s.Op {
	case opEq, opNe:
		if len(s.Value) == 0 {
			return whereClause{}, fmt.Errorf("op %s needs a value", s.Op)
		}
		c.val, c.num = val, number(val)
	case opGt, opGte, opLt, opLte:
		c.val, c.num = val, number(val)
		if _, isStr := val.(string); c.num == nil && !isStr {
			return whereClause{}, fmt.Errorf("op %s needs a number or a string", s.Op)
		}
	case opIn:
		arr, ok := val.([]any)
		if !ok {
			return whereClause{}, errors.New("op in needs an array value")
		}
		c.in = arr
		c.inNum = make([]*big.Rat, len(arr))
		for i, v := range arr {
			c.inNum[i] = number(v)
		}
	case opExists:
		c.exists = true
		if len(s.Value) > 0 {
			b, ok := val.(bool)
			if !ok {
				return whereClause{}, errors.New("op exists takes true or false")
			}
			c.exists = b
		}
	default:
		return whereClause{}, fmt.Errorf("unknown op %q (eq, ne, gt, gte, lt, lte, in, exists)", s.Op)
	}
	return c, nil
}

// number returns v as an exact rational when it is a JSON number or a string
// holding a decimal number ("1000", "-2.5", "1e9"); token amounts are strings.
func number(v any) *big.Rat {
	var s string
	switch t := v.(type) {
	case json.Number:
		s = string(t)
	case string:
		s = t
	default:
		return nil
	}
	if s == "" || len(s) > 100 || strings.ContainsAny(s, "/ ") {
		return nil
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil
	}
	return r
}

// match reports whether the value found at the clause's path (present
// says whether there was one) satisfies the clause. A missing path
// satisfies only ne and exists:false.
func (c *whereClause) match(v any, present bool) bool {
	if c.op == opExists {
		return present == c.exists
	}
	if !present {
		return c.op == opNe
	}
	switch c.op {
	case opEq:
		return equal(v, c.val, c.num)
	case opNe:
		return !equal(v, c.val, c.num)
	case opIn:
		for i, w := range c.in {
			if equal(v, w, c.inNum[i]) {
				return true
			}
		}
		return false
	}
	cmp, ok := compare(v, c.val, c.num)
	if !ok {
		return false
	}
	switch c.op {
	case opGt:
		return cmp > 0
	case opGte:
		return cmp >= 0
	case opLt:
		return cmp < 0
	case opLte:
		return cmp <= 0
	}
	return false
}

func equal(v, want any, wantNum *big.Rat) bool {
	if wantNum != nil {
		if n := number(v); n != nil {
			return n.Cmp(wantNum) == 0
		}
	}
	switch w := want.(type) {
	case string:
		s, ok := v.(string)
		return ok && s == w
	case bool:
		b, ok := v.(bool)
		return ok && b == w
	case nil:
		return v == nil
	case json.Number:
		return false // v was not numeric
	}
	a, err1 := json.Marshal(v)
	b, err2 := json.Marshal(want)
	return err1 == nil && err2 == nil && bytes.Equal(a, b)
}

// compare orders v against want: numerically when both are numbers, as
// strings when both are strings that are not both numbers.
func compare(v, want any, wantNum *big.Rat) (int, bool) {
	if wantNum != nil {
		if n := number(v); n != nil {
			return n.Cmp(wantNum), true
		}
	}
	a, ok1 := v.(string)
	b, ok2 := want.(string)
	if ok1 && ok2 {
		return strings.Compare(a, b), true
	}
	return 0, false
}

// lookup walks path into a decoded JSON value.
func lookup(root any, path []string) (any, bool) {
	cur := root
	for _, p := range path {
		switch t := cur.(type) {
		case map[string]any:
			v, ok := t[p]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(t) {
				return nil, false
			}
			cur = t[i]
		default:
			return nil, false
		}
	}
	if cur == nil {
		return nil, false
	}
	return cur, true
}
