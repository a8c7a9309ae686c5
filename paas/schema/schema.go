// Package schema validates JSON values against JSON Schemas (draft 2020-12)
// of the subset the platform's own schemas use: type, properties,
// required, additionalProperties (true, false or a schema), items, enum,
// const, minLength, maxLength, pattern, minimum, maximum, minItems,
// maxItems, oneOf and $ref to #/$defs/…. The schemas the Jitsu face serves
// at /api/schema are the ones its requests are checked against, so what a
// client reads is exactly what the server enforces.
package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// Schema is a compiled JSON Schema.
type Schema struct {
	Raw json.RawMessage // as served
	n   *node
}

type node struct {
	Types      []string
	Properties map[string]*node
	Required   []string
	Additional *node // nil: allowed
	NoExtra    bool  // additionalProperties: false
	Items      *node
	Enum       []any
	Const      any
	HasConst   bool
	MinLength  *int
	MaxLength  *int
	Pattern    *regexp.Regexp
	Minimum    *float64
	Maximum    *float64
	MinItems   *int
	MaxItems   *int
	OneOf      []*node
	Ref        string
	defs       map[string]*node
}

// Compile parses a schema document.
func Compile(raw []byte) (*Schema, error) {
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	defs := map[string]*node{}
	n, err := compile(doc, defs)
	if err != nil {
		return nil, err
	}
	if d, ok := doc["$defs"].(map[string]any); ok {
		for name, v := range d {
			m, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("schema: $defs/%s is not an object", name)
			}
			if defs[name], err = compile(m, defs); err != nil {
				return nil, err
			}
		}
	}
	var check func(*node) error
	check = func(x *node) error {
		if x == nil {
			return nil
		}
		if x.Ref != "" && defs[strings.TrimPrefix(x.Ref, "#/$defs/")] == nil {
			return fmt.Errorf("schema: unresolved $ref %q", x.Ref)
		}
		for _, p := range x.Properties {
			if err := check(p); err != nil {
				return err
			}
		}
		for _, o := range x.OneOf {
			if err := check(o); err != nil {
				return err
			}
		}
		if err := check(x.Items); err != nil {
			return err
		}
		return check(x.Additional)
	}
	if err := check(n); err != nil {
		return nil, err
	}
	for _, d := range defs {
		if err := check(d); err != nil {
			return nil, err
		}
	}
	return &Schema{Raw: raw, n: n}, nil
}

// MustCompile is Compile for the platform's own schemas.
func MustCompile(raw string) *Schema {
	s, err := Compile([]byte(raw))
	if err != nil {
		panic(err)
	}
	return s
}

func compile(m map[string]any, defs map[string]*node) (*node, error) {
	n := &node{defs: defs}
	switch t := m["type"].(type) {
	case string:
		n.Types = []string{t}
	case []any:
		for _, x := range t {
			s, _ := x.(string)
			n.Types = append(n.Types, s)
		}
	}
	if ps, ok := m["properties"].(map[string]any); ok {
		n.Properties = map[string]*node{}
		for k, v := range ps {
			pm, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("schema: property %s is not an object", k)
			}
			p, err := compile(pm, defs)
			if err != nil {
				return nil, err
			}
			n.Properties[k] = p
		}
	}
	if r, ok := m["required"].([]any); ok {
		for _, x := range r {
			s, _ := x.(string)
			n.Required = append(n.Required, s)
		}
	}
	switch a := m["additionalProperties"].(type) {
	case bool:
		n.NoExtra = !a
	case map[string]any:
		sub, err := compile(a, defs)
		if err != nil {
			return nil, err
		}
		n.Additional = sub
	}
	if it, ok := m["items"].(map[string]any); ok {
		sub, err := compile(it, defs)
		if err != nil {
			return nil, err
		}
		n.Items = sub
	}
	if e, ok := m["enum"].([]any); ok {
		n.Enum = e
	}
	if c, ok := m["const"]; ok {
		n.Const, n.HasConst = c, true
	}
	intOf := func(k string) *int {
		if f, ok := m[k].(float64); ok {
			i := int(f)
			return &i
		}
		return nil
	}
	floatOf := func(k string) *float64 {
		if f, ok := m[k].(float64); ok {
			return &f
		}
		return nil
	}
	n.MinLength, n.MaxLength, n.MinItems, n.MaxItems = intOf("minLength"), intOf("maxLength"), intOf("minItems"), intOf("maxItems")
	n.Minimum, n.Maximum = floatOf("minimum"), floatOf("maximum")
	if p, ok := m["pattern"].(string); ok {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("schema: pattern %q: %w", p, err)
		}
		n.Pattern = re
	}
	if o, ok := m["oneOf"].([]any); ok {
		for _, x := range o {
			om, ok := x.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("schema: oneOf entry is not an object")
			}
			sub, err := compile(om, defs)
			if err != nil {
				return nil, err
			}
			n.OneOf = append(n.OneOf, sub)
		}
	}
	if r, ok := m["$ref"].(string); ok {
		n.Ref = r
	}
	return n, nil
}

// Error is a value that fails its schema: where (a JSON pointer-like path,
// "/destinationType") and why.
type Error struct {
	Path, Reason string
}

func (e *Error) Error() string {
	if e.Path == "" {
		return e.Reason
	}
	return e.Path + ": " + e.Reason
}

// Validate checks a JSON document; the error is an *Error for the first
// failing field (in a stable order).
func (s *Schema) Validate(raw []byte) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return &Error{Reason: "not JSON: " + err.Error()}
	}
	return s.n.validate(v, "")
}

func typeOf(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case json.Number:
		if f, err := x.Float64(); err == nil && f == math.Trunc(f) && !strings.ContainsAny(x.String(), ".eE") {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "unknown"
}

func equal(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

func (n *node) validate(v any, path string) error {
	if n.Ref != "" {
		return n.defs[strings.TrimPrefix(n.Ref, "#/$defs/")].validate(v, path)
	}
	if len(n.OneOf) > 0 {
		matched := 0
		var first error
		for _, o := range n.OneOf {
			if err := o.validate(v, path); err == nil {
				matched++
			} else if first == nil {
				first = err
			}
		}
		if matched != 1 {
			if matched == 0 {
				return first
			}
			return &Error{Path: path, Reason: "matches more than one of the allowed forms"}
		}
	}
	t := typeOf(v)
	if len(n.Types) > 0 {
		ok := false
		for _, want := range n.Types {
			if want == t || want == "number" && t == "integer" {
				ok = true
			}
		}
		if !ok {
			return &Error{Path: path, Reason: fmt.Sprintf("must be %s, not %s", strings.Join(n.Types, " or "), t)}
		}
	}
	if n.HasConst && !equal(normalize(v), n.Const) {
		return &Error{Path: path, Reason: fmt.Sprintf("must be %v", n.Const)}
	}
	if len(n.Enum) > 0 {
		ok := false
		for _, e := range n.Enum {
			if equal(normalize(v), e) {
				ok = true
			}
		}
		if !ok {
			return &Error{Path: path, Reason: fmt.Sprintf("must be one of %v", n.Enum)}
		}
	}
	switch x := v.(type) {
	case string:
		l := utf8.RuneCountInString(x)
		if n.MinLength != nil && l < *n.MinLength {
			return &Error{Path: path, Reason: fmt.Sprintf("must be at least %d characters", *n.MinLength)}
		}
		if n.MaxLength != nil && l > *n.MaxLength {
			return &Error{Path: path, Reason: fmt.Sprintf("must be at most %d characters", *n.MaxLength)}
		}
		if n.Pattern != nil && !n.Pattern.MatchString(x) {
			return &Error{Path: path, Reason: fmt.Sprintf("must match %s", n.Pattern)}
		}
	case json.Number:
		f, _ := x.Float64()
		if n.Minimum != nil && f < *n.Minimum {
			return &Error{Path: path, Reason: fmt.Sprintf("must be at least %v", *n.Minimum)}
		}
		if n.Maximum != nil && f > *n.Maximum {
			return &Error{Path: path, Reason: fmt.Sprintf("must be at most %v", *n.Maximum)}
		}
	case []any:
		if n.MinItems != nil && len(x) < *n.MinItems {
			return &Error{Path: path, Reason: fmt.Sprintf("must have at least %d items", *n.MinItems)}
		}
		if n.MaxItems != nil && len(x) > *n.MaxItems {
			return &Error{Path: path, Reason: fmt.Sprintf("must have at most %d items", *n.MaxItems)}
		}
		if n.Items != nil {
			for i, it := range x {
				if err := n.Items.validate(it, fmt.Sprintf("%s/%d", path, i)); err != nil {
					return err
				}
			}
		}
	case map[string]any:
		for _, r := range n.Required {
			if _, ok := x[r]; !ok {
				return &Error{Path: path + "/" + r, Reason: "is required"}
			}
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p, ok := n.Properties[k]
			switch {
			case ok:
				if err := p.validate(x[k], path+"/"+k); err != nil {
					return err
				}
			case n.NoExtra:
				return &Error{Path: path + "/" + k, Reason: "is not a known field"}
			case n.Additional != nil:
				if err := n.Additional.validate(x[k], path+"/"+k); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// normalize turns json.Numbers into float64, as enum and const values are.
func normalize(v any) any {
	if n, ok := v.(json.Number); ok {
		f, _ := n.Float64()
		return f
	}
	return v
}
