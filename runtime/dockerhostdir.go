package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/volume"
)

// The fast way to prepare code, when the engine runs on this host: the
// files are written straight into a directory under DockerConfig.CodeDir,
// and the volume is a local bind volume over it. No container is created
// and nothing is copied through the engine, which on slow storage drivers
// costs more than starting the unit itself. The directory is complete once
// it has its final name (written under a temporary one, then renamed), and
// the volume exists only over a complete directory.

// labelHostDir marks a bind-backed code volume with its directory.
const labelHostDir = "paas.hostdir"

// hostDirUsable reports, once per runtime, whether the engine sees files
// this process writes under CodeDir: a probe file is written, and a
// created (never started) container mounting a bind volume over it must
// see it. A remote engine, or one in a VM without this directory, does not.
func (d *Docker) hostDirUsable(ctx context.Context, base string) bool {
	if d.cfg.CodeDir == "" || !filepath.IsAbs(d.cfg.CodeDir) {
		return false
	}
	d.hostDirOnce.Do(func() {
		d.hostDirOK = d.probeHostDir(ctx, base) == nil
	})
	return d.hostDirOK
}

func (d *Docker) probeHostDir(ctx context.Context, base string) error {
	if err := os.MkdirAll(d.cfg.CodeDir, 0o755); err != nil {
		return err
	}
	dir, err := os.MkdirTemp(d.cfg.CodeDir, ".probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "probe"), []byte("ok"), 0o644); err != nil {
		return err
	}
	name := sanitizeComponent(d.cfg.Prefix, 30) + "-probe-" + filepath.Base(dir)[len(".probe-"):]
	if _, err := d.api.VolumeCreate(ctx, volume.CreateOptions{Name: strings.ToLower(name), Driver: "local",
		DriverOpts: map[string]string{"type": "none", "o": "bind", "device": dir},
		Labels:     map[string]string{LabelPlatform: "1", labelPrefix: d.cfg.Prefix, labelKind: "probe"}}); err != nil {
		return err
	}
	defer d.api.VolumeRemove(context.WithoutCancel(ctx), strings.ToLower(name), true)
	created, err := d.api.ContainerCreate(ctx, &container.Config{Image: base, Cmd: []string{"/bin/false"}, NetworkDisabled: true,
		Labels: map[string]string{LabelPlatform: "1", labelPrefix: d.cfg.Prefix, labelKind: "probe"}},
		&container.HostConfig{NetworkMode: "none", Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: strings.ToLower(name), Target: "/probe", ReadOnly: true}}},
		nil, nil, "")
	if err != nil {
		return err
	}
	defer d.removeContainer(ctx, created.ID)
	st, err := d.api.ContainerStatPath(ctx, created.ID, "/probe/probe")
	if err != nil {
		return err
	}
	if st.Size != 2 {
		return errors.New("the engine sees another file than this host wrote")
	}
	return nil
}

// prepareHostDir writes spec's files under CodeDir and creates the bind
// volume over them.
func (d *Docker) prepareHostDir(ctx context.Context, spec CodeSpec, vol string, log io.Writer) error {
	dir := filepath.Join(d.cfg.CodeDir, vol)
	labels := d.volumeLabels(KindCode, spec.App, map[string]string{LabelSnapshot: spec.Snapshot, labelHostDir: dir})
	if _, err := os.Stat(dir); err != nil {
		tmp, err := os.MkdirTemp(d.cfg.CodeDir, ".tmp-"+vol+"-")
		if err != nil {
			return fmt.Errorf("prepare %s: %w", vol, err)
		}
		defer os.RemoveAll(tmp) // a no-op once renamed
		if err := os.Chmod(tmp, 0o755); err != nil {
			return fmt.Errorf("prepare %s: %w", vol, err)
		}
		if err := writeTree(filepath.Join(tmp, "app"), spec.Files, log); err != nil {
			return fmt.Errorf("prepare %s: write files: %w", vol, err)
		}
		if err := os.Rename(tmp, dir); err != nil {
			return fmt.Errorf("prepare %s: %w", vol, err)
		}
	}
	_, err := d.api.VolumeCreate(ctx, volume.CreateOptions{Name: vol, Driver: "local", Labels: labels,
		DriverOpts: map[string]string{"type": "none", "o": "bind", "device": filepath.Join(dir, "app")}})
	if err != nil {
		return fmt.Errorf("prepare %s: create volume: %w", vol, err)
	}
	return nil
}

// hostDirComplete reports whether vol is a complete bind-backed volume;
// a volume whose directory is gone is removed (and prepared again).
func (d *Docker) hostDirComplete(ctx context.Context, vol string) (bool, error) {
	v, err := d.api.VolumeInspect(ctx, vol)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("inspect volume %s: %w", vol, err)
	}
	dir := v.Labels[labelHostDir]
	if dir == "" {
		return false, nil // an engine volume: the copy path's to judge
	}
	if _, err := os.Stat(dir); err == nil {
		return true, nil
	}
	if err := d.api.VolumeRemove(ctx, vol, true); err != nil && !cerrdefs.IsNotFound(err) {
		return false, fmt.Errorf("remove volume %s without its files: %w", vol, err)
	}
	return false, nil
}

// removeHostDir removes the files behind a bind-backed volume already removed.
func (d *Docker) removeHostDir(dir string) error {
	if d.cfg.CodeDir == "" || filepath.Dir(dir) != filepath.Clean(d.cfg.CodeDir) {
		return nil // not ours to remove
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return nil
}

// collectHostDirs removes directories under CodeDir that no volume is
// over: interrupted writes (temporary names) and leftovers of volumes
// removed by hand.
func (d *Docker) collectHostDirs(ctx context.Context) error {
	if d.cfg.CodeDir == "" {
		return nil
	}
	entries, err := os.ReadDir(d.cfg.CodeDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	codes, err := d.Codes(ctx)
	if err != nil {
		return err
	}
	used := map[string]bool{}
	for _, c := range codes {
		used[c.Ref] = true
	}
	var errs []error
	for _, e := range entries {
		if !e.IsDir() || used[e.Name()] {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) < time.Second && strings.HasPrefix(e.Name(), ".tmp-") {
			continue // being written right now by a preparation of this process
		}
		errs = append(errs, os.RemoveAll(filepath.Join(d.cfg.CodeDir, e.Name())))
	}
	return errors.Join(errs...)
}

// writeTree writes files under dir: directories 0755, files 0644 (0755
// when executable), symlinks kept as links; everything readable by the
// unit user, nothing writable by it.
func writeTree(dir string, files fs.FS, log io.Writer) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	return fs.WalkDir(files, ".", func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		dst := filepath.Join(dir, filepath.FromSlash(p))
		info, err := de.Info()
		if err != nil {
			return err
		}
		switch mode := info.Mode(); {
		case mode.IsDir():
			if err := os.Mkdir(dst, 0o755); err != nil {
				return err
			}
			return os.Chmod(dst, 0o755) // whatever the umask
		case mode&fs.ModeSymlink != 0:
			target, err := fs.ReadLink(files, p)
			if err != nil {
				fmt.Fprintf(log, "skipping symlink %s: %v\n", p, err)
				return nil
			}
			return os.Symlink(target, dst)
		case mode.IsRegular():
			perm := fs.FileMode(0o644)
			if mode&0o111 != 0 {
				perm = 0o755
			}
			data, err := fs.ReadFile(files, p)
			if err != nil {
				return err
			}
			if err := os.WriteFile(dst, data, perm); err != nil {
				return err
			}
			return os.Chmod(dst, perm)
		default:
			fmt.Fprintf(log, "skipping %s: not a regular file\n", p)
			return nil
		}
	})
}
