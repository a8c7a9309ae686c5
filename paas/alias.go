package paas

import (
	"strings"
	"time"
)

// Alias is a hostname that serves one now deployment of its owner: a label
// of the platform zone, the deployment's app's own hostname (AppHost: the
// app then serves that deployment, as the Nodejitsu and Tsuru faces show),
// or a name in one of the owner's verified domains. Moving it to another
// deployment switches its traffic at once, and only to a READY one.
type Alias struct {
	UID   string `json:"uid"`
	Owner string `json:"owner"`
	Host  string `json:"host"` // lowercase, no trailing dot
	// Label is the label of the platform zone the alias holds in the hosts
	// index ("" for an app's own hostname and names of the owner's domains).
	Label      string    `json:"label,omitempty"`
	Deployment string    `json:"deployment"`
	App        string    `json:"app"` // the deployment's app
	AppHost    bool      `json:"app_host,omitempty"`
	Created    time.Time `json:"created"`
}

// NewAliasUID makes an alias's id, in the document's form.
func NewAliasUID() string { return RandomID("", 24) }

// hostedZone is the hosted now service's zone: the CLI appends it to a
// name without a dot, and users type it; here it means the platform zone.
const hostedZone = ".now.sh"

// NormalizeAlias turns what a user or the CLI sends as an alias into a
// hostname: a name without a dot is a label of the platform zone, and
// .now.sh stands for the platform zone.
func NormalizeAlias(alias, zone string) (string, error) {
	h := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(alias)), ".")
	if strings.Contains(h, "://") {
		_, h, _ = strings.Cut(h, "://")
		h, _, _ = strings.Cut(h, "/")
	}
	switch {
	case h == "":
		return "", BadRequest("an alias is required")
	case !strings.Contains(h, "."):
		h += "." + zone
	case strings.HasSuffix(h, hostedZone):
		h = strings.TrimSuffix(h, hostedZone) + "." + zone
	}
	if err := ValidateHostname(h); err != nil {
		return "", err
	}
	return h, nil
}

// ValidateHostname checks a DNS hostname of labels of a-z, 0-9 and '-'.
func ValidateHostname(h string) error {
	if len(h) > 253 {
		return BadRequest("invalid hostname %q: longer than 253 characters", h)
	}
	for _, l := range strings.Split(h, ".") {
		if ValidateSubdomain(l) != nil {
			return BadRequest("invalid hostname %q: each label is 1-63 letters, digits or '-', not starting or ending with '-'", h)
		}
	}
	return nil
}
