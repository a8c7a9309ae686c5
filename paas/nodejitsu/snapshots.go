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

func (f *Face) listSnapshots(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	snaps, err := f.p.Snapshots(r.Context(), pr, ps.ByName("user"), ps.ByName("app"))
	if err != nil {
		return err
	}
	return writeList(w, "snapshots", snaps, snapshotSummary)
}

// getSnapshot serves the metadata, or the archive when the id ends in .tgz.
func (f *Face) getSnapshot(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	id, archive := strings.CutSuffix(ps.ByName("id"), ".tgz")
	if !archive {
		s, err := f.p.Snapshot(r.Context(), pr, ps.ByName("user"), ps.ByName("app"), id)
		if err != nil {
			return err
		}
		api.WriteJSON(w, http.StatusOK, map[string]any{"snapshot": snapshotDetail(s)})
		return nil
	}
	// Built in memory first so a missing file is an error response, not a cut-off download.
	var buf bytes.Buffer
	s, err := f.p.WriteSnapshotArchive(r.Context(), pr, ps.ByName("user"), ps.ByName("app"), id, &buf)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+s.Filename+`"`)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	_, err = buf.WriteTo(w)
	return err
}

func (f *Face) uploadSnapshot(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	if r.ContentLength > MaxUpload {
		return paas.TooLarge("snapshot archive is larger than %d bytes", MaxUpload)
	}
	body := http.MaxBytesReader(w, r.Body, MaxUpload)
	s, err := f.p.UploadSnapshot(r.Context(), pr, ps.ByName("user"), ps.ByName("app"), ps.ByName("id"), body)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, map[string]any{"snapshot": snapshotSummary(s)})
	return nil
}

func (f *Face) deleteSnapshot(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	if err := f.p.DeleteSnapshot(r.Context(), pr, ps.ByName("user"), ps.ByName("app"), ps.ByName("id")); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"operation": "delete", "id": ps.ByName("id")})
	return nil
}

func (f *Face) activateSnapshot(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	a, err := f.p.ActivateSnapshot(r.Context(), pr, ps.ByName("user"), ps.ByName("app"), ps.ByName("id"))
	if err != nil {
		return err
	}
	return f.writeApp(w, r, pr, http.StatusOK, a)
}
