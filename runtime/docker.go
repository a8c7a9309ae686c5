package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Private labels, on top of the public ones in runtime.go.
const (
	// labelPrefix scopes objects to one Docker runtime (its DockerConfig.Prefix)
	// so that two platforms, or a test and a platform, sharing one engine never
	// list, reap or receive events for each other's units.
	labelPrefix = "paas.prefix"
	// labelPort records the port the app listens on: it is needed to rebuild
	// Unit.Addr from a container listing after a platform restart.
	labelPort = "paas.port"
)

// Platform defaults for DockerConfig.
const (
	DefaultNetwork     = "paas"
	DefaultPrefix      = "paas"
	DefaultMemoryBytes = 256 << 20
	DefaultNanoCPUs    = 500_000_000 // 0.5 CPU
	DefaultPids        = 256
	DefaultPort        = 8080

	// tmpfsSize bounds /tmp, the only writable path of a unit; it counts
	// against the unit's memory limit anyway, the bound keeps one unit from
	// filling it with a single runaway write.
	tmpfsSize = "64m"
	unitUser  = "1000:1000"
	unitUID   = 1000
)

// dockerAPI is exactly the part of the Docker client this package uses. It
// keeps the dependency surface visible and lets tests substitute the engine.
type dockerAPI interface {
	Ping(ctx context.Context) (types.Ping, error)
	Close() error

	NetworkInspect(ctx context.Context, networkID string, options network.InspectOptions) (network.Inspect, error)
	NetworkCreate(ctx context.Context, name string, options network.CreateOptions) (network.CreateResponse, error)
	NetworkRemove(ctx context.Context, networkID string) error

	ImageInspect(ctx context.Context, imageID string, opts ...client.ImageInspectOption) (image.InspectResponse, error)
	ImagePull(ctx context.Context, ref string, options image.PullOptions) (io.ReadCloser, error)
	ImageBuild(ctx context.Context, buildContext io.Reader, options build.ImageBuildOptions) (build.ImageBuildResponse, error)
	ImageImport(ctx context.Context, source image.ImportSource, ref string, options image.ImportOptions) (io.ReadCloser, error)
	ImageList(ctx context.Context, options image.ListOptions) ([]image.Summary, error)
	ImageRemove(ctx context.Context, imageID string, options image.RemoveOptions) ([]image.DeleteResponse, error)

	ContainerCreate(ctx context.Context, config *container.Config, hostConfig *container.HostConfig, networkingConfig *network.NetworkingConfig, platform *ocispec.Platform, containerName string) (container.CreateResponse, error)
	ContainerStart(ctx context.Context, containerID string, options container.StartOptions) error
	ContainerStop(ctx context.Context, containerID string, options container.StopOptions) error
	ContainerRemove(ctx context.Context, containerID string, options container.RemoveOptions) error
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerInspect(ctx context.Context, containerID string) (container.InspectResponse, error)
	ContainerLogs(ctx context.Context, containerID string, options container.LogsOptions) (io.ReadCloser, error)
	ContainerWait(ctx context.Context, containerID string, condition container.WaitCondition) (<-chan container.WaitResponse, <-chan error)
	CopyToContainer(ctx context.Context, containerID, dstPath string, content io.Reader, options container.CopyToContainerOptions) error
	ContainerStatPath(ctx context.Context, containerID, path string) (container.PathStat, error)

	VolumeCreate(ctx context.Context, options volume.CreateOptions) (volume.Volume, error)
	VolumeInspect(ctx context.Context, volumeID string) (volume.Volume, error)
	VolumeList(ctx context.Context, options volume.ListOptions) (volume.ListResponse, error)
	VolumeRemove(ctx context.Context, volumeID string, force bool) error

	Events(ctx context.Context, options events.ListOptions) (<-chan events.Message, <-chan error)
}

var _ dockerAPI = (*client.Client)(nil)

// DockerConfig configures a Docker runtime. Zero fields take the defaults.
type DockerConfig struct {
	Network string // platform bridge network name, default "paas"
	Prefix  string // container name / image repository prefix, default "paas"
	// CodeDir, when set, is a directory of this host where prepared code
	// is written directly, as the backing of bind volumes, when the engine
	// sees this host's files (checked once); otherwise code is copied into
	// engine-managed volumes.
	CodeDir  string
	Defaults Limits // per-unit limits when a UnitSpec leaves them zero: 256MiB, 0.5 CPU, 256 pids
}

func (c DockerConfig) withDefaults() DockerConfig {
	if c.Network == "" {
		c.Network = DefaultNetwork
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	c.Defaults = c.Defaults.or(Limits{MemoryBytes: DefaultMemoryBytes, NanoCPUs: DefaultNanoCPUs, Pids: DefaultPids})
	return c
}

// or fills the zero fields of l from def.
func (l Limits) or(def Limits) Limits {
	if l.MemoryBytes <= 0 {
		l.MemoryBytes = def.MemoryBytes
	}
	if l.NanoCPUs <= 0 {
		l.NanoCPUs = def.NanoCPUs
	}
	if l.Pids <= 0 {
		l.Pids = def.Pids
	}
	return l
}

// Docker is the Runtime backed by a Docker Engine.
type Docker struct {
	api dockerAPI
	cfg DockerConfig
	// buildMu keeps image removals (which prune untagged parents) from
	// running while a build may be reusing those parents from the cache.
	buildMu sync.RWMutex

	netMu    sync.Mutex
	netReady bool

	volMu    sync.Mutex
	volLocks map[string]*sync.Mutex // per volume: one preparation at a time

	hostDirOnce sync.Once
	hostDirOK   bool // the engine sees CodeDir: code goes there directly

	noInit atomic.Bool // the engine cannot run an init process in units
}

var _ Runtime = (*Docker)(nil)

// NewDocker connects to the engine named by the environment (DOCKER_HOST and
// friends) and checks it answers. The platform network is created when the
// first unit starts.
func NewDocker(ctx context.Context, cfg DockerConfig) (*Docker, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	d, err := newDocker(ctx, cli, cfg)
	if err != nil {
		_ = cli.Close()
		return nil, err
	}
	return d, nil
}

func newDocker(ctx context.Context, api dockerAPI, cfg DockerConfig) (*Docker, error) {
	d := &Docker{api: api, cfg: cfg.withDefaults()}
	if _, err := api.Ping(ctx); err != nil {
		return nil, fmt.Errorf("docker ping: %w", err)
	}
	return d, nil
}

// Config returns the effective configuration (defaults filled in).
func (d *Docker) Config() DockerConfig { return d.cfg }

// Close releases the client connection; it leaves every unit running.
func (d *Docker) Close() error { return d.api.Close() }

// EnsureNetwork creates the platform network if missing. Start calls it on first use, so commands that
// never start a unit (base-image, a server with nothing to run) leave none behind.
func (d *Docker) EnsureNetwork(ctx context.Context) error {
	d.netMu.Lock()
	defer d.netMu.Unlock()
	if d.netReady {
		return nil
	}
	if err := d.createNetwork(ctx); err != nil {
		return err
	}
	d.netReady = true
	return nil
}

// optICC is the bridge driver's switch for traffic between containers on
// one network: off on the platform network, so a unit reaches no other
// unit (another tenant's, by address or by name); the ingress, on the host,
// is the only way in.
const optICC = "com.docker.network.bridge.enable_icc"

func (d *Docker) createNetwork(ctx context.Context) error {
	name := d.cfg.Network
	if nw, err := d.api.NetworkInspect(ctx, name, network.InspectOptions{}); err == nil {
		if nw.Options[optICC] == "false" {
			return nil
		}
		// Created by an earlier version, with traffic between units on.
		if len(nw.Containers) > 0 {
			return fmt.Errorf("network %s lets units reach each other and has containers attached; "+
				"stop the platform, remove its containers and the network (docker network rm %s), and start again", name, name)
		}
		if err := d.api.NetworkRemove(ctx, nw.ID); err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("replace network %s: %w", name, err)
		}
	} else if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("inspect network %s: %w", name, err)
	}
	_, err := d.api.NetworkCreate(ctx, name, network.CreateOptions{
		Driver:  "bridge",
		Options: map[string]string{optICC: "false"},
		Labels:  map[string]string{LabelPlatform: "1", labelPrefix: d.cfg.Prefix},
	})
	if err == nil {
		return nil
	}
	// Another process may have created it between inspect and create.
	if _, ierr := d.api.NetworkInspect(ctx, name, network.InspectOptions{}); ierr == nil {
		return nil
	}
	return fmt.Errorf("create network %s: %w", name, err)
}

// Subnets returns the address ranges uploaded code runs in (creating the
// platform network if needed): the platform network of the units and the
// default bridge of the install step. Connections from them come from
// uploaded code.
func (d *Docker) Subnets(ctx context.Context) ([]netip.Prefix, error) {
	if err := d.EnsureNetwork(ctx); err != nil {
		return nil, err
	}
	return d.subnetsOf(ctx, d.cfg.Network, installNetwork)
}

// subnetsOf returns the address ranges of the named networks.
func (d *Docker) subnetsOf(ctx context.Context, names ...string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, name := range names {
		nw, err := d.api.NetworkInspect(ctx, name, network.InspectOptions{})
		if err != nil {
			return nil, fmt.Errorf("inspect network %s: %w", name, err)
		}
		for _, c := range nw.IPAM.Config {
			p, err := netip.ParsePrefix(c.Subnet)
			if err != nil {
				return nil, fmt.Errorf("network %s subnet %q: %w", name, c.Subnet, err)
			}
			out = append(out, p.Masked())
		}
	}
	return out, nil
}

// RemoveNetwork removes the platform network. It fails while units are
// attached; a missing network is not an error. Meant for tests and uninstall.
func (d *Docker) RemoveNetwork(ctx context.Context) error {
	err := d.api.NetworkRemove(ctx, d.cfg.Network)
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove network %s: %w", d.cfg.Network, err)
	}
	return nil
}

// ownFilters matches the objects this runtime created.
func (d *Docker) ownFilters() filters.Args {
	return filters.NewArgs(
		filters.Arg("label", LabelPlatform+"=1"),
		filters.Arg("label", labelPrefix+"="+d.cfg.Prefix),
	)
}

// ---- images ----

// EnsureImage implements Runtime.
func (d *Docker) EnsureImage(ctx context.Context, ref string, log io.Writer) error {
	ok, err := d.ImageExists(ctx, ref)
	if err != nil {
		return err
	}
	if ok {
		return nil
	}
	fmt.Fprintf(log, "pulling %s (first use)\n", ref)
	rc, err := d.api.ImagePull(ctx, ref, image.PullOptions{})
	if err != nil {
		return fmt.Errorf("pull image %s: %w", ref, err)
	}
	defer rc.Close()
	if err := copyPullProgress(ctx, rc, log); err != nil {
		return fmt.Errorf("pull image %s: %w", ref, err)
	}
	// A pull stream can end cleanly without the image (e.g. a cut
	// connection), so trust only the engine's image store.
	if ok, err := d.ImageExists(ctx, ref); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("pull image %s: image missing after pull: %w", ref, ErrNotFound)
	}
	return nil
}

// ImageExists implements Runtime.
func (d *Docker) ImageExists(ctx context.Context, ref string) (bool, error) {
	if _, err := d.api.ImageInspect(ctx, ref); err != nil {
		if cerrdefs.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("inspect image %s: %w", ref, err)
	}
	return true, nil
}

// RemoveImage implements Runtime.
func (d *Docker) RemoveImage(ctx context.Context, ref string) error {
	// Pruning the image's untagged parents can delete cached layers an
	// in-flight build is about to reuse; builds hold the read side.
	d.buildMu.Lock()
	defer d.buildMu.Unlock()
	_, err := d.api.ImageRemove(ctx, ref, image.RemoveOptions{Force: true, PruneChildren: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove image %s: %w", ref, err)
	}
	return nil
}

// Images implements Runtime.
func (d *Docker) Images(ctx context.Context) ([]Image, error) {
	list, err := d.api.ImageList(ctx, image.ListOptions{Filters: d.ownFilters()})
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	out := make([]Image, 0, len(list))
	for _, im := range list {
		ref := im.ID
		// Prefer the tag Build returned; an untagged platform image (its tag
		// was removed by hand) is still listed, by ID, so it can be removed.
		want := imageRef(d.cfg.Prefix, im.Labels[LabelApp], im.Labels[LabelSnapshot])
		for _, t := range im.RepoTags {
			if t == want {
				ref = t
				break
			}
			if ref == im.ID && t != "<none>:<none>" {
				ref = t
			}
		}
		out = append(out, Image{Ref: ref, App: im.Labels[LabelApp], Snapshot: im.Labels[LabelSnapshot]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref < out[j].Ref })
	return out, nil
}

// ImageRef returns the reference Build uses for (app, snapshot).
func (d *Docker) ImageRef(app, snapshot string) string {
	return imageRef(d.cfg.Prefix, app, snapshot)
}

// buildAttempts bounds retries of a build whose cached parent layer was
// removed under it by another process sharing the engine (removals in this
// process wait for builds, see buildMu).
const buildAttempts = 3

// Build implements Runtime.
func (d *Docker) Build(ctx context.Context, spec BuildSpec, log io.Writer) (string, error) {
	if log == nil {
		log = io.Discard
	}
	d.buildMu.RLock()
	defer d.buildMu.RUnlock()
	for attempt := 1; ; attempt++ {
		ref, err := d.buildOnce(ctx, spec, log)
		if err == nil || attempt == buildAttempts || !lostCachedParent(err) || ctx.Err() != nil {
			return ref, err
		}
		fmt.Fprintf(log, "a cached layer was removed during the build; building again (attempt %d of %d)\n", attempt+1, buildAttempts)
	}
}

// lostCachedParent recognises the classic builder's failure when a cached
// step image it reused was deleted before the step's result was committed.
func lostCachedParent(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "unknown parent image") || strings.Contains(msg, "failed to set parent")
}

func (d *Docker) buildOnce(ctx context.Context, spec BuildSpec, log io.Writer) (string, error) {
	if err := validateBuildSpec(spec); err != nil {
		return "", fmt.Errorf("build %s@%s: %w", spec.App, spec.Snapshot, err)
	}
	ref := d.ImageRef(spec.App, spec.Snapshot)
	if ok, err := d.ImageExists(ctx, ref); err != nil {
		return "", fmt.Errorf("build %s: %w", ref, err)
	} else if ok {
		fmt.Fprintf(log, "image %s already built\n", ref)
		return ref, nil
	}
	// Checked here rather than left to the builder: the classic builder
	// would try to pull a missing FROM image, which on an offline host
	// fails late and with a registry error instead of a clear one.
	if ok, err := d.ImageExists(ctx, spec.BaseImage); err != nil {
		return "", fmt.Errorf("build %s: %w", ref, err)
	} else if !ok {
		return "", fmt.Errorf("build %s: base image %s: %w (run EnsureImage first)", ref, spec.BaseImage, ErrNotFound)
	}

	dockerfile, err := generateDockerfile(spec,
		map[string]string{LabelPlatform: "1", labelPrefix: d.cfg.Prefix},
		map[string]string{LabelApp: spec.App, LabelSnapshot: spec.Snapshot})
	if err != nil {
		return "", fmt.Errorf("build %s: %w", ref, err)
	}
	pr, pw := io.Pipe()
	defer pr.Close() // unblocks the tar writer if the engine stops reading
	tarErr := make(chan error, 1)
	go func() {
		err := writeBuildContext(pw, spec.Files, dockerfile, log)
		pw.CloseWithError(err)
		tarErr <- err
	}()

	fmt.Fprintf(log, "building %s from %s\n", ref, spec.BaseImage)
	resp, err := d.api.ImageBuild(ctx, pr, build.ImageBuildOptions{
		Tags:        []string{ref},
		Dockerfile:  "Dockerfile",
		Remove:      true,
		ForceRemove: true,
		// BuildKit is not guaranteed on every engine and needs a session;
		// the classic builder works offline against a local FROM image.
		Version: build.BuilderV1,
	})
	if err != nil {
		pr.CloseWithError(err)
		<-tarErr
		return "", fmt.Errorf("build %s: %w", ref, err)
	}
	var steps []string
	buildErr := copyBuildOutput(ctx, resp.Body, log, func(id string) { steps = append(steps, id) })
	resp.Body.Close()
	if buildErr != nil {
		d.removeIntermediates(ctx, steps)
	}
	pr.Close()
	if err := <-tarErr; err != nil && !errors.Is(err, io.ErrClosedPipe) {
		return "", fmt.Errorf("build %s: build context: %w", ref, err)
	}
	if buildErr != nil {
		return "", fmt.Errorf("build %s: %w", ref, buildErr)
	}
	// The classic builder reports success in-stream; confirm the tag landed
	// so a truncated stream is not mistaken for a build.
	if ok, err := d.ImageExists(ctx, ref); err != nil {
		return "", fmt.Errorf("build %s: %w", ref, err)
	} else if !ok {
		return "", fmt.Errorf("build %s: image missing after build", ref)
	}
	return ref, nil
}

// removeIntermediates deletes the untagged step images a failed classic build
// leaves behind: they carry no platform label (LABEL is the last step), so
// Images could never list them for collection. Images that
// are tagged (the base) or still parents of other images (shared build
// cache) are left alone: removal is not forced, so the engine refuses those.
func (d *Docker) removeIntermediates(ctx context.Context, ids []string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	for i := len(ids) - 1; i >= 0; i-- {
		info, err := d.api.ImageInspect(ctx, ids[i])
		if err != nil || len(info.RepoTags) > 0 {
			continue
		}
		_, _ = d.api.ImageRemove(ctx, info.ID, image.RemoveOptions{PruneChildren: true})
	}
}

// ---- units ----

// Start implements Runtime.
func (d *Docker) Start(ctx context.Context, spec UnitSpec) (Unit, error) {
	name := containerName(d.cfg.Prefix, spec.App, spec.Release, spec.Index)
	if spec.Image == "" || spec.App == "" {
		return Unit{}, fmt.Errorf("start unit %s: app and image are required", name)
	}
	if err := d.EnsureNetwork(ctx); err != nil {
		return Unit{}, fmt.Errorf("start unit %s: %w", name, err)
	}
	port := spec.Port
	if port == 0 {
		port = DefaultPort
	}
	lim := spec.Limits.or(d.cfg.Defaults)

	pids := lim.Pids
	cfg := &container.Config{
		Image:  spec.Image,
		Cmd:    spec.Cmd,
		Env:    unitEnv(spec, port),
		User:   unitUser,
		Labels: unitLabels(d.cfg.Prefix, spec, port),
	}
	useInit := !d.noInit.Load()
	host := &container.HostConfig{
		// An init process as PID 1 forwards SIGTERM to the app and reaps
		// zombies: node as PID 1 ignores SIGTERM unless the app handles it,
		// which would cost every drain its whole grace period.
		Init:           &useInit,
		NetworkMode:    container.NetworkMode(d.cfg.Network),
		CapDrop:        []string{"ALL"},
		SecurityOpt:    []string{"no-new-privileges:true"},
		ReadonlyRootfs: true,
		Tmpfs:          map[string]string{"/tmp": "rw,noexec,nosuid,nodev,size=" + tmpfsSize + ",mode=1777"},
		Mounts:         unitMounts(spec),
		// The platform restarts units itself; an engine restart policy
		// would fight its reconciliation.
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
		Resources: container.Resources{
			Memory:     lim.MemoryBytes,
			MemorySwap: lim.MemoryBytes, // equal to Memory: no swap
			NanoCPUs:   lim.NanoCPUs,
			PidsLimit:  &pids,
		},
	}
	netCfg := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{d.cfg.Network: {}}}

	created, err := d.api.ContainerCreate(ctx, cfg, host, netCfg, nil, name)
	if err != nil && cerrdefs.IsConflict(err) {
		// A unit of the same (app, release, index) exists: a leftover of an
		// earlier attempt when it is not running, which is safe to replace.
		if err = d.removeStale(ctx, name); err == nil {
			created, err = d.api.ContainerCreate(ctx, cfg, host, netCfg, nil, name)
		}
	}
	if err != nil {
		return Unit{}, fmt.Errorf("start unit %s: create: %w", name, err)
	}
	if err := d.api.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		// Do not leave a created-but-dead container behind; use a fresh
		// context so a cancelled ctx still cleans up.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		_ = d.api.ContainerRemove(cctx, created.ID, container.RemoveOptions{Force: true})
		cancel()
		if useInit && strings.Contains(err.Error(), "docker-init") {
			// This engine has no init binary: run units without one from now on.
			d.noInit.Store(true)
			return d.Start(ctx, spec)
		}
		return Unit{}, fmt.Errorf("start unit %s: %w", name, err)
	}
	info, err := d.api.ContainerInspect(ctx, created.ID)
	if err != nil {
		return Unit{}, fmt.Errorf("start unit %s: inspect: %w", name, err)
	}
	// A unit that already exited (e.g. a crashing app) is still returned
	// without error: its exit arrives as an Event and the platform decides.
	return d.unitFromInspect(info), nil
}

// unitEnv is a unit's environment: the app's, sorted, and PORT.
func unitEnv(spec UnitSpec, port int) []string {
	env := make([]string, 0, len(spec.Env)+1)
	for k, v := range spec.Env {
		// PORT is the runtime's to set: the app must listen where the
		// platform dials.
		if k == "PORT" {
			continue
		}
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	return append(env, "PORT="+strconv.Itoa(port))
}

// unitLabels are the labels of a unit of installation prefix.
func unitLabels(prefix string, spec UnitSpec, port int) map[string]string {
	return map[string]string{
		LabelPlatform: "1",
		labelPrefix:   prefix,
		LabelApp:      spec.App,
		LabelSnapshot: spec.Snapshot,
		LabelRelease:  spec.Release,
		LabelUnit:     strconv.Itoa(spec.Index),
		labelPort:     strconv.Itoa(port),
	}
}

// unitMounts are a unit's code and dependencies, read-only: a snapshot's
// code is immutable once prepared.
func unitMounts(spec UnitSpec) []mount.Mount {
	var m []mount.Mount
	if spec.Code != "" {
		m = append(m, codeMount(spec.Code, true))
	}
	if spec.Deps != "" {
		m = append(m, depsMount(spec.Deps, true))
	}
	return m
}

func (d *Docker) removeStale(ctx context.Context, name string) error {
	info, err := d.api.ContainerInspect(ctx, name)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil
		}
		return err
	}
	if info.State != nil && info.State.Running {
		return fmt.Errorf("unit %s is already running as %s", name, shortID(info.ID))
	}
	if info.Config == nil || info.Config.Labels[LabelPlatform] != "1" || info.Config.Labels[labelPrefix] != d.cfg.Prefix {
		return fmt.Errorf("name %s is taken by a container the platform does not own", name)
	}
	if err := d.api.ContainerRemove(ctx, info.ID, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
		return err
	}
	return nil
}

// Stop implements Runtime.
func (d *Docker) Stop(ctx context.Context, id string, grace time.Duration) error {
	secs := 0
	if grace > 0 {
		secs = int(math.Ceil(grace.Seconds()))
	}
	if err := d.api.ContainerStop(ctx, id, container.StopOptions{Timeout: &secs}); err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("stop unit %s: %w", shortID(id), err)
	}
	if err := d.api.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil
		}
		// A concurrent Stop of the same unit is already removing it.
		if cerrdefs.IsConflict(err) && strings.Contains(err.Error(), "already in progress") {
			return nil
		}
		return fmt.Errorf("remove unit %s: %w", shortID(id), err)
	}
	return nil
}

// Units implements Runtime.
func (d *Docker) Units(ctx context.Context) ([]Unit, error) {
	list, err := d.api.ContainerList(ctx, container.ListOptions{All: true, Filters: d.ownFilters()})
	if err != nil {
		return nil, fmt.Errorf("list units: %w", err)
	}
	out := make([]Unit, 0, len(list))
	for _, c := range list {
		// The listing lacks start time and exit code; inspect each unit.
		info, err := d.api.ContainerInspect(ctx, c.ID)
		if err != nil {
			if cerrdefs.IsNotFound(err) {
				continue // removed since the listing
			}
			return nil, fmt.Errorf("list units: inspect %s: %w", shortID(c.ID), err)
		}
		out = append(out, d.unitFromInspect(info))
	}
	sortUnits(out)
	return out, nil
}

// sortUnits orders units by app, release, index and id.
func sortUnits(out []Unit) {
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.App != b.App {
			return a.App < b.App
		}
		if a.Release != b.Release {
			return a.Release < b.Release
		}
		if a.Index != b.Index {
			return a.Index < b.Index
		}
		return a.ID < b.ID
	})
}

func (d *Docker) unitFromInspect(info container.InspectResponse) Unit {
	u := Unit{ID: info.ID}
	var labels map[string]string
	if info.Config != nil {
		labels = info.Config.Labels
		u.Image = info.Config.Image
	}
	u.App = labels[LabelApp]
	u.Snapshot = labels[LabelSnapshot]
	u.Release = labels[LabelRelease]
	u.Index, _ = strconv.Atoi(labels[LabelUnit])
	if st := info.State; st != nil {
		u.Running = st.Running
		u.ExitCode = st.ExitCode
		if t, err := time.Parse(time.RFC3339Nano, st.StartedAt); err == nil && t.Year() > 1 {
			u.Started = t
		}
	}
	if u.Running && info.NetworkSettings != nil {
		if ep := info.NetworkSettings.Networks[d.cfg.Network]; ep != nil && ep.IPAddress != "" {
			port := labels[labelPort]
			if port == "" {
				port = strconv.Itoa(DefaultPort)
			}
			u.Addr = net.JoinHostPort(ep.IPAddress, port)
		}
	}
	return u
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
