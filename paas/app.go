package paas

import (
	"encoding/json"
	"errors"
	"maps"
	"regexp"
	"strings"
	"time"

	"github.com/selfhost/paas/runtime"
)

// AppState is what the owner asked for (started/stopped) or, when the
// platform gave up on it, errored.
type AppState string

const (
	AppStopped AppState = "stopped"
	AppStarted AppState = "started"
	AppErrored AppState = "errored"
)

// App is a deployable application.
type App struct {
	Owner        string   `json:"owner"`
	Name         string   `json:"name"`
	Subdomain    string   `json:"subdomain"`
	State        AppState `json:"state"`
	StateMessage string   `json:"state_message,omitempty"` // why it errored
	Snapshot     string   `json:"snapshot,omitempty"`      // the active snapshot id
	Units        int      `json:"drones"`                  // units to run
	MaxUnits     int      `json:"max_drones"`              // the most units the owner allows
	// RedirectHTTPS and HSTS are the app's HTTPS opt-ins: plain HTTP is
	// redirected to HTTPS; HTTPS answers carry Strict-Transport-Security.
	RedirectHTTPS bool              `json:"redirect_https,omitempty"`
	HSTS          bool              `json:"hsts,omitempty"`
	MemoryMB      int               `json:"memory_mb,omitempty"` // per unit; 0: the platform default
	CPUs          float64           `json:"cpus,omitempty"`      // per unit; 0: the platform default
	Env           map[string]string `json:"-"`                   // sealed at rest in SealedEnv
	SealedEnv     []byte            `json:"sealed_env,omitempty"`
	// PrivateEnv names the variables set as private (Tsuru): their values
	// are shown masked; they are secrets like every value, sealed at rest.
	PrivateEnv []string `json:"private_env,omitempty"`
	// ServiceNetworks are the networks of the databases bound to the app:
	// its units join them to reach those servers.
	ServiceNetworks []string `json:"service_networks,omitempty"`
	// Pool is where the app's units run (Tsuru's pools: "" is the default
	// public pool; on one server a pool is a label).
	Pool    string          `json:"pool,omitempty"`
	Package json.RawMessage `json:"package,omitempty"` // package.json as last given
	Created time.Time       `json:"created"`
	Updated time.Time       `json:"updated"`
	// ServedBy is the now deployment the app's own hostname serves, through
	// an alias of it (see Alias.AppHost); "" while the app's own units do.
	ServedBy string `json:"served_by,omitempty"`
	// Deployment is set only on the view of an app that a now deployment's
	// units run as (Deployment.AppView), never stored: its uid.
	Deployment string `json:"-"`
}

// Key is the app's platform-wide id, "owner/name".
func (a App) Key() string { return a.Owner + "/" + a.Name }

// Target is the deployer's key of the units a runs: its Key, or for a now
// deployment's view, the deployment's Target.
func (a App) Target() string {
	if a.Deployment == "" {
		return a.Key()
	}
	return a.Key() + targetSep + a.Deployment
}

// Platform-wide bounds on units per app.
const (
	DefaultUnits   = 1
	MaxUnitsPerApp = 8
)

// Bounds on per-app unit limits.
const (
	MinMemoryMB = 32
	MaxMemoryMB = 16384
	MinCPUs     = 0.05
	MaxCPUs     = 16.0
)

var (
	appNameRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)
	subdomainRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	envKeyRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)
)

// ValidateAppName checks an app name (npm package name rules, lowercase).
func ValidateAppName(name string) error {
	if !appNameRE.MatchString(name) {
		return BadRequest("invalid app name %q: use 1-63 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// ValidateSubdomain checks a DNS label usable as <subdomain>.<domain>.
func ValidateSubdomain(sub string) error {
	if !subdomainRE.MatchString(sub) {
		return BadRequest("invalid subdomain %q: use 1-63 lowercase letters, digits or '-', not starting or ending with '-'", sub)
	}
	return nil
}

// DefaultSubdomain derives a DNS label from an app name.
func DefaultSubdomain(name string) string {
	s := strings.Map(func(r rune) rune {
		if r == '.' || r == '_' {
			return '-'
		}
		return r
	}, name)
	return strings.Trim(s, "-")
}

// ValidateEnv checks environment variable names and sizes.
func ValidateEnv(env map[string]string) error {
	if len(env) > 256 {
		return BadRequest("too many environment variables (max 256)")
	}
	for k, v := range env {
		if !envKeyRE.MatchString(k) {
			return BadRequest("invalid environment variable name %q", k)
		}
		if k == "PORT" {
			return BadRequest("PORT is set by the platform")
		}
		if len(v) > 32<<10 || strings.ContainsRune(v, 0) {
			return BadRequest("environment variable %s: value too long or contains NUL", k)
		}
	}
	return nil
}

// PackageJSON is the part of an app's package.json the build reads.
type PackageJSON struct {
	Name         string            `json:"name"`
	Version      string            `json:"version,omitempty"`
	Main         string            `json:"main,omitempty"`
	Scripts      map[string]string `json:"scripts,omitempty"`
	Dependencies map[string]string `json:"dependencies,omitempty"`
}

// ParsePackageJSON decodes package.json leniently: unknown fields are
// ignored; only the fields above must have the right types.
func ParsePackageJSON(raw []byte) (PackageJSON, error) {
	var p PackageJSON
	if err := json.Unmarshal(raw, &p); err != nil {
		return p, BadRequest("invalid package.json: %s", JSONErrorText(err))
	}
	return p, nil
}

func JSONErrorText(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return "field " + typeErr.Field + " must be " + typeErr.Type.String()
	}
	return err.Error()
}

// Release is what serves an app now: one snapshot's units.
type Release struct {
	ID       string
	Snapshot string
	Units    []UnitStatus
}

// UnitStatus is one unit of a release.
type UnitStatus struct {
	ID      string
	Index   int
	Running bool
}

// EffectiveMemoryMB is the memory each unit of a runs with.
func (a App) EffectiveMemoryMB() int {
	if a.MemoryMB > 0 {
		return a.MemoryMB
	}
	return runtime.DefaultMemoryBytes >> 20
}

// EffectiveCPUs is the CPU share each unit of a runs with.
func (a App) EffectiveCPUs() float64 {
	if a.CPUs > 0 {
		return a.CPUs
	}
	return float64(runtime.DefaultNanoCPUs) / 1e9
}

// AppSpec is the typed input of creating or changing an app, whatever face
// it came through. Nil fields are left as they are (or take the defaults
// when creating).
type AppSpec struct {
	Name      string
	Subdomain *string
	Env       *map[string]string // replaces the whole env
	Units     *int
	MaxUnits  *int
	MemoryMB  *int
	CPUs      *float64
	// RedirectHTTPS and HSTS set the app's HTTPS opt-ins.
	RedirectHTTPS, HSTS *bool
	// Metadata is merged key by key into the app's stored package.json
	// (App.Package), which faces show back.
	Metadata map[string]json.RawMessage
	// Pool moves the app to a pool (the platform checks the owner may use it).
	Pool *string
}

// Patch validates spec against a and applies it. On error a is unchanged.
func (spec AppSpec) Patch(a *App) error {
	next := *a
	if spec.Env != nil {
		if err := ValidateEnv(*spec.Env); err != nil {
			return err
		}
		next.Env = maps.Clone(*spec.Env)
		if next.Env == nil {
			next.Env = map[string]string{}
		}
	}
	if spec.Subdomain != nil && *spec.Subdomain != "" {
		next.Subdomain = *spec.Subdomain
	}
	if spec.Pool != nil {
		next.Pool = *spec.Pool
		if next.Pool == "default" {
			next.Pool = ""
		}
	}
	if err := ValidateSubdomain(next.Subdomain); err != nil {
		return err
	}
	if spec.MaxUnits != nil {
		if *spec.MaxUnits < 1 || *spec.MaxUnits > MaxUnitsPerApp {
			return BadRequest("maxDrones must be between 1 and %d", MaxUnitsPerApp)
		}
		next.MaxUnits = *spec.MaxUnits
	}
	if spec.Units != nil {
		if err := ValidateUnits(*spec.Units, next.MaxUnits); err != nil {
			return err
		}
		next.Units = *spec.Units
	}
	if spec.MemoryMB != nil {
		if *spec.MemoryMB < MinMemoryMB || *spec.MemoryMB > MaxMemoryMB {
			return BadRequest("memory must be between %d and %d MiB", MinMemoryMB, MaxMemoryMB)
		}
		next.MemoryMB = *spec.MemoryMB
	}
	if spec.CPUs != nil {
		if *spec.CPUs < MinCPUs || *spec.CPUs > MaxCPUs {
			return BadRequest("cpus must be between %g and %g", MinCPUs, MaxCPUs)
		}
		next.CPUs = *spec.CPUs
	}
	if spec.RedirectHTTPS != nil {
		next.RedirectHTTPS = *spec.RedirectHTTPS
	}
	if spec.HSTS != nil {
		next.HSTS = *spec.HSTS
	}
	if len(spec.Metadata) > 0 {
		merged := map[string]json.RawMessage{}
		if len(next.Package) > 0 {
			_ = json.Unmarshal(next.Package, &merged)
		}
		maps.Copy(merged, spec.Metadata)
		raw, err := json.Marshal(merged)
		if err != nil {
			return BadRequest("app metadata: %v", err)
		}
		next.Package = raw
	}
	*a = next
	return nil
}

// ValidateUnits checks a unit count against the app's maximum. The message
// uses the Nodejitsu word, the only document with a word for it.
func ValidateUnits(n, maxUnits int) error {
	if n < 1 || n > maxUnits {
		return BadRequest("drones must be between 1 and %d", maxUnits)
	}
	return nil
}

// DeployStep is one step of a deploy, as faces and the UI show progress.
type DeployStep string

const (
	StepPrepared DeployStep = "prepared" // the snapshot's code (and dependencies) are ready
	StepStarted  DeployStep = "started"  // the new release's units run
	StepHealthy  DeployStep = "healthy"  // every new unit answers HTTP
	StepSwitched DeployStep = "switched" // traffic goes to the new release
	StepDrained  DeployStep = "drained"  // the old release's units are gone
	StepFailed   DeployStep = "failed"   // the deploy failed; Message says why (the old release keeps serving)
)

// DeployEvent is a step of a deploy of App.
type DeployEvent struct {
	App      string     `json:"app"`
	Snapshot string     `json:"snapshot"`
	Release  string     `json:"release,omitempty"`
	Step     DeployStep `json:"step"`
	Message  string     `json:"message,omitempty"`
	Time     time.Time  `json:"time"`
}

// Healer is one of the platform's self-healing jobs and its last run.
type Healer struct {
	Name       string
	About      string
	LastRun    time.Time
	Runs       int
	LastResult string
}
