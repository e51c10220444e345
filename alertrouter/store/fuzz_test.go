package store

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzOpenDamagedStore: whatever the file holds, opening the store never
// panics (nor faults): it works, or it is damaged, and then OpenWith
// replaces it by a working empty store.
func FuzzOpenDamagedStore(f *testing.F) {
	dir := f.TempDir()
	s, err := Open(dir)
	if err != nil {
		f.Fatal(err)
	}
	if _, err := s.Commit(&Batch{
		Checks:   map[string]*CheckRecord{"a": {State: "down", Since: t0, Reason: "refused"}, "b": {State: "up", Since: t0}},
		Exporter: &CheckRecord{State: "up", Since: t0},
		Outbox:   []*OutboxEntry{entry("ops/webhook/0", "k1")},
	}); err != nil {
		f.Fatal(err)
	}
	s.Close()
	seed, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, FileName), data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(dir)
		if err == nil {
			// Readable: every loader works on it.
			_, _ = s.LoadChecks()
			_, _ = s.LoadAlerts()
			_, _ = s.LoadGroups()
			_, _ = s.LoadExporter()
			_, _ = s.LoadOutbox()
			_, _ = s.LoadSilences()
			_, _ = s.RecentNotifications(10)
			s.Close()
			return
		}
		if !errors.Is(err, ErrDamaged) {
			t.Fatalf("a file's content gave an error that is not ErrDamaged: %v", err)
		}
		s, damage, err := OpenWith(dir, Options{Recover: true})
		if err != nil || damage == nil {
			t.Fatalf("recovering: %+v, %v", damage, err)
		}
		if _, err := s.Commit(&Batch{Checks: map[string]*CheckRecord{"a": {State: "up", Since: t0}}}); err != nil {
			t.Fatalf("the new store does not work: %v", err)
		}
		s.Close()
	})
}
