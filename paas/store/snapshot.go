package store

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io/fs"
	"sort"
	"testing/fstest"
	"time"

	"github.com/selfhost/paas/paas"
	bolt "go.etcd.io/bbolt"
)

// CreateSnapshot stores a snapshot and its files in one transaction. Files
// are stored once per content (SHA-1) and reference-counted.
func (s *Store) CreateSnapshot(sn paas.Snapshot, files []paas.ArchiveFile) (paas.Snapshot, error) {
	return update(s, func(tx *bolt.Tx) (paas.Snapshot, error) { return s.createSnapshotTx(tx, sn, files) })
}

func (s *Store) createSnapshotTx(tx *bolt.Tx, sn paas.Snapshot, files []paas.ArchiveFile) (paas.Snapshot, error) {
	if _, err := s.getApp(tx, sn.Owner, sn.App); err != nil {
		return sn, err
	}
	snaps := tx.Bucket(bucketSnapshots)
	k := key(sn.Owner, sn.App, sn.ID)
	if snaps.Get(k) != nil {
		return sn, paas.Conflict("snapshot %q already exists", sn.ID)
	}
	blobs, refs := tx.Bucket(bucketBlobs), tx.Bucket(bucketBlobRefs)
	sn.Files = make([]paas.File, 0, len(files))
	for _, f := range files {
		n := uint64(0)
		if v := refs.Get([]byte(f.SHA1)); v != nil {
			var err error
			if n, err = readU64(bucketBlobRefs, []byte(f.SHA1), v); err != nil {
				return sn, err
			}
		} else if data, err := f.Content(); err != nil {
			return sn, err
		} else if err := blobs.Put([]byte(f.SHA1), data); err != nil {
			return sn, fmt.Errorf("store file %s: %w", f.Path, err)
		}
		if err := refs.Put([]byte(f.SHA1), u64(n+1)); err != nil {
			return sn, err
		}
		sn.Files = append(sn.Files, f.File)
	}
	if len(sn.ArchiveData) > 0 {
		sum := sha1.Sum(sn.ArchiveData)
		sn.Archive = hex.EncodeToString(sum[:])
		if err := addBlobRef(blobs, refs, sn.Archive, sn.ArchiveData); err != nil {
			return sn, err
		}
		sn.ArchiveData = nil
	}
	sn.Created = s.now()
	return sn, putJSON(snaps, k, sn)
}

// addBlobRef counts one more reference to the content sha, storing data
// when it is the first.
func addBlobRef(blobs, refs *bolt.Bucket, sha string, data []byte) error {
	n := uint64(0)
	if v := refs.Get([]byte(sha)); v != nil {
		var err error
		if n, err = readU64(bucketBlobRefs, []byte(sha), v); err != nil {
			return err
		}
	} else if err := blobs.Put([]byte(sha), data); err != nil {
		return fmt.Errorf("store blob %s: %w", sha, err)
	}
	return refs.Put([]byte(sha), u64(n+1))
}

// releaseFiles drops one reference to each file, deleting unreferenced content.
func releaseFiles(tx *bolt.Tx, files []paas.File) error {
	blobs, refs := tx.Bucket(bucketBlobs), tx.Bucket(bucketBlobRefs)
	for _, f := range files {
		v := refs.Get([]byte(f.SHA1))
		if v == nil {
			continue
		}
		n, err := readU64(bucketBlobRefs, []byte(f.SHA1), v)
		if err != nil {
			return err
		}
		if n <= 1 {
			if err := refs.Delete([]byte(f.SHA1)); err != nil {
				return err
			}
			if err := blobs.Delete([]byte(f.SHA1)); err != nil {
				return err
			}
			continue
		}
		if err := refs.Put([]byte(f.SHA1), u64(n-1)); err != nil {
			return err
		}
	}
	return nil
}

// Snapshot returns one snapshot.
func (s *Store) Snapshot(owner, app, id string) (paas.Snapshot, error) {
	return view(s, func(tx *bolt.Tx) (paas.Snapshot, error) {
		return get[paas.Snapshot](tx.Bucket(bucketSnapshots), key(owner, app, id), notFound("snapshot %q not found", id))
	})
}

// Snapshots lists an app's snapshots, oldest first.
func (s *Store) Snapshots(owner, app string) ([]paas.Snapshot, error) {
	out, err := view(s, func(tx *bolt.Tx) ([]paas.Snapshot, error) {
		return list[paas.Snapshot](tx.Bucket(bucketSnapshots), prefix(owner, app))
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, err
}

// DeleteSnapshot removes a snapshot that is not the app's active one.
func (s *Store) DeleteSnapshot(owner, app, id string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		a, err := s.getApp(tx, owner, app)
		if err != nil {
			return err
		}
		if a.Snapshot == id {
			return paas.Conflict("snapshot %q is the active snapshot; activate another one first", id)
		}
		sn, err := take[paas.Snapshot](tx.Bucket(bucketSnapshots), key(owner, app, id), notFound("snapshot %q not found", id))
		if err != nil {
			return err
		}
		return releaseFiles(tx, sn.Blobs())
	})
}

// Blob returns a stored file's content by SHA-1.
func (s *Store) Blob(sha1 string) ([]byte, error) {
	var data []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketBlobs).Get([]byte(sha1))
		if v == nil {
			return paas.NotFound("file %q not found", sha1)
		}
		data = append([]byte(nil), v...) // bbolt memory is only valid inside the transaction
		return nil
	})
	return data, err
}

// SnapshotFS returns the snapshot's files as an in-memory fs.FS, read in one
// transaction so the build sees one consistent version.
func (s *Store) SnapshotFS(sn paas.Snapshot) (fs.FS, error) {
	fsys := fstest.MapFS{}
	err := s.db.View(func(tx *bolt.Tx) error {
		blobs := tx.Bucket(bucketBlobs)
		for _, f := range sn.Files {
			v := blobs.Get([]byte(f.SHA1))
			if v == nil {
				return fmt.Errorf("snapshot %s: file %s (%s) is missing from the store", sn.ID, f.Path, f.SHA1)
			}
			fsys[f.Path] = &fstest.MapFile{Data: append([]byte(nil), v...), Mode: fs.FileMode(f.Mode), ModTime: sn.Created}
		}
		return nil
	})
	return fsys, err
}

// RecordDeploy notes how a deploy of a snapshot went: how long it took and
// why it failed ("" when it served).
func (s *Store) RecordDeploy(owner, app, id string, took time.Duration, failure string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSnapshots)
		sn, err := get[paas.Snapshot](b, key(owner, app, id), notFound("snapshot %q not found", id))
		if err != nil {
			return err
		}
		sn.DeployDuration, sn.DeployError = took, failure
		return putJSON(b, key(owner, app, id), sn)
	})
}

// SnapshotCount is how many snapshots an app has, read without decoding them.
func (s *Store) SnapshotCount(owner, app string) (int, error) {
	return view(s, func(tx *bolt.Tx) (int, error) { return count(tx.Bucket(bucketSnapshots), prefix(owner, app)), nil })
}
