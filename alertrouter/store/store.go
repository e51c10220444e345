// Package store is the router's persistent memory, one bbolt file: the
// state of every check and of every Prometheus alert, the notifications
// waiting in a group (group_wait), the notification log (what was already
// delivered, for idempotency) and the outbox (notifications accepted but
// not yet delivered). Every write is a transaction that is on disk when it returns,
// so a crash loses at most what the caller had not committed yet.
package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

// FileName is the database file inside --storage.path.
const FileName = "vigie-router.db"

var (
	bucketChecks = []byte("checks")
	bucketMeta   = []byte("meta")
	bucketLog    = []byte("nlog")
	bucketOutbox = []byte("outbox")
	bucketAlerts = []byte("alerts")
	bucketGroups = []byte("groups")

	keyExporter = []byte("exporter")
)

// CheckRecord is what survives a restart of one check (or of the exporter's
// own health, see Batch.Exporter).
type CheckRecord struct {
	Target string `json:"target,omitempty"`
	Module string `json:"module,omitempty"`
	// Labels are the target's labels as discovered.
	Labels map[string]string `json:"labels,omitempty"`
	// State is "unknown", "up" or "down".
	State string `json:"state"`
	// Consecutive results against the current state.
	Failures  int `json:"failures,omitempty"`
	Successes int `json:"successes,omitempty"`
	// Since is when the current state began (for DOWN: the first failed
	// probe of the incident).
	Since time.Time `json:"since"`
	// FailingSince is the first failure of the current streak.
	FailingSince time.Time `json:"failing_since,omitzero"`
	Reason       string    `json:"reason,omitempty"`
	// Notified lists the receivers told about the current DOWN incident
	// (or flapping episode).
	Notified map[string]Notified `json:"notified,omitempty"`
	// Changes are the times of the last confirmed state changes, for flap
	// detection; Flapping and FlappingSince the current flapping episode.
	Changes       []time.Time `json:"changes,omitempty"`
	Flapping      bool        `json:"flapping,omitempty"`
	FlappingSince time.Time   `json:"flapping_since,omitzero"`
}

// AlertRecord is what survives a restart of one Prometheus alert.
type AlertRecord struct {
	Alert     notify.Alert `json:"alert"`
	UpdatedAt time.Time    `json:"updated_at"`
	// Incident is when the router opened the alert: it names the
	// incident in idempotency keys, so that an alert firing again after
	// its resolution is a new incident even with the same startsAt.
	Incident time.Time           `json:"incident"`
	Notified map[string]Notified `json:"notified,omitempty"`
}

// GroupRecord is a batch of notifications to one receiver waiting for its
// group_wait to end, to be sent as one message per kind.
type GroupRecord struct {
	Receiver  string                 `json:"receiver"`
	Labels    map[string]string      `json:"labels"`
	ReleaseAt time.Time              `json:"release_at"`
	Members   []*notify.Notification `json:"members"`
}

// Notified records what one receiver was told about an incident.
type Notified struct {
	At        time.Time `json:"at"` // last DOWN or reminder
	Reminders int       `json:"reminders,omitempty"`
}

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

// Store is the open database.
type Store struct {
	db         *bolt.DB
	logger     *slog.Logger
	unreadable unreadable
}

// Open opens (creating it if needed) the database in dir. A second router
// on the same directory fails after a short wait instead of hanging. A
// damaged file is an error wrapping ErrDamaged (never a panic); see
// OpenWith to recover from it.
func Open(dir string) (*Store, error) {
	s, _, err := OpenWith(dir, Options{})
	return s, err
}

// openDB opens and checks the file (see recover.go), then makes sure every
// bucket exists.
func openDB(path string) (db *bolt.DB, err error) {
	db, err = openChecked(path, func(db *bolt.DB) error {
		return db.Update(func(tx *bolt.Tx) error {
			for _, b := range [][]byte{bucketChecks, bucketMeta, bucketLog, bucketOutbox, bucketAlerts, bucketGroups} {
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("store: %s is locked by another process", path)
		}
		return nil, err
	}
	return db, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Path returns the database file.
func (s *Store) Path() string { return s.db.Path() }

// Batch is one atomic write: check states and the notifications they
// caused go to disk together, so that a crash leaves either both or neither.
type Batch struct {
	// Checks to save by id; a nil record deletes the check.
	Checks map[string]*CheckRecord
	// Exporter is the exporter-health record, saved when not nil.
	Exporter *CheckRecord
	// Alerts to save by fingerprint; a nil record deletes the alert.
	Alerts map[string]*AlertRecord
	// Groups to save by id; a nil record deletes the group.
	Groups map[string]*GroupRecord
	// Outbox entries to add.
	Outbox []*OutboxEntry
}

// Commit writes the batch in one transaction. Outbox entries whose key was
// already delivered (notification log) or is already pending are skipped;
// the others get their Seq and are returned.
func (s *Store) Commit(b *Batch) ([]*OutboxEntry, error) {
	var added []*OutboxEntry
	err := s.db.Update(func(tx *bolt.Tx) error {
		added = added[:0]
		checks := tx.Bucket(bucketChecks)
		// In key order: bbolt inserts into a sorted page, and random order
		// makes a large first commit (10^5 new checks) quadratic in memmove.
		for _, id := range slices.Sorted(maps.Keys(b.Checks)) {
			rec := b.Checks[id]
			if rec == nil {
				if err := checks.Delete([]byte(id)); err != nil {
					return err
				}
				continue
			}
			if err := putJSON(checks, []byte(id), rec); err != nil {
				return fmt.Errorf("check %q: %w", id, err)
			}
		}
		if b.Exporter != nil {
			if err := putJSON(tx.Bucket(bucketMeta), keyExporter, b.Exporter); err != nil {
				return err
			}
		}
		if err := putAll(tx.Bucket(bucketAlerts), b.Alerts); err != nil {
			return fmt.Errorf("alerts: %w", err)
		}
		if err := putAll(tx.Bucket(bucketGroups), b.Groups); err != nil {
			return fmt.Errorf("groups: %w", err)
		}
		log, outbox := tx.Bucket(bucketLog), tx.Bucket(bucketOutbox)
		for _, e := range b.Outbox {
			k := []byte(e.Key)
			if log.Get(k) != nil || outbox.Get(k) != nil {
				continue
			}
			seq, err := outbox.NextSequence()
			if err != nil {
				return err
			}
			stored := *e
			stored.Seq = seq
			if err := putJSON(outbox, k, &stored); err != nil {
				return fmt.Errorf("outbox %q: %w", e.Key, err)
			}
			added = append(added, &stored)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: commit: %w", err)
	}
	return added, nil
}

// LoadChecks returns every saved check by id.
func (s *Store) LoadChecks() (map[string]*CheckRecord, error) {
	out := map[string]*CheckRecord{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketChecks).ForEach(func(k, v []byte) error {
			rec := &CheckRecord{}
			if s.decode(bucketChecks, k, v, rec) {
				out[string(k)] = rec
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: load checks: %w", err)
	}
	return out, nil
}

// putAll saves records by key; a nil record deletes its key.
func putAll[R any](b *bolt.Bucket, records map[string]*R) error {
	for _, k := range slices.Sorted(maps.Keys(records)) { // key order: see Commit
		rec := records[k]
		if rec == nil {
			if err := b.Delete([]byte(k)); err != nil {
				return err
			}
			continue
		}
		if err := putJSON(b, []byte(k), rec); err != nil {
			return fmt.Errorf("%q: %w", k, err)
		}
	}
	return nil
}

// loadAll returns every record of a bucket by key.
func loadAll[R any](s *Store, bucket []byte) (map[string]*R, error) {
	out := map[string]*R{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			rec := new(R)
			if s.decode(bucket, k, v, rec) {
				out[string(k)] = rec
			}
			return nil
		})
	})
	return out, err
}

// LoadAlerts returns every saved Prometheus alert by fingerprint.
func (s *Store) LoadAlerts() (map[string]*AlertRecord, error) {
	out, err := loadAll[AlertRecord](s, bucketAlerts)
	if err != nil {
		return nil, fmt.Errorf("store: load alerts: %w", err)
	}
	return out, nil
}

// LoadGroups returns every pending group by id.
func (s *Store) LoadGroups() (map[string]*GroupRecord, error) {
	out, err := loadAll[GroupRecord](s, bucketGroups)
	if err != nil {
		return nil, fmt.Errorf("store: load groups: %w", err)
	}
	return out, nil
}

// LoadExporter returns the exporter-health record, or nil.
func (s *Store) LoadExporter() (*CheckRecord, error) {
	var rec *CheckRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketMeta).Get(keyExporter)
		if v == nil {
			return nil
		}
		rec = &CheckRecord{}
		if !s.decode(bucketMeta, keyExporter, v, rec) {
			rec = nil
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: load exporter state: %w", err)
	}
	return rec, nil
}

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

func putJSON(b *bolt.Bucket, k []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, data)
}
