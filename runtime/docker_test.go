package runtime

import (
	"context"
	"errors"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/events"
)

// ---- engine-free tests ----

func TestImageRefIsValidReference(t *testing.T) {
	cases := []struct{ prefix, app, snap string }{
		{"paas", "owner/app", "snap1"},
		{"PaaS", "Owner/My_App!!", "S@P 1"},
		{"paas", "a/b-c", "x"},
		{"paas", "a-b/c", "x"},
		{"paas", "--/..", "..."},
		{"paas", strings.Repeat("verylongname", 40), strings.Repeat("s", 300)},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		ref := imageRef(c.prefix, c.app, c.snap)
		if _, err := reference.ParseNormalizedNamed(ref); err != nil {
			t.Errorf("imageRef(%q, %q, %q) = %q: invalid reference: %v", c.prefix, c.app, c.snap, ref, err)
		}
		if ref != strings.ToLower(ref) {
			t.Errorf("imageRef %q is not lowercase", ref)
		}
		if seen[ref] {
			t.Errorf("imageRef collision on %q", ref)
		}
		seen[ref] = true
	}
	if got, want := imageRef("paas", "owner/app", "snap1"), "paas/owner-app:snap1-"; !strings.HasPrefix(got, want) {
		t.Errorf("imageRef = %q, want prefix %q", got, want)
	}
}

func TestContainerNameIsValid(t *testing.T) {
	valid := regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)
	a := containerName("paas", "a/b-c", "r1", 0)
	b := containerName("paas", "a-b/c", "r1", 0)
	for _, n := range []string{a, b, containerName("P", "ÄÖ/ü", "", -1)} {
		if !valid.MatchString(n) {
			t.Errorf("container name %q is invalid", n)
		}
	}
	if a == b {
		t.Errorf("container names collide: %q", a)
	}
}

func TestGenerateDockerfile(t *testing.T) {
	df, err := generateDockerfile(BuildSpec{App: "o/a", Snapshot: "s", BaseImage: "node:20-slim", Cmd: []string{"node", "server.js"}, Install: true},
		map[string]string{LabelPlatform: "1", labelPrefix: "p"}, map[string]string{LabelApp: `o/"a"$x\`, LabelSnapshot: "s"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"FROM node:20-slim\nLABEL \"paas.platform\"=\"1\" \"paas.prefix\"=\"p\"\n", "COPY app/ /app/\n", `RUN ["npm", "install", "--omit=dev"`, "USER 1000:1000\n", `CMD ["node","server.js"]`,
		`LABEL "paas.app"="o/\"a\"\$x\\" "paas.snapshot"="s"` + "\n"} {
		if !strings.Contains(string(df), want) {
			t.Errorf("Dockerfile lacks %q:\n%s", want, df)
		}
	}
	if strings.Index(string(df), "RUN") > strings.Index(string(df), "USER") {
		t.Errorf("npm install must run before USER:\n%s", df)
	}
	df, _ = generateDockerfile(BuildSpec{BaseImage: "b", Cmd: []string{"node", "a b.js"}}, nil, nil)
	if strings.Contains(string(df), "npm") {
		t.Errorf("Dockerfile without Install runs npm:\n%s", df)
	}
	if err := validateBuildSpec(BuildSpec{App: "a", Snapshot: "s", Files: fstest.MapFS{}, Cmd: []string{"x"}, BaseImage: "b\nRUN evil"}); err == nil {
		t.Error("a base image with a newline was accepted")
	}
}

func TestLogLineWriter(t *testing.T) {
	var got []LogLine
	w := &logLineWriter{unit: "u", stream: "stdout", fn: func(l LogLine) { got = append(got, l) }}
	io.WriteString(w, "2024-05-01T10:00:00.123456789Z hello ")
	io.WriteString(w, "world\n2024-05-01T10:00:01Z second\n2024-05-01T10:00:02Z")
	w.flush()
	if len(got) != 3 {
		t.Fatalf("got %d lines, want 3: %+v", len(got), got)
	}
	if got[0].Text != "hello world" || got[0].Time.Nanosecond() != 123456789 || got[0].Stream != "stdout" || got[0].UnitID != "u" {
		t.Errorf("line 0 = %+v", got[0])
	}
	if got[1].Text != "second" || got[2].Text != "" || got[2].Time.Second() != 2 {
		t.Errorf("lines = %+v", got[1:])
	}
}

// eventsAPI is a dockerAPI whose event stream fails once, then delivers an
// oom and a die for the same container.
type eventsAPI struct {
	dockerAPI // nil: any other call panics, which the test would report
	mu        sync.Mutex
	calls     []events.ListOptions
}

func (f *eventsAPI) Events(ctx context.Context, opts events.ListOptions) (<-chan events.Message, <-chan error) {
	f.mu.Lock()
	f.calls = append(f.calls, opts)
	n := len(f.calls)
	f.mu.Unlock()
	msgs := make(chan events.Message)
	errs := make(chan error, 1)
	if n == 1 {
		errs <- errors.New("connection reset")
		return msgs, errs
	}
	go func() {
		now := time.Now()
		attrs := map[string]string{LabelApp: "o/a", "exitCode": "137"}
		for _, m := range []events.Message{
			{Type: events.ContainerEventType, Action: events.ActionOOM, Actor: events.Actor{ID: "c1", Attributes: attrs}, TimeNano: now.UnixNano()},
			{Type: events.ContainerEventType, Action: events.ActionDie, Actor: events.Actor{ID: "c1", Attributes: attrs}, TimeNano: now.UnixNano() + 1},
		} {
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	return msgs, errs
}

func TestEventsReconnectAndFoldOOM(t *testing.T) {
	api := &eventsAPI{}
	d := &Docker{api: api, cfg: DockerConfig{}.withDefaults()}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := d.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-ch:
		if ev.UnitID != "c1" || ev.App != "o/a" || ev.ExitCode != 137 || !ev.OOM {
			t.Errorf("event = %+v, want c1/o/a exit 137 OOM", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event after a reconnect within 10s")
	}
	cancel()
	select {
	case _, ok := <-ch:
		if ok {
			t.Error("unexpected second event")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("channel not closed after cancel")
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	if len(api.calls) < 2 || api.calls[0].Since != "" || api.calls[1].Since == "" {
		t.Errorf("Events calls = %+v, want a reconnect replaying from a since time", api.calls)
	}
	f := api.calls[0].Filters
	if !slices.Contains(f.Get("label"), LabelPlatform+"=1") || !slices.Contains(f.Get("event"), "die") || !slices.Contains(f.Get("event"), "oom") || !slices.Contains(f.Get("type"), "container") {
		t.Errorf("filters = label %v, event %v, type %v; want platform containers' die and oom", f.Get("label"), f.Get("event"), f.Get("type"))
	}
}

func TestLostCachedParent(t *testing.T) {
	for _, c := range []struct {
		msg  string
		want bool
	}{
		{"builder: failed to export image: failed to set parent sha256:25db: unknown parent image ID sha256:25db", true},
		{"The command 'npm install' returned a non-zero code: 1", false},
	} {
		if got := lostCachedParent(errors.New(c.msg)); got != c.want {
			t.Errorf("lostCachedParent(%q) = %v, want %v", c.msg, got, c.want)
		}
	}
}
