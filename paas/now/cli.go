package now

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/julienschmidt/httprouter"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/api"
	"github.com/selfhost/paas/paas/platform"
)

// The now CLI 3.x deploys through endpoints of its own: /now/create with
// the file list, then /now/sync per missing file, and lists and removes
// through /now/list and /now/remove. It wants exactly 200 from each.

// maxSyncedFile bounds one POST /now/sync body.
const maxSyncedFile = 64 << 20

type cliFile struct {
	SHA  string `json:"sha"`
	Size int64  `json:"size"`
	File string `json:"file"`
	Mode int64  `json:"mode"`
}

func (f *Face) nowCreate(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal, owner string) error {
	var body struct {
		Name           string                     `json:"name"`
		Env            map[string]json.RawMessage `json:"env"`
		Files          []cliFile                  `json:"files"`
		Public         bool                       `json:"public"`
		ForceNew       bool                       `json:"forceNew"`
		ForceSync      bool                       `json:"forceSync"`
		Description    string                     `json:"description"`
		DeploymentType string                     `json:"deploymentType"`
		Engines        json.RawMessage            `json:"engines"`
	}
	raw, err := api.ReadBody(w, r, 16<<20) // 20,000 file entries
	if err != nil {
		return err
	}
	if err := api.Unmarshal(raw, &body); err != nil {
		return err
	}
	if body.DeploymentType != "" && body.DeploymentType != "NPM" {
		return paas.BadRequest("deploymentType %q: this platform runs npm (Node) deployments", body.DeploymentType)
	}
	in := platform.NowCreate{Name: body.Name, Env: body.Env}
	for _, fl := range body.Files {
		in.Files = append(in.Files, paas.File{Path: fl.File, SHA1: fl.SHA, Size: fl.Size, Mode: fl.Mode})
	}
	d, missing, err := f.p.CreatePendingDeployment(r.Context(), pr, owner, in)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"deploymentId": d.UID, "url": f.p.DeploymentHost(d), "missing": missing})
	return nil
}

// nowSync stores one file, placed by its SHA-1: the CLI garbles
// x-now-file, so the name comes from the create's list.
func (f *Face) nowSync(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal, owner string) error {
	uid, sha := r.Header.Get("X-Now-Deployment-Id"), r.Header.Get("X-Now-Sha")
	if uid == "" || sha == "" {
		return paas.BadRequest("x-now-deployment-id and x-now-sha are required")
	}
	if size := r.Header.Get("X-Now-Size"); size != "" {
		if n, err := strconv.ParseInt(size, 10, 64); err != nil || n < 0 || n > maxSyncedFile {
			return paas.BadRequest("x-now-size %q: a size of at most %d bytes", size, maxSyncedFile)
		}
	}
	data, err := api.ReadBody(w, r, maxSyncedFile)
	if err != nil {
		return err
	}
	if _, err := f.p.SyncDeploymentFile(r.Context(), pr, owner, uid, sha, data); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{})
	return nil
}

// nowList answers created in epoch milliseconds, a number, and filters by ?app=.
func (f *Face) nowList(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal, owner string) error {
	deps, err := f.p.Deployments(r.Context(), pr, owner)
	if err != nil {
		return err
	}
	app := r.URL.Query().Get("app")
	out := make([]map[string]any, 0, len(deps))
	for _, d := range deps {
		if app != "" && d.App != app {
			continue
		}
		out = append(out, map[string]any{"uid": d.UID, "name": d.App, "url": f.deploymentURL(d), "created": d.Created.UnixMilli(),
			"state": d.State, "type": "NPM"})
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"deployments": out})
	return nil
}

func (f *Face) nowRemove(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal, owner string) error {
	var body struct {
		DeploymentID string `json:"deploymentId"`
		Hard         bool   `json:"hard"`
	}
	if err := api.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	if body.DeploymentID == "" {
		return paas.BadRequest("deploymentId is required")
	}
	if _, err := f.p.DeleteDeployment(r.Context(), pr, owner, body.DeploymentID); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{})
	return nil
}
