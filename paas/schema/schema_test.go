package schema

import (
	"errors"
	"strings"
	"testing"
)

const doc = `{
	"type": "object", "required": ["id"], "additionalProperties": false,
	"properties": {
		"id": {"type": "string", "pattern": "^[a-z]+$", "minLength": 2, "maxLength": 5},
		"n": {"type": "integer", "minimum": 1, "maximum": 10},
		"x": {"type": "number"},
		"kind": {"enum": ["a", "b"]},
		"fixed": {"const": "yes"},
		"tags": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "string"}},
		"key": {"$ref": "#/$defs/key"},
		"either": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
		"any": {"type": ["string", "null"]},
		"open": {"type": "object", "additionalProperties": {"type": "boolean"}}
	},
	"$defs": {"key": {"type": "object", "required": ["k"], "properties": {"k": {"type": "string"}}}}
}`

func TestValidate(t *testing.T) {
	s := MustCompile(doc)
	for _, c := range []struct {
		json, path, reason string // path "" and reason "": valid
	}{
		{`{"id":"ab"}`, "", ""},
		{`{"id":"ab","n":3,"x":1.5,"kind":"a","fixed":"yes","tags":["t"],"key":{"k":"v"},"either":2,"any":null,"open":{"z":true}}`, "", ""},
		{`[]`, "", "must be object, not array"},
		{`{}`, "/id", "is required"},
		{`{"id":"AB"}`, "/id", "must match"},
		{`{"id":"a"}`, "/id", "at least 2"},
		{`{"id":"abcdef"}`, "/id", "at most 5"},
		{`{"id":"ab","n":1.5}`, "/n", "must be integer, not number"},
		{`{"id":"ab","n":0}`, "/n", "at least 1"},
		{`{"id":"ab","n":11}`, "/n", "at most 10"},
		{`{"id":"ab","x":"1"}`, "/x", "must be number"},
		{`{"id":"ab","kind":"c"}`, "/kind", "one of"},
		{`{"id":"ab","fixed":"no"}`, "/fixed", "must be yes"},
		{`{"id":"ab","tags":[]}`, "/tags", "at least 1 items"},
		{`{"id":"ab","tags":["a","b","c"]}`, "/tags", "at most 2 items"},
		{`{"id":"ab","tags":[1]}`, "/tags/0", "must be string"},
		{`{"id":"ab","key":{}}`, "/key/k", "is required"},
		{`{"id":"ab","either":true}`, "/either", "must be"},
		{`{"id":"ab","any":1}`, "/any", "string or null"},
		{`{"id":"ab","open":{"z":1}}`, "/open/z", "must be boolean"},
		{`{"id":"ab","extra":1}`, "/extra", "not a known field"},
		{`{"id":`, "", "not JSON"},
	} {
		err := s.Validate([]byte(c.json))
		if c.reason == "" {
			if err != nil {
				t.Errorf("%s: %v", c.json, err)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Path != c.path || !strings.Contains(e.Reason, c.reason) {
			t.Errorf("%s: %v, want %s: …%s…", c.json, err, c.path, c.reason)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	for _, bad := range []string{`[`, `{"properties":{"a":1}}`, `{"pattern":"("}`, `{"$ref":"#/$defs/missing"}`, `{"oneOf":[1]}`} {
		if _, err := Compile([]byte(bad)); err == nil {
			t.Errorf("Compile(%s) succeeded", bad)
		}
	}
}
