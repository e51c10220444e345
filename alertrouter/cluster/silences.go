package cluster

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

// Silences are shared through KV (silences/<id>): a member saves each
// silence locally and in KV, and applies the silences other members save
// (the newer UpdatedAt wins). A silence saved while Consul cannot be
// reached is written to KV when it answers again.

// SaveSilence saves locally, then in the cluster.
func (s *Store) SaveSilence(rec *store.SilenceRecord) error {
	if err := s.local.SaveSilence(rec); err != nil {
		return err
	}
	s.putSilence(rec)
	return nil
}

func (s *Store) putSilence(rec *store.SilenceRecord) {
	if !s.c.consulUp.Load() {
		return // the next sync writes it
	}
	value, err := json.Marshal(rec)
	if err != nil {
		return
	}
	ctx, cancel := s.ctx()
	defer cancel()
	if _, err := s.c.client.KV().Put(&api.KVPair{Key: s.silenceKey(rec.ID), Value: value}, (&api.WriteOptions{}).WithContext(ctx)); err != nil {
		s.logger.Warn("Cannot share a silence through Consul; it is shared when Consul answers", "id", rec.ID, "err", err)
	}
}

// LoadSilences is the local store's; the cluster's follow through Run.
func (s *Store) LoadSilences() ([]*store.SilenceRecord, error) { return s.local.LoadSilences() }

// DeleteSilences forgets silences (garbage collected) locally and in the
// cluster.
func (s *Store) DeleteSilences(ids []string) error {
	if err := s.local.DeleteSilences(ids); err != nil {
		return err
	}
	if !s.c.consulUp.Load() {
		return nil
	}
	ctx, cancel := s.ctx()
	defer cancel()
	for _, id := range ids {
		_, _ = s.c.client.KV().Delete(s.silenceKey(id), (&api.WriteOptions{}).WithContext(ctx)) // every member collects it too
	}
	return nil
}

// watchSilences follows silences/ with blocking queries and gives apply
// what other members saved; it also writes to KV the local silences KV
// lacks or has older (saved while Consul was unreachable).
func (s *Store) watchSilences(ctx context.Context, apply func([]*store.SilenceRecord)) {
	synced := false
	s.watchKV(ctx, s.c.prefix+"silences/", 0, func() { synced = false }, func(pairs api.KVPairs) time.Duration {
		shared := map[string]*store.SilenceRecord{}
		var recs []*store.SilenceRecord
		for _, p := range pairs {
			var rec store.SilenceRecord
			if err := json.Unmarshal(p.Value, &rec); err != nil || rec.ID != strings.TrimPrefix(p.Key, s.c.prefix+"silences/") {
				s.logger.Warn("Ignoring an unreadable shared silence", "key", p.Key, "err", err)
				continue
			}
			shared[rec.ID] = &rec
			recs = append(recs, &rec)
		}
		if apply != nil && len(recs) > 0 {
			apply(recs)
		}
		if !synced {
			synced = true
			local, err := s.local.LoadSilences()
			if err == nil {
				for _, rec := range local {
					if sh, ok := shared[rec.ID]; !ok || sh.UpdatedAt.Before(rec.UpdatedAt) {
						s.putSilence(rec)
					}
				}
			}
		}
		return 0
	})
}
