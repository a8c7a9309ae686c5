package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/selfhost/paas/paas"
	bolt "go.etcd.io/bbolt"
)

// Bucket names. Keys that name an owned object are "owner\x00name" (see
// key), so all of one owner's objects sort together and a prefix scan lists
// them. An owner is a user or a team: the two share one namespace.
var (
	bucketMeta          = []byte("meta")
	bucketUsers         = []byte("users")             // user name → User
	bucketEmails        = []byte("emails")            // lowercased email → user name (index)
	bucketTeams         = []byte("teams")             // team name → Team
	bucketTeamMembers   = []byte("team_members")      // user\x00team → Role (index)
	bucketTokens        = []byte("tokens")            // sha256(token) → Token
	bucketUserTokens    = []byte("user_tokens")       // user\x00tokenID → sha256(token) (index)
	bucketThirdParty    = []byte("thirdparty")        // user\x00id → ThirdPartyToken (token sealed)
	bucketKeys          = []byte("keys")              // user\x00id → SSHKey
	bucketApps          = []byte("apps")              // owner\x00name → App
	bucketAppNames      = []byte("app_names")         // app name → owner (index: names are unique platform-wide)
	bucketHosts         = []byte("hosts")             // hostname label → HostTarget (index)
	bucketSnapshots     = []byte("snapshots")         // owner\x00app\x00id → Snapshot
	bucketBlobs         = []byte("blobs")             // sha1 (hex) → file content
	bucketBlobRefs      = []byte("blob_refs")         // sha1 (hex) → uint64 reference count
	bucketDatabases     = []byte("databases")         // owner\x00name → Database
	bucketLogs          = []byte("logs")              // nested: app key → (time‖seq → LogEntry)
	bucketLogCounts     = []byte("log_counts")        // app key → uint64 lines kept
	bucketServices      = []byte("services")          // name → ExternalService (password sealed)
	bucketSecrets       = []byte("secrets")           // owner\x00uid → Secret (value sealed)
	bucketDeployments   = []byte("deployments")       // uid → Deployment (env sealed)
	bucketOwnDeploys    = []byte("owner_deployments") // owner\x00uid → app (index)
	bucketAliases       = []byte("aliases")           // uid → Alias
	bucketAliasHosts    = []byte("alias_hosts")       // hostname → uid (index: an alias is unique platform-wide)
	bucketOwnAliases    = []byte("owner_aliases")     // owner\x00uid → deployment uid (index)
	bucketSyncBlobs     = []byte("sync_blobs")        // deployment uid\x00sha1 → content synced for a DEPLOYING deployment
	bucketRegistrations = []byte("registrations")     // logins by email in progress (see registration.go)
	bucketConfig        = []byte("jitsu_config")      // owner\x00type\x00id → a Jitsu config object (JSON)
	bucketEvents        = []byte("events")            // nested: owner\x00stream → (seq → event JSON)
	bucketStreamState   = []byte("stream_state")      // owner\x00stream → StreamState
	bucketLinkState     = []byte("link_state")        // owner\x00link → LinkState
	bucketWriteKeys     = []byte("write_keys")        // SHA-256 of a stream's write key → owner\x00stream

	// Domains and DNS (domain.go).
	bucketDomains    = []byte("domains")       // domain name → Domain (names are unique platform-wide)
	bucketOwnDomains = []byte("owner_domains") // owner\x00domain → uid (index)
	bucketClaims     = []byte("domain_claims") // owner\x00domain → Domain: a claim not yet proven (any number per name)
	bucketRecords    = []byte("dns_records")   // domain\x00recID → Record
	bucketZoneSerial = []byte("dns_serials")   // zone origin → zoneSerial (content hash and SOA serial)

	// TLS (tls.go).
	bucketTLS      = []byte("tls")       // slash-separated key → sealed value (certificates, keys, ACME accounts)
	bucketTLSLocks = []byte("tls_locks") // lock name → holder and expiry

	allBuckets = [][]byte{bucketMeta, bucketUsers, bucketEmails, bucketTeams, bucketTeamMembers,
		bucketTokens, bucketUserTokens, bucketThirdParty, bucketKeys, bucketApps, bucketAppNames,
		bucketHosts, bucketSnapshots, bucketBlobs, bucketBlobRefs, bucketDatabases, bucketLogs,
		bucketLogCounts, bucketDomains, bucketOwnDomains, bucketClaims, bucketRecords, bucketZoneSerial, bucketTLS, bucketTLSLocks, bucketServices, bucketSecrets, bucketDeployments, bucketOwnDeploys, bucketAliases, bucketAliasHosts, bucketOwnAliases, bucketSyncBlobs, bucketRegistrations, bucketConfig,
		bucketEvents, bucketStreamState, bucketLinkState, bucketWriteKeys}

	keySchemaVersion  = []byte("schema_version")
	keyInstancePrefix = []byte("instance_prefix")
)

// schemaVersion is the layout this code writes. Bump it and append to
// migrations when the layout changes; migrations[i] upgrades version i to
// i+1, after every bucket of allBuckets has been created.
const schemaVersion = 2

var migrations = []func(tx *bolt.Tx) error{
	0: func(tx *bolt.Tx) error { return nil }, // a new file: the buckets are already there
	1: indexGlobalNames,
}

// Store is the platform's only persistent state: one bbolt file. It is safe
// for concurrent use; every method that changes more than one key does it in
// one transaction.
type Store struct {
	db     *bolt.DB
	sealer *sealer
	now    func() time.Time
	// upgraded: the file predates schema 2 (see InstancePrefix).
	upgraded bool

	// LogRetention bounds the lines kept per app (0: DefaultLogRetention).
	LogRetention int
}

// ErrLocked is returned by Open when another process holds the file.
var ErrLocked = errors.New("data file is in use by another process")

// Open opens (creating if needed) the store in dataDir: paas.db and the
// secret key used to encrypt secrets at rest. A second process on the same
// file fails within a second with ErrLocked instead of hanging.
func Open(dataDir string) (*Store, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	path := filepath.Join(dataDir, "paas.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("open %s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// Batched writes (ingested events, log lines) wait at most this long
	// for others to share their commit: bbolt's 10 ms default made an
	// ingest's answer, and each event's delivery, wait 10 ms for it
	// (BenchmarkIngest: 1,420 ingests/s at 16 clients with 10 ms).
	db.MaxBatchDelay = 2 * time.Millisecond
	s, err := newStore(db, dataDir)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func newStore(db *bolt.DB, dataDir string) (*Store, error) {
	sl, err := loadSealer(filepath.Join(dataDir, "secret.key"))
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, sealer: sl, now: func() time.Time { return time.Now().UTC() }}
	if err := s.migrate(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) migrate() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		meta := tx.Bucket(bucketMeta)
		version := 0
		if v := meta.Get(keySchemaVersion); v != nil {
			n, err := readU64(bucketMeta, keySchemaVersion, v)
			if err != nil {
				return err
			}
			version = int(n)
		}
		if version > schemaVersion {
			return fmt.Errorf("data file has schema version %d, newer than this binary's %d", version, schemaVersion)
		}
		if version == 1 {
			s.upgraded = true
		}
		for ; version < schemaVersion; version++ {
			if err := migrations[version](tx); err != nil {
				return fmt.Errorf("migrate schema %d to %d: %w", version, version+1, err)
			}
		}
		return meta.Put(keySchemaVersion, u64(schemaVersion))
	})
}

// InstancePrefix is this installation's name for its objects in a shared
// container engine, kept in the store: a second server on another data
// directory (or a test) never lists, adopts or removes the first one's
// units and volumes. A file from before it was kept (schema 1) keeps the
// old shared name "paas", so its running units are still adopted.
func (s *Store) InstancePrefix() (string, error) {
	return update(s, func(tx *bolt.Tx) (string, error) {
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(keyInstancePrefix); v != nil {
			return string(v), nil
		}
		prefix := "paas-" + paas.RandomHex(3)
		if s.upgraded {
			prefix = "paas"
		}
		return prefix, meta.Put(keyInstancePrefix, []byte(prefix))
	})
}

// Close closes the file. Callers must have stopped using the store.
func (s *Store) Close() error { return s.db.Close() }

// Backup writes a consistent copy of the whole database to w while the store
// stays open for reads and writes.
func (s *Store) Backup(w io.Writer) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("backup: %w", err)
	}
	return n, nil
}

// BackupFile writes a backup to path atomically (temp file + rename).
func (s *Store) BackupFile(path string) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".paas-backup-*")
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(tmp.Name())
	n, err := s.Backup(tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return n, fmt.Errorf("backup: %w", err)
	}
	return n, nil
}

// key joins name parts with NUL, which no validated name contains.
func key(parts ...string) []byte {
	return []byte(joinKey(parts...))
}

func joinKey(parts ...string) string {
	var b bytes.Buffer
	for i, p := range parts {
		if i > 0 {
			b.WriteByte(0)
		}
		b.WriteString(p)
	}
	return b.String()
}

func prefix(parts ...string) []byte { return append(key(parts...), 0) }

// readU64 decodes a stored counter; a value of the wrong size is a
// corrupt file, reported, never a panic.
func readU64(what, k, v []byte) (uint64, error) {
	if len(v) != 8 {
		return 0, fmt.Errorf("%s %q: corrupt counter (%d bytes)", what, k, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}
