package platform

import (
	"context"
	"encoding/json"
	"maps"
	"time"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/events"
)

// Workspaces lists the caller's Jitsu workspaces: its own, then its teams'
// (every team's, for an admin).
func (p *Platform) Workspaces(ctx context.Context, pr *paas.Principal) ([]paas.Workspace, error) {
	teams, err := p.Teams(ctx, pr)
	if err != nil {
		return nil, err
	}
	out := []paas.Workspace{paas.WorkspaceOf(pr.User.Name)}
	for _, t := range teams {
		out = append(out, paas.WorkspaceOf(t.Name))
	}
	return out, nil
}

// WorkspaceOwner resolves a workspace id or slug the caller may act in to
// its owner; any other is not found, as one that does not exist.
func (p *Platform) WorkspaceOwner(ctx context.Context, pr *paas.Principal, ref string) (string, error) {
	ws, err := p.Workspaces(ctx, pr)
	if err != nil {
		return "", err
	}
	for _, w := range ws {
		if w.ID == ref || w.Slug == ref {
			return w.Slug, nil
		}
	}
	if pr.IsAdmin() {
		// An admin reaches any user's workspace, by its slug or its id
		// (found among every user's: admin calls are few).
		if _, err := p.store.OwnerKind(paas.NormalizeUserName(ref)); err == nil {
			return paas.NormalizeUserName(ref), nil
		}
		users, err := p.store.Users()
		if err != nil {
			return "", err
		}
		for _, u := range users {
			if paas.WorkspaceOf(u.Name).ID == ref {
				return u.Name, nil
			}
		}
	}
	return "", paas.NotFound("workspace %q not found", ref)
}

// ConfigObjects lists owner's config objects of typ.
func (p *Platform) ConfigObjects(ctx context.Context, pr *paas.Principal, owner, typ string) ([]map[string]any, error) {
	return asOwner(ctx, p, pr, owner, func(owner string) ([]map[string]any, error) {
		if err := knownType(typ); err != nil {
			return nil, err
		}
		raws, err := p.store.Configs(owner, typ)
		if err != nil {
			return nil, err
		}
		out := make([]map[string]any, 0, len(raws))
		for _, raw := range raws {
			obj, err := decodeConfig(raw)
			if err != nil {
				return nil, err
			}
			out = append(out, p.withStatus(owner, typ, shown(obj)))
		}
		return out, nil
	})
}

// ConfigObject returns owner's object typ/id.
func (p *Platform) ConfigObject(ctx context.Context, pr *paas.Principal, owner, typ, id string) (map[string]any, error) {
	return asOwner(ctx, p, pr, owner, func(owner string) (map[string]any, error) {
		if err := knownType(typ); err != nil {
			return nil, err
		}
		obj, err := p.storedConfig(owner, typ, id)
		if err != nil {
			return nil, err
		}
		return p.withStatus(owner, typ, shown(obj)), nil
	})
}

// CreateConfig stores a new object of typ for owner: its id is the
// client's (Jitsu's clients make them) or a new one; workspaceId and type
// are set to what they are. It is checked against typ's schema first.
func (p *Platform) CreateConfig(ctx context.Context, pr *paas.Principal, owner, typ string, obj map[string]any) (map[string]any, error) {
	return asOwner(ctx, p, pr, owner, func(owner string) (map[string]any, error) {
		if err := knownType(typ); err != nil {
			return nil, err
		}
		if paas.ConfigString(obj, "id") == "" {
			obj["id"] = paas.RandomID("", 24)
		}
		now := time.Now().UTC().Format(time.RFC3339Nano)
		obj["createdAt"], obj["updatedAt"] = now, now
		return p.saveConfig(owner, typ, obj, nil, true)
	})
}

// UpdateConfig changes owner's object typ/id: patch's fields replace the
// stored ones (a shallow merge: PUT may be partial).
func (p *Platform) UpdateConfig(ctx context.Context, pr *paas.Principal, owner, typ, id string, patch map[string]any) (map[string]any, error) {
	return asOwner(ctx, p, pr, owner, func(owner string) (map[string]any, error) {
		if err := knownType(typ); err != nil {
			return nil, err
		}
		old, err := p.storedConfig(owner, typ, id)
		if err != nil {
			return nil, err
		}
		obj := maps.Clone(old)
		maps.Copy(obj, patch)
		obj["id"], obj["createdAt"] = id, old["createdAt"]
		obj["updatedAt"] = time.Now().UTC().Format(time.RFC3339Nano)
		return p.saveConfig(owner, typ, obj, old, false)
	})
}

// saveConfig validates and stores obj (old: the stored version, for keys
// kept by id).
func (p *Platform) saveConfig(owner, typ string, obj, old map[string]any, create bool) (map[string]any, error) {
	obj["workspaceId"], obj["type"] = paas.WorkspaceOf(owner).ID, typ
	id := paas.ConfigString(obj, "id")
	if !paas.ValidConfigID(id) {
		return nil, paas.BadRequest("invalid %s: /id: must be 1-100 letters, digits, '.', '_', ':' or '-'", typ)
	}
	// Checked without the platform's own fields and the stored key hashes.
	check := maps.Clone(obj)
	delete(check, "createdAt")
	delete(check, "updatedAt")
	for _, f := range keyFields {
		if keys, ok := check[f].([]any); ok {
			check[f] = stripHashes(keys)
		}
	}
	if err := paas.ValidateConfig(typ, check); err != nil {
		return nil, err
	}
	switch typ {
	case paas.TypeFunction:
		if err := events.Check(id, paas.ConfigString(obj, "code")); err != nil {
			return nil, paas.BadRequest("invalid function: /code: %v", err)
		}
	case paas.TypeDestination:
		if paas.ConfigString(obj, "destinationType") == "service" {
			d, err := p.store.Database(owner, paas.ConfigString(obj, "instance"))
			if err != nil || (d.Service != paas.ServiceRedis && d.Service != paas.ServicePostgreSQL) {
				return nil, paas.BadRequest("invalid destination: /instance: %s has no redis or postgresql database %q", owner, paas.ConfigString(obj, "instance"))
			}
		}
	case paas.TypeStream:
		if paas.ConfigString(obj, "kind") == "app" {
			if _, err := p.store.App(owner, paas.ConfigString(obj, "app")); err != nil {
				return nil, paas.BadRequest("invalid stream: /app: %s has no app %q", owner, paas.ConfigString(obj, "app"))
			}
		}
	}
	if typ == paas.TypeStream {
		hashKeys(obj, old)
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	if err := p.store.PutConfig(owner, typ, id, raw, create); err != nil {
		return nil, err
	}
	if typ == paas.TypeLink && create {
		// A new link delivers what its stream gets from now on: from the
		// moment of this answer, not from when its worker starts.
		if err := p.store.StartLink(owner, id, paas.StreamKey(owner, paas.ConfigString(obj, "fromId"))); err != nil {
			return nil, err
		}
	}
	p.reloadEvents()
	return p.withStatus(owner, typ, shown(obj)), nil
}

// DeleteConfig removes owner's object typ/id under seed 002's rules
// (strict refuses a used object; cascade deletes the links that use it),
// and returns how many links went with it.
func (p *Platform) DeleteConfig(ctx context.Context, pr *paas.Principal, owner, typ, id string, strict, cascade bool) (int, error) {
	return asOwner(ctx, p, pr, owner, func(owner string) (int, error) {
		if err := knownType(typ); err != nil {
			return 0, err
		}
		n, err := p.store.DeleteConfig(owner, typ, id, strict, cascade)
		if err == nil {
			p.reloadEvents()
		}
		return n, err
	})
}

// DeleteLinks removes owner's link id, or (id "") the links from fromID to
// toID, and returns how many went.
func (p *Platform) DeleteLinks(ctx context.Context, pr *paas.Principal, owner, id, fromID, toID string) (int, error) {
	return asOwner(ctx, p, pr, owner, func(owner string) (int, error) {
		if id == "" && (fromID == "" || toID == "") {
			return 0, paas.BadRequest("give ?id= or both ?fromId= and ?toId=")
		}
		n, err := p.store.DeleteLinks(owner, func(raw []byte) bool {
			var l struct{ ID, FromID, ToID string }
			if json.Unmarshal(raw, &l) != nil {
				return false
			}
			if id != "" {
				return l.ID == id
			}
			return l.FromID == fromID && l.ToID == toID
		})
		if err == nil && n == 0 {
			return 0, paas.NotFound("no such link")
		}
		if err == nil {
			p.reloadEvents()
		}
		return n, err
	})
}

// APIKeys lists the caller's Jitsu API keys (no secret, no hash).
func (p *Platform) APIKeys(ctx context.Context, pr *paas.Principal) ([]paas.APIKey, error) {
	if pr == nil {
		return nil, paas.Unauthorized("authentication required")
	}
	tokens, err := p.store.Tokens(pr.User.Name)
	if err != nil {
		return nil, err
	}
	out := []paas.APIKey{}
	for _, t := range tokens {
		if id, ok := cutPrefix(t.ID, paas.JitsuKeyPrefix); ok {
			out = append(out, paas.APIKey{ID: id, Hint: t.Hint, Created: t.Created})
		}
	}
	return out, nil
}

// SetAPIKeys makes the caller's keys the list given (see store.SetAPIKeys).
func (p *Platform) SetAPIKeys(ctx context.Context, pr *paas.Principal, keys []paas.APIKey) ([]paas.APIKey, error) {
	if pr == nil {
		return nil, paas.Unauthorized("authentication required")
	}
	if len(keys) > 50 {
		return nil, paas.BadRequest("at most 50 keys")
	}
	for _, k := range keys {
		if err := paas.ValidateTokenID(paas.JitsuKeyPrefix + k.ID); err != nil || k.ID == "" {
			return nil, paas.BadRequest("invalid key id %q: use letters, digits, '.', '_' or '-'", k.ID)
		}
		if k.Plaintext != "" && (len(k.Plaintext) < 16 || len(k.Plaintext) > 200) {
			return nil, paas.BadRequest("key %q: a secret is 16 to 200 characters", k.ID)
		}
	}
	return p.store.SetAPIKeys(pr.User.Name, keys)
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return "", false
}

func knownType(typ string) error {
	for _, t := range paas.ConfigTypes {
		if t == typ {
			return nil
		}
	}
	return paas.NotFound("unknown config type %q (types: %v)", typ, paas.ConfigTypes)
}

// storedConfig reads and decodes owner's object typ/id.
func (p *Platform) storedConfig(owner, typ, id string) (map[string]any, error) {
	raw, err := p.store.Config(owner, typ, id)
	if err != nil {
		return nil, err
	}
	return decodeConfig(raw)
}

func decodeConfig(raw []byte) (map[string]any, error) {
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// keyFields are a stream's key lists: what is stored of each key is its
// id, hint and the SHA-256 of "<id>:<plaintext>".
var keyFields = []string{"publicKeys", "privateKeys"}

// hashKeys replaces each new key's plaintext with its hash, and keeps the
// stored hash of a key given again by id alone.
func hashKeys(obj, old map[string]any) {
	oldHash := map[string]string{}
	for _, f := range keyFields {
		if keys, ok := old[f].([]any); ok {
			for _, k := range keys {
				if m, ok := k.(map[string]any); ok {
					oldHash[paas.ConfigString(m, "id")] = paas.ConfigString(m, "hash")
				}
			}
		}
	}
	for _, f := range keyFields {
		keys, ok := obj[f].([]any)
		if !ok {
			continue
		}
		out := make([]any, 0, len(keys))
		for _, k := range keys {
			m, ok := k.(map[string]any)
			if !ok {
				continue
			}
			id, plain := paas.ConfigString(m, "id"), paas.ConfigString(m, "plaintext")
			key := map[string]any{"id": id, "hint": paas.ConfigString(m, "hint")}
			switch {
			case plain != "":
				key["hash"] = paas.SHA256Hex(id + ":" + plain)
				key["hint"] = plain[:3] + "*" + plain[len(plain)-3:]
			case oldHash[id] != "":
				key["hash"] = oldHash[id]
			default:
				continue // a key never given a secret cannot be used
			}
			out = append(out, key)
		}
		obj[f] = out
	}
}

func stripHashes(keys []any) []any {
	out := make([]any, 0, len(keys))
	for _, k := range keys {
		if m, ok := k.(map[string]any); ok {
			m = maps.Clone(m)
			delete(m, "hash")
			out = append(out, m)
		}
	}
	return out
}

// shown is obj as answered: keys without their hashes.
func shown(obj map[string]any) map[string]any {
	if obj == nil {
		return nil
	}
	out := maps.Clone(obj)
	for _, f := range keyFields {
		if keys, ok := out[f].([]any); ok {
			out[f] = stripHashes(keys)
		}
	}
	return out
}
