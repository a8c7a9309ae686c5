package paas

import (
	"net/url"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ExternalService is a service another server provides through the Tsuru
// service API (registered with a YAML manifest): the platform asks its
// endpoint to create, bind, unbind and remove instances, with the
// manifest's credentials.
type ExternalService struct {
	Name           string    `json:"name"`
	Endpoint       string    `json:"endpoint"`
	Username       string    `json:"username"`
	Password       string    `json:"-"`
	SealedPassword []byte    `json:"sealed_password,omitempty"`
	Teams          []string  `json:"teams"` // the teams that manage it and may use it
	Doc            string    `json:"doc,omitempty"`
	Created        time.Time `json:"created"`
	// AnyAddress: an admin registered it, so its endpoint may be on a
	// loopback or private network; others' are refused at every dial.
	AnyAddress bool `json:"any_address,omitempty"`
}

var serviceNameRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{1,39}$`)

// maxManifest bounds a manifest (and a service doc).
const maxManifest = 64 << 10

// ParseServiceManifest reads a Tsuru service manifest:
//
//	id: mysql
//	username: mysql_api   # optional, default: the id
//	password: secret
//	endpoint:
//	  production: http://mysql-api.example.com
//
// Malformed YAML and missing or bad fields are a 400 with the reason.
func ParseServiceManifest(data []byte) (ExternalService, error) {
	if len(data) > maxManifest {
		return ExternalService{}, BadRequest("manifest is larger than %d bytes", maxManifest)
	}
	var m struct {
		ID       string            `yaml:"id"`
		Username string            `yaml:"username"`
		Password string            `yaml:"password"`
		Endpoint map[string]string `yaml:"endpoint"`
	}
	if err := yaml.Unmarshal(data, &m); err != nil {
		return ExternalService{}, BadRequest("manifest is not valid YAML: %v", err)
	}
	if !serviceNameRE.MatchString(m.ID) {
		return ExternalService{}, BadRequest("manifest id %q: use 2-40 lowercase letters, digits, '_' or '-', starting with a letter", m.ID)
	}
	if m.Password == "" {
		return ExternalService{}, BadRequest("manifest needs a password (the service API's credential)")
	}
	ep := strings.TrimRight(strings.TrimSpace(m.Endpoint["production"]), "/")
	if ep != "" && !strings.Contains(ep, "://") {
		ep = "http://" + ep // the document's own example gives a bare host
	}
	u, err := url.Parse(ep)
	if ep == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ExternalService{}, BadRequest("manifest endpoint.production %q: an http(s) URL is required", m.Endpoint["production"])
	}
	if m.Username == "" {
		m.Username = m.ID
	}
	return ExternalService{Name: m.ID, Endpoint: ep, Username: m.Username, Password: m.Password}, nil
}

// ValidateServiceDoc bounds a service's documentation.
func ValidateServiceDoc(doc string) error {
	if len(doc) > maxManifest {
		return BadRequest("doc is larger than %d bytes", maxManifest)
	}
	return nil
}
