package paas

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"time"
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
	Owner        string            `json:"owner"`
	Name         string            `json:"name"`
	Subdomain    string            `json:"subdomain"`
	State        AppState          `json:"state"`
	StateMessage string            `json:"state_message,omitempty"` // why it errored
	Snapshot     string            `json:"snapshot,omitempty"`      // the active snapshot id
	Drones       int               `json:"drones"`                  // units to run
	MaxDrones    int               `json:"max_drones"`
	MemoryMB     int               `json:"memory_mb,omitempty"` // per unit; 0: the platform default
	CPUs         float64           `json:"cpus,omitempty"`      // per unit; 0: the platform default
	Env          map[string]string `json:"-"`                   // sealed at rest in SealedEnv
	SealedEnv    []byte            `json:"sealed_env,omitempty"`
	Package      json.RawMessage   `json:"package,omitempty"` // package.json as last given
	Created      time.Time         `json:"created"`
	Updated      time.Time         `json:"updated"`
}

// Key is the app's platform-wide id, "owner/name".
func (a App) Key() string { return a.Owner + "/" + a.Name }

// Platform-wide bounds on units per app.
const (
	DefaultDrones = 1
	MaxDrones     = 8
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

// PackageJSON is the part of package.json the platform reads.
type PackageJSON struct {
	Name         string            `json:"name"`
	Version      string            `json:"version,omitempty"`
	Subdomain    string            `json:"subdomain,omitempty"`
	Main         string            `json:"main,omitempty"`
	Scripts      map[string]string `json:"scripts,omitempty"`
	Dependencies map[string]string `json:"dependencies,omitempty"`
	Env          map[string]string `json:"env,omitempty"`
	Drones       *int              `json:"drones,omitempty"`
	MaxDrones    *int              `json:"maxDrones,omitempty"`
	Memory       *int              `json:"memory,omitempty"` // MiB per unit
	CPUs         *float64          `json:"cpus,omitempty"`   // cores per unit
}

// ParsePackageJSON decodes package.json leniently: unknown fields are kept by
// the caller in the raw form; only the fields above must have the right types.
func ParsePackageJSON(raw []byte) (PackageJSON, error) {
	var p PackageJSON
	if err := json.Unmarshal(raw, &p); err != nil {
		return p, BadRequest("invalid package.json: %s", jsonErrorText(err))
	}
	return p, nil
}

func jsonErrorText(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return "field " + typeErr.Field + " must be " + typeErr.Type.String()
	}
	return err.Error()
}
