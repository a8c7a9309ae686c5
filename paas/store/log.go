package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/selfhost/paas/paas"
	bolt "go.etcd.io/bbolt"
)

// AppendLogs adds lines to an app's log and drops the oldest lines beyond
// the retention bound. Lines are keyed by time then sequence, so they sort
// chronologically. Concurrent callers are batched into few transactions.
func (s *Store) AppendLogs(appKey string, entries []paas.LogEntry) error {
	if len(entries) == 0 {
		return nil
	}
	retention := s.logRetention()
	owner, name, _ := strings.Cut(appKey, "/")
	return s.db.Batch(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketApps).Get(key(owner, name)) == nil {
			// The app was deleted while its last lines were in flight (log
			// capture flushes as its units stop): they belong to nobody.
			return nil
		}
		logs, err := tx.Bucket(bucketLogs).CreateBucketIfNotExists([]byte(appKey))
		if err != nil {
			return fmt.Errorf("log bucket %s: %w", appKey, err)
		}
		counts := tx.Bucket(bucketLogCounts)
		count := uint64(0)
		if v := counts.Get([]byte(appKey)); v != nil {
			if count, err = readU64(bucketLogCounts, []byte(appKey), v); err != nil {
				return err
			}
		}
		for _, e := range entries {
			seq, err := logs.NextSequence()
			if err != nil {
				return err
			}
			e.App = appKey
			data, err := json.Marshal(e)
			if err != nil {
				return err
			}
			k := make([]byte, 16)
			binary.BigEndian.PutUint64(k, uint64(e.Time.UnixNano()))
			binary.BigEndian.PutUint64(k[8:], seq)
			if err := logs.Put(k, data); err != nil {
				return err
			}
			count++
		}
		if count > uint64(retention) {
			c := logs.Cursor()
			for k, _ := c.First(); k != nil && count > uint64(retention); k, _ = c.First() {
				if err := c.Delete(); err != nil {
					return err
				}
				count--
			}
		}
		return counts.Put([]byte(appKey), u64(count))
	})
}

func (s *Store) logRetention() int {
	if s.LogRetention > 0 {
		return s.LogRetention
	}
	return paas.DefaultLogRetention
}

// Logs returns up to rows of an app's most recent lines with from <= time <=
// until, oldest first.
func (s *Store) Logs(appKey string, from, until time.Time, rows int) ([]paas.LogEntry, error) {
	var out []paas.LogEntry
	err := s.db.View(func(tx *bolt.Tx) error {
		logs := tx.Bucket(bucketLogs).Bucket([]byte(appKey))
		if logs == nil {
			return nil
		}
		c := logs.Cursor()
		// Seek just past until, then walk backwards.
		end := make([]byte, 16)
		binary.BigEndian.PutUint64(end, uint64(until.UnixNano())+1)
		k, v := c.Seek(end)
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		fromNanos := uint64(from.UnixNano())
		if from.Before(time.Unix(0, 0)) {
			fromNanos = 0
		}
		for ; k != nil && len(out) < rows; k, v = c.Prev() {
			if binary.BigEndian.Uint64(k) < fromNanos {
				break
			}
			if binary.BigEndian.Uint64(k) > uint64(until.UnixNano()) {
				continue
			}
			var e paas.LogEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode log line: %w", err)
			}
			out = append(out, e)
		}
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, err
}

// TailLogs returns lines stored after cursor (an opaque position from a
// previous call), at most limit, oldest first, and the new cursor. A nil
// cursor returns the last limit lines.
func (s *Store) TailLogs(appKey string, cursor []byte, limit int) ([]paas.LogEntry, []byte, error) {
	var out []paas.LogEntry
	next := cursor
	err := s.db.View(func(tx *bolt.Tx) error {
		logs := tx.Bucket(bucketLogs).Bucket([]byte(appKey))
		if logs == nil {
			return nil
		}
		c := logs.Cursor()
		var k, v []byte
		if cursor == nil {
			// Walk back limit lines from the end, then read forward.
			k, _ = c.Last()
			for i := 1; i < limit && k != nil; i++ {
				if pk, _ := c.Prev(); pk == nil {
					k, _ = c.First()
					break
				} else {
					k = pk
				}
			}
			if k == nil {
				return nil
			}
			k, v = c.Seek(k)
		} else {
			k, v = c.Seek(cursor)
			if k != nil && string(k) == string(cursor) {
				k, v = c.Next()
			}
		}
		for ; k != nil && len(out) < limit; k, v = c.Next() {
			var e paas.LogEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode log line: %w", err)
			}
			out = append(out, e)
			next = append([]byte(nil), k...)
		}
		return nil
	})
	return out, next, err
}

// LastLogTime returns the time of an app's newest stored line of source
// "app", or the zero time when there is none. Log capture resumes after it
// when the platform restarts, so no line is stored twice.
func (s *Store) LastLogTime(appKey string) (time.Time, error) {
	var last time.Time
	err := s.db.View(func(tx *bolt.Tx) error {
		logs := tx.Bucket(bucketLogs).Bucket([]byte(appKey))
		if logs == nil {
			return nil
		}
		c := logs.Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			var e paas.LogEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode log line: %w", err)
			}
			if e.Source == "app" {
				last = e.Time
				return nil
			}
		}
		return nil
	})
	return last, err
}
