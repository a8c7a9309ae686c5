package paas

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"maps"
	"sort"
	"strings"
	"time"
)

// Deployment is a now deployment: one snapshot of an app running on its
// own units under a hostname of its own, "<app>-<random>.<domain>", that
// never changes. Several deployments of an app run side by side; the app's
// own hostname and its aliases point at one of them. Its code is a
// snapshot of the app whose id is the deployment's uid.
type Deployment struct {
	UID     string `json:"uid"`
	Owner   string `json:"owner"`
	App     string `json:"app"`
	Label   string `json:"label"` // the hostname's label under the platform domain
	State   string `json:"state"`
	Message string `json:"message,omitempty"` // why it failed
	// Env is what its units get beside the app's, secrets resolved when it
	// was created (a deployment keeps the values it started with); sealed
	// at rest.
	Env       map[string]string `json:"-"`
	SealedEnv []byte            `json:"sealed_env,omitempty"`
	Created   time.Time         `json:"created"`
	StateTs   time.Time         `json:"state_ts"`
	// Pending is the file list of a deployment created by the now CLI
	// (POST /now/create) while its files are synced: it stays DEPLOYING
	// until every one is stored.
	Pending []File `json:"pending,omitempty"`
}

// Deployment states, as the now document names them.
const (
	DeploymentDeploying = "DEPLOYING" // waiting for its files
	DeploymentBooting   = "BOOTING"   // building and starting
	DeploymentReady     = "READY"
	DeploymentError     = "DEPLOYMENT_ERROR"
	DeploymentFrozen    = "FROZEN" // stopped while idle; started again by its next request
)

// Running reports whether the deployment's units should run.
func (d Deployment) Running() bool {
	return d.State == DeploymentBooting || d.State == DeploymentReady
}

// targetSep joins an app key and a deployment uid into the deployer's
// key of the deployment's units: no app name or owner holds it.
const targetSep = "~"

// Target is the key the deployer runs the deployment's units under.
func (d Deployment) Target() string { return d.Owner + "/" + d.App + targetSep + d.UID }

// AppView is the app as the deployment's units run it: its own snapshot,
// one unit, the app's env with the deployment's over it, started while
// the deployment should run.
func (d Deployment) AppView(a App) App {
	a.Deployment, a.Snapshot, a.Units, a.ServedBy = d.UID, d.UID, 1, ""
	env := make(map[string]string, len(a.Env)+len(d.Env))
	maps.Copy(env, a.Env)
	maps.Copy(env, d.Env)
	a.Env = env
	a.State, a.StateMessage = AppStopped, ""
	if d.Running() {
		a.State = AppStarted
	}
	return a
}

// DeploymentOfTarget returns the deployment uid of a deployer key ("" for
// an app's own units).
func DeploymentOfTarget(target string) string {
	_, uid, _ := strings.Cut(target, targetSep)
	return uid
}

// NewDeploymentUID makes a deployment's id, in the document's form (24
// letters and digits).
func NewDeploymentUID() string { return RandomID("", 24) }

// DeploymentLabel makes a deployment's hostname label from its app's
// subdomain: "<sub>-<10 random>", cut to fit a DNS label.
func DeploymentLabel(sub string) string {
	suffix := strings.ToLower(RandomID("", 10))
	if len(sub) > 63-11 {
		sub = strings.TrimRight(sub[:63-11], "-")
	}
	return sub + "-" + suffix
}

// MaxDeploymentFiles bounds the files of one inline deployment body.
const MaxDeploymentFiles = 2000

// DeploymentFiles turns the body of POST /now/deployments (file paths as
// keys and contents as string values, and "package", package.json as an
// object) into an app's files, with paths checked as an archive's are.
func DeploymentFiles(body map[string]json.RawMessage) ([]ArchiveFile, error) {
	pkg, ok := body["package"]
	if !ok {
		return nil, BadRequest("the body has no \"package\" (package.json as an object)")
	}
	var probe map[string]any
	if err := json.Unmarshal(pkg, &probe); err != nil || probe == nil {
		return nil, BadRequest("\"package\" must be package.json as a JSON object")
	}
	if len(body) > MaxDeploymentFiles+1 {
		return nil, BadRequest("too many files (max %d)", MaxDeploymentFiles)
	}
	files := []ArchiveFile{newInlineFile("package.json", pkg)}
	for name, raw := range body {
		if name == "package" {
			continue
		}
		p, err := cleanArchivePath(name)
		if err != nil {
			return nil, err
		}
		if p == "package.json" {
			return nil, BadRequest("give package.json as \"package\", not as a file")
		}
		var content string
		if err := json.Unmarshal(raw, &content); err != nil {
			return nil, BadRequest("file %q: its content must be a JSON string", name)
		}
		files = append(files, newInlineFile(p, []byte(content)))
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	for i := 1; i < len(files); i++ {
		if files[i].Path == files[i-1].Path {
			return nil, BadRequest("file %q is given twice", files[i].Path)
		}
	}
	return files, nil
}

func newInlineFile(p string, data []byte) ArchiveFile {
	sum := sha1.Sum(data)
	return ArchiveFile{File: File{Path: p, SHA1: hex.EncodeToString(sum[:]), Size: int64(len(data)), Mode: 0o644}, Data: data}
}
