package runtime

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// HostServiceImage is the tag BuildHostServiceImage produces for kind by
// convention ("paas-redis:host", "paas-postgresql:host"), for tests and CI
// machines without registry access.
func HostServiceImage(kind string) string { return "paas-" + kind + ":host" }

// serviceUID is the server user of the host images, as in the official
// Debian-based images.
const serviceUID = 999

// hostImage is what a host-built image is made of.
type hostImage struct {
	users string    // the passwd line of the server user
	group string    // its group line
	dirs  []hostDir // directories to create, before anything else
	files map[string]string
	paths []string // host files reproduced at the same place, symlinks on the way included
	// binaries are host executables placed elsewhere in the image (image
	// path → host path): a binary under a home directory, which the server
	// user could not reach at the same place.
	binaries map[string]string
	trees    []string // host directories copied whole, to the same place
	changes  []string // image config (ImageImport changes)
	from     string   // what the image is built from, for the log and the image's comment
}

type hostDir struct {
	path     string
	mode     int64
	uid, gid int
}

// BuildHostServiceImage builds an image of kind from this machine's own
// server binaries (Debian's redis-server and postgresql packages; for
// mongodb, which Debian does not package, a FerretDB binary: see hostMongo), without
// pulling anything, in the way of BuildHostBaseImage: a rootfs of the
// binaries, the shared libraries they link (per ldd), the loader, the
// server user (uid 999) and the files the server reads, imported with
// ImageImport and tagged tag ("" : HostServiceImage(kind)). StartService
// runs it exactly like the official image: same user names, data
// directories, client tools (redis-cli; psql, pg_isready) and, for
// postgresql, an entrypoint honouring the same POSTGRES_* variables.
func BuildHostServiceImage(ctx context.Context, d *Docker, kind, tag string, log io.Writer) error {
	if log == nil {
		log = io.Discard
	}
	if tag == "" {
		tag = HostServiceImage(kind)
	}
	var (
		img hostImage
		err error
	)
	switch kind {
	case KindRedis:
		img, err = hostRedis()
	case KindPostgreSQL:
		img, err = hostPostgres(ctx, log)
	case KindMongoDB:
		img, err = hostMongo()
	default:
		err = unsupportedKind(kind)
	}
	if err != nil {
		return fmt.Errorf("host %s image %s: %w", kind, tag, err)
	}
	libs, err := img.libraries(ctx, log)
	if err != nil {
		return fmt.Errorf("host %s image %s: %w", kind, tag, err)
	}
	img.paths = append(img.paths, libs...)
	fmt.Fprintf(log, "building %s from %s (%d files and libraries, %d directories)\n", tag, img.from, len(img.paths), len(img.trees))
	if err := importRootfs(ctx, d, tag, "paas host "+kind+" image from "+img.from, img.changes,
		func(w io.Writer) error { return img.write(w) }, log); err != nil {
		return fmt.Errorf("host %s image %s: %w", kind, tag, err)
	}
	return nil
}

func hostRedis() (hostImage, error) {
	server, err := exec.LookPath("redis-server")
	if err != nil {
		return hostImage{}, fmt.Errorf("find redis-server (Debian: apt-get install redis-server): %w", err)
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		return hostImage{}, fmt.Errorf("find redis-cli (Debian: apt-get install redis-tools): %w", err)
	}
	server, cli = absPath(server), absPath(cli)
	return hostImage{
		users: "redis:x:999:999:redis:/data:/sbin/nologin\n",
		group: "redis:x:999:\n",
		dirs:  []hostDir{{"/data", 0o700, serviceUID, serviceUID}},
		// redis-server is a link to a multi-call binary that picks its role
		// from argv[0]: paths keeps the link, so it runs as the server.
		paths: []string{server, cli},
		changes: []string{
			"ENV PATH=/usr/local/bin:/usr/bin:/bin",
			"WORKDIR /data",
			"USER redis",
			`CMD ["redis-server"]`,
		},
		from: server,
	}, nil
}

// postgresEntrypoint initializes the cluster on first start, like the
// official image's docker-entrypoint.sh and with its variables
// (POSTGRES_USER, POSTGRES_DB, POSTGRES_PASSWORD_FILE, PGDATA), then execs
// postgres as PID 1. The cluster is made under a temporary name and renamed
// into place once complete, so a start killed halfway is redone on the next
// one instead of leaving a half-made cluster that would never start.
const postgresEntrypoint = `#!/bin/sh
# Entrypoint of the paas host postgresql image (runtime/hostservice.go).
set -eu
if [ "${1:-postgres}" != postgres ]; then
	exec "$@"
fi
if [ $# -gt 0 ]; then
	shift
fi
pgdata="${PGDATA:?PGDATA must be set}"
user="${POSTGRES_USER:-postgres}"
db="${POSTGRES_DB:-$user}"
if [ ! -s "$pgdata/PG_VERSION" ]; then
	if [ -e "$pgdata" ]; then
		echo "entrypoint: $pgdata exists but holds no cluster; not touching it" >&2
		exit 1
	fi
	pwfile="${POSTGRES_PASSWORD_FILE:-}"
	if [ -z "$pwfile" ] || [ ! -s "$pwfile" ]; then
		echo "entrypoint: POSTGRES_PASSWORD_FILE must name a non-empty file" >&2
		exit 1
	fi
	tmp="$pgdata.init"
	rm -rf "$tmp"
	# TZ: without it initdb reads the whole time zone database to guess the
	# zone, seconds on an overlay filesystem.
	TZ="${TZ:-Etc/UTC}" initdb --pgdata="$tmp" --username="$user" --pwfile="$pwfile" \
		--auth=scram-sha-256 --encoding=UTF8 --locale=C --no-instructions
	# initdb only lets in local clients; the apps come over the network.
	echo "host all all all scram-sha-256" >> "$tmp/pg_hba.conf"
	if [ "$db" != postgres ]; then
		# exit_on_error: single-user mode otherwise exits 0 after a failed statement.
		echo "CREATE DATABASE \"$db\" OWNER \"$user\"" |
			postgres --single -c exit_on_error=on -D "$tmp" postgres > /dev/null
	fi
	mv "$tmp" "$pgdata"
	echo "entrypoint: initialized $pgdata (user $user, database $db)" >&2
fi
# Every address, as in the official image; arguments may override it.
exec postgres -D "$pgdata" -c listen_addresses='*' "$@"
`

// postgresBinaries go into the image: the server, what the entrypoint runs,
// the probe, and the clients for working on an instance by exec (psql,
// dumps).
var postgresBinaries = []string{"postgres", "initdb", "pg_ctl", "pg_isready", "psql", "pg_dump", "pg_restore"}

// hostPostgres finds the newest PostgreSQL of the host: Debian installs each
// major version under /usr/lib/postgresql/<v>, and its pg_config names the
// share and library directories that postgres itself looks for at the
// paths it was built with, so the image reproduces them at the same places.
//
// The entrypoint is a shell script run by the host's /bin/sh (dash, which
// links nothing but libc), with rm and mv: no Go toolchain is needed to
// build the image, so `paas service-image --from-host` works from a release
// binary. A shell adds nothing an instance's user lacks: its role is
// superuser, as in the official image, which has a shell too, and a
// superuser runs programs anyway (COPY ... FROM PROGRAM).
func hostPostgres(ctx context.Context, log io.Writer) (hostImage, error) {
	bindir, err := hostPostgresBindir()
	if err != nil {
		return hostImage{}, err
	}
	cfg := func(flag string) (string, error) {
		out, err := exec.CommandContext(ctx, filepath.Join(bindir, "pg_config"), flag).Output()
		if err != nil {
			return "", fmt.Errorf("%s %s: %w", filepath.Join(bindir, "pg_config"), flag, err)
		}
		return strings.TrimSpace(string(out)), nil
	}
	sharedir, err := cfg("--sharedir")
	if err != nil {
		return hostImage{}, err
	}
	pkglibdir, err := cfg("--pkglibdir")
	if err != nil {
		return hostImage{}, err
	}
	img := hostImage{
		users: "postgres:x:999:999:postgres:/var/lib/postgresql:/sbin/nologin\n",
		group: "postgres:x:999:\n",
		dirs: []hostDir{
			{"/var/lib/postgresql", 0o755, serviceUID, serviceUID},
			{"/var/lib/postgresql/data", 0o700, serviceUID, serviceUID},
			// World-writable like the official image's: StartService mounts a
			// tmpfs here, and the engine gives it this directory's mode but
			// not its owner.
			{"/var/run/postgresql", 0o3777, serviceUID, serviceUID},
		},
		files: map[string]string{"/usr/local/bin/docker-entrypoint.sh": postgresEntrypoint},
		trees: []string{sharedir},
		changes: []string{
			"ENV PATH=" + bindir + ":/usr/local/bin:/usr/bin:/bin",
			"ENV PGDATA=/var/lib/postgresql/data/" + postgresDataSubdir,
			// No STOPSIGNAL: engines before 23 refuse it in an import;
			// StartService sets the container's.
			"USER postgres",
			`ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]`,
			`CMD ["postgres"]`,
		},
		from: bindir,
	}
	for _, b := range postgresBinaries {
		p := filepath.Join(bindir, b)
		if _, err := os.Stat(p); err != nil {
			return hostImage{}, fmt.Errorf("postgres binary: %w", err)
		}
		img.paths = append(img.paths, p)
	}
	// /bin/sh by that name: it is the entrypoint's interpreter line.
	if _, err := os.Stat("/bin/sh"); err != nil {
		return hostImage{}, fmt.Errorf("the entrypoint's shell: %w", err)
	}
	img.paths = append(img.paths, "/bin/sh")
	for _, tool := range []string{"rm", "mv"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			return hostImage{}, fmt.Errorf("find %s for the entrypoint: %w", tool, err)
		}
		img.paths = append(img.paths, absPath(p))
	}
	// Debian's postgres reads the system time zone database (built
	// --with-system-tzdata); initdb fails to pick a zone without it.
	if out, err := exec.CommandContext(ctx, filepath.Join(bindir, "pg_config"), "--configure").Output(); err == nil {
		if _, tz, ok := strings.Cut(string(out), "--with-system-tzdata="); ok {
			tz, _, _ = strings.Cut(tz, "'")
			if tz != "" {
				img.trees = append(img.trees, tz)
			}
		}
	}
	modules, err := postgresModules(pkglibdir)
	if err != nil {
		return hostImage{}, err
	}
	fmt.Fprintf(log, "including %d modules of %s (not the LLVM JIT)\n", len(modules), pkglibdir)
	img.paths = append(img.paths, modules...)
	return img, nil
}

func hostPostgresBindir() (string, error) {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	best, bestV := "", -1
	for _, m := range matches {
		v, err := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(m))))
		if err == nil && v > bestV {
			best, bestV = filepath.Dir(m), v
		}
	}
	if best == "" {
		// Not Debian's layout: a postgres on PATH with its tools beside it.
		p, err := exec.LookPath("postgres")
		if err != nil {
			return "", errors.New("no PostgreSQL server found in /usr/lib/postgresql/*/bin or on PATH (Debian: apt-get install postgresql)")
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			return "", err
		}
		best = filepath.Dir(real)
	}
	return best, nil
}

// postgresModules lists the loadable modules of pkglibdir (initdb needs the
// snowball dictionaries and plpgsql; the rest are the contrib extensions),
// except the LLVM JIT: it links the whole of LLVM, and postgres quietly
// runs without JIT when its provider is missing.
func postgresModules(pkglibdir string) ([]string, error) {
	entries, err := os.ReadDir(pkglibdir)
	if err != nil {
		return nil, fmt.Errorf("postgres modules: %w", err)
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".so") || strings.HasPrefix(name, "llvmjit") {
			continue
		}
		out = append(out, filepath.Join(pkglibdir, name))
	}
	return out, nil
}

// libraries returns the shared libraries (and the loader) every ELF file of
// img.paths needs. A loadable module whose libraries are missing on the host
// is dropped with a line on log rather than failing the image: it belongs
// to an extension nobody installed the dependencies of.
func (img *hostImage) libraries(ctx context.Context, log io.Writer) ([]string, error) {
	seen := map[string]bool{}
	var libs []string
	need := func(p string) error {
		deps, err := sharedLibraries(ctx, p)
		if err != nil {
			return err
		}
		for _, l := range deps {
			if !seen[l] {
				seen[l] = true
				libs = append(libs, l)
			}
		}
		return nil
	}
	kept := img.paths[:0]
	for _, p := range img.paths {
		if err := need(p); err != nil {
			if strings.HasSuffix(p, ".so") {
				fmt.Fprintf(log, "leaving out %s: %v\n", p, err)
				continue
			}
			return nil, err
		}
		kept = append(kept, p)
	}
	img.paths = kept
	for _, b := range img.binaries {
		if err := need(b); err != nil {
			return nil, err
		}
	}
	sort.Strings(libs)
	return libs, nil
}

func (img *hostImage) write(w io.Writer) error {
	r := &rootfsWriter{tw: tar.NewWriter(w), seen: map[string]bool{}, now: time.Now()}
	// Host paths first: on a merged-/usr host /bin and /lib are links, and a
	// directory made beforehand under the same name would hide them.
	for _, p := range img.paths {
		if err := r.hostPath(p); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	dsts := make([]string, 0, len(img.binaries))
	for dst := range img.binaries {
		dsts = append(dsts, dst)
	}
	sort.Strings(dsts)
	for _, dst := range dsts {
		if err := r.hostFile(img.binaries[dst], dst, 0o755); err != nil {
			return fmt.Errorf("%s: %w", img.binaries[dst], err)
		}
	}
	for _, t := range img.trees {
		real, err := filepath.EvalSymlinks(t)
		if err != nil {
			return err
		}
		if real != t {
			if err := r.symlink(t, real); err != nil {
				return err
			}
		}
		if err := r.hostTree(real, real); err != nil {
			return fmt.Errorf("%s: %w", t, err)
		}
	}
	for _, d := range append([]hostDir{
		{"/etc", 0o755, 0, 0},
		{"/tmp", 0o1777, 0, 0},
		{"/usr/local/bin", 0o755, 0, 0},
	}, img.dirs...) {
		if err := r.dir(d.path, d.mode, d.uid, d.gid); err != nil {
			return err
		}
	}
	files := map[string]string{
		"/etc/passwd":        "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" + img.users,
		"/etc/group":         "root:x:0:\nnogroup:x:65534:\n" + img.group,
		"/etc/nsswitch.conf": hostNsswitch,
	}
	for p, body := range img.files {
		files[p] = body
	}
	names := make([]string, 0, len(files))
	for p := range files {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		mode := int64(0o644)
		if strings.HasPrefix(files[p], "#!") {
			mode = 0o755
		}
		if err := r.bytes(p, mode, []byte(files[p])); err != nil {
			return err
		}
	}
	return r.tw.Close()
}

// absPath makes a PATH lookup result absolute (a relative PATH entry).
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// mongoEntrypoint runs FerretDB (a MongoDB wire-protocol server, here on
// its SQLite backend) with the official mongo image's interface: the
// command "mongod" (its flags are mongod's and are not FerretDB's, so they
// are dropped), the data in /data/db, and the root user from
// MONGO_INITDB_ROOT_USERNAME and MONGO_INITDB_ROOT_PASSWORD_FILE, created in
// the admin database on the first start. The password goes to FerretDB in
// its environment, never on a command line (which `ps` and `docker top`
// list).
const mongoEntrypoint = `#!/bin/sh
# Entrypoint of the paas host mongodb image (runtime/hostservice.go).
set -eu
if [ "${1:-mongod}" != mongod ]; then
	exec "$@"
fi
user="${MONGO_INITDB_ROOT_USERNAME:-}"
if [ -n "$user" ]; then
	pwfile="${MONGO_INITDB_ROOT_PASSWORD_FILE:-}"
	if [ -z "$pwfile" ] || [ ! -s "$pwfile" ]; then
		echo "entrypoint: MONGO_INITDB_ROOT_PASSWORD_FILE must name a non-empty file" >&2
		exit 1
	fi
	pw=""
	IFS= read -r pw < "$pwfile" || [ -n "$pw" ]
	export FERRETDB_SETUP_USERNAME="$user" FERRETDB_SETUP_PASSWORD="$pw" FERRETDB_SETUP_DATABASE=admin
fi
exec ferretdb --handler=sqlite --sqlite-url=file:/data/db/ --state-dir=/data/db \
	--listen-addr=:27017 --test-enable-new-auth --telemetry=disable --debug-addr=- --log-level=warn
`

// hostMongo packages a FerretDB binary found on PATH: there is no MongoDB
// server in Debian, and FerretDB is a Go program of the module proxy, so an
// air-gapped machine can build it (README, "Services"). The official image
// stays the default; this one serves what apps use of MongoDB (CRUD,
// indexes, SCRAM-SHA-256 users) for tests and small installations.
func hostMongo() (hostImage, error) {
	server, err := exec.LookPath("ferretdb")
	if err != nil {
		return hostImage{}, fmt.Errorf("find ferretdb (build it from github.com/FerretDB/FerretDB v1.24: see the README, Services): %w", err)
	}
	server = absPath(server)
	img := hostImage{
		users: "mongodb:x:999:999:mongodb:/data/db:/sbin/nologin\n",
		group: "mongodb:x:999:\n",
		dirs: []hostDir{
			{"/data", 0o755, 0, 0},
			{"/data/db", 0o700, serviceUID, serviceUID},
			{"/data/configdb", 0o700, serviceUID, serviceUID},
		},
		files: map[string]string{"/usr/local/bin/docker-entrypoint.sh": mongoEntrypoint},
		changes: []string{
			"ENV PATH=/usr/local/bin:/usr/bin:/bin",
			"WORKDIR /data/db",
			"USER mongodb",
			`ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]`,
			`CMD ["mongod"]`,
		},
		from: server,
	}
	// /bin/sh by that name: it is the entrypoint's interpreter line.
	if _, err := os.Stat("/bin/sh"); err != nil {
		return hostImage{}, fmt.Errorf("the entrypoint's shell: %w", err)
	}
	img.paths = []string{"/bin/sh"}
	// Not at its host path, which is often under a home directory.
	img.binaries = map[string]string{"/usr/local/bin/ferretdb": server}
	return img, nil
}
