package store

import (
	"bytes"
	"container/heap"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

// OutcomePending marks a notification still in the outbox.
const OutcomePending = "pending"

// NotificationRecord is one notification to one integration instance as
// the status page shows it: waiting in the outbox, or finished (from the
// notification log).
type NotificationRecord struct {
	Integration string
	// Key is the notification's key (incident and step).
	Key string
	// At is when it finished, or when it entered the outbox if pending.
	At time.Time
	// Outcome is OutcomePending, OutcomeDelivered, OutcomeFailed or
	// OutcomeExpired.
	Outcome string
	// LastError is the last failure of a pending notification, or why a
	// finished one failed or expired.
	LastError string
	// For pending notifications only.
	Attempts     int
	NextAttempt  time.Time
	Notification *notify.Notification
}

// RecentNotifications returns every pending notification (oldest first),
// then the n most recently finished ones (newest first), at most n in all.
// It reads the whole notification log: callers showing it often should
// cache the answer.
func (s *Store) RecentNotifications(n int) ([]NotificationRecord, error) {
	if n <= 0 {
		return nil, nil
	}
	var out []NotificationRecord
	recent := &logHeap{}
	err := s.db.View(func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketOutbox).ForEach(func(k, v []byte) error {
			e := &OutboxEntry{}
			if !s.decode(bucketOutbox, k, v, e) {
				return nil
			}
			rec := NotificationRecord{
				Integration: e.Integration, At: e.CreatedAt, Outcome: OutcomePending,
				Attempts: e.Attempts, LastError: e.LastError, NextAttempt: e.NextAttempt,
				Notification: e.Notification,
			}
			if e.Notification != nil {
				rec.Key = e.Notification.Key
			}
			out = append(out, rec)
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketLog).ForEach(func(k, v []byte) error {
			lr, ok := decodeLogRecord(v)
			if !ok {
				return nil // an unreadable record is pruned later, not shown
			}
			if recent.Len() == n && !lr.At.After((*recent)[0].At) {
				return nil
			}
			integration, key, _ := strings.Cut(string(k), "|")
			if strings.HasPrefix(key, droppedMark) {
				return nil // bookkeeping, not a notification
			}
			rec := NotificationRecord{Integration: integration, Key: key, At: lr.At, Outcome: lr.Outcome, LastError: lr.Error}
			if recent.Len() < n {
				heap.Push(recent, rec)
			} else {
				(*recent)[0] = rec
				heap.Fix(recent, 0)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: recent notifications: %w", err)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	if len(out) > n {
		out = out[:n]
	}
	finished := []NotificationRecord(*recent)
	sort.Slice(finished, func(i, j int) bool { return finished[i].At.After(finished[j].At) })
	for _, r := range finished {
		if len(out) == n {
			break
		}
		out = append(out, r)
	}
	return out, nil
}

// decodeLogRecord reads a LogRecord; the log may hold many thousands, so
// the form putJSON writes ({"at":"…","outcome":"…"}) is read without
// reflection.
func decodeLogRecord(v []byte) (LogRecord, bool) {
	var lr LogRecord
	// Records with an error (failures, expiries: few) take the slow path.
	if at, ok := jsonString(v, `"at":"`); ok && !bytes.Contains(v, []byte(`"error":`)) {
		if outcome, ok := jsonString(v, `"outcome":"`); ok && lr.At.UnmarshalText(at) == nil {
			lr.Outcome = string(outcome)
			return lr, true
		}
	}
	if json.Unmarshal(v, &lr) != nil {
		return lr, false
	}
	return lr, true
}

// jsonString returns the value of a string field without escapes.
func jsonString(v []byte, key string) ([]byte, bool) {
	i := bytes.Index(v, []byte(key))
	if i < 0 {
		return nil, false
	}
	rest := v[i+len(key):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 || bytes.IndexByte(rest[:end], '\\') >= 0 {
		return nil, false
	}
	return rest[:end], true
}

// logHeap keeps the most recent records: a min-heap on At.
type logHeap []NotificationRecord

func (h logHeap) Len() int           { return len(h) }
func (h logHeap) Less(i, j int) bool { return h[i].At.Before(h[j].At) }
func (h logHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *logHeap) Push(x any)        { *h = append(*h, x.(NotificationRecord)) }
func (h *logHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
