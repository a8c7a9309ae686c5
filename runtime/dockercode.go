package runtime

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/pkg/stdcopy"
)

// A snapshot's code lives in a Docker volume of its own, filled once by
// copying its files into a created, never started helper container that
// mounts it; units of the base image mount it read-only at /app. Nothing is
// built: preparing costs a volume, a container create, one copy and a
// container removal, and a unit starts as fast as a bare `docker run`.
//
// Installed dependencies live in a second volume per (app, deps key),
// mounted at /app/node_modules: `npm install` runs once per key, in a
// hardened install container, and later snapshots with the same key reuse
// it.
//
// A volume is complete once its helper container is gone: the helper is
// removed only after the copy (and the install) succeeded, so a crash in
// between leaves it behind, and CollectIncomplete removes both.

// Private labels of code volumes and their helpers.
const (
	labelKind    = "paas.kind" // on volumes: KindCode or KindDeps; on containers: "helper" or "install"
	labelDepsKey = "paas.deps"
	labelVolume  = "paas.volume" // on helpers: the volume they fill
)

// Kinds of prepared volumes.
const (
	KindCode = "code"
	KindDeps = "deps"
)

// installLimits bound the dependency install step, which runs the app's
// own install scripts.
var installLimits = Limits{MemoryBytes: 1 << 30, NanoCPUs: 1_000_000_000, Pids: 512}

// installNetwork is where the install step runs: the engine's default
// bridge, which reaches the npm registry but not the platform network's
// units.
const installNetwork = "bridge"

// installTimeout bounds one npm install.
const installTimeout = 10 * time.Minute

// codeVolume and depsVolume name the volumes of one snapshot and of one
// app's dependency key.
func codeVolume(prefix, app, snapshot string) string {
	return sanitizeComponent(prefix, 30) + "-code-" + sanitizeComponent(app, 80) + "-" +
		sanitizeComponent(snapshot, 60) + "-" + shortHash(prefix, "code", app, snapshot)
}

func depsVolume(prefix, app, key string) string {
	return sanitizeComponent(prefix, 30) + "-deps-" + sanitizeComponent(app, 80) + "-" + shortHash(prefix, "deps", app, key)
}

// Prepare implements Runtime.
func (d *Docker) Prepare(ctx context.Context, spec CodeSpec, log io.Writer) (Prepared, error) {
	if log == nil {
		log = io.Discard
	}
	if err := validateCodeSpec(spec); err != nil {
		return Prepared{}, fmt.Errorf("prepare %s@%s: %w", spec.App, spec.Snapshot, err)
	}
	out := Prepared{Code: codeVolume(d.cfg.Prefix, spec.App, spec.Snapshot)}
	if spec.Install {
		out.Deps = depsVolume(d.cfg.Prefix, spec.App, spec.DepsKey)
	}
	if ok, err := d.ImageExists(ctx, spec.BaseImage); err != nil {
		return Prepared{}, fmt.Errorf("prepare %s: %w", out.Code, err)
	} else if !ok {
		return Prepared{}, fmt.Errorf("prepare %s: base image %s: %w (run EnsureImage first)", out.Code, spec.BaseImage, ErrNotFound)
	}
	// One preparation per volume at a time in this process; other
	// processes have their own prefix and so their own volumes.
	unlock := d.lockVolume(out.Code)
	defer unlock()
	if !spec.Install && d.hostDirUsable(ctx, spec.BaseImage) {
		// Code that npm must not write to can be written here directly.
		if ok, err := d.hostDirComplete(ctx, out.Code); err != nil {
			return Prepared{}, err
		} else if ok {
			fmt.Fprintf(log, "code of snapshot %s already prepared\n", spec.Snapshot)
			return out, nil
		}
		start := time.Now()
		if err := d.prepareHostDir(ctx, spec, out.Code, log); err != nil {
			return Prepared{}, err
		}
		fmt.Fprintf(log, "prepared the code of snapshot %s in %s\n", spec.Snapshot, time.Since(start).Round(time.Millisecond))
		return out, nil
	}
	if ok, err := d.volumeComplete(ctx, out.Code); err != nil {
		return Prepared{}, fmt.Errorf("prepare %s: %w", out.Code, err)
	} else if ok && !spec.Install {
		fmt.Fprintf(log, "code of snapshot %s already prepared\n", spec.Snapshot)
		return out, nil
	} else if ok {
		// The code is there; the dependencies may be too.
		if err := d.prepareDeps(ctx, spec, out, log); err != nil {
			return Prepared{}, err
		}
		return out, nil
	}
	start := time.Now()
	labels := d.volumeLabels(KindCode, spec.App, map[string]string{LabelSnapshot: spec.Snapshot})
	if _, err := d.api.VolumeCreate(ctx, volume.CreateOptions{Name: out.Code, Labels: labels}); err != nil {
		return Prepared{}, fmt.Errorf("prepare %s: create volume: %w", out.Code, err)
	}
	helper, err := d.createHelper(ctx, spec.BaseImage, out.Code, spec.App, []mount.Mount{codeMount(out.Code, false)})
	if err != nil {
		return Prepared{}, fmt.Errorf("prepare %s: %w", out.Code, err)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeCodeTar(pw, spec.Files, spec.Install, log)) }()
	err = d.api.CopyToContainer(ctx, helper, "/", pr, container.CopyToContainerOptions{})
	pr.CloseWithError(err) // unblocks the writer if the engine stopped reading
	if err != nil {
		return Prepared{}, fmt.Errorf("prepare %s: copy files: %w", out.Code, err)
	}
	if spec.Install {
		if err := d.prepareDeps(ctx, spec, out, log); err != nil {
			return Prepared{}, err
		}
	}
	// The commit point: with the helper gone the volume counts as complete.
	if err := d.removeContainer(ctx, helper); err != nil {
		return Prepared{}, fmt.Errorf("prepare %s: %w", out.Code, err)
	}
	fmt.Fprintf(log, "prepared the code of snapshot %s in %s\n", spec.Snapshot, time.Since(start).Round(time.Millisecond))
	return out, nil
}

// prepareDeps installs the dependencies of spec into out.Deps once: a
// complete deps volume of the same key is reused as it is.
func (d *Docker) prepareDeps(ctx context.Context, spec CodeSpec, out Prepared, log io.Writer) error {
	unlock := d.lockVolume(out.Deps)
	defer unlock()
	if ok, err := d.volumeComplete(ctx, out.Deps); err != nil {
		return fmt.Errorf("prepare %s: %w", out.Deps, err)
	} else if ok {
		fmt.Fprintf(log, "dependencies already installed for this package.json and lockfile (reused)\n")
		return nil
	}
	labels := d.volumeLabels(KindDeps, spec.App, map[string]string{labelDepsKey: spec.DepsKey})
	if _, err := d.api.VolumeCreate(ctx, volume.CreateOptions{Name: out.Deps, Labels: labels}); err != nil {
		return fmt.Errorf("prepare %s: create volume: %w", out.Deps, err)
	}
	// The helper marks the deps volume incomplete until the install is done.
	helper, err := d.createHelper(ctx, spec.BaseImage, out.Deps, spec.App, []mount.Mount{depsMount(out.Deps, false)})
	if err != nil {
		return fmt.Errorf("prepare %s: %w", out.Deps, err)
	}
	// The volume's root belongs to root; the install runs as the unit user.
	if err := d.api.CopyToContainer(ctx, helper, "/app", ownedDirTar("node_modules"), container.CopyToContainerOptions{}); err != nil {
		return fmt.Errorf("prepare %s: %w", out.Deps, err)
	}
	if err := d.install(ctx, spec, out, log); err != nil {
		return err
	}
	return d.removeContainer(ctx, helper)
}

// install runs `npm install --omit=dev` for spec in a container as
// hardened as a unit (non-root, no capabilities, read-only root, limits),
// with the code and the deps volume writable, on the default bridge so it
// can reach the registry. Its output goes to log.
func (d *Docker) install(ctx context.Context, spec CodeSpec, out Prepared, log io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, installTimeout)
	defer cancel()
	env := []string{"HOME=/tmp", "npm_config_cache=/tmp/.npm", "npm_config_update_notifier=false"}
	keys := make([]string, 0, len(spec.Env))
	for k := range spec.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+spec.Env[k])
	}
	labels := d.volumeLabels("install", spec.App, map[string]string{LabelSnapshot: spec.Snapshot, labelVolume: out.Deps})
	cfg := &container.Config{Image: spec.BaseImage, User: unitUser, WorkingDir: "/app", Env: env, Labels: labels,
		Cmd: []string{"npm", "install", "--omit=dev", "--no-audit", "--no-fund"}}
	useInit := !d.noInit.Load()
	pids := installLimits.Pids
	host := &container.HostConfig{
		Init: &useInit, NetworkMode: installNetwork,
		CapDrop: []string{"ALL"}, SecurityOpt: []string{"no-new-privileges:true"},
		ReadonlyRootfs: true,
		Tmpfs:          map[string]string{"/tmp": "rw,nosuid,nodev,size=512m,mode=1777"},
		Mounts:         []mount.Mount{codeMount(out.Code, false), depsMount(out.Deps, false)},
		Resources: container.Resources{Memory: installLimits.MemoryBytes, MemorySwap: installLimits.MemoryBytes,
			NanoCPUs: installLimits.NanoCPUs, PidsLimit: &pids},
	}
	fmt.Fprintf(log, "installing dependencies: npm install --omit=dev\n")
	created, err := d.api.ContainerCreate(ctx, cfg, host, &network.NetworkingConfig{}, nil, "")
	if err != nil {
		return fmt.Errorf("install dependencies: create: %w", err)
	}
	defer func() { _ = d.removeContainer(ctx, created.ID) }()
	waitC, waitErr := d.api.ContainerWait(ctx, created.ID, container.WaitConditionNextExit)
	if err := d.api.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		return fmt.Errorf("install dependencies: start: %w", err)
	}
	if rc, err := d.api.ContainerLogs(ctx, created.ID, container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: true}); err == nil {
		_, _ = stdcopy.StdCopy(log, log, rc)
		rc.Close()
	}
	select {
	case res := <-waitC:
		if res.Error != nil {
			return fmt.Errorf("install dependencies: %s", res.Error.Message)
		}
		if res.StatusCode != 0 {
			return fmt.Errorf("npm install exited with code %d", res.StatusCode)
		}
	case err := <-waitErr:
		return fmt.Errorf("install dependencies: %w", err)
	case <-ctx.Done():
		return fmt.Errorf("install dependencies: %w", ctx.Err())
	}
	return nil
}

// createHelper creates (never starts) the container whose mounts a copy
// fills. It is labelled with the volume, so a helper left by a crash
// identifies the incomplete volume.
func (d *Docker) createHelper(ctx context.Context, base, vol, app string, mounts []mount.Mount) (string, error) {
	cfg := &container.Config{Image: base, Labels: d.volumeLabels("helper", app, map[string]string{labelVolume: vol}),
		Cmd: []string{"/bin/false"}, NetworkDisabled: true}
	host := &container.HostConfig{Mounts: mounts, NetworkMode: "none"}
	created, err := d.api.ContainerCreate(ctx, cfg, host, nil, nil, "")
	if err != nil {
		return "", fmt.Errorf("create helper: %w", err)
	}
	return created.ID, nil
}

func (d *Docker) removeContainer(ctx context.Context, id string) error {
	// A cancelled caller still must not leave the helper behind.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := d.api.ContainerRemove(ctx, id, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove helper %s: %w", shortID(id), err)
	}
	return nil
}

func (d *Docker) volumeLabels(kind, app string, extra map[string]string) map[string]string {
	l := map[string]string{LabelPlatform: "1", labelPrefix: d.cfg.Prefix, labelKind: kind, LabelApp: app}
	for k, v := range extra {
		l[k] = v
	}
	return l
}

// volumeComplete reports whether vol exists with no helper still filling it.
func (d *Docker) volumeComplete(ctx context.Context, vol string) (bool, error) {
	if _, err := d.api.VolumeInspect(ctx, vol); err != nil {
		if cerrdefs.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("inspect volume %s: %w", vol, err)
	}
	helpers, err := d.helpersOf(ctx, vol)
	if err != nil {
		return false, err
	}
	if len(helpers) == 0 {
		return true, nil
	}
	// Left by an interrupted preparation (this process holds the lock, so
	// it is no live one): start over.
	for _, h := range helpers {
		if err := d.removeContainer(ctx, h); err != nil {
			return false, err
		}
	}
	if err := d.api.VolumeRemove(ctx, vol, true); err != nil && !cerrdefs.IsNotFound(err) {
		return false, fmt.Errorf("remove incomplete volume %s: %w", vol, err)
	}
	return false, nil
}

// helpersOf lists the helper and install containers of vol ("" : all of this runtime's).
func (d *Docker) helpersOf(ctx context.Context, vol string) ([]string, error) {
	f := filters.NewArgs(filters.Arg("label", LabelPlatform+"=1"), filters.Arg("label", labelPrefix+"="+d.cfg.Prefix),
		filters.Arg("label", labelVolume))
	if vol != "" {
		f = filters.NewArgs(filters.Arg("label", LabelPlatform+"=1"), filters.Arg("label", labelPrefix+"="+d.cfg.Prefix),
			filters.Arg("label", labelVolume+"="+vol))
	}
	list, err := d.api.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list helpers: %w", err)
	}
	ids := make([]string, 0, len(list))
	for _, c := range list {
		ids = append(ids, c.ID)
	}
	return ids, nil
}

// lockVolume serializes preparations of one volume in this process.
func (d *Docker) lockVolume(vol string) func() {
	d.volMu.Lock()
	if d.volLocks == nil {
		d.volLocks = map[string]*sync.Mutex{}
	}
	l := d.volLocks[vol]
	if l == nil {
		l = &sync.Mutex{}
		d.volLocks[vol] = l
	}
	d.volMu.Unlock()
	l.Lock()
	return l.Unlock
}

// RemoveCode implements Runtime.
func (d *Docker) RemoveCode(ctx context.Context, ref string) error {
	unlock := d.lockVolume(ref)
	defer unlock()
	helpers, err := d.helpersOf(ctx, ref)
	if err != nil {
		return err
	}
	for _, h := range helpers {
		if err := d.removeContainer(ctx, h); err != nil {
			return err
		}
	}
	dir := ""
	if v, err := d.api.VolumeInspect(ctx, ref); err == nil {
		dir = v.Labels[labelHostDir]
	}
	if err := d.api.VolumeRemove(ctx, ref, true); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove volume %s: %w", ref, err)
	}
	if dir != "" {
		return d.removeHostDir(dir)
	}
	return nil
}

// Codes implements Runtime.
func (d *Docker) Codes(ctx context.Context) ([]Code, error) {
	resp, err := d.api.VolumeList(ctx, volume.ListOptions{Filters: d.ownFilters()})
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	out := make([]Code, 0, len(resp.Volumes))
	for _, v := range resp.Volumes {
		if v == nil {
			continue
		}
		out = append(out, Code{Ref: v.Name, Kind: v.Labels[labelKind], App: v.Labels[LabelApp],
			Snapshot: v.Labels[LabelSnapshot], DepsKey: v.Labels[labelDepsKey]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref < out[j].Ref })
	return out, nil
}

// CollectIncomplete removes what interrupted preparations left: their
// helper and install containers, the volumes those were filling, and
// directories under CodeDir that no volume is over.
// Meant for the start of a process, when no preparation of its own runs.
func (d *Docker) CollectIncomplete(ctx context.Context) error {
	helpers, err := d.helpersOf(ctx, "")
	if err != nil {
		return err
	}
	var errs []error
	for _, h := range helpers {
		info, err := d.api.ContainerInspect(ctx, h)
		if err != nil {
			continue
		}
		vol := ""
		if info.Config != nil {
			vol = info.Config.Labels[labelVolume]
		}
		errs = append(errs, d.removeContainer(ctx, h))
		if vol != "" {
			if err := d.api.VolumeRemove(ctx, vol, true); err != nil && !cerrdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("remove incomplete volume %s: %w", vol, err))
			}
		}
	}
	errs = append(errs, d.collectHostDirs(ctx))
	return errors.Join(errs...)
}

func codeMount(vol string, readOnly bool) mount.Mount {
	return mount.Mount{Type: mount.TypeVolume, Source: vol, Target: "/app", ReadOnly: readOnly,
		VolumeOptions: &mount.VolumeOptions{NoCopy: true}}
}

func depsMount(vol string, readOnly bool) mount.Mount {
	return mount.Mount{Type: mount.TypeVolume, Source: vol, Target: "/app/node_modules", ReadOnly: readOnly,
		VolumeOptions: &mount.VolumeOptions{NoCopy: true}}
}

func validateCodeSpec(spec CodeSpec) error {
	switch {
	case spec.App == "" || spec.Snapshot == "":
		return errors.New("app and snapshot are required")
	case spec.BaseImage == "" || hasControl(spec.BaseImage):
		return errors.New("a base image is required")
	case spec.Files == nil:
		return errors.New("no files")
	case spec.Install && spec.DepsKey == "":
		return errors.New("an install needs a dependency key")
	}
	return nil
}

// ownedDirTar is a tar of one directory owned by the unit user.
func ownedDirTar(name string) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := tw.WriteHeader(&tar.Header{Name: name + "/", Mode: 0o755, Uid: unitUID, Gid: unitUID, Typeflag: tar.TypeDir, ModTime: time.Now()})
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr
}

// writeCodeTar streams files as a tar for /app. Files and directories are
// root's when the code is only read (units cannot change their own code);
// with an install they are the unit user's, since npm writes beside them
// (package-lock.json) and into node_modules, whose mount point it creates.
func writeCodeTar(w io.Writer, files fs.FS, install bool, log io.Writer) error {
	tw := tar.NewWriter(w)
	uid := 0
	if install {
		uid = unitUID
	}
	// The archive is extracted at / so that its first entry, app/, is the
	// volume's root itself, and gets the owner of the rest.
	if err := tw.WriteHeader(&tar.Header{Name: "app/", Mode: 0o755, Uid: uid, Gid: uid, ModTime: time.Now(), Typeflag: tar.TypeDir}); err != nil {
		return err
	}
	if err := writeTarTree(tw, files, "app/", uid, log); err != nil {
		return err
	}
	if _, err := fs.Stat(files, "node_modules"); install && err != nil {
		// The mount point of the deps volume: /app is read-only in units.
		if err := tw.WriteHeader(&tar.Header{Name: "app/node_modules/", Mode: 0o755, Uid: uid, Gid: uid, ModTime: time.Now(), Typeflag: tar.TypeDir}); err != nil {
			return err
		}
	}
	return tw.Close()
}

// writeTarTree writes every entry of files into tw under prefix, owned by
// uid: directories 0755, files 0644 (0755 when executable), symlinks kept
// as links and never followed (following could copy files from outside
// the app directory), anything else skipped with a line on log.
func writeTarTree(tw *tar.Writer, files fs.FS, prefix string, uid int, log io.Writer) error {
	return fs.WalkDir(files, ".", func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		info, err := de.Info()
		if err != nil {
			return err
		}
		name := prefix + p
		switch mode := info.Mode(); {
		case mode.IsDir():
			return tw.WriteHeader(&tar.Header{Name: name + "/", Mode: 0o755, Uid: uid, Gid: uid, ModTime: info.ModTime(), Typeflag: tar.TypeDir})
		case mode&fs.ModeSymlink != 0:
			target, err := fs.ReadLink(files, p)
			if err != nil {
				fmt.Fprintf(log, "skipping symlink %s: %v\n", p, err)
				return nil
			}
			return tw.WriteHeader(&tar.Header{Name: name, Linkname: target, Mode: 0o777, Uid: uid, Gid: uid, ModTime: info.ModTime(), Typeflag: tar.TypeSymlink})
		case mode.IsRegular():
			perm := int64(0o644)
			if mode&0o111 != 0 {
				perm = 0o755
			}
			f, err := files.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := tw.WriteHeader(&tar.Header{Name: name, Mode: perm, Size: info.Size(), Uid: uid, Gid: uid, ModTime: info.ModTime(), Typeflag: tar.TypeReg}); err != nil {
				return err
			}
			if _, err := io.Copy(tw, f); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			return nil
		default:
			fmt.Fprintf(log, "skipping %s: not a regular file\n", p)
			return nil
		}
	})
}
