package store

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bucketSilences holds one SilenceRecord per silence id. It is created on
// the first write, so that stores written before silences existed open
// unchanged.
var bucketSilences = []byte("silences")

// SilenceRecord is a silence as saved (package silence owns its meaning).
type SilenceRecord struct {
	ID        string           `json:"id"`
	Matchers  []SilenceMatcher `json:"matchers"`
	StartsAt  time.Time        `json:"startsAt"`
	EndsAt    time.Time        `json:"endsAt"`
	UpdatedAt time.Time        `json:"updatedAt"`
	CreatedBy string           `json:"createdBy"`
	Comment   string           `json:"comment"`
}

// SilenceMatcher is one matcher of a silence, as in Alertmanager's API.
type SilenceMatcher struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	IsRegex bool   `json:"isRegex"`
	IsEqual bool   `json:"isEqual"`
}

// SaveSilence writes (creates or replaces) a silence.
func (s *Store) SaveSilence(rec *SilenceRecord) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketSilences)
		if err != nil {
			return err
		}
		return putJSON(b, []byte(rec.ID), rec)
	})
	if err != nil {
		return fmt.Errorf("store: save silence %s: %w", rec.ID, err)
	}
	return nil
}

// LoadSilences returns every saved silence.
func (s *Store) LoadSilences() ([]*SilenceRecord, error) {
	var out []*SilenceRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSilences)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			rec := &SilenceRecord{}
			if s.decode(bucketSilences, k, v, rec) {
				out = append(out, rec)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: load silences: %w", err)
	}
	return out, nil
}

// DeleteSilences removes silences by id, in one transaction.
func (s *Store) DeleteSilences(ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSilences)
		if b == nil {
			return nil
		}
		for _, id := range ids {
			if err := b.Delete([]byte(id)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: delete silences: %w", err)
	}
	return nil
}
