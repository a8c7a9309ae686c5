package store

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/selfhost/paas/paas"
	bolt "go.etcd.io/bbolt"
)

func deploymentHost(d paas.Deployment) HostTarget {
	return HostTarget{Kind: HostDeployment, Owner: d.Owner, Name: d.UID}
}

func (s *Store) putDeployment(tx *bolt.Tx, d paas.Deployment) error {
	d.SealedEnv = nil
	if len(d.Env) > 0 {
		plain, err := json.Marshal(d.Env)
		if err != nil {
			return fmt.Errorf("encode deployment %s env: %w", d.UID, err)
		}
		if d.SealedEnv, err = s.sealer.seal(plain); err != nil {
			return fmt.Errorf("deployment %s env: %w", d.UID, err)
		}
	}
	return putJSON(tx.Bucket(bucketDeployments), []byte(d.UID), d)
}

func (s *Store) decodeDeployment(k, data []byte) (paas.Deployment, error) {
	d, err := decode[paas.Deployment](k, data)
	if err != nil || len(d.SealedEnv) == 0 {
		return d, err
	}
	plain, err := s.sealer.open(d.SealedEnv)
	if err != nil {
		return paas.Deployment{}, fmt.Errorf("deployment %s env: %w", d.UID, err)
	}
	if err := json.Unmarshal(plain, &d.Env); err != nil {
		return paas.Deployment{}, fmt.Errorf("deployment %s env: %w", d.UID, err)
	}
	d.SealedEnv = nil
	return d, nil
}

func (s *Store) getDeployment(tx *bolt.Tx, uid string) (paas.Deployment, error) {
	v := tx.Bucket(bucketDeployments).Get([]byte(uid))
	if v == nil {
		return paas.Deployment{}, paas.NotFound("deployment %q not found", uid)
	}
	return s.decodeDeployment([]byte(uid), v)
}

// CreateDeployment stores a deployment with its snapshot (id d.UID) and
// claims its hostname, in one transaction: all of it or nothing.
func (s *Store) CreateDeployment(d paas.Deployment, sn paas.Snapshot, files []paas.ArchiveFile) (paas.Deployment, paas.Snapshot, error) {
	err := s.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketDeployments).Get([]byte(d.UID)) != nil {
			return paas.Conflict("deployment %q exists", d.UID)
		}
		sn.Owner, sn.App, sn.ID = d.Owner, d.App, d.UID
		var err error
		if sn, err = s.createSnapshotTx(tx, sn, files); err != nil {
			return err
		}
		if err := claimHost(tx, d.Label, deploymentHost(d)); err != nil {
			return err
		}
		now := s.now()
		d.Created, d.StateTs = now, now
		if err := tx.Bucket(bucketOwnDeploys).Put(key(d.Owner, d.UID), []byte(d.App)); err != nil {
			return err
		}
		return s.putDeployment(tx, d)
	})
	return d, sn, err
}

// Deployment returns a deployment by uid.
func (s *Store) Deployment(uid string) (paas.Deployment, error) {
	return view(s, func(tx *bolt.Tx) (paas.Deployment, error) { return s.getDeployment(tx, uid) })
}

// Deployments lists owner's deployments, oldest first.
func (s *Store) Deployments(owner string) ([]paas.Deployment, error) {
	out, err := view(s, func(tx *bolt.Tx) ([]paas.Deployment, error) {
		var out []paas.Deployment
		err := scanPrefix(tx.Bucket(bucketOwnDeploys), prefix(owner), func(k, _ []byte) error {
			d, err := s.getDeployment(tx, string(k[len(prefix(owner)):]))
			if err != nil {
				return err
			}
			out = append(out, d)
			return nil
		})
		return out, err
	})
	sortDeployments(out)
	return out, err
}

// AllDeployments lists every deployment, oldest first.
func (s *Store) AllDeployments() ([]paas.Deployment, error) {
	out, err := view(s, func(tx *bolt.Tx) ([]paas.Deployment, error) {
		return collect(tx.Bucket(bucketDeployments), nil, s.decodeDeployment)
	})
	sortDeployments(out)
	return out, err
}

func sortDeployments(ds []paas.Deployment) {
	sort.SliceStable(ds, func(i, j int) bool { return ds[i].Created.Before(ds[j].Created) })
}

// SetDeploymentState records a deployment's new state (and why, for an
// error). A deployment deleted meanwhile is a NotFound error.
func (s *Store) SetDeploymentState(uid, state, message string) (paas.Deployment, error) {
	return update(s, func(tx *bolt.Tx) (paas.Deployment, error) {
		d, err := s.getDeployment(tx, uid)
		if err != nil {
			return d, err
		}
		if d.State != state || d.Message != message {
			d.State, d.Message, d.StateTs = state, message, s.now()
		}
		return d, s.putDeployment(tx, d)
	})
}

// DeleteDeployment removes a deployment: its record, its hostname, its
// logs, and its snapshot unless that is its app's active one.
func (s *Store) DeleteDeployment(uid string) (paas.Deployment, error) {
	return update(s, func(tx *bolt.Tx) (paas.Deployment, error) {
		d, err := s.getDeployment(tx, uid)
		if err != nil {
			return d, err
		}
		a, err := s.getApp(tx, d.Owner, d.App)
		if err != nil {
			return d, err
		}
		if a.ServedBy == d.UID {
			if err := s.unserveApp(tx, a.Owner, a.Name); err != nil {
				return d, err
			}
		}
		if a.Snapshot != d.UID {
			sn, ok, err := lookup[paas.Snapshot](tx.Bucket(bucketSnapshots), key(d.Owner, d.App, d.UID))
			if err != nil {
				return d, err
			}
			if ok {
				if err := tx.Bucket(bucketSnapshots).Delete(key(d.Owner, d.App, d.UID)); err != nil {
					return d, err
				}
				if err := releaseFiles(tx, sn.Blobs()); err != nil {
					return d, err
				}
			}
		}
		return d, deleteDeploymentTx(tx, d)
	})
}

// deleteDeploymentTx removes what only the deployment has (its snapshot is
// the caller's).
func deleteDeploymentTx(tx *bolt.Tx, d paas.Deployment) error {
	aliases, err := aliasesOf(tx, d.Owner, d.UID)
	if err != nil {
		return err
	}
	for _, a := range aliases {
		if err := dropAlias(tx, a); err != nil {
			return err
		}
	}
	if err := releaseHost(tx, d.Label, deploymentHost(d)); err != nil {
		return err
	}
	if err := deleteLogsOf(tx, d.Target()); err != nil {
		return err
	}
	if err := tx.Bucket(bucketOwnDeploys).Delete(key(d.Owner, d.UID)); err != nil {
		return err
	}
	if err := deletePrefix(tx.Bucket(bucketSyncBlobs), prefix(d.UID)); err != nil {
		return err
	}
	return tx.Bucket(bucketDeployments).Delete([]byte(d.UID))
}

// deleteDeploymentsOf removes the deployments of a deleted app (its
// snapshots go with the app).
func deleteDeploymentsOf(tx *bolt.Tx, a paas.App) error {
	var uids []string
	if err := scanPrefix(tx.Bucket(bucketOwnDeploys), prefix(a.Owner), func(k, v []byte) error {
		if string(v) == a.Name {
			uids = append(uids, string(k[len(prefix(a.Owner)):]))
		}
		return nil
	}); err != nil {
		return err
	}
	for _, uid := range uids {
		d, err := decode[paas.Deployment]([]byte(uid), tx.Bucket(bucketDeployments).Get([]byte(uid)))
		if err != nil {
			return err
		}
		if err := deleteDeploymentTx(tx, d); err != nil {
			return err
		}
	}
	return nil
}

// CreatePendingDeployment stores a DEPLOYING deployment whose files
// (d.Pending) are to be synced, claiming its hostname, and returns the
// SHA-1s of the files the store does not hold yet.
func (s *Store) CreatePendingDeployment(d paas.Deployment) (paas.Deployment, []string, error) {
	var missing []string
	err := s.db.Update(func(tx *bolt.Tx) error {
		if _, err := s.getApp(tx, d.Owner, d.App); err != nil {
			return err
		}
		if tx.Bucket(bucketDeployments).Get([]byte(d.UID)) != nil {
			return paas.Conflict("deployment %q exists", d.UID)
		}
		if err := claimHost(tx, d.Label, deploymentHost(d)); err != nil {
			return err
		}
		now := s.now()
		d.Created, d.StateTs, d.State = now, now, paas.DeploymentDeploying
		if err := tx.Bucket(bucketOwnDeploys).Put(key(d.Owner, d.UID), []byte(d.App)); err != nil {
			return err
		}
		missing = missingFiles(tx, d)
		return s.putDeployment(tx, d)
	})
	return d, missing, err
}

// missingFiles lists the SHA-1s of d.Pending neither stored nor synced, once each.
func missingFiles(tx *bolt.Tx, d paas.Deployment) []string {
	blobs, synced := tx.Bucket(bucketBlobs), tx.Bucket(bucketSyncBlobs)
	seen := map[string]bool{}
	missing := []string{}
	for _, f := range d.Pending {
		if seen[f.SHA1] {
			continue
		}
		seen[f.SHA1] = true
		if blobs.Get([]byte(f.SHA1)) == nil && synced.Get(key(d.UID, f.SHA1)) == nil {
			missing = append(missing, f.SHA1)
		}
	}
	return missing
}

// SyncDeploymentFile keeps data, the content of a file of DEPLOYING
// deployment uid whose SHA-1 is sha, and returns the SHA-1s still missing.
func (s *Store) SyncDeploymentFile(uid, sha string, data []byte) ([]string, error) {
	return update(s, func(tx *bolt.Tx) ([]string, error) {
		d, err := s.getDeployment(tx, uid)
		if err != nil {
			return nil, err
		}
		if d.State != paas.DeploymentDeploying {
			return nil, paas.Conflict("deployment %s is %s: it takes no more files", uid, d.State)
		}
		found := false
		for _, f := range d.Pending {
			if f.SHA1 == sha {
				if f.Size != int64(len(data)) {
					return nil, paas.BadRequest("file %s: %d bytes sent, %d declared", f.Path, len(data), f.Size)
				}
				found = true
				break
			}
		}
		if !found {
			return nil, paas.BadRequest("no file of deployment %s has the SHA-1 %s", uid, sha)
		}
		if tx.Bucket(bucketBlobs).Get([]byte(sha)) == nil {
			if err := tx.Bucket(bucketSyncBlobs).Put(key(uid, sha), data); err != nil {
				return nil, err
			}
		}
		return missingFiles(tx, d), nil
	})
}

// PendingFiles returns the files of DEPLOYING deployment uid with their
// contents, read in one transaction, once none is missing.
func (s *Store) PendingFiles(uid string) ([]paas.ArchiveFile, error) {
	return view(s, func(tx *bolt.Tx) ([]paas.ArchiveFile, error) {
		d, err := s.getDeployment(tx, uid)
		if err != nil {
			return nil, err
		}
		blobs, synced := tx.Bucket(bucketBlobs), tx.Bucket(bucketSyncBlobs)
		out := make([]paas.ArchiveFile, 0, len(d.Pending))
		for _, f := range d.Pending {
			v := blobs.Get([]byte(f.SHA1))
			if v == nil {
				v = synced.Get(key(uid, f.SHA1))
			}
			if v == nil {
				return nil, paas.Conflict("deployment %s: file %s is not synced yet", uid, f.Path)
			}
			out = append(out, paas.ArchiveFile{File: f, Data: append([]byte(nil), v...)})
		}
		return out, nil
	})
}

// CompleteDeployment turns DEPLOYING deployment uid, all of whose files are
// synced, into BOOTING with its snapshot sn of files, in one transaction.
// A deployment no longer DEPLOYING (completed by a concurrent sync) is a
// conflict.
func (s *Store) CompleteDeployment(uid string, sn paas.Snapshot, files []paas.ArchiveFile) (paas.Deployment, error) {
	return update(s, func(tx *bolt.Tx) (paas.Deployment, error) {
		d, err := s.getDeployment(tx, uid)
		if err != nil {
			return d, err
		}
		if d.State != paas.DeploymentDeploying {
			return d, paas.Conflict("deployment %s is already %s", uid, d.State)
		}
		sn.Owner, sn.App, sn.ID = d.Owner, d.App, d.UID
		if _, err := s.createSnapshotTx(tx, sn, files); err != nil {
			return d, err
		}
		if err := deletePrefix(tx.Bucket(bucketSyncBlobs), prefix(uid)); err != nil {
			return d, err
		}
		d.State, d.StateTs, d.Pending = paas.DeploymentBooting, s.now(), nil
		return d, s.putDeployment(tx, d)
	})
}
