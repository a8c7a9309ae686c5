// Package runtime is the platform's narrow seam over a container engine.
//
// The platform core (package paas and its deployer) decides what should run;
// a Runtime only does what it is told: prepare a snapshot's code (and its
// dependencies) once, start and stop units (containers of the base image
// that mount it), list what exists, stream logs and report exits.
// Two implementations exist: Docker (docker.go), used in production and in the
// integration tests, and Fake (fake.go), an in-memory engine for unit tests
// whose units are real HTTP servers on loopback.
//
// Every object a Runtime creates carries the labels below, so that the core
// can reconcile the engine with its store after a restart. No image is
// built per deploy: see dockercode.go for how code reaches units.
package runtime

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"time"
)

// Labels put on every image and container the platform creates.
const (
	LabelPlatform = "paas.platform" // "1" on units and code volumes; PlatformService on database servers
	LabelApp      = "paas.app"      // the app key, "owner/name"
	LabelSnapshot = "paas.snapshot" // the snapshot id the image/unit runs
	LabelUnit     = "paas.unit"     // the unit index within a release, "0", "1", …
	LabelRelease  = "paas.release"  // the release id that started the unit
)

// ErrNotFound is returned (wrapped) when a unit or image does not exist.
var ErrNotFound = errors.New("runtime: not found")

// BuildSpec describes an image of one snapshot of one app, built with a
// Dockerfile: what deploys did before code volumes, kept for the
// benchmark's baseline (a bare `docker run` of a prebuilt image).
type BuildSpec struct {
	App       string   // app key "owner/name"
	Snapshot  string   // snapshot id
	BaseImage string   // image to build FROM; must exist (see EnsureImage)
	Files     fs.FS    // the app's files, rooted at the app directory
	Cmd       []string // the start command, e.g. ["node", "server.js"]
	Install   bool     // run `npm install --omit=dev` (the app has dependencies)
}

// CodeSpec describes the code of one snapshot of one app, to prepare once
// for every unit that will run it.
type CodeSpec struct {
	App       string // app key "owner/name"
	Snapshot  string // snapshot id
	BaseImage string // the image units run; must exist (see EnsureImage)
	Files     fs.FS  // the app's files, rooted at the app directory
	// Install runs `npm install --omit=dev` (the app has dependencies and
	// ships no node_modules). The result is kept per (App, DepsKey): a
	// later snapshot with the same key reuses it.
	Install bool
	DepsKey string            // a content hash of what decides the install (package.json, lockfile, .npmrc, file: deps)
	Env     map[string]string // the install's environment (the app's NPM_CONFIG_* settings)
}

// Prepared names what Prepare made ready: the code, and the installed
// dependencies ("" when none), as UnitSpec.Code and UnitSpec.Deps take them.
type Prepared struct {
	Code string
	Deps string
}

// Code is a prepared volume as the engine holds it.
type Code struct {
	Ref      string
	Kind     string // "code" (one snapshot's files) or "deps" (installed dependencies)
	App      string
	Snapshot string // for code
	DepsKey  string // for deps
}

// Limits are the resource limits of one unit. Zero means the platform default.
type Limits struct {
	MemoryBytes int64
	NanoCPUs    int64
	Pids        int64
}

// UnitSpec describes one unit (container) of a release.
type UnitSpec struct {
	App      string
	Snapshot string
	Release  string
	Index    int
	Image    string            // the image to run (the base image, for prepared code)
	Code     string            // Prepared.Code, mounted read-only at /app ("": the image holds the code)
	Deps     string            // Prepared.Deps, mounted read-only at /app/node_modules
	Cmd      []string          // the start command ("": the image's)
	Env      map[string]string // app env; the runtime adds PORT
	Port     int               // the port the app must listen on inside the unit
	Limits   Limits
	// Pool is the app's pool ("" or "default": the default pool). Engines
	// of many nodes run the unit on a node of that pool (see
	// LabelNodePool); Docker, one host, ignores it.
	Pool string
	// Networks are the service networks (Service.Network) of the
	// databases bound to the app, for engines that attach a unit to its
	// networks only as it starts (Swarm); Docker ignores them, and
	// ConnectUnit joins them after Start on every engine.
	Networks []string
}

// Unit is a unit as the engine sees it.
type Unit struct {
	ID       string
	App      string
	Snapshot string
	Release  string
	Index    int
	Image    string
	Addr     string // host:port the platform dials to reach the app (empty when not running)
	Running  bool
	ExitCode int
	Started  time.Time
}

// Image is a platform-built image (built by earlier versions, or by
// Docker.Build for benchmarks). App and Snapshot are empty for a step image
// orphaned by a failed build, which nothing uses.
type Image struct {
	Ref      string
	App      string
	Snapshot string
}

// LogLine is one line a unit wrote.
type LogLine struct {
	UnitID string
	Stream string // "stdout" or "stderr"
	Time   time.Time
	Text   string
}

// Event reports that a unit stopped running on its own or was killed.
type Event struct {
	UnitID   string
	App      string
	ExitCode int
	OOM      bool
	Time     time.Time
}

// Runtime is the contract every engine fulfils. All methods are safe for
// concurrent use and honour ctx cancellation for anything that blocks.
type Runtime interface {
	// EnsureImage makes ref available locally, pulling it when missing and
	// writing progress lines to log. A failed pull returns an error naming ref.
	EnsureImage(ctx context.Context, ref string, log io.Writer) error

	// Prepare makes spec's code (and dependencies) ready for units, once:
	// preparing a snapshot already prepared returns the same references at
	// once, and a preparation interrupted by a crash is redone. Its log
	// (the install's output) goes to log.
	Prepare(ctx context.Context, spec CodeSpec, log io.Writer) (Prepared, error)

	// RemoveCode removes a prepared code or deps volume. A missing one is
	// not an error; one in use by a unit is.
	RemoveCode(ctx context.Context, ref string) error

	// Codes lists every prepared volume.
	Codes(ctx context.Context) ([]Code, error)

	// ImageExists reports whether an image exists locally.
	ImageExists(ctx context.Context, ref string) (bool, error)

	// RemoveImage removes an image. A missing image is not an error.
	RemoveImage(ctx context.Context, ref string) error

	// Images lists every platform-built image.
	Images(ctx context.Context) ([]Image, error)

	// Start creates and starts one hardened unit and returns once the engine
	// reports it running; it does not wait for the app to accept connections.
	Start(ctx context.Context, spec UnitSpec) (Unit, error)

	// Stop stops a unit, giving it grace to exit, and removes it. A missing
	// unit is not an error.
	Stop(ctx context.Context, id string, grace time.Duration) error

	// Units lists every platform-created unit, running or not.
	Units(ctx context.Context) ([]Unit, error)

	// Logs calls fn for each line the unit writes from since on, following
	// the output until ctx is done or the unit is removed.
	Logs(ctx context.Context, id string, since time.Time, fn func(LogLine)) error

	// Events delivers an Event each time a platform unit stops running,
	// until ctx is done; the channel is closed then.
	Events(ctx context.Context) (<-chan Event, error)
}
