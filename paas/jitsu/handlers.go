package jitsu

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/julienschmidt/httprouter"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/api"
)

// profileBuilders: jitsu-cli deploy lists them; this platform has none.
const profileBuilders = "profile-builder"

func (f *Face) schemas(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) error {
	out := []map[string]any{}
	for _, t := range paas.ConfigTypes {
		sub := []string{}
		if t == paas.TypeDestination {
			sub = paas.DestinationTypes
		}
		out = append(out, map[string]any{"type": t, "schemaURL": Prefix + "/schema/" + t, "subTypes": sub})
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"schemas": out})
	return nil
}

func (f *Face) schema(w http.ResponseWriter, _ *http.Request, ps httprouter.Params) error {
	name := ps.ByName("type")
	if sub := ps.ByName("subtype"); sub != "" {
		name += "/" + sub
	}
	s := paas.ConfigSchema(name)
	if s == nil {
		return paas.NotFound("no schema %q", name)
	}
	w.Header().Set("Content-Type", "application/schema+json")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(s.Raw)
	return err
}

// me answers {"auth":false} to a caller without credentials (bad ones are
// still 401), and the user to others.
func (f *Face) me(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	pr, err := f.auth.Principal(r)
	if err != nil {
		return err
	}
	if pr == nil {
		api.WriteJSON(w, http.StatusOK, map[string]any{"auth": false})
		return nil
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"auth": true, "user": map[string]any{
		"email": pr.User.Email, "internalId": pr.User.Name, "name": pr.User.Name, "admin": pr.IsAdmin()}})
	return nil
}

func (f *Face) workspaces(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal) error {
	ws, err := f.p.Workspaces(r.Context(), pr)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, ws)
	return nil
}

func (f *Face) listKeys(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal) error {
	keys, err := f.p.APIKeys(r.Context(), pr)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, keys)
	return nil
}

// setKeys takes the complete list (an array, or {"keys": […]}): keys
// missing from it are deleted.
func (f *Face) setKeys(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal) error {
	raw, err := api.ReadBody(w, r, api.MaxJSONBody)
	if err != nil {
		return err
	}
	var keys []paas.APIKey
	if err := json.Unmarshal(raw, &keys); err != nil {
		var wrapped struct {
			Keys []paas.APIKey `json:"keys"`
		}
		if err := api.Unmarshal(raw, &wrapped); err != nil {
			return err
		}
		keys = wrapped.Keys
	}
	out, err := f.p.SetAPIKeys(r.Context(), pr, keys)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (f *Face) listConfig(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal, owner string) error {
	typ := ps.ByName("type")
	if typ == profileBuilders {
		api.WriteJSON(w, http.StatusOK, map[string]any{"profileBuilders": []any{}})
		return nil
	}
	objs, err := f.p.ConfigObjects(r.Context(), pr, owner, typ)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"objects": objs})
	return nil
}

func (f *Face) getConfig(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal, owner string) error {
	obj, err := f.p.ConfigObject(r.Context(), pr, owner, ps.ByName("type"), ps.ByName("id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, obj)
	return nil
}

// readObject reads a JSON object body whatever its Content-Type (jitsu-cli
// sends none, or text/plain).
func readObject(w http.ResponseWriter, r *http.Request) (map[string]any, error) {
	raw, err := api.ReadBody(w, r, paas.MaxConfigObject)
	if err != nil {
		return nil, err
	}
	var obj map[string]any
	if err := api.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, paas.BadRequest("the body must be a JSON object")
	}
	return obj, nil
}

// linkAnswer is what a link's POST and PUT answer.
func linkAnswer(obj map[string]any) map[string]any {
	return map[string]any{"id": obj["id"], "created": obj["createdAt"], "updated": obj["updatedAt"]}
}

func (f *Face) createConfig(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal, owner string) error {
	obj, err := readObject(w, r)
	if err != nil {
		return err
	}
	typ := ps.ByName("type")
	saved, err := f.p.CreateConfig(r.Context(), pr, owner, typ, obj)
	if err != nil {
		return err
	}
	if typ == paas.TypeLink {
		api.WriteJSON(w, http.StatusOK, linkAnswer(saved))
		return nil
	}
	api.WriteJSON(w, http.StatusOK, saved)
	return nil
}

func (f *Face) updateConfig(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal, owner string) error {
	patch, err := readObject(w, r)
	if err != nil {
		return err
	}
	typ := ps.ByName("type")
	saved, err := f.p.UpdateConfig(r.Context(), pr, owner, typ, ps.ByName("id"), patch)
	if err != nil {
		return err
	}
	if typ == paas.TypeLink {
		api.WriteJSON(w, http.StatusOK, linkAnswer(saved))
		return nil
	}
	api.WriteJSON(w, http.StatusOK, saved)
	return nil
}

// updateLink is PUT …/config/link with the link's id in the body.
func (f *Face) updateLink(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal, owner string) error {
	if ps.ByName("type") != paas.TypeLink {
		return paas.BadRequest("PUT %s needs an id: …/config/%s/:id", ps.ByName("type"), ps.ByName("type"))
	}
	patch, err := readObject(w, r)
	if err != nil {
		return err
	}
	id := paas.ConfigString(patch, "id")
	if id == "" {
		return paas.BadRequest("the link's id is required in the body")
	}
	saved, err := f.p.UpdateConfig(r.Context(), pr, owner, paas.TypeLink, id, patch)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, linkAnswer(saved))
	return nil
}

// deleteLinks is DELETE …/config/link?id= (the document) or
// ?fromId=&toId= (the console).
func (f *Face) deleteLinks(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal, owner string) error {
	if ps.ByName("type") != paas.TypeLink {
		return paas.BadRequest("DELETE %s needs an id: …/config/%s/:id", ps.ByName("type"), ps.ByName("type"))
	}
	q := r.URL.Query()
	n, err := f.p.DeleteLinks(r.Context(), pr, owner, q.Get("id"), q.Get("fromId"), q.Get("toId"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"deleted": n})
	return nil
}

func (f *Face) deleteConfig(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal, owner string) error {
	q := r.URL.Query()
	flag := func(k string) bool { b, _ := strconv.ParseBool(q.Get(k)); return b }
	links, err := f.p.DeleteConfig(r.Context(), pr, owner, ps.ByName("type"), ps.ByName("id"), flag("strict"), flag("cascade"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"deleted": 1, "links": links})
	return nil
}
