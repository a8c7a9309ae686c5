package store

import (
	"encoding/binary"
	"encoding/json"
	"slices"

	"github.com/selfhost/paas/paas"
	bolt "go.etcd.io/bbolt"
)

// Events: a nested bucket per stream (owner\x00stream) of big-endian seq
// → event JSON, in bucketEvents; the stream's counters in
// bucketStreamState; each link's cursor and counters in bucketLinkState;
// the write keys of ingest streams in bucketWriteKeys (SHA-256 of
// "<keyId>:<secret>" → owner\x00stream).

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// AppendEvents appends events to stream in order, committed with other
// callers' appends (bbolt's batch: one fsync for many ingests), keeping at
// most bound events (the oldest are dropped and counted). It returns once
// they are on disk.
func (s *Store) AppendEvents(streamKey string, events [][]byte, bound int) (paas.StreamState, error) {
	var st paas.StreamState
	err := s.db.Batch(func(tx *bolt.Tx) error {
		b, err := tx.Bucket(bucketEvents).CreateBucketIfNotExists([]byte(streamKey))
		if err != nil {
			return err
		}
		states := tx.Bucket(bucketStreamState)
		st = paas.StreamState{}
		if v := states.Get([]byte(streamKey)); v != nil {
			if err := json.Unmarshal(v, &st); err != nil {
				return err
			}
		}
		for _, e := range events {
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			if err := b.Put(seqKey(seq), e); err != nil {
				return err
			}
			st.Last = seq
			st.Kept++
		}
		if bound > 0 && st.Kept > uint64(bound) {
			c := b.Cursor()
			for k, _ := c.First(); k != nil && st.Kept > uint64(bound); k, _ = c.First() {
				if err := b.Delete(k); err != nil {
					return err
				}
				st.Kept--
				st.Dropped++
			}
		}
		return putJSON(states, []byte(streamKey), st)
	})
	return st, err
}

// StreamState returns stream's counters.
func (s *Store) StreamState(streamKey string) (paas.StreamState, error) {
	return view(s, func(tx *bolt.Tx) (paas.StreamState, error) {
		st, _, err := lookup[paas.StreamState](tx.Bucket(bucketStreamState), []byte(streamKey))
		return st, err
	})
}

// ReadEvents returns up to n events of stream after seq, in order.
func (s *Store) ReadEvents(streamKey string, after uint64, n int) ([]paas.Event, error) {
	return view(s, func(tx *bolt.Tx) ([]paas.Event, error) {
		b := tx.Bucket(bucketEvents).Bucket([]byte(streamKey))
		if b == nil {
			return nil, nil
		}
		var out []paas.Event
		c := b.Cursor()
		for k, v := c.Seek(seqKey(after + 1)); k != nil && len(out) < n; k, v = c.Next() {
			out = append(out, paas.Event{Seq: binary.BigEndian.Uint64(k), Data: slices.Clone(v)})
		}
		return out, nil
	})
}

// PruneEvents deletes stream's events up to seq (every link has them).
func (s *Store) PruneEvents(streamKey string, upTo uint64) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEvents).Bucket([]byte(streamKey))
		if b == nil {
			return nil
		}
		states := tx.Bucket(bucketStreamState)
		st, _, err := lookup[paas.StreamState](states, []byte(streamKey))
		if err != nil {
			return err
		}
		c := b.Cursor()
		n := uint64(0)
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= upTo; k, _ = c.First() {
			if err := b.Delete(k); err != nil {
				return err
			}
			n++
		}
		if n == 0 {
			return nil
		}
		st.Kept -= min(n, st.Kept)
		return putJSON(states, []byte(streamKey), st)
	})
}

// LinkState returns a link's delivery state (ok false: never saved).
func (s *Store) LinkState(owner, link string) (paas.LinkState, bool, error) {
	var st paas.LinkState
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		st, ok, err = lookup[paas.LinkState](tx.Bucket(bucketLinkState), key(owner, link))
		return err
	})
	return st, ok, err
}

// SaveLinkState records a link's delivery state.
func (s *Store) SaveLinkState(owner, link string, st paas.LinkState) error {
	return s.db.Update(func(tx *bolt.Tx) error { return putJSON(tx.Bucket(bucketLinkState), key(owner, link), st) })
}

// StreamOfWriteKey returns the stream (owner and id) a write key opens.
func (s *Store) StreamOfWriteKey(hash string) (owner, stream string, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketWriteKeys).Get([]byte(hash))
		if v == nil {
			return paas.Unauthorized("invalid write key")
		}
		o, st, _ := splitKey(v)
		owner, stream = o, st
		return nil
	})
	return owner, stream, err
}

func splitKey(v []byte) (string, string, bool) {
	for i, c := range v {
		if c == 0 {
			return string(v[:i]), string(v[i+1:]), true
		}
	}
	return string(v), "", false
}

// streamKeyHashes lists the key hashes of a stored stream object.
func streamKeyHashes(raw []byte) []string {
	var obj struct {
		Public  []struct{ Hash string } `json:"publicKeys"`
		Private []struct{ Hash string } `json:"privateKeys"`
	}
	if raw == nil || json.Unmarshal(raw, &obj) != nil {
		return nil
	}
	var out []string
	for _, k := range append(obj.Public, obj.Private...) {
		if k.Hash != "" {
			out = append(out, k.Hash)
		}
	}
	return out
}

// indexWriteKeys makes the write-key index follow a stream's change from
// old to new (nil: created or deleted).
func indexWriteKeys(tx *bolt.Tx, owner, stream string, old, new []byte) error {
	b := tx.Bucket(bucketWriteKeys)
	for _, h := range streamKeyHashes(old) {
		if err := b.Delete([]byte(h)); err != nil {
			return err
		}
	}
	for _, h := range streamKeyHashes(new) {
		if v := b.Get([]byte(h)); v != nil && string(v) != string(key(owner, stream)) {
			return paas.Conflict("a write key of the stream is already another stream's")
		}
		if err := b.Put([]byte(h), key(owner, stream)); err != nil {
			return err
		}
	}
	return nil
}

// dropStreamData removes a deleted stream's events and counters.
func dropStreamData(tx *bolt.Tx, owner, stream string) error {
	k := []byte(paas.StreamKey(owner, stream))
	if tx.Bucket(bucketEvents).Bucket(k) != nil {
		if err := tx.Bucket(bucketEvents).DeleteBucket(k); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketStreamState).Delete(k)
}

// StartLink gives a link without a state one whose cursor is its stream's
// last event: it delivers what comes next.
func (s *Store) StartLink(owner, link, streamKey string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		states := tx.Bucket(bucketLinkState)
		if states.Get(key(owner, link)) != nil {
			return nil
		}
		ss, _, err := lookup[paas.StreamState](tx.Bucket(bucketStreamState), []byte(streamKey))
		if err != nil {
			return err
		}
		return putJSON(states, key(owner, link), paas.LinkState{Cursor: ss.Last})
	})
}
