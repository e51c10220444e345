package silence

import (
	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

// Apply takes silences saved by another router of a cluster: each one
// replaces the silence with its id when it is newer (UpdatedAt), as
// Alertmanager's gossip merges silences. They passed the limits of the
// router that created them; an invalid one (from a newer version) is
// skipped. It returns how many changed.
func (s *Silences) Apply(recs []*store.SilenceRecord) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range recs {
		sil := fromRecord(r)
		if prev, ok := s.byID[sil.ID]; ok && !prev.UpdatedAt.Before(sil.UpdatedAt) {
			continue
		}
		if err := validate(&sil); err != nil {
			s.logger.Error("Ignoring an invalid shared silence", "id", sil.ID, "err", err)
			continue
		}
		if err := s.saveLocked(sil); err != nil {
			s.logger.Error("Cannot save a shared silence; it applies from memory", "id", sil.ID, "err", err)
			s.byID[sil.ID] = newEntry(sil)
			s.changed()
		}
		n++
	}
	return n
}
