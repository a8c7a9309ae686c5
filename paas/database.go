package paas

import (
	"regexp"
	"time"
)

// Database is a database an app can use. This release records databases
// only: provisioning real database containers is planned (see README), and
// Status says so to API clients.
type Database struct {
	Owner   string    `json:"owner"`
	Name    string    `json:"name"`
	Type    string    `json:"type"`
	Status  string    `json:"status"`
	Message string    `json:"message"`
	Created time.Time `json:"created"`
}

// DatabaseStatusPending is the status of a recorded, not yet provisioned database.
const (
	DatabaseStatusPending  = "pending"
	DatabasePendingMessage = "recorded; provisioning database containers is not implemented yet in this release"
)

// DatabaseTypes are the types the Nodejitsu API offers.
var DatabaseTypes = map[string]bool{"couch": true, "redis": true, "mongo": true, "mongohq": true, "redistogo": true}

var dbNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// ValidateDatabase checks a database name and type.
func ValidateDatabase(name, typ string) error {
	if !dbNameRE.MatchString(name) {
		return BadRequest("invalid database name %q", name)
	}
	if !DatabaseTypes[typ] {
		return BadRequest("invalid database type %q: use couch, redis, mongo, mongohq or redistogo", typ)
	}
	return nil
}
