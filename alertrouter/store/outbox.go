package store

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	bolt "go.etcd.io/bbolt"
)

// The outbox and the notification log: dispatch's memory of what is
// pending and of what was delivered (idempotency).
// OutboxEntry is one notification for one integration instance, pending
// delivery.
type OutboxEntry struct {
	// Key is unique per integration and notification (incident and step): an
	// entry whose Key was delivered is never delivered again.
	Key string `json:"key"`
	// Integration identifies the integration instance ("ops/webhook/0").
	Integration  string               `json:"integration"`
	Notification *notify.Notification `json:"notification"`
	CreatedAt    time.Time            `json:"created_at"`
	NextAttempt  time.Time            `json:"next_attempt"`
	Attempts     int                  `json:"attempts"`
	LastError    string               `json:"last_error,omitempty"`
	// Seq orders entries by creation.
	Seq uint64 `json:"seq"`
}

// EntryKey builds an outbox key.
func EntryKey(integration, notificationKey string) string {
	return integration + "|" + notificationKey
}

// LogRecord is the notification log's memory of a finished entry.
type LogRecord struct {
	At      time.Time `json:"at"`
	Outcome string    `json:"outcome"`
	// Error is why it failed or expired: the provider's reason, scrubbed
	// of secrets (notify.ScrubErrorText), for the status page.
	Error string `json:"error,omitempty"`
}

// droppedMark prefixes the notification-log keys that remember, per
// integration, an incident whose opening notification was dropped
// (expired): its recovery is dropped too, rather than announcing the end
// of something nobody was told about.
const droppedMark = "dropped|"

// Finished is the outcome of outbox entries, recorded together.
type Finished struct {
	Outcome string
	At      time.Time
	// Error is the provider's reason (failed, expired), scrubbed.
	Error string
}

// Outcomes of finished entries.
const (
	OutcomeDelivered = "delivered"
	OutcomeFailed    = "failed"  // permanent error
	OutcomeExpired   = "expired" // max age reached
)

// LoadOutbox returns the pending entries, oldest first.
func (s *Store) LoadOutbox() ([]*OutboxEntry, error) {
	var out []*OutboxEntry
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketOutbox).ForEach(func(k, v []byte) error {
			e := &OutboxEntry{}
			if s.decode(bucketOutbox, k, v, e) {
				out = append(out, e)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: load outbox: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out, nil
}

// UpdateOutbox saves pending entries' attempt bookkeeping, in one
// transaction. An entry that is no longer pending is left alone.
func (s *Store) UpdateOutbox(es ...*OutboxEntry) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		for _, e := range es {
			if b.Get([]byte(e.Key)) == nil {
				continue
			}
			if err := putJSON(b, []byte(e.Key), e); err != nil {
				return fmt.Errorf("%q: %w", e.Key, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: update outbox: %w", err)
	}
	return nil
}

// Finish removes entries from the outbox and records their outcome in the
// notification log, all in one transaction: entries sent together (a
// summary) are delivered together or not at all. An expired firing entry
// marks its incidents (notify.Notification.Incidents) as dropped for its
// integration; a delivered firing entry clears those marks (the incident
// was announced after all, by a reminder).
func (s *Store) Finish(es []*OutboxEntry, f Finished) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		outbox, log := tx.Bucket(bucketOutbox), tx.Bucket(bucketLog)
		rec := &LogRecord{At: f.At, Outcome: f.Outcome, Error: f.Error}
		for _, e := range es {
			if err := outbox.Delete([]byte(e.Key)); err != nil {
				return err
			}
			if err := putJSON(log, []byte(e.Key), rec); err != nil {
				return err
			}
			n := e.Notification
			if n == nil || n.Status == notify.StatusResolved {
				continue
			}
			for _, id := range n.Incidents() {
				k := []byte(EntryKey(e.Integration, droppedMark+id))
				switch f.Outcome {
				case OutcomeExpired:
					if err := putJSON(log, k, &LogRecord{At: f.At, Outcome: OutcomeExpired}); err != nil {
						return err
					}
				case OutcomeDelivered:
					if err := log.Delete(k); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: record %d outcome(s) %s: %w", len(es), f.Outcome, err)
	}
	return nil
}

// Dropped reports whether every incident n speaks of had its opening
// notification to integration dropped (see Finish).
func (s *Store) Dropped(integration string, n *notify.Notification) (bool, error) {
	ids := n.Incidents()
	all := len(ids) > 0
	err := s.db.View(func(tx *bolt.Tx) error {
		log := tx.Bucket(bucketLog)
		for _, id := range ids {
			if log.Get([]byte(EntryKey(integration, droppedMark+id))) == nil {
				all = false
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("store: read the notification log: %w", err)
	}
	return all, nil
}

// Logged returns the notification log's record of key, if any.
func (s *Store) Logged(key string) (*LogRecord, error) {
	var rec *LogRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketLog).Get([]byte(key))
		if v == nil {
			return nil
		}
		rec = &LogRecord{}
		return json.Unmarshal(v, rec)
	})
	return rec, err
}

// PruneLog forgets log records older than before and returns how many.
func (s *Store) PruneLog(before time.Time) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLog)
		var old [][]byte
		err := b.ForEach(func(k, v []byte) error {
			var rec LogRecord
			if json.Unmarshal(v, &rec) != nil || rec.At.Before(before) {
				old = append(old, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(old)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: prune log: %w", err)
	}
	return n, nil
}
