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

// checksFill is how full the pages of the checks bucket are filled when a
// commit splits them.
const checksFill = 0.9

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
	// Locations are, in the exporter-health record, the health of each
	// location's exporter when checks are probed from several, by
	// location.
	Locations map[string]*CheckRecord `json:"locations,omitempty"`
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
	// AckedBy is who acknowledged the incident (from a Telegram button):
	// no more reminders for it.
	AckedBy string    `json:"acked_by,omitempty"`
	AckedAt time.Time `json:"acked_at,omitzero"`
}

// Store is the open database.
type Store struct {
	db         *bolt.DB
	resident   *resident
	logger     *slog.Logger
	unreadable unreadable
	// writeTxs counts the write transactions of Commit (tests); bbolt's
	// writer lock guards it.
	writeTxs int
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
func (s *Store) Close() error {
	err := s.db.Close()
	s.resident.close()
	return err
}

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

// Commit writes the batch in one transaction (a batch of check states
// alone, in several: see below; on an error some of them may be written,
// and writing them again is harmless). Outbox entries whose key was
// already delivered (notification log) or is already pending are skipped;
// the others get their Seq and are returned.
func (s *Store) Commit(b *Batch) ([]*OutboxEntry, error) {
	// In key order: bbolt inserts into a sorted page, and random order
	// makes a large first commit (10^5 new checks) quadratic in memmove.
	ids := slices.Sorted(maps.Keys(b.Checks))
	// Check states alone (the first result of every check in a router's
	// first minute) are written in transactions of at most
	// maxChecksPerTx: each record of a large batch dirties its own leaf
	// page, a 4 KiB buffer plus its decoded node held until the commit
	// ends, and at 10^5 checks one second of first results held some 8 MB
	// of them at once, the start-up peak of the router's heap. Nothing
	// waits on them, so several transactions lose nothing a crash would
	// not: a batch with notifications, alerts or groups stays one
	// transaction, its states and what they caused on disk together.
	if len(b.Outbox) == 0 && len(b.Alerts) == 0 && len(b.Groups) == 0 {
		for len(ids) > maxChecksPerTx {
			if err := s.db.Update(func(tx *bolt.Tx) error {
				s.writeTxs++
				return putChecks(tx, b.Checks, ids[:maxChecksPerTx])
			}); err != nil {
				return nil, fmt.Errorf("store: commit: %w", err)
			}
			s.resident.drop()
			ids = ids[maxChecksPerTx:]
		}
	}
	var added []*OutboxEntry
	err := s.db.Update(func(tx *bolt.Tx) error {
		added = added[:0]
		s.writeTxs++
		if err := putChecks(tx, b.Checks, ids); err != nil {
			return err
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
	// Updating records reads their pages (see resident; a few
	// microseconds).
	s.resident.drop()
	return added, nil
}

// maxChecksPerTx bounds the check states written in one transaction when
// nothing else is in the batch (see Commit).
const maxChecksPerTx = 512

// putChecks writes (or deletes, for a nil record) the records of ids.
func putChecks(tx *bolt.Tx, recs map[string]*CheckRecord, ids []string) error {
	checks := tx.Bucket(bucketChecks)
	// Pages split at bbolt's default fill (half) when keys come in
	// order: a first commit of 10^5 checks then takes twice the pages
	// it needs, each a 4 KiB buffer held until the commit ends (and a
	// file twice the size). Fuller pages leave some room for records
	// that grow (a receiver told, flap history).
	checks.FillPercent = checksFill
	for _, id := range ids {
		rec := recs[id]
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
	return nil
}

// loadDropEvery is how many records LoadChecks reads between drops of the
// pages read (some 300 leaf pages at 10^5 checks).
const loadDropEvery = 2048

// LoadChecks returns every saved check by id.
func (s *Store) LoadChecks() (map[string]*CheckRecord, error) {
	out := map[string]*CheckRecord{}
	var shared labelsCache
	read := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketChecks).ForEach(func(k, v []byte) error {
			read++
			rec := &CheckRecord{}
			if s.decode(bucketChecks, k, v, rec) {
				rec.Labels = shared.get(rec.Labels)
				out[string(k)] = rec
			}
			// Every page of the checks is read once: dropped as the
			// records are decoded (copied), not all at the end (66 MiB
			// at 10^5 checks, on top of the restored states).
			if read%loadDropEvery == 0 {
				s.resident.dropIn(tx)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: load checks: %w", err)
	}
	s.resident.drop()
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

func putJSON(b *bolt.Bucket, k []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, data)
}

// labelsCache shares equal label maps between records: the checks of one
// target group have the same labels, and their records come in key order
// (module, then target), mostly one group after another. At 10^5 checks a
// map per record was tens of MiB held from the start until the first
// target list.
type labelsCache struct {
	recent [8]map[string]string
	next   int
}

func (c *labelsCache) get(labels map[string]string) map[string]string {
	if labels == nil {
		return nil
	}
	for _, l := range c.recent {
		if l != nil && maps.Equal(l, labels) {
			return l
		}
	}
	c.recent[c.next] = labels
	c.next = (c.next + 1) % len(c.recent)
	return labels
}
