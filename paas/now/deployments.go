package now

import (
	"encoding/json"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/julienschmidt/httprouter"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/api"
)

// maxInlineDeployment bounds the body of POST /now/deployments, whose files
// are JSON strings held in memory while checked; bigger apps go through
// the CLI's create + sync, one file per request.
const maxInlineDeployment = 32 << 20

func epochMillis(d paas.Deployment) string { return strconv.FormatInt(d.Created.UnixMilli(), 10) }

// deploymentURL is the bare host the document calls url: null while the
// deployment waits for its files.
func (f *Face) deploymentURL(d paas.Deployment) any {
	if d.State == paas.DeploymentDeploying {
		return nil
	}
	return f.p.DeploymentHost(d)
}

func (f *Face) deploymentView(d paas.Deployment) map[string]any {
	v := map[string]any{"uid": d.UID, "name": d.App, "url": f.deploymentURL(d), "host": f.p.DeploymentHost(d),
		"state": d.State, "stateTs": isoTime(d.StateTs), "created": epochMillis(d)}
	if d.State == paas.DeploymentError && d.Message != "" {
		v["errorMessage"] = d.Message // why it failed (its logs have the rest)
	}
	return v
}

func (f *Face) listDeployments(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal, owner string) error {
	deps, err := f.p.Deployments(r.Context(), pr, owner)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(deps))
	for _, d := range deps {
		out = append(out, f.deploymentView(d))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"deployments": out})
	return nil
}

func (f *Face) getDeployment(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal, owner string) error {
	d, err := f.p.Deployment(r.Context(), pr, owner, ps.ByName("id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, f.deploymentView(d))
	return nil
}

// createDeployment takes the document's body: file paths as keys, their
// contents as strings, and "package", package.json as an object.
func (f *Face) createDeployment(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal, owner string) error {
	raw, err := api.ReadBody(w, r, maxInlineDeployment)
	if err != nil {
		return err
	}
	var body map[string]json.RawMessage
	if err := api.Unmarshal(raw, &body); err != nil {
		return err
	}
	files, err := paas.DeploymentFiles(body)
	if err != nil {
		return err
	}
	d, err := f.p.CreateDeployment(r.Context(), pr, owner, files, nil)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, f.deploymentView(d))
	return nil
}

func (f *Face) deleteDeployment(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal, owner string) error {
	d, err := f.p.DeleteDeployment(r.Context(), pr, owner, ps.ByName("id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]string{"uid": d.UID, "state": "DELETED"})
	return nil
}

// fileNode is one entry of a deployment's file tree.
type fileNode struct {
	Type     string      `json:"type"`
	Name     string      `json:"name"`
	UID      string      `json:"uid,omitempty"`
	Children []*fileNode `json:"children,omitempty"`
}

// fileTree nests files by directory, directories first, each level by name.
func fileTree(files []paas.File) []*fileNode {
	root := &fileNode{}
	dirs := map[string]*fileNode{"": root}
	var dirOf func(p string) *fileNode
	dirOf = func(p string) *fileNode {
		if n := dirs[p]; n != nil {
			return n
		}
		parent, name := path.Split(p)
		n := &fileNode{Type: "directory", Name: name, Children: []*fileNode{}}
		pn := dirOf(strings.TrimSuffix(parent, "/"))
		pn.Children = append(pn.Children, n)
		dirs[p] = n
		return n
	}
	for _, f := range files {
		dir, name := path.Split(f.Path)
		parent := dirOf(strings.TrimSuffix(dir, "/"))
		parent.Children = append(parent.Children, &fileNode{Type: "file", Name: name, UID: f.SHA1})
	}
	var order func(ns []*fileNode)
	order = func(ns []*fileNode) {
		sort.Slice(ns, func(i, j int) bool {
			if (ns[i].Type == "directory") != (ns[j].Type == "directory") {
				return ns[i].Type == "directory"
			}
			return ns[i].Name < ns[j].Name
		})
		for _, n := range ns {
			order(n.Children)
		}
	}
	if root.Children == nil {
		return []*fileNode{}
	}
	order(root.Children)
	return root.Children
}

func (f *Face) listDeploymentFiles(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal, owner string) error {
	_, sn, err := f.p.DeploymentSnapshot(r.Context(), pr, owner, ps.ByName("id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, fileTree(sn.Files))
	return nil
}

// getDeploymentFile answers the raw content, as bytes: never as a page the
// API's origin would render.
func (f *Face) getDeploymentFile(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal, owner string) error {
	_, data, err := f.p.DeploymentFile(r.Context(), pr, owner, ps.ByName("id"), ps.ByName("file"))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
	return nil
}
