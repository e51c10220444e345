package cluster

import (
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

// TestOwnedCountCached: vigie_router_checks_owned and the page's counts
// per member hash the known checks again only when the set of checks or
// the owner changed, not at every scrape (at 50,000 checks that was a
// fifth of a member's CPU), and they follow every change.
func TestOwnedCountCached(t *testing.T) {
	s := NewStore(&Cluster{name: "a"}, nil, StoreOptions{Logger: slog.New(slog.DiscardHandler)})
	var calls atomic.Int64
	even := func(id string) bool {
		calls.Add(1)
		var n int
		_, _ = fmt.Sscanf(id, "c%d", &n)
		return n%2 == 0
	}
	batch := func(from, to int, rec *store.CheckRecord) *store.Batch {
		b := &store.Batch{Checks: map[string]*store.CheckRecord{}}
		for i := from; i < to; i++ {
			b.Checks[fmt.Sprintf("c%d", i)] = rec
		}
		return b
	}
	s.SetOwner(even)
	s.track(batch(0, 100, &store.CheckRecord{State: "up"}))
	if got := s.owned(); got != 50 {
		t.Fatalf("owned %v of 100, want 50", got)
	}
	before := calls.Load()
	for range 5 {
		if got := s.owned(); got != 50 {
			t.Fatalf("owned %v, want 50", got)
		}
	}
	if n := calls.Load() - before; n != 0 {
		t.Errorf("five scrapes with nothing changed asked the owner %d times, want 0", n)
	}
	// A commit of known checks changes nothing known.
	s.track(batch(0, 10, &store.CheckRecord{State: "down"}))
	_ = s.owned()
	if n := calls.Load() - before; n != 0 {
		t.Errorf("a commit of known checks asked the owner %d times, want 0", n)
	}

	steps := []struct {
		name string
		do   func()
		want float64
	}{
		{"new checks", func() { s.track(batch(100, 120, &store.CheckRecord{State: "up"})) }, 60},
		{"removed checks", func() { s.track(batch(0, 20, nil)) }, 50},
		{"a new owner", func() { s.SetOwner(func(string) bool { return true }) }, 100},
		{"no owner", func() { s.SetOwner(nil) }, 100},
		{"a record of another member", func() {
			s.rep.mu.Lock()
			h := hashOf("other")
			s.rep.shards[h.shard()][h] = &replicated{id: "other", member: "b", index: 1}
			s.rep.mu.Unlock()
			s.known.Add(1) // what applyShard does
		}, 101},
	}
	for _, st := range steps {
		st.do()
		if got := s.owned(); got != st.want {
			t.Errorf("after %s: owned %v, want %v", st.name, got, st.want)
		}
	}

	members := []Member{{Name: "a"}, {Name: "b"}}
	by := s.OwnedBy(members)
	if by["a"]+by["b"] != 101 {
		t.Fatalf("OwnedBy %v, want 101 checks in all", by)
	}
	by["a"] = -1 // the caller's copy
	if again := s.OwnedBy(members); again["a"]+again["b"] != 101 {
		t.Errorf("OwnedBy %v after its answer was changed by the caller", again)
	}
	if one := s.OwnedBy(members[:1]); one["a"] != 101 {
		t.Errorf("OwnedBy %v with a alone, want every check a's", one)
	}
}
