package paas

import (
	"regexp"
	"time"
)

// Secret is a named value an owner keeps for its deployments' env (now's
// "@name" references). The value is sealed at rest and never shown again.
type Secret struct {
	UID         string    `json:"uid"`
	Owner       string    `json:"owner"`
	Name        string    `json:"name"`
	Value       string    `json:"-"`
	SealedValue []byte    `json:"sealed_value,omitempty"`
	Created     time.Time `json:"created"`
}

var secretNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,100}$`)

// MaxSecretValue bounds a secret's value.
const MaxSecretValue = 64 << 10

// ValidateSecretName checks a secret's name.
func ValidateSecretName(name string) error {
	if !secretNameRE.MatchString(name) {
		return BadRequest("invalid secret name %q: use 1-100 letters, digits, '-' or '_'", name)
	}
	return nil
}

// NewSecretUID makes a secret's id, in the document's form.
func NewSecretUID() string { return RandomID("sec_", 24) }
