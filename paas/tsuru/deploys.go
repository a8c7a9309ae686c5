package tsuru

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/api"
)

// MaxUpload bounds a deploy's archive, as the Nodejitsu face's snapshots.
const MaxUpload = 100 << 20

// deploy takes the multipart "file" (a .tar.gz) as a new snapshot and
// activates it: a Tsuru deploy is a snapshot plus its activation. The
// answer is plain text, the steps as they happen, ending "\nOK\n" when the
// new release serves (the client's test of success).
func (f *Face) deploy(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal, a paas.App) error {
	if r.ContentLength > MaxUpload {
		return paas.TooLarge("deploy archive is larger than %d bytes", MaxUpload)
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		return paas.BadRequest("send the archive as multipart/form-data with a \"file\" field")
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxUpload)
	mr, err := r.MultipartReader()
	if err != nil {
		return paas.BadRequest("bad multipart body: %v", err)
	}
	var file io.Reader
	for file == nil {
		part, err := mr.NextPart()
		if err == io.EOF {
			return paas.BadRequest("no \"file\" field in the multipart body")
		}
		if err != nil {
			return paas.BadRequest("bad multipart body: %v", err)
		}
		if part.FormName() == "file" {
			file = part
		}
	}
	// What the platform logs from here on (the build's output, the
	// deploy's steps) is the deploy's log, streamed as it comes.
	_, cursor, err := f.p.TailLogs(r.Context(), pr, a, nil, 1)
	if err != nil {
		return err
	}
	id := paas.RandomHex(12) // a Tsuru deploy id: 24 hex characters
	started := time.Now()
	snap, err := f.p.UploadSnapshot(r.Context(), pr, a.Owner, a.Name, id, file)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	say := func(format string, args ...any) {
		fmt.Fprintf(w, format+"\n", args...)
		if flusher != nil {
			flusher.Flush()
		}
	}
	say("archive received: %d files, %d bytes; deploy %s", len(snap.Files), snap.Size, id)
	done := make(chan error, 1)
	go func() {
		// A Tsuru deploy runs the code: a stopped app is started on it.
		app, err := f.p.ActivateSnapshot(r.Context(), pr, a.Owner, a.Name, id)
		if err == nil && app.State != paas.AppStarted {
			_, err = f.p.StartApp(r.Context(), pr, a.Owner, a.Name)
		}
		done <- err
	}()
	relay := func() {
		entries, next, err := f.p.TailLogs(r.Context(), pr, a, cursor, maxDeployLogLines)
		if err != nil {
			return
		}
		cursor = next
		for _, e := range entries {
			if e.Source != "app" {
				say(" ---> %s", e.Text)
			}
		}
	}
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			relay()
		case err := <-done:
			relay()
			failure := ""
			if err != nil {
				failure = userMessage(err)
			}
			if rerr := f.p.RecordDeploy(context.WithoutCancel(r.Context()), pr, a.Owner, a.Name, id, time.Since(started), failure); rerr != nil {
				f.a.Log.Warn("record a deploy", "app", a.Key(), "err", rerr)
			}
			if err != nil {
				say("ERROR: %s", failure)
				return nil
			}
			say("\nOK")
			return nil
		}
	}
}

var deployIDRE = regexp.MustCompile(`^[0-9a-f]{24}$`)

// deployID is a snapshot's id as Tsuru shows it: 24 hex characters, the
// snapshot's own for those deployed here, derived for those with other
// names (a Nodejitsu "v1"), as the client refuses any other form.
func deployID(s paas.Snapshot) string {
	if deployIDRE.MatchString(s.ID) {
		return s.ID
	}
	sum := sha256.Sum256([]byte(s.Owner + "/" + s.App + "/" + s.ID))
	return hex.EncodeToString(sum[:12])
}

type deployView struct {
	ID          string
	App         string
	Timestamp   string
	Duration    int64
	Commit      string
	Error       string
	Image       string
	Log         string
	Origin      string
	CanRollback bool
	RemoveDate  string
}

func deployOf(a paas.App, s paas.Snapshot) deployView {
	return deployView{ID: deployID(s), App: a.Name, Timestamp: s.Created.Format(time.RFC3339Nano),
		Duration: int64(s.DeployDuration), Error: s.DeployError,
		Image: s.ID, Origin: "app-deploy", CanRollback: s.ID != a.Snapshot,
		RemoveDate: time.Time{}.Format(time.RFC3339)}
}

// deploysOf lists the deploys of the apps the caller sees (?app= one),
// newest first.
func (f *Face) deploysOf(r *http.Request, pr *paas.Principal) ([]deployView, error) {
	var apps []paas.App
	if name := r.URL.Query().Get("app"); name != "" {
		a, err := f.p.AppNamed(r.Context(), pr, name)
		if err != nil {
			return nil, err
		}
		apps = []paas.App{a}
	} else {
		var err error
		if apps, err = f.p.VisibleApps(r.Context(), pr); err != nil {
			return nil, err
		}
	}
	var out []deployView
	for _, a := range apps {
		snaps, err := f.p.Snapshots(r.Context(), pr, a.Owner, a.Name)
		if err != nil {
			return nil, err
		}
		for _, s := range snaps {
			out = append(out, deployOf(a, s))
		}
	}
	slices.SortFunc(out, func(x, y deployView) int {
		if x.Timestamp > y.Timestamp {
			return -1
		}
		if x.Timestamp < y.Timestamp {
			return 1
		}
		return 0
	})
	return out, nil
}

func (f *Face) listDeploys(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal) error {
	out, err := f.deploysOf(r, pr)
	if err != nil {
		return err
	}
	if n, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && n >= 0 && n < len(out) {
		out = out[:n]
	}
	if len(out) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

// deployInfo adds the deploy's Log: what the platform logged about the
// app (build output, deploy steps) from the deploy until the next one.
func (f *Face) deployInfo(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	all, err := f.deploysOf(r, pr)
	if err != nil {
		return err
	}
	for i, d := range all {
		if d.ID != ps.ByName("id") {
			continue
		}
		a, err := f.p.AppNamed(r.Context(), pr, d.App)
		if err != nil {
			return err
		}
		from, _ := time.Parse(time.RFC3339Nano, d.Timestamp)
		until := time.Now().Add(time.Minute)
		for _, later := range all[:i] { // newer deploys come first
			if later.App == d.App {
				until, _ = time.Parse(time.RFC3339Nano, later.Timestamp)
			}
		}
		entries, err := f.p.AppLogs(r.Context(), pr, a.Owner, a.Name, from, until, maxDeployLogLines)
		if err != nil {
			return err
		}
		var log strings.Builder
		for _, e := range entries {
			if e.Source != "app" {
				log.WriteString(e.Text + "\n")
			}
		}
		d.Log = log.String()
		api.WriteJSON(w, http.StatusOK, d)
		return nil
	}
	return paas.NotFound("deploy %q not found", ps.ByName("id"))
}

// maxDeployLogLines bounds a deploy's Log.
const maxDeployLogLines = 1000

// rollback reactivates an earlier deploy (form or query image=, the
// deploy's Image or ID), through the same model: its snapshot becomes the
// active one and serves. Streamed like the other long operations.
func (f *Face) rollback(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal, a paas.App) error {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return paas.BadRequest("bad form body: %v", err)
	}
	image := r.Form.Get("image")
	if image == "" {
		return paas.BadRequest("image is required: the deploy to roll back to (its Image or ID)")
	}
	snaps, err := f.p.Snapshots(r.Context(), pr, a.Owner, a.Name)
	if err != nil {
		return err
	}
	var target string
	for _, s := range snaps {
		if s.ID == image || deployID(s) == image {
			target = s.ID
		}
	}
	if target == "" {
		return paas.NotFound("no deploy %q of app %s", image, a.Name)
	}
	s := newStream(w)
	s.message("rolling back %s to %s", a.Name, target)
	app, err := f.p.ActivateSnapshot(r.Context(), pr, a.Owner, a.Name, target)
	if err == nil && app.State != paas.AppStarted {
		_, err = f.p.StartApp(r.Context(), pr, a.Owner, a.Name)
	}
	if err != nil {
		return s.fail(err)
	}
	s.message("%s serves %s", a.Name, target)
	return nil
}
