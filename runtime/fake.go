package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"
)

// Fake is an in-memory Runtime for unit tests. Its units are real HTTP
// servers on 127.0.0.1, so health checks and the proxy can be exercised
// without Docker. Hooks let tests make builds or units fail.
type Fake struct {
	// PrepareError, when set, decides whether a preparation fails.
	PrepareError func(spec CodeSpec) error
	// PrepareGate, when set, holds every preparation until it is closed.
	PrepareGate chan struct{}
	// Healthy, when set, decides whether a unit answers HTTP; an unhealthy
	// unit is running but refuses connections, like an app that never listens.
	Healthy func(spec UnitSpec) bool

	mu           sync.Mutex
	images       map[string]Image
	codes        map[string]Code
	units        map[string]*fakeUnit
	seq          int
	subs         []chan Event
	Prepares     int // how many snapshots' code was actually prepared (not reused)
	prepareCalls int
	Installs     int // how many dependency installs ran (not reused)
}

type fakeUnit struct {
	unit   Unit
	spec   UnitSpec
	server *http.Server
	ln     net.Listener
}

var _ Runtime = (*Fake)(nil)

// NewFake returns an empty fake engine.
func NewFake() *Fake {
	return &Fake{images: map[string]Image{}, codes: map[string]Code{}, units: map[string]*fakeUnit{}}
}

func (f *Fake) EnsureImage(ctx context.Context, ref string, log io.Writer) error { return nil }

// Prepare implements Runtime: it records the code (and dependencies) as
// prepared; PrepareError decides failures.
func (f *Fake) Prepare(ctx context.Context, spec CodeSpec, log io.Writer) (Prepared, error) {
	out := Prepared{Code: "fake-code/" + spec.App + "@" + spec.Snapshot}
	if spec.Install {
		out.Deps = "fake-deps/" + spec.App + "#" + spec.DepsKey
	}
	f.mu.Lock()
	f.prepareCalls++
	_, done := f.codes[out.Code]
	_, depsDone := f.codes[out.Deps]
	gate := f.PrepareGate
	f.mu.Unlock()
	if done && (out.Deps == "" || depsDone) {
		return out, nil
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return Prepared{}, fmt.Errorf("prepare %s: %w", spec.App, ctx.Err())
		}
	}
	if f.PrepareError != nil {
		if err := f.PrepareError(spec); err != nil {
			fmt.Fprintf(log, "prepare failed: %v\n", err)
			return Prepared{}, fmt.Errorf("prepare %s: %w", spec.App, err)
		}
	}
	n := 0
	if spec.Files != nil {
		_ = fs.WalkDir(spec.Files, ".", func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				n++
			}
			return nil
		})
	}
	fmt.Fprintf(log, "copied %d files into %s\n", n, out.Code)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.codes[out.Code] = Code{Ref: out.Code, Kind: "code", App: spec.App, Snapshot: spec.Snapshot}
	f.Prepares++
	if out.Deps != "" && !depsDone {
		fmt.Fprintf(log, "installed dependencies into %s\n", out.Deps)
		f.codes[out.Deps] = Code{Ref: out.Deps, Kind: "deps", App: spec.App, DepsKey: spec.DepsKey}
		f.Installs++
	}
	return out, nil
}

// PrepareCalls is how many times Prepare was called (gated or not).
func (f *Fake) PrepareCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.prepareCalls
}

// RemoveCode implements Runtime; like the engine, it refuses code in use.
func (f *Fake) RemoveCode(ctx context.Context, ref string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, u := range f.units {
		if u.spec.Code == ref || u.spec.Deps == ref {
			return fmt.Errorf("remove %s: volume is in use by unit %s", ref, u.unit.ID)
		}
	}
	delete(f.codes, ref)
	return nil
}

// Codes implements Runtime.
func (f *Fake) Codes(ctx context.Context) ([]Code, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Code, 0, len(f.codes))
	for _, c := range f.codes {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref < out[j].Ref })
	return out, nil
}

// AddImage records a platform-built image, as an earlier version of the
// platform left them (reconcile removes them).
func (f *Fake) AddImage(im Image) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.images[im.Ref] = im
}

func (f *Fake) ImageExists(ctx context.Context, ref string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.images[ref]
	return ok, nil
}

func (f *Fake) RemoveImage(ctx context.Context, ref string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.images, ref)
	return nil
}

func (f *Fake) Images(ctx context.Context) ([]Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Image, 0, len(f.images))
	for _, im := range f.images {
		out = append(out, im)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref < out[j].Ref })
	return out, nil
}

func (f *Fake) Start(ctx context.Context, spec UnitSpec) (Unit, error) {
	f.mu.Lock()
	for _, ref := range []string{spec.Code, spec.Deps} {
		if _, ok := f.codes[ref]; ref != "" && !ok {
			f.mu.Unlock()
			return Unit{}, fmt.Errorf("start unit: code %s: %w", ref, ErrNotFound)
		}
	}
	f.seq++
	id := "fake-" + strconv.Itoa(f.seq)
	f.mu.Unlock()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Unit{}, fmt.Errorf("start unit: %w", err)
	}
	u := &fakeUnit{spec: spec, ln: ln, unit: Unit{ID: id, App: spec.App, Snapshot: spec.Snapshot, Release: spec.Release,
		Index: spec.Index, Image: spec.Image, Addr: ln.Addr().String(), Running: true, Started: time.Now()}}
	if f.Healthy == nil || f.Healthy(spec) {
		body := fmt.Sprintf("%s %s %d\n", spec.App, spec.Snapshot, spec.Index)
		u.server = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, body)
		}), ReadHeaderTimeout: 5 * time.Second}
		go u.server.Serve(ln)
	} else {
		// Running but never answering HTTP. The port stays held (each
		// connection is dropped at once): a closed one could be taken by a
		// unit of another test, whose answer would pass this one's health check.
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
	}
	f.mu.Lock()
	f.units[id] = u
	unit := u.unit // a copy: Kill changes u.unit under the lock
	f.mu.Unlock()
	return unit, nil
}

// Kill makes a unit exit as if it crashed, reporting an Event.
func (f *Fake) Kill(id string, exitCode int) error {
	f.mu.Lock()
	u, ok := f.units[id]
	if !ok || !u.unit.Running {
		f.mu.Unlock()
		return fmt.Errorf("kill %s: %w", id, ErrNotFound)
	}
	u.unit.Running, u.unit.ExitCode, u.unit.Addr = false, exitCode, ""
	u.close()
	ev := Event{UnitID: id, App: u.spec.App, ExitCode: exitCode, Time: time.Now()}
	// Sent under the lock so an Events goroutine cannot close a channel mid-send.
	for _, ch := range f.subs {
		select {
		case ch <- ev:
		default: // a slow subscriber misses events rather than blocking the engine
		}
	}
	f.mu.Unlock()
	return nil
}

func (u *fakeUnit) close() {
	if u.server != nil {
		u.server.Close()
	}
	u.ln.Close()
}

func (f *Fake) Stop(ctx context.Context, id string, grace time.Duration) error {
	f.mu.Lock()
	u, ok := f.units[id]
	delete(f.units, id)
	f.mu.Unlock()
	if ok {
		if u.server != nil {
			sctx, cancel := context.WithTimeout(ctx, grace)
			defer cancel()
			_ = u.server.Shutdown(sctx) // in-flight requests finish, as a SIGTERM-aware app would
		}
		u.close()
	}
	return nil
}

func (f *Fake) Units(ctx context.Context) ([]Unit, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Unit, 0, len(f.units))
	for _, u := range f.units {
		out = append(out, u.unit)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (f *Fake) Logs(ctx context.Context, id string, since time.Time, fn func(LogLine)) error {
	f.mu.Lock()
	_, ok := f.units[id]
	f.mu.Unlock()
	if !ok {
		return fmt.Errorf("logs %s: %w", id, ErrNotFound)
	}
	fn(LogLine{UnitID: id, Stream: "stdout", Time: time.Now(), Text: "listening"})
	<-ctx.Done()
	return nil
}

func (f *Fake) Events(ctx context.Context) (<-chan Event, error) {
	ch := make(chan Event, 64)
	f.mu.Lock()
	f.subs = append(f.subs, ch)
	f.mu.Unlock()
	go func() {
		<-ctx.Done()
		f.mu.Lock()
		defer f.mu.Unlock()
		for i, c := range f.subs {
			if c == ch {
				f.subs = append(f.subs[:i], f.subs[i+1:]...)
				break
			}
		}
		close(ch)
	}()
	return ch, nil
}

// Close stops every unit.
func (f *Fake) Close() error {
	f.mu.Lock()
	units := f.units
	f.units = map[string]*fakeUnit{}
	f.mu.Unlock()
	for _, u := range units {
		u.close()
	}
	return nil
}

// ErrFakePrepare is a ready PrepareError result for tests.
var ErrFakePrepare = errors.New("fake preparation failure")

// ---- service instances ----

// fakeServices holds the service instances of each Fake that ever had one,
// beside the struct rather than in it so that the Fake's own fields stay as
// they are; an entry lives as long as the test binary, which is one per Fake
// of a test that uses services.
var fakeServices = struct {
	mu sync.Mutex
	m  map[*Fake]*fakeServiceState
}{m: map[*Fake]*fakeServiceState{}}

type fakeServiceState struct {
	mu       sync.Mutex
	services map[string]*Service        // by instance id: the containers
	volumes  map[string]string          // instance id → kind: the data, which outlives StopService
	networks map[string]map[string]bool // service network → attached unit ids
	seq      int
}

func (f *Fake) services() *fakeServiceState {
	fakeServices.mu.Lock()
	defer fakeServices.mu.Unlock()
	st := fakeServices.m[f]
	if st == nil {
		st = &fakeServiceState{services: map[string]*Service{}, volumes: map[string]string{}, networks: map[string]map[string]bool{}}
		fakeServices.m[f] = st
	}
	return st
}

// StartService implements ServiceRuntime: it validates spec as Docker does
// and records a running instance; nothing listens.
func (f *Fake) StartService(ctx context.Context, spec ServiceSpec) (Service, error) {
	spec, k, err := normalizeServiceSpec(spec)
	if err != nil {
		return Service{}, fmt.Errorf("start service: %w", err)
	}
	st := f.services()
	st.mu.Lock()
	defer st.mu.Unlock()
	if s := st.services[spec.ID]; s != nil {
		if s.Kind != spec.Kind {
			return Service{}, fmt.Errorf("start service %s: it runs as %s, not %s", spec.ID, s.Kind, spec.Kind)
		}
		if s.Running {
			return *s, nil
		}
	}
	if kind, ok := st.volumes[spec.ID]; ok && kind != spec.Kind {
		return Service{}, fmt.Errorf("start service %s: its volume holds %s data, not %s", spec.ID, kind, spec.Kind)
	}
	st.volumes[spec.ID] = spec.Kind
	nw := serviceNetworkName("fake", spec.ID)
	if st.networks[nw] == nil {
		st.networks[nw] = map[string]bool{}
	}
	st.seq++
	s := &Service{ID: spec.ID, Kind: spec.Kind, Container: "fake-svc-" + strconv.Itoa(st.seq), Network: nw,
		Host: serviceHost(spec.ID), Port: k.port, Running: true}
	st.services[spec.ID] = s
	return *s, nil
}

// StopService implements ServiceRuntime.
func (f *Fake) StopService(ctx context.Context, id string) error {
	if err := validServiceID(id); err != nil {
		return fmt.Errorf("stop service: %w", err)
	}
	st := f.services()
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.services, id)
	return nil
}

// RemoveService implements ServiceRuntime.
func (f *Fake) RemoveService(ctx context.Context, id string) error {
	if err := validServiceID(id); err != nil {
		return fmt.Errorf("remove service: %w", err)
	}
	st := f.services()
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.services, id)
	delete(st.volumes, id)
	delete(st.networks, serviceNetworkName("fake", id))
	return nil
}

// Services implements ServiceRuntime.
func (f *Fake) Services(ctx context.Context) ([]Service, error) {
	st := f.services()
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]Service, 0, len(st.services))
	for _, s := range st.services {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// ProbeService implements ServiceRuntime: a running instance answers.
func (f *Fake) ProbeService(ctx context.Context, id string) error {
	_, err := f.runningService(id)
	if err != nil {
		return fmt.Errorf("probe service %s: %w", id, err)
	}
	return nil
}

// ServiceAddr implements ServiceRuntime with an address of TEST-NET-1
// (RFC 5737), which nothing answers.
func (f *Fake) ServiceAddr(ctx context.Context, id string) (string, int, error) {
	s, err := f.runningService(id)
	if err != nil {
		return "", 0, fmt.Errorf("address of service %s: %w", id, err)
	}
	n, _ := strconv.Atoi(s.Container[len("fake-svc-"):])
	return "192.0.2." + strconv.Itoa(n%254+1), s.Port, nil
}

func (f *Fake) runningService(id string) (Service, error) {
	st := f.services()
	st.mu.Lock()
	defer st.mu.Unlock()
	s := st.services[id]
	switch {
	case s == nil:
		return Service{}, fmt.Errorf("no container: %w", ErrNotFound)
	case !s.Running:
		return Service{}, errors.New("not running")
	}
	return *s, nil
}

// KillService makes an instance's server stop as if it crashed: it stays
// listed, not running, and fails its probe until StartService.
func (f *Fake) KillService(id string) error {
	st := f.services()
	st.mu.Lock()
	defer st.mu.Unlock()
	s := st.services[id]
	if s == nil || !s.Running {
		return fmt.Errorf("kill service %s: %w", id, ErrNotFound)
	}
	s.Running = false
	return nil
}

// ConnectUnit implements ServiceRuntime.
func (f *Fake) ConnectUnit(ctx context.Context, unitID, network string) error {
	f.mu.Lock()
	_, ok := f.units[unitID]
	f.mu.Unlock()
	if !ok {
		return fmt.Errorf("connect unit %s to %s: %w", unitID, network, ErrNotFound)
	}
	st := f.services()
	st.mu.Lock()
	defer st.mu.Unlock()
	units := st.networks[network]
	if units == nil {
		return fmt.Errorf("connect unit %s to %s: no such network: %w", unitID, network, ErrNotFound)
	}
	units[unitID] = true
	return nil
}

// DisconnectUnit implements ServiceRuntime.
func (f *Fake) DisconnectUnit(ctx context.Context, unitID, network string) error {
	st := f.services()
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.networks[network], unitID)
	return nil
}

// UnitNetworks lists the service networks a unit is attached to, sorted; a
// stopped unit is attached to none, as with the engine.
func (f *Fake) UnitNetworks(unitID string) []string {
	f.mu.Lock()
	_, ok := f.units[unitID]
	f.mu.Unlock()
	if !ok {
		return nil
	}
	st := f.services()
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []string
	for nw, units := range st.networks {
		if units[unitID] {
			out = append(out, nw)
		}
	}
	sort.Strings(out)
	return out
}
