package paas

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"regexp"
	"slices"
	"sync"

	"github.com/selfhost/paas/paas/schema"
)

// The Jitsu face's configuration: streams (event sources), destinations
// (where events go), functions (JavaScript run per event) and links
// (stream → destination), kept per workspace. A workspace is an owner: a
// user's personal one, or a team's. Objects are JSON documents checked
// against the schemas the face serves at /api/schema.

// Config object types.
const (
	TypeStream      = "stream"
	TypeDestination = "destination"
	TypeFunction    = "function"
	TypeLink        = "link"
)

// ConfigTypes are the types of config objects, links included.
var ConfigTypes = []string{TypeStream, TypeDestination, TypeFunction, TypeLink}

// DestinationTypes are the kinds of destination this platform delivers to.
var DestinationTypes = []string{"webhook", "file", "service"}

// MaxConfigObject bounds one config object's JSON (a function's code included).
const MaxConfigObject = 512 << 10

// Workspace is an owner as the Jitsu face shows it.
type Workspace struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Slug string `json:"slug"` // the owner's name
}

// WorkspaceOf is owner's workspace: a stable id made from the name, so
// none is stored, and the name as its slug.
func WorkspaceOf(owner string) Workspace {
	sum := sha256.Sum256([]byte("workspace\x00" + owner))
	return Workspace{ID: "ws_" + hex.EncodeToString(sum[:10]), Name: owner, Slug: owner}
}

const idPattern = `^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$`

var configIDRE = regexp.MustCompile(idPattern)

// ValidConfigID reports whether id can name a config object.
func ValidConfigID(id string) bool { return configIDRE.MatchString(id) }

const keyDef = `"key": {"type": "object", "required": ["id"], "properties": {
	"id": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"},
	"plaintext": {"type": "string", "minLength": 16, "maxLength": 200, "description": "the key's secret, sent once: stored as a hash, never shown again"},
	"hint": {"type": "string", "maxLength": 20}}}`

// ConfigSchema is the served and enforced schema of a config type (or
// "destination/<destinationType>" for each destination's own fields); nil
// for none.
func ConfigSchema(name string) *schema.Schema { return configSchemas()[name] }

// configSchemas are compiled at first use, not at start: compiling them
// was most of the program's start-up work (6 ms, 1.8 MB of garbage, for
// every command and every server that never sees the Jitsu face).
var configSchemas = sync.OnceValue(func() map[string]*schema.Schema {
	return map[string]*schema.Schema{
		TypeStream: schema.MustCompile(`{"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "stream",
	"description": "A source of events: kind ingest takes events posted with one of its keys (POST /api/s/event); kind app carries the log lines and platform events of the app it names.",
	"type": "object", "required": ["id", "name"], "properties": {
		"id": {"type": "string", "pattern": "` + idPattern + `"},
		"workspaceId": {"type": "string"}, "type": {"const": "stream"},
		"name": {"type": "string", "minLength": 1, "maxLength": 200},
		"kind": {"enum": ["ingest", "app"]},
		"app": {"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{0,62}$"},
		"domains": {"type": "array", "maxItems": 100, "items": {"type": "string", "maxLength": 253}},
		"publicKeys": {"type": "array", "maxItems": 20, "items": {"$ref": "#/$defs/key"}},
		"privateKeys": {"type": "array", "maxItems": 20, "items": {"$ref": "#/$defs/key"}}},
	"$defs": {` + keyDef + `}}`),
		TypeDestination: schema.MustCompile(`{"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "destination",
	"type": "object", "required": ["id", "name", "destinationType"], "properties": {
		"id": {"type": "string", "pattern": "` + idPattern + `"},
		"workspaceId": {"type": "string"}, "type": {"const": "destination"},
		"name": {"type": "string", "minLength": 1, "maxLength": 200},
		"destinationType": {"enum": ["webhook", "file", "service"]}}}`),
		"destination/service": schema.MustCompile(`{"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "service instance destination",
	"description": "Events go into one of the workspace's database instances: a redis one appends each to a stream (XADD <stream> * event <json>), a postgresql one inserts each into a table (id, received_at, event jsonb), created if missing.",
	"type": "object", "required": ["instance"], "properties": {
		"instance": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"},
		"table": {"type": "string", "pattern": "^[a-z_][a-z0-9_]{0,62}$"},
		"stream": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9:._-]{0,99}$"}}}`),
		"destination/webhook": schema.MustCompile(`{"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "webhook destination",
	"description": "Events are POSTed as JSON arrays (a batch) with X-Paas-Signature: sha256=<HMAC of the body with secret>; failures are retried with backoff.",
	"type": "object", "required": ["url"], "properties": {
		"url": {"type": "string", "pattern": "^https?://[^\\s]+$", "maxLength": 2000},
		"method": {"enum": ["POST", "PUT"]},
		"headers": {"type": "array", "maxItems": 50, "items": {"type": "string", "pattern": "^[A-Za-z0-9-]+:", "maxLength": 4096}},
		"secret": {"type": "string", "maxLength": 200}}}`),
		"destination/file": schema.MustCompile(`{"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "file destination",
	"description": "Events are appended as NDJSON to events/<workspace>/<path> under the data directory, rotated at maxBytes.",
	"type": "object", "required": ["path"], "properties": {
		"path": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"},
		"maxBytes": {"type": "integer", "minimum": 1024, "maximum": 1073741824}}}`),
		TypeFunction: schema.MustCompile(`{"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "function",
	"description": "JavaScript run per event: its default export (or a function named like it) gets (event, context) and returns the event changed, an array of events, or nothing to drop it.",
	"type": "object", "required": ["id", "name", "code"], "properties": {
		"id": {"type": "string", "pattern": "` + idPattern + `"},
		"workspaceId": {"type": "string"}, "type": {"const": "function"},
		"name": {"type": "string", "minLength": 1, "maxLength": 200},
		"code": {"type": "string", "maxLength": 262144},
		"slug": {"type": "string", "maxLength": 200}, "description": {"type": "string", "maxLength": 2000},
		"version": {"type": ["string", "number"]}, "origin": {"type": "string", "maxLength": 100}}}`),
		TypeLink: schema.MustCompile(`{"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "link",
	"description": "A stream's events delivered to a destination, through functions in order.",
	"type": "object", "required": ["fromId", "toId"], "properties": {
		"id": {"type": "string", "pattern": "` + idPattern + `"},
		"workspaceId": {"type": "string"}, "type": {"const": "link"},
		"fromId": {"type": "string", "pattern": "` + idPattern + `"},
		"toId": {"type": "string", "pattern": "` + idPattern + `"},
		"data": {"type": "object", "properties": {
			"functions": {"type": "array", "maxItems": 20, "items": {"type": "object", "required": ["functionId"],
				"properties": {"functionId": {"type": "string", "maxLength": 120}}}},
			"eventTypes": {"type": "array", "maxItems": 100, "items": {"type": "string", "maxLength": 200}},
			"batchSize": {"type": "integer", "minimum": 1, "maximum": 1000},
			"frequency": {"type": "integer", "minimum": 0, "maximum": 3600}}}}}`),
	}
})

// ValidateConfig checks obj (a JSON object) against typ's schema, and a
// destination also against its destinationType's.
func ValidateConfig(typ string, obj map[string]any) error {
	s := ConfigSchema(typ)
	if s == nil {
		return NotFound("unknown config type %q (types: %v)", typ, ConfigTypes)
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		return BadRequest("%s: %v", typ, err)
	}
	if len(raw) > MaxConfigObject {
		return TooLarge("the %s is larger than %d bytes", typ, MaxConfigObject)
	}
	check := func(s *schema.Schema) error {
		if err := s.Validate(raw); err != nil {
			return BadRequest("invalid %s: %v", typ, err)
		}
		return nil
	}
	if err := check(s); err != nil {
		return err
	}
	if typ == TypeDestination {
		dt, _ := obj["destinationType"].(string)
		if !slices.Contains(DestinationTypes, dt) {
			return BadRequest("invalid destination: /destinationType: must be one of %v", DestinationTypes)
		}
		return check(ConfigSchema(TypeDestination + "/" + dt))
	}
	return nil
}

// ConfigString is obj[k] when it is a string.
func ConfigString(obj map[string]any, k string) string {
	s, _ := obj[k].(string)
	return s
}

// ErrReferenced is a strict delete's refusal.
func ErrReferenced(typ, id string, links int) error {
	return Conflict("the %s %s is used by %d link(s): delete them first, or delete with cascade=true", typ, id, links)
}
