package nodejitsu

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"

	"github.com/julienschmidt/httprouter"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/api"
)

// MaxUpload bounds a snapshot archive upload (compressed).
const MaxUpload = 100 << 20

func snapshotSummary(s paas.Snapshot) map[string]any {
	return map[string]any{"id": s.ID, "ctime": s.Created.UnixMilli(), "filename": s.Filename, "size": s.Size}
}

func snapshotDetail(s paas.Snapshot) map[string]any {
	v := snapshotSummary(s)
	files := make([]any, 0, len(s.Files))
	for _, f := range s.Files {
		files = append(files, map[string]any{"file": f.Path, "sha": f.SHA1, "size": f.Size, "mode": f.Mode})
	}
	v["files"] = files
	v["package"] = s.Package
	v["start"] = s.Cmd
	return v
}

func (f *Face) listSnapshots(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	_, owner, err := f.principal(r, ps)
	if err != nil {
		return err
	}
	if _, err := f.p.Store.App(owner, ps.ByName("app")); err != nil {
		return err
	}
	snaps, err := f.p.Store.Snapshots(owner, ps.ByName("app"))
	if err != nil {
		return err
	}
	out := make([]any, 0, len(snaps))
	for _, s := range snaps {
		out = append(out, snapshotSummary(s))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"snapshots": out})
	return nil
}

// getSnapshot serves the metadata, or the archive when the id ends in .tgz.
func (f *Face) getSnapshot(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	_, owner, err := f.principal(r, ps)
	if err != nil {
		return err
	}
	id, archive := strings.CutSuffix(ps.ByName("id"), ".tgz")
	s, err := f.p.Store.Snapshot(owner, ps.ByName("app"), id)
	if err != nil {
		return err
	}
	if !archive {
		api.WriteJSON(w, http.StatusOK, map[string]any{"snapshot": snapshotDetail(s)})
		return nil
	}
	// Built in memory first so a missing file is an error response, not a cut-off download.
	var buf bytes.Buffer
	if err := paas.WriteArchive(&buf, s.Files, f.p.Store.Blob); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+s.Filename+`"`)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	_, err = buf.WriteTo(w)
	return err
}

func (f *Face) uploadSnapshot(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	_, owner, err := f.principal(r, ps)
	if err != nil {
		return err
	}
	if r.ContentLength > MaxUpload {
		return paas.TooLarge("snapshot archive is larger than %d bytes", MaxUpload)
	}
	body := http.MaxBytesReader(w, r.Body, MaxUpload)
	s, err := f.p.UploadSnapshot(owner, ps.ByName("app"), ps.ByName("id"), body)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, map[string]any{"snapshot": snapshotSummary(s)})
	return nil
}

func (f *Face) deleteSnapshot(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	_, owner, err := f.principal(r, ps)
	if err != nil {
		return err
	}
	if err := f.p.Store.DeleteSnapshot(owner, ps.ByName("app"), ps.ByName("id")); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"operation": "delete", "id": ps.ByName("id")})
	return nil
}

func (f *Face) activateSnapshot(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	_, owner, err := f.principal(r, ps)
	if err != nil {
		return err
	}
	a, err := f.p.ActivateSnapshot(r.Context(), owner, ps.ByName("app"), ps.ByName("id"))
	if err != nil {
		return err
	}
	return f.writeApp(w, http.StatusOK, a)
}
