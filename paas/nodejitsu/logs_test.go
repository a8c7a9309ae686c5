package nodejitsu_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/selfhost/paas/paas"
)

func logEntries(t *testing.T, r resp) []any {
	t.Helper()
	l, ok := r.obj(t)["data"].([]any)
	if !ok {
		t.Fatalf("no data list: %s", r.Body)
	}
	return l
}

func TestLogs(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	u := h.NewUser(t, "dev")
	c := u.Basic()
	h.createApp(t, "dev", "app1")
	h.createApp(t, "dev", "app2")
	now := time.Now().UTC()
	entries := []paas.LogEntry{
		{Time: now.Add(-3 * time.Hour), Source: "app", Stream: "stdout", Text: "oldest"},
		{Time: now.Add(-2 * time.Hour), Source: "app", Stream: "stderr", Text: "middle, with a comma"},
		{Time: now.Add(-1 * time.Hour), Source: "platform", Stream: "stdout", Text: "newest"},
	}
	if err := h.Store.AppendLogs("dev/app1", entries); err != nil {
		t.Fatal(err)
	}

	// 0.4 clients: POST {from, until, rows} → the newest rows, oldest first.
	r := h.do(t, "POST", "/logs/dev/app1", c, map[string]any{"from": "NOW-3YEARS", "until": "NOW", "rows": 2})
	want(t, r, 200)
	data := logEntries(t, r)
	if len(data) != 2 {
		t.Fatalf("data = %s", r.Body)
	}
	for i, e := range entries[1:] {
		ts, err := time.Parse(time.RFC3339Nano, get(data[i], "timestamp").(string))
		if err != nil || !ts.Equal(e.Time) {
			t.Errorf("entry %d timestamp %v (%v), want %v", i, get(data[i], "timestamp"), err, e.Time)
		}
		text, _ := get(data[i], "text").(string)
		level := "info"
		if e.Stream == "stderr" {
			level = "error"
		}
		if parts := strings.Split(text, ","); len(parts) != 3 || parts[0] != "level="+level || parts[1] != "app=app1" ||
			!strings.HasPrefix(parts[2], "message=") {
			t.Errorf("entry %d text = %q", i, text)
		}
		if get(data[i], "json", "message") != e.Text {
			t.Errorf("entry %d json = %v", i, get(data[i], "json"))
		}
	}
	// rows as a string, as some clients send it.
	r = h.do(t, "POST", "/logs/dev/app1", c, map[string]any{"from": "NOW-3YEARS", "until": "NOW", "rows": "1"})
	want(t, r, 200)
	if d := logEntries(t, r); len(d) != 1 || !strings.Contains(get(d[0], "text").(string), "newest") {
		t.Errorf("rows=\"1\": %s", r.Body)
	}

	// Time windows.
	windows := []struct {
		from, until string
		want        []string
	}{
		{"NOW-150MINUTES", "NOW", []string{"middle", "newest"}},
		{"NOW-1DAY", "NOW-150MINUTES", []string{"oldest"}},
		{"NOW-1DAY", "NOW-1DAY+22HOURS", []string{"oldest", "middle"}}, // now-2h is included
		{"", "", []string{"oldest", "middle", "newest"}},
		{now.Add(-90 * time.Minute).Format(time.RFC3339), "", []string{"newest"}},
		{"NOW-1MINUTE", "NOW", nil},
		{"NOW", "NOW-1DAY", nil},
	}
	for _, w := range windows {
		t.Run("window "+w.from+".."+w.until, func(t *testing.T) {
			r := h.do(t, "POST", "/logs/dev/app1", c, map[string]any{"from": w.from, "until": w.until, "rows": 10})
			want(t, r, 200)
			d := logEntries(t, r)
			var got []string
			for _, e := range d {
				got = append(got, get(e, "json", "message").(string))
			}
			if fmt.Sprint(shortTexts(got)) != fmt.Sprint(w.want) {
				t.Errorf("got %v, want %v", got, w.want)
			}
		})
	}

	// 0.5+ clients: GET /logs/:u/:app[/:amount] answers an array of
	// {description, time (epoch seconds), service}, newest first.
	array := func(t *testing.T, r resp) []map[string]any {
		t.Helper()
		var out []map[string]any
		if err := json.Unmarshal(r.Body, &out); err != nil {
			t.Fatalf("not an array: %s", r.Body)
		}
		return out
	}
	r = h.do(t, "GET", "/logs/dev/app1/5", c, nil)
	want(t, r, 200)
	if l := array(t, r); len(l) != 3 || l[0]["description"] != "newest" || l[2]["description"] != "oldest" ||
		l[1]["service"] != "logs/stderr" || l[0]["service"] != "logs/stdout" || l[0]["time"].(float64) < l[2]["time"].(float64) {
		t.Errorf("GET …/5: %s", r.Body)
	}
	r = h.do(t, "GET", "/logs/dev/app1/1", c, nil)
	want(t, r, 200)
	if l := array(t, r); len(l) != 1 || l[0]["description"] != "newest" {
		t.Errorf("GET …/1: %s", r.Body)
	}
	r = h.do(t, "GET", "/logs/dev/app1?rows=2", c, nil)
	want(t, r, 200)
	if l := array(t, r); len(l) != 2 {
		t.Errorf("GET ?rows=2: %s", r.Body)
	}

	// All of a user's logs, keyed by app name.
	r = h.do(t, "POST", "/logs/dev", c, map[string]any{"from": "NOW-3YEARS", "until": "NOW", "rows": 15})
	want(t, r, 200)
	m := r.obj(t)
	if len(m) != 2 {
		t.Errorf("user logs keys: %s", r.Body)
	}
	if d, _ := get(m, "app1", "data").([]any); len(d) != 3 {
		t.Errorf("user logs app1: %s", r.Body)
	}
	if d, ok := get(m, "app2", "data").([]any); !ok || len(d) != 0 {
		t.Errorf("user logs app2: %s", r.Body)
	}

	// Bad times are 400s.
	for _, body := range []map[string]any{{"from": "yesterday"}, {"until": "NOW-"}, {"from": "NOW-3EONS"}} {
		want(t, h.do(t, "POST", "/logs/dev/app1", c, body), 400)
		want(t, h.do(t, "POST", "/logs/dev", c, body), 400)
	}
	want(t, h.do(t, "GET", "/logs/dev/app1/0", c, nil), 400)
	want(t, h.do(t, "POST", "/logs/dev/nosuchapp", c, "{}"), 404)

	// The streaming endpoint: the last rows as NDJSON.
	r = h.do(t, "GET", "/apps/dev/app1/logs?rows=3", c, nil)
	want(t, r, 200)
	if ct := r.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Errorf("Content-Type = %q", ct)
	}
	lines := strings.Split(strings.TrimRight(string(r.Body), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("NDJSON lines = %q", r.Body)
	}
	for i, line := range lines {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil || v["timestamp"] == nil || v["text"] == nil {
			t.Errorf("line %d = %q (%v)", i, line, err)
		}
		if got := get(v, "json", "message"); got != entries[i].Text {
			t.Errorf("line %d message = %v, want %q", i, got, entries[i].Text)
		}
	}
	r = h.do(t, "GET", "/apps/dev/app1/logs?rows=1", c, nil)
	if lines := strings.Split(strings.TrimRight(string(r.Body), "\n"), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "newest") {
		t.Errorf("rows=1: %q", r.Body)
	}
	r = h.do(t, "GET", "/apps/dev/app2/logs", c, nil)
	want(t, r, 200)
	if len(r.Body) != 0 {
		t.Errorf("empty app's stream = %q", r.Body)
	}
}

// shortTexts reduces messages to their first word, for comparison.
func shortTexts(s []string) []string {
	var out []string
	for _, x := range s {
		out = append(out, strings.TrimSuffix(strings.Fields(x)[0], ","))
	}
	return out
}

func TestLogRetention(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	u := h.NewUser(t, "dev")
	h.createApp(t, "dev", "app")
	h.Store.LogRetention = 5
	base := time.Now().UTC().Add(-time.Hour)
	for i := range 8 {
		// One call per line and one call with several lines both count.
		e := paas.LogEntry{Time: base.Add(time.Duration(i) * time.Second), Source: "app", Stream: "stdout", Text: fmt.Sprintf("line%d", i)}
		if err := h.Store.AppendLogs("dev/app", []paas.LogEntry{e}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := h.Store.Logs("dev/app", time.Unix(0, 0), time.Now(), 100)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, e := range got {
		texts = append(texts, e.Text)
	}
	if fmt.Sprint(texts) != "[line3 line4 line5 line6 line7]" {
		t.Errorf("kept %v, want the newest 5", texts)
	}
	batch := make([]paas.LogEntry, 7)
	for i := range batch {
		batch[i] = paas.LogEntry{Time: base.Add(time.Duration(100+i) * time.Second), Text: fmt.Sprintf("batch%d", i)}
	}
	if err := h.Store.AppendLogs("dev/app", batch); err != nil {
		t.Fatal(err)
	}
	r := h.do(t, "POST", "/logs/dev/app", u.Basic(), map[string]any{"rows": 100})
	want(t, r, 200)
	d := logEntries(t, r)
	if len(d) != 5 || get(d[0], "json", "message") != "batch2" || get(d[4], "json", "message") != "batch6" {
		t.Errorf("after a batch: %s", r.Body)
	}
	// Deleting the app drops its logs; a new app of the same name starts empty.
	want(t, h.do(t, "DELETE", "/apps/dev/app", u.Basic(), nil), 200)
	h.createApp(t, "dev", "app")
	r = h.do(t, "POST", "/logs/dev/app", u.Basic(), map[string]any{"rows": 100})
	want(t, r, 200)
	if d := logEntries(t, r); len(d) != 0 {
		t.Errorf("new app inherits logs: %s", r.Body)
	}
	// And the retention count restarted too.
	for i := range 5 {
		if err := h.Store.AppendLogs("dev/app", []paas.LogEntry{{Time: base.Add(time.Duration(i) * time.Second), Text: fmt.Sprintf("new%d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := h.Store.Logs("dev/app", time.Unix(0, 0), time.Now(), 100); len(got) != 5 {
		t.Errorf("after re-creation kept %d lines, want 5", len(got))
	}
}
