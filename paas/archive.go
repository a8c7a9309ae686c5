package paas

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"
)

// File is one file of a snapshot, addressed by the SHA-1 of its content
// (the same id the now API gives files).
type File struct {
	Path string `json:"path"`
	SHA1 string `json:"sha"`
	Size int64  `json:"size"`
	Mode int64  `json:"mode"`
}

// ArchiveFile is a file read from an uploaded archive, with its content:
// in Data, or, for an archive read with a spool, in the spool file.
type ArchiveFile struct {
	File
	Data  []byte
	spool *os.File
	off   int64
}

// Content returns the file's bytes.
func (f ArchiveFile) Content() ([]byte, error) {
	if f.spool == nil {
		return f.Data, nil
	}
	b := make([]byte, f.Size)
	if _, err := f.spool.ReadAt(b, f.off); err != nil {
		return nil, fmt.Errorf("read %s from the upload spool: %w", f.Path, err)
	}
	return b, nil
}

// Spool is the temporary file an upload's contents are written to while
// the archive is checked, so what an upload costs in memory does not grow
// with what it unpacks to (a few hundred KB of gzip can unpack to hundreds
// of MB). Close removes it.
type Spool struct{ f *os.File }

// NewSpool creates a spool in dir ("": the system's temporary directory).
func NewSpool(dir string) (*Spool, error) {
	f, err := os.CreateTemp(dir, "paas-upload-*")
	if err != nil {
		return nil, fmt.Errorf("upload spool: %w", err)
	}
	// Unlinked at once: the file goes with the last descriptor, even if
	// the process dies.
	_ = os.Remove(f.Name())
	return &Spool{f: f}, nil
}

// Close releases the spool's file.
func (s *Spool) Close() error { return s.f.Close() }

// ArchiveLimits bound what an upload may unpack to, and how long that may
// take. Every entry counts, directories and headers included: an archive of
// millions of empty headers is as refused as one of huge files.
type ArchiveLimits struct {
	MaxFiles   int
	MaxBytes   int64         // total uncompressed file bytes
	MaxEntries int           // tar headers of any kind (0: 2 x MaxFiles)
	MaxTime    time.Duration // unpacking time (0: one minute)
}

// DefaultArchiveLimits suit a Node app without a huge node_modules.
var DefaultArchiveLimits = ArchiveLimits{MaxFiles: 20000, MaxBytes: 256 << 20, MaxEntries: 40000, MaxTime: time.Minute}

// tarOverhead bounds the tar stream beyond file contents: a header block
// and padding per entry, and the end marker.
const tarOverhead = 2048

// ReadArchive unpacks a .tgz app archive into memory and checks it: regular
// files and directories only, no path that escapes the app root, a
// package.json at the root (after stripping a single top-level folder such as
// npm pack's "package/"). Any problem is a 400 (413 over the limits).
//
// With a spool (nil: in memory), file contents go to it, not to memory;
// the files read their content from it (ArchiveFile.Content) until it is
// closed.
func ReadArchive(r io.Reader, lim ArchiveLimits, spool ...*Spool) ([]ArchiveFile, error) {
	var sp *Spool
	if len(spool) > 0 {
		sp = spool[0]
	}
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, BadRequest("archive is not gzip-compressed: %v", err)
	}
	defer gz.Close()
	if lim.MaxEntries == 0 {
		lim.MaxEntries = 2 * lim.MaxFiles
	}
	if lim.MaxTime == 0 {
		lim.MaxTime = time.Minute
	}
	// The whole uncompressed stream is bounded, not only what the entries
	// declare: padding, PAX records and junk between entries count too.
	stream := &boundedReader{r: gz, left: lim.MaxBytes + int64(lim.MaxEntries+1)*tarOverhead}
	tr := tar.NewReader(stream)
	seen := map[string]bool{}
	var files []ArchiveFile
	var total int64
	entries := 0
	deadline := time.Now().Add(lim.MaxTime)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if stream.exceeded {
			return nil, TooLarge("archive unpacks to more than %d bytes", lim.MaxBytes)
		}
		if err != nil {
			return nil, BadRequest("malformed archive: %v", err)
		}
		if entries++; entries > lim.MaxEntries {
			return nil, TooLarge("archive has more than %d entries", lim.MaxEntries)
		}
		if time.Now().After(deadline) {
			return nil, TooLarge("archive takes longer than %s to unpack", lim.MaxTime)
		}
		switch hdr.Typeflag {
		case tar.TypeDir, tar.TypeXGlobalHeader:
			continue
		case tar.TypeReg, tar.TypeRegA:
		case tar.TypeSymlink, tar.TypeLink:
			return nil, BadRequest("archive entry %q is a link; links are not supported in app archives", hdr.Name)
		default:
			return nil, BadRequest("archive entry %q is not a regular file", hdr.Name)
		}
		name, err := cleanArchivePath(hdr.Name)
		if err != nil {
			return nil, err
		}
		if seen[name] {
			return nil, BadRequest("archive has %q twice", name)
		}
		seen[name] = true
		if len(files) >= lim.MaxFiles {
			return nil, TooLarge("archive has more than %d files", lim.MaxFiles)
		}
		if hdr.Size < 0 || total+hdr.Size > lim.MaxBytes {
			return nil, TooLarge("archive unpacks to more than %d bytes", lim.MaxBytes)
		}
		h := sha1.New()
		var data []byte
		var off int64
		var n int64
		if sp == nil {
			data, err = io.ReadAll(io.TeeReader(io.LimitReader(tr, hdr.Size), h))
			n = int64(len(data))
		} else {
			if off, err = sp.f.Seek(0, io.SeekEnd); err == nil {
				n, err = io.Copy(io.MultiWriter(sp.f, h), io.LimitReader(tr, hdr.Size))
			}
		}
		if stream.exceeded {
			return nil, TooLarge("archive unpacks to more than %d bytes", lim.MaxBytes)
		}
		if err != nil {
			return nil, BadRequest("malformed archive: %v", err)
		}
		if n != hdr.Size {
			return nil, BadRequest("malformed archive: %q is truncated", name)
		}
		total += hdr.Size
		mode := int64(0o644)
		if hdr.Mode&0o111 != 0 {
			mode = 0o755
		}
		f := ArchiveFile{File: File{Path: name, SHA1: hex.EncodeToString(h.Sum(nil)), Size: hdr.Size, Mode: mode}, Data: data}
		if sp != nil {
			f.spool, f.off = sp.f, off
		}
		files = append(files, f)
	}
	// Read on to the gzip trailer, so its checksum is verified: a corrupted upload must not pass.
	if _, err := io.Copy(io.Discard, io.LimitReader(gz, 1<<20)); err != nil {
		return nil, BadRequest("malformed archive: %v", err)
	}
	files = stripTopFolder(files)
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, nil
}

// boundedReader reads at most left bytes, then fails (exceeded set).
type boundedReader struct {
	r        io.Reader
	left     int64
	exceeded bool
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		b.exceeded = true
		return 0, errors.New("archive stream exceeds its bound")
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}

// CleanFilePath checks a file path of an app as an archive entry's name
// is checked and returns it cleaned.
func CleanFilePath(name string) (string, error) { return cleanArchivePath(name) }

func cleanArchivePath(name string) (string, error) {
	if strings.ContainsRune(name, 0) || strings.Contains(name, "\\") {
		return "", BadRequest("archive entry %q has an invalid name", name)
	}
	if path.IsAbs(name) {
		return "", BadRequest("archive entry %q has an absolute path", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", BadRequest("archive entry %q escapes the app root", name)
		}
	}
	clean := path.Clean(name)
	if clean == "." || clean == "" {
		return "", BadRequest("archive entry %q has an empty name", name)
	}
	return clean, nil
}

// stripTopFolder removes a folder every file lives in, when package.json is
// in it rather than at the root (npm pack writes "package/…").
func stripTopFolder(files []ArchiveFile) []ArchiveFile {
	if len(files) == 0 {
		return files
	}
	top, _, ok := strings.Cut(files[0].Path, "/")
	if !ok {
		return files
	}
	hasPkg := false
	for _, f := range files {
		if f.Path == "package.json" {
			return files
		}
		if !strings.HasPrefix(f.Path, top+"/") {
			return files
		}
		if f.Path == top+"/package.json" {
			hasPkg = true
		}
	}
	if !hasPkg {
		return files
	}
	for i := range files {
		files[i].Path = strings.TrimPrefix(files[i].Path, top+"/")
	}
	return files
}

// StartCommand decides how to start an app: scripts.start, else node <main>,
// else node server.js. A simple start script runs without a shell (the
// minimal base image has none); one with shell syntax runs under /bin/sh.
func StartCommand(pkg PackageJSON, has func(path string) bool) ([]string, error) {
	if s := strings.TrimSpace(pkg.Scripts["start"]); s != "" {
		return CommandLine(s), nil
	}
	if pkg.Main != "" {
		main := path.Clean(pkg.Main)
		if has(main) || has(main+".js") {
			return []string{"node", main}, nil
		}
		return nil, BadRequest("package.json main %q is not in the archive", pkg.Main)
	}
	if has("server.js") {
		return []string{"node", "server.js"}, nil
	}
	return nil, BadRequest("package.json has no start script (scripts.start), no main, and there is no server.js")
}

// CommandLine is how a command line runs in a unit: split into words
// when simple (the minimal base image has no shell), under /bin/sh when it
// has shell syntax.
func CommandLine(s string) []string {
	s = strings.TrimSpace(s)
	if shellMeta.MatchString(s) {
		return []string{"/bin/sh", "-c", s}
	}
	return strings.Fields(s)
}

var shellMeta = regexp.MustCompile("[|&;<>()$`\\\\\"'*?\\[\\]#~=%{}]")

// WriteArchive writes files as a deterministic .tgz under "package/", the
// layout npm and jitsu produce. open returns each file's content.
func WriteArchive(w io.Writer, files []File, open func(sha1 string) ([]byte, error)) error {
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	epoch := time.Unix(0, 0)
	for _, f := range files {
		data, err := open(f.SHA1)
		if err != nil {
			return fmt.Errorf("archive %s: %w", f.Path, err)
		}
		hdr := &tar.Header{Name: "package/" + f.Path, Mode: f.Mode, Size: int64(len(data)), ModTime: epoch, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("archive %s: %w", f.Path, err)
		}
		if _, err := io.Copy(tw, bytes.NewReader(data)); err != nil {
			return fmt.Errorf("archive %s: %w", f.Path, err)
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

// SnapshotFromFiles checks an app's files and derives how to build and start
// them: package.json with a name, and a way to start.
func SnapshotFromFiles(files []ArchiveFile) (Snapshot, error) {
	index := map[string]*ArchiveFile{}
	hasModules := false
	for i := range files {
		index[files[i].Path] = &files[i]
		if strings.HasPrefix(files[i].Path, "node_modules/") {
			hasModules = true
		}
	}
	pkgFile := index["package.json"]
	if pkgFile == nil {
		return Snapshot{}, BadRequest("the archive has no package.json at its root")
	}
	pkgData, err := pkgFile.Content()
	if err != nil {
		return Snapshot{}, err
	}
	pkg, err := ParsePackageJSON(pkgData)
	if err != nil {
		return Snapshot{}, err
	}
	if pkg.Name == "" {
		return Snapshot{}, BadRequest("package.json has no name")
	}
	cmd, err := StartCommand(pkg, func(p string) bool { return index[p] != nil })
	if err != nil {
		return Snapshot{}, err
	}
	return Snapshot{Package: json.RawMessage(pkgData), Cmd: cmd, Install: len(pkg.Dependencies) > 0 && !hasModules}, nil
}
