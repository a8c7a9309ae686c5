package runtime

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker/docker/api/types/image"
)

const (
	// DefaultBaseImage is the base real installations build apps FROM; it is
	// pulled from Docker Hub by EnsureImage.
	DefaultBaseImage = "node:20-slim"
	// HostBaseImage is the tag BuildHostBaseImage produces by convention, for
	// tests and CI machines without registry access.
	HostBaseImage = "paas-node:host"
)

// Paths inside the host base image.
const (
	baseNodePath = "/usr/local/bin/node"
	baseNpmDir   = "/usr/local/lib/node_modules/npm"
	baseNpmBin   = "/usr/local/bin/npm"
)

// BuildHostBaseImage builds a minimal Node.js image from the host's own node
// binary, without pulling anything: a rootfs holding node, the shared
// libraries it links (per ldd), the dynamic loader, passwd/group entries for
// user node (1000:1000), /tmp, /app and, when found on the host, npm and the
// CA bundle. It is imported with ImageImport and tagged tag.
//
// The image has no shell: Dockerfiles built on it must use the exec form, as
// Build does. npm works for installing dependencies from a registry, but
// packages with install scripts fail (npm runs them through /bin/sh).
//
// nodePath "" means the node found on PATH.
func BuildHostBaseImage(ctx context.Context, d *Docker, nodePath, tag string, log io.Writer) error {
	if log == nil {
		log = io.Discard
	}
	if tag == "" {
		tag = HostBaseImage
	}
	if nodePath == "" {
		p, err := exec.LookPath("node")
		if err != nil {
			return fmt.Errorf("host base image %s: find node: %w", tag, err)
		}
		nodePath = p
	}
	real, err := filepath.EvalSymlinks(nodePath)
	if err != nil {
		return fmt.Errorf("host base image %s: %w", tag, err)
	}
	libs, err := sharedLibraries(ctx, real)
	if err != nil {
		return fmt.Errorf("host base image %s: %w", tag, err)
	}
	npmDir := findHostNpm(ctx, real)
	if npmDir == "" {
		fmt.Fprintln(log, "npm not found on the host: the image will not support Install builds")
	} else {
		fmt.Fprintf(log, "including npm from %s\n", npmDir)
	}
	fmt.Fprintf(log, "building %s from %s (%d shared libraries)\n", tag, real, len(libs))

	changes := []string{"ENV PATH=/usr/local/bin:/usr/bin:/bin", "WORKDIR /app", `CMD ["node"]`}
	if err := importRootfs(ctx, d, tag, "paas host base image from "+real, changes,
		func(w io.Writer) error { return writeHostRootfs(w, real, libs, npmDir) }, log); err != nil {
		return fmt.Errorf("host base image %s: %w", tag, err)
	}
	return nil
}

// importRootfs imports the tar write produces as tag, then removes the image
// tag named before, so that rebuilding (CI does it each run) does not pile
// up untagged images.
func importRootfs(ctx context.Context, d *Docker, tag, message string, changes []string, write func(io.Writer) error, log io.Writer) error {
	previous, _ := d.api.ImageInspect(ctx, tag)
	pr, pw := io.Pipe()
	defer pr.Close()
	tarErr := make(chan error, 1)
	go func() {
		err := write(pw)
		pw.CloseWithError(err)
		tarErr <- err
	}()
	rc, err := d.api.ImageImport(ctx, image.ImportSource{Source: pr, SourceName: "-"}, tag, image.ImportOptions{Message: message, Changes: changes})
	if err != nil {
		pr.CloseWithError(err)
		<-tarErr
		return fmt.Errorf("import: %w", err)
	}
	importErr := copyPullProgress(ctx, rc, log)
	rc.Close()
	pr.Close()
	if err := <-tarErr; err != nil && !errors.Is(err, io.ErrClosedPipe) {
		return fmt.Errorf("rootfs: %w", err)
	}
	if importErr != nil {
		return fmt.Errorf("import: %w", importErr)
	}
	now, err := d.api.ImageInspect(ctx, tag)
	if err != nil {
		return fmt.Errorf("image missing after import: %w", err)
	}
	if previous.ID != "" && previous.ID != now.ID {
		// Not forced: an old image a container still runs (or builds on) stays.
		if _, err := d.api.ImageRemove(ctx, previous.ID, image.RemoveOptions{PruneChildren: true}); err == nil {
			fmt.Fprintf(log, "removed the previous %s (%s)\n", tag, shortID(previous.ID))
		}
	}
	return nil
}

// sharedLibraries returns the absolute paths ldd reports for bin, the dynamic
// loader included; a statically linked binary has none.
func sharedLibraries(ctx context.Context, bin string) ([]string, error) {
	out, err := exec.CommandContext(ctx, "ldd", bin).CombinedOutput()
	text := string(out)
	if strings.Contains(text, "not a dynamic executable") || strings.Contains(text, "statically linked") {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w: %s", bin, err, strings.TrimSpace(text))
	}
	var libs []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		// "libc.so.6 => /lib/.../libc.so.6 (0x…)", "/lib64/ld-linux….so.2 (0x…)",
		// "linux-vdso.so.1 (0x…)" (kernel-provided, no file).
		if name, target, ok := strings.Cut(line, "=>"); ok {
			target = strings.TrimSpace(target)
			if strings.HasPrefix(target, "not found") {
				return nil, fmt.Errorf("ldd %s: %s not found", bin, strings.TrimSpace(name))
			}
			line = target
		}
		p, _, _ := strings.Cut(line, " (")
		p = strings.TrimSpace(p)
		if strings.HasPrefix(p, "/") {
			libs = append(libs, p)
		}
	}
	return libs, nil
}

// findHostNpm locates the npm package directory next to the node binary or
// in the usual distribution places; "" when there is none.
func findHostNpm(ctx context.Context, node string) string {
	var candidates []string
	// Works when npm is resolvable from node's own module paths.
	if out, err := exec.CommandContext(ctx, node, "-p", "require.resolve('npm/package.json')").Output(); err == nil {
		candidates = append(candidates, filepath.Dir(strings.TrimSpace(string(out))))
	}
	if p, err := exec.LookPath("npm"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			// .../node_modules/npm/bin/npm-cli.js
			candidates = append(candidates, filepath.Dir(filepath.Dir(real)))
		}
	}
	candidates = append(candidates,
		filepath.Join(filepath.Dir(filepath.Dir(node)), "lib", "node_modules", "npm"),
		"/usr/lib/node_modules/npm",
		"/usr/local/lib/node_modules/npm",
		"/usr/share/nodejs/npm",
	)
	for _, c := range candidates {
		if st, err := os.Stat(filepath.Join(c, "bin", "npm-cli.js")); err == nil && st.Mode().IsRegular() {
			return c
		}
	}
	return ""
}

const hostPasswd = `root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
node:x:1000:1000:node:/home/node:/sbin/nologin
`

const hostGroup = `root:x:0:
nogroup:x:65534:
node:x:1000:
`

const hostNsswitch = `passwd: files
group: files
hosts: files dns
`

// The image has no /usr/bin/env, so npm's own "#!/usr/bin/env node" entry
// point cannot be exec'd directly; this wrapper names node by path.
const npmWrapper = "#!" + baseNodePath + "\nrequire('" + baseNpmDir + "/bin/npm-cli.js')\n"

func writeHostRootfs(w io.Writer, node string, libs []string, npmDir string) error {
	r := &rootfsWriter{tw: tar.NewWriter(w), seen: map[string]bool{}, now: time.Now()}
	for _, dir := range []struct {
		path     string
		mode     int64
		uid, gid int
	}{
		{"/etc", 0o755, 0, 0},
		{"/tmp", 0o1777, 0, 0},
		{"/app", 0o755, 0, 0},
		{"/root", 0o700, 0, 0},
		{"/home", 0o755, 0, 0},
		{"/home/node", 0o755, 1000, 1000},
		{"/usr", 0o755, 0, 0},
		{"/usr/local", 0o755, 0, 0},
		{"/usr/local/bin", 0o755, 0, 0},
	} {
		if err := r.dir(dir.path, dir.mode, dir.uid, dir.gid); err != nil {
			return err
		}
	}
	for name, body := range map[string]string{
		"/etc/passwd":        hostPasswd,
		"/etc/group":         hostGroup,
		"/etc/nsswitch.conf": hostNsswitch,
	} {
		if err := r.bytes(name, 0o644, []byte(body)); err != nil {
			return err
		}
	}
	if err := r.hostFile(node, baseNodePath, 0o755); err != nil {
		return err
	}
	for _, lib := range libs {
		if err := r.hostPath(lib); err != nil {
			return fmt.Errorf("library %s: %w", lib, err)
		}
	}
	// Optional: node carries its own CA store, but npm and apps honouring
	// SSL_CERT_FILE/OpenSSL defaults look here.
	const caBundle = "/etc/ssl/certs/ca-certificates.crt"
	if _, err := os.Stat(caBundle); err == nil {
		if err := r.hostFile(caBundle, caBundle, 0o644); err != nil {
			return err
		}
	}
	if npmDir != "" {
		if err := r.hostTree(npmDir, baseNpmDir); err != nil {
			return fmt.Errorf("npm: %w", err)
		}
		if err := r.bytes(baseNpmBin, 0o755, []byte(npmWrapper)); err != nil {
			return err
		}
	}
	return r.tw.Close()
}

// rootfsWriter writes a rootfs tar, creating parent directories on demand
// and each path at most once.
type rootfsWriter struct {
	tw   *tar.Writer
	seen map[string]bool
	now  time.Time
}

func (r *rootfsWriter) parents(p string) error {
	dir := path.Dir(p)
	if dir == "/" || dir == "." || r.seen[dir] {
		return nil
	}
	return r.dir(dir, 0o755, 0, 0)
}

func (r *rootfsWriter) dir(p string, mode int64, uid, gid int) error {
	if r.seen[p] {
		return nil
	}
	if err := r.parents(p); err != nil {
		return err
	}
	r.seen[p] = true
	return r.tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(p, "/") + "/", Mode: mode, Uid: uid, Gid: gid, ModTime: r.now, Typeflag: tar.TypeDir})
}

func (r *rootfsWriter) bytes(p string, mode int64, body []byte) error {
	if err := r.parents(p); err != nil {
		return err
	}
	r.seen[p] = true
	if err := r.tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(p, "/"), Mode: mode, Size: int64(len(body)), ModTime: r.now, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	_, err := r.tw.Write(body)
	return err
}

func (r *rootfsWriter) symlink(p, target string) error {
	if r.seen[p] {
		return nil
	}
	if err := r.parents(p); err != nil {
		return err
	}
	r.seen[p] = true
	return r.tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(p, "/"), Linkname: target, Mode: 0o777, ModTime: r.now, Typeflag: tar.TypeSymlink})
}

// hostFile copies the regular file src (symlinks followed) to dst.
func (r *rootfsWriter) hostFile(src, dst string, mode int64) error {
	if r.seen[dst] {
		return nil
	}
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", src)
	}
	if mode == 0 {
		mode = int64(st.Mode().Perm())
	}
	if err := r.parents(dst); err != nil {
		return err
	}
	r.seen[dst] = true
	if err := r.tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(dst, "/"), Mode: mode, Size: st.Size(), ModTime: st.ModTime(), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	n, err := io.Copy(r.tw, f)
	if err == nil && n != st.Size() {
		err = fmt.Errorf("%s changed while copying", src)
	}
	return err
}

// hostPath reproduces the host path p at the same place in the image,
// resolving it one component at a time so that every symlink on the way
// (/lib -> usr/lib on merged-/usr systems, libc.so.6 -> libc-2.x.so on older
// ones, the loader's own link) exists in the image exactly as on the host.
func (r *rootfsWriter) hostPath(p string) error {
	for hops := 0; hops < 40; hops++ {
		p = path.Clean(p)
		parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
		cur := ""
		restart := false
		for i, part := range parts {
			cur += "/" + part
			st, err := os.Lstat(cur)
			if err != nil {
				return err
			}
			last := i == len(parts)-1
			switch {
			case st.Mode()&fs.ModeSymlink != 0:
				target, err := os.Readlink(cur)
				if err != nil {
					return err
				}
				if err := r.symlink(cur, target); err != nil {
					return err
				}
				if !path.IsAbs(target) {
					target = path.Join(path.Dir(cur), target)
				}
				p = path.Join(append([]string{target}, parts[i+1:]...)...)
				restart = true
			case st.IsDir():
				if last {
					return fmt.Errorf("%s is a directory", cur)
				}
				if err := r.dir(cur, int64(st.Mode().Perm()), 0, 0); err != nil {
					return err
				}
			case last && st.Mode().IsRegular():
				return r.hostFile(cur, cur, 0)
			default:
				return fmt.Errorf("%s: unsupported file type", cur)
			}
			if restart {
				break
			}
		}
		if !restart {
			return nil
		}
	}
	return fmt.Errorf("%s: too many levels of symbolic links", p)
}

// hostTree copies the directory src to dst, keeping symlinks as links.
func (r *rootfsWriter) hostTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := path.Join(dst, filepath.ToSlash(rel))
		info, err := de.Info()
		if err != nil {
			return err
		}
		switch mode := info.Mode(); {
		case mode.IsDir():
			return r.dir(target, 0o755, 0, 0)
		case mode&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return r.symlink(target, link)
		case mode.IsRegular():
			perm := int64(0o644)
			if mode&0o111 != 0 {
				perm = 0o755
			}
			return r.hostFile(p, target, perm)
		default:
			return nil // sockets, fifos: nothing npm needs
		}
	})
}
