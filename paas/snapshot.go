package paas

import (
	"encoding/json"
	"regexp"
	"strings"
	"time"
)

// Snapshot is one uploaded version of an app's code: the unit of deployment
// (a Tsuru deploy, a now deployment).
type Snapshot struct {
	Owner    string    `json:"owner"`
	App      string    `json:"app"`
	ID       string    `json:"id"`
	Created  time.Time `json:"created"`
	Filename string    `json:"filename"`
	Size     int64     `json:"size"` // bytes of the uploaded archive
	// Archive is the SHA-1 of the archive as uploaded, kept as a blob so
	// that a download gives back the same bytes ("": made from the files,
	// e.g. a now deployment's). ArchiveData carries it to the store.
	Archive     string          `json:"archive,omitempty"`
	ArchiveData []byte          `json:"-"`
	Files       []File          `json:"files"`
	Package     json.RawMessage `json:"package"`
	Cmd         []string        `json:"cmd"`     // how the app starts
	Install     bool            `json:"install"` // dependencies to install at build
	// How its last deploy went (Tsuru's deploy list shows it).
	DeployDuration time.Duration `json:"deploy_duration,omitempty"`
	DeployError    string        `json:"deploy_error,omitempty"`
}

var snapshotIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$`)

// Blobs are the stored contents the snapshot references: its files, and
// its archive as uploaded when it is kept.
func (s Snapshot) Blobs() []File {
	if s.Archive == "" {
		return s.Files
	}
	return append(append([]File(nil), s.Files...), File{Path: "(archive)", SHA1: s.Archive})
}

// ValidateSnapshotID checks a snapshot name. ".tgz" is reserved: the API
// serves the archive of snapshot X at X.tgz.
func ValidateSnapshotID(id string) error {
	if !snapshotIDRE.MatchString(id) || strings.HasSuffix(id, ".tgz") {
		return BadRequest("invalid snapshot id %q: use 1-64 letters, digits, '.', '_', '+' or '-', not ending in .tgz", id)
	}
	return nil
}
