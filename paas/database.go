package paas

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"sort"
	"time"
)

// Database is a service instance: a database server (redis, postgresql, mongodb)
// run for its owner as a container with its own data volume, bound to the
// owner's apps through environment variables. It is a Nodejitsu
// /databases/:user/:db database and a Tsuru service instance at once.
type Database struct {
	Owner   string    `json:"owner"`
	Name    string    `json:"name"`
	Type    string    `json:"type"`    // as asked for (Nodejitsu's redistogo, mongohq …, or the service)
	Service string    `json:"service"` // what runs: ServiceRedis, ServicePostgreSQL …
	Status  string    `json:"status"`
	Message string    `json:"message"`
	Created time.Time `json:"created"`
	// Instance is the runtime's id of the server; Network is what a bound
	// app's units join to reach it at Host:Port.
	Instance string `json:"instance,omitempty"`
	Network  string `json:"network,omitempty"`
	Host     string `json:"host,omitempty"`
	Port     int    `json:"port,omitempty"`
	// Password is generated at creation; it is sealed at rest.
	Password       string   `json:"-"`
	SealedPassword []byte   `json:"sealed_password,omitempty"`
	Apps           []string `json:"apps,omitempty"` // keys of the bound apps
	// External: the instance lives at an external service's endpoint.
	External bool `json:"external,omitempty"`
	// BoundEnv is what each binding put in its app's env (app key →
	// variables), so unbinding takes exactly that away; sealed at rest.
	BoundEnv       map[string]map[string]string `json:"-"`
	SealedBoundEnv []byte                       `json:"sealed_bound_env,omitempty"`
}

// Database statuses.
const (
	DatabaseStatusPending  = "pending" // recorded; this release runs no server of its type
	DatabaseStatusCreating = "creating"
	DatabaseStatusRunning  = "running"
	DatabasePendingMessage = "recorded; this release runs no server of this type yet (redis, postgresql and mongodb run for real)"
)

// The services the platform runs.
const (
	ServiceRedis      = "redis"
	ServicePostgreSQL = "postgresql"
	ServiceMongoDB    = "mongodb"
	ServiceCouchDB    = "couchdb"
)

// DatabaseTypes maps every accepted type (Nodejitsu's and Tsuru's names)
// to its service.
var DatabaseTypes = map[string]string{
	"redis": ServiceRedis, "redistogo": ServiceRedis,
	"postgresql": ServicePostgreSQL, "postgres": ServicePostgreSQL,
	"mongo": ServiceMongoDB, "mongohq": ServiceMongoDB, "mongodb": ServiceMongoDB,
	"couch": ServiceCouchDB, "couchdb": ServiceCouchDB,
}

// RunnableServices are the services this release runs servers for.
var RunnableServices = map[string]bool{ServiceRedis: true, ServicePostgreSQL: true, ServiceMongoDB: true}

// Services lists the built-in services by name.
func Services() []string {
	out := []string{ServiceCouchDB, ServiceMongoDB, ServicePostgreSQL, ServiceRedis}
	sort.Strings(out)
	return out
}

var dbNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// ValidateDatabase checks a database name and type, and returns the
// service the type runs.
func ValidateDatabase(name, typ string) (string, error) {
	if !dbNameRE.MatchString(name) {
		return "", BadRequest("invalid database name %q", name)
	}
	svc, ok := DatabaseTypes[typ]
	if !ok {
		return "", BadRequest("invalid database type %q: use redis (redistogo), postgresql, mongo (mongohq, mongodb) or couch (couchdb)", typ)
	}
	return svc, nil
}

// CheckUnbound refuses to remove a database still bound to apps, saying which.
func (d Database) CheckUnbound() error {
	if len(d.Apps) > 0 {
		return Conflict("database %q is bound to %v; unbind it first", d.Name, d.Apps)
	}
	return nil
}

// Env is what binding d to an app puts in the app's environment; its
// names are the ones apps and client libraries look for.
func (d Database) Env() map[string]string {
	port := fmt.Sprint(d.Port)
	switch d.Service {
	case ServiceRedis:
		return map[string]string{
			"REDIS_URL":  fmt.Sprintf("redis://:%s@%s:%d", d.Password, d.Host, d.Port),
			"REDIS_HOST": d.Host, "REDIS_PORT": port, "REDIS_PASSWORD": d.Password,
		}
	case ServicePostgreSQL:
		return map[string]string{
			"DATABASE_URL": fmt.Sprintf("postgres://%s:%s@%s:%d/%s", PostgresUser, d.Password, d.Host, d.Port, PostgresDatabase),
			"PGHOST":       d.Host, "PGPORT": port, "PGUSER": PostgresUser, "PGPASSWORD": d.Password, "PGDATABASE": PostgresDatabase,
		}
	case ServiceMongoDB:
		// The user is the root user, in the admin database, as the official
		// image makes it.
		u := url.URL{Scheme: "mongodb", User: url.UserPassword(MongoUser, d.Password), Host: net.JoinHostPort(d.Host, port),
			Path: "/" + MongoDatabase, RawQuery: "authSource=admin"}
		return map[string]string{"MONGODB_URI": u.String(), "MONGO_URL": u.String()}
	}
	return map[string]string{}
}

// The MongoDB user (in the admin database) and the apps' database of every
// instance (the runtime's).
const (
	MongoUser     = "app"
	MongoDatabase = "app"
)

// The PostgreSQL role and database of every instance (the runtime's).
const (
	PostgresUser     = "app"
	PostgresDatabase = "app"
)
