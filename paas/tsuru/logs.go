package tsuru

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/api"
)

// Bounds of a log request.
const (
	maxLogLines  = 10_000
	followPeriod = 300 * time.Millisecond
)

type logView struct {
	Date    string
	Message string
	Source  string
	AppName string
	Unit    string
}

// logSource is Tsuru's name for where a line came from: the app's own
// output is its process ("web"), everything the platform says is "tsuru".
func logSource(e paas.LogEntry) string {
	if e.Source == "app" {
		return "web"
	}
	return "tsuru"
}

// appLog answers the newest ?lines= lines (required) as one JSON array
// per line, filtered by ?source= and ?unit=; with ?follow=1 it goes on
// with each new batch until the client leaves, the credential or the app
// goes, or the server stops. 204 when there is nothing.
func (f *Face) appLog(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal, a paas.App) error {
	q := r.URL.Query()
	lines, err := strconv.Atoi(q.Get("lines"))
	if err != nil || lines <= 0 {
		return paas.BadRequest("lines is required: a positive number of log lines")
	}
	lines = min(lines, maxLogLines)
	source, unit := q.Get("source"), q.Get("unit")
	follow := q.Get("follow") == "1" || q.Get("follow") == "true"
	batch := func(entries []paas.LogEntry) []logView {
		out := []logView{}
		for _, e := range entries {
			v := logView{Date: e.Time.UTC().Format(time.RFC3339Nano), Message: e.Text, Source: logSource(e), AppName: a.Name, Unit: shortID(e.Unit)}
			if (source == "" || source == v.Source) && (unit == "" || unit == v.Unit || unit == e.Unit) {
				out = append(out, v)
			}
		}
		return out
	}
	entries, cursor, err := f.p.TailLogs(r.Context(), pr, a, nil, lines)
	if err != nil {
		return err
	}
	first := batch(entries)
	if len(first) == 0 && !follow {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	w.Header().Set("Content-Type", "application/x-json-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	write := func(vs []logView) bool {
		if len(vs) == 0 {
			return true
		}
		b, _ := json.Marshal(vs)
		if _, err := w.Write(append(b, '\n')); err != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}
	if !write(first) || !follow {
		return nil
	}
	api.Follow(r.Context(), followPeriod, func() bool {
		entries, cursor, err = f.p.TailLogs(r.Context(), pr, a, cursor, maxLogLines)
		return err == nil && write(batch(entries)) // the answer has begun: an error just ends it
	})
	return nil
}
