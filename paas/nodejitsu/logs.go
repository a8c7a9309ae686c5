package nodejitsu

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/api"
)

const (
	defaultLogRows = 10
	maxLogRows     = 10000
)

type logQuery struct {
	From  string          `json:"from"`
	Until string          `json:"until"`
	Rows  json.RawMessage `json:"rows"`
}

// parseLogQuery reads {from, until, rows} from a POST body, or from the
// query string and the :amount path segment of a GET.
func parseLogQuery(w http.ResponseWriter, r *http.Request, ps httprouter.Params) (from, until time.Time, rows int, err error) {
	var q logQuery
	if r.Method == http.MethodPost {
		if err = api.DecodeJSON(w, r, &q); err != nil {
			return
		}
	} else {
		q.From, q.Until = r.URL.Query().Get("from"), r.URL.Query().Get("until")
		if v := r.URL.Query().Get("rows"); v != "" {
			q.Rows = json.RawMessage(strconv.Quote(v))
		}
	}
	if a := ps.ByName("amount"); a != "" {
		q.Rows = json.RawMessage(strconv.Quote(a))
	}
	now := time.Now().UTC()
	if from, err = parseLogTime(q.From, now, now.AddDate(-3, 0, 0)); err != nil {
		return
	}
	if until, err = parseLogTime(q.Until, now, now); err != nil {
		return
	}
	rows = defaultLogRows
	if len(q.Rows) > 0 && string(q.Rows) != "null" {
		s := strings.Trim(string(q.Rows), `"`)
		n, convErr := strconv.Atoi(s)
		if convErr != nil || n < 1 {
			err = paas.BadRequest("rows must be a positive number")
			return
		}
		rows = min(n, maxLogRows)
	}
	return
}

// logLineView is the shape the jitsu CLI prints: a timestamp and a text of
// comma-separated key=value pairs, plus the same fields as JSON.
func logLineView(appName string, e paas.LogEntry) map[string]any {
	msg := strings.ReplaceAll(e.Text, ",", "‚") // the CLI splits text on commas
	return map[string]any{
		"timestamp": e.Time.Format(time.RFC3339Nano),
		"text":      fmt.Sprintf("level=%s,app=%s,message=%s", logLevel(e), appName, msg),
		"json": map[string]any{"app": appName, "level": logLevel(e), "message": e.Text, "source": e.Source,
			"unit": e.Unit, "stream": e.Stream},
	}
}

func logData(appName string, entries []paas.LogEntry) map[string]any {
	data := make([]any, 0, len(entries))
	for _, e := range entries {
		data = append(data, logLineView(appName, e))
	}
	return map[string]any{"data": data, "numFound": len(data)}
}

// logLevel is the level the face reports: stderr is an error.
func logLevel(e paas.LogEntry) string {
	if e.Stream == "stderr" {
		return "error"
	}
	return "info"
}

func (f *Face) appLogs(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	from, until, rows, err := parseLogQuery(w, r, ps)
	if err != nil {
		return err
	}
	entries, err := f.p.AppLogs(r.Context(), pr, ps.ByName("user"), ps.ByName("app"), from, until, rows)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, logData(ps.ByName("app"), entries))
	return nil
}

// defaultLogLines is what GET /logs/:u/:app answers without an amount
// (nodejitsu-api 0.6's default).
const defaultLogLines = 10

// logLine is an entry as nodejitsu-api 0.6 (preacher-api) and jitsu 0.15
// read it, in GET /logs/:u/:app and the live tail alike.
func logLine(e paas.LogEntry) map[string]any {
	service := "logs/stdout"
	if e.Stream == "stderr" {
		service = "logs/stderr"
	}
	return map[string]any{"description": e.Text, "time": e.Time.Unix(), "service": service}
}

// appLogLines answers the app's last lines as a JSON array, newest first:
// jitsu 0.15 reverses it to print, and crashes on an object.
func (f *Face) appLogLines(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	rows := defaultLogLines
	v := ps.ByName("amount")
	if v == "" {
		v = r.URL.Query().Get("rows")
	}
	if v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return paas.BadRequest("the amount of lines must be a positive number")
		}
		rows = min(n, maxLogRows)
	}
	a, err := f.p.App(r.Context(), pr, ps.ByName("user"), ps.ByName("app"))
	if err != nil {
		return err
	}
	entries, _, err := f.p.TailLogs(r.Context(), pr, a, nil, rows)
	if err != nil {
		return err
	}
	out := make([]any, 0, len(entries))
	for i := len(entries) - 1; i >= 0; i-- {
		out = append(out, logLine(entries[i]))
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

// userLogs answers {"<app>": {"data": […]}, …} for every app of the user.
func (f *Face) userLogs(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	from, until, rows, err := parseLogQuery(w, r, ps)
	if err != nil {
		return err
	}
	apps, err := f.p.Apps(r.Context(), pr, ps.ByName("user"))
	if err != nil {
		return err
	}
	out := map[string]any{}
	for _, a := range apps {
		entries, err := f.p.AppLogs(r.Context(), pr, a.Owner, a.Name, from, until, rows)
		if err != nil {
			return err
		}
		out[a.Name] = logData(a.Name, entries)
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

// streamLogs serves GET /apps/:u/:app/logs: the last rows lines, and with
// follow=1 every new line as it is stored, as newline-delimited JSON or, when
// the client accepts text/event-stream, as server-sent events.
func (f *Face) streamLogs(w http.ResponseWriter, r *http.Request, ps httprouter.Params, pr *paas.Principal) error {
	a, err := f.p.App(r.Context(), pr, ps.ByName("user"), ps.ByName("app"))
	if err != nil {
		return err
	}
	rows := 100
	if v := r.URL.Query().Get("rows"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return paas.BadRequest("rows must be a positive number")
		}
		rows = min(n, maxLogRows)
	}
	follow := r.URL.Query().Get("follow")
	sse := strings.Contains(r.Header.Get("Accept"), "text/event-stream")
	if sse {
		w.Header().Set("Content-Type", "text/event-stream")
	} else {
		w.Header().Set("Content-Type", "application/x-ndjson")
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	write := func(entries []paas.LogEntry) error {
		for _, e := range entries {
			line, err := json.Marshal(logLineView(a.Name, e))
			if err != nil {
				return err
			}
			if sse {
				_, err = fmt.Fprintf(w, "data: %s\n\n", line)
			} else {
				_, err = fmt.Fprintf(w, "%s\n", line)
			}
			if err != nil {
				return nil // the client went away
			}
		}
		if flusher != nil {
			flusher.Flush()
		}
		return nil
	}
	entries, cursor, err := f.p.TailLogs(r.Context(), pr, a, nil, rows)
	if err != nil {
		return err
	}
	if err := write(entries); err != nil || (follow != "1" && follow != "true") {
		return err
	}
	api.Follow(r.Context(), 300*time.Millisecond, func() bool {
		entries, cursor, err = f.p.TailLogs(r.Context(), pr, a, cursor, maxLogRows)
		// Headers are sent: an error ends the stream.
		return err == nil && write(entries) == nil
	})
	return nil
}
