package cluster

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigie-monitoring/vigie/alertrouter/store"
	"github.com/vigie-monitoring/vigie/internal/testenv"
)

// TestSharedCheckRecords: the owner of a check writes its record when it
// changes (not when only the failure count of a DOWN check grows), every
// member reads it, a member that does not own a check never writes it,
// and the member that takes a check over writes it from then on.
func TestSharedCheckRecords(t *testing.T) {
	consul := testenv.StartConsul(t)
	a := newShared(t, consul, "a", t.TempDir())
	b := newShared(t, consul, "b", t.TempDir())
	var mu sync.Mutex
	told := map[string][]string{}
	for _, s := range []*shared{a, b} {
		s.start(t, false)
		name := s.Name()
		s.st.SetChecksChanged(func(ids []string) {
			mu.Lock()
			told[name] = append(told[name], ids...)
			mu.Unlock()
		})
		s.runStore(t, nil)
	}
	for _, s := range []*shared{a, b} {
		waitFor(t, s.Name()+" to see a and b", seesMembers(s.member, "a", "b"))
		s.st.SetOwner(s.Owner())
	}
	var id string
	for i := 0; id == ""; i++ {
		if cand := "http_2xx https://c" + string(rune('a'+i)) + ".example"; a.Owner()(cand) {
			id = cand
		}
	}
	since := time.Now().Add(-time.Minute).Truncate(time.Second)
	down := func(failures int) *store.CheckRecord {
		return &store.CheckRecord{Target: "https://x.example", Module: "http_2xx", State: "down", Failures: failures, Since: since,
			Reason: "HTTP 503", Changes: []time.Time{since}, Notified: map[string]store.Notified{"oncall": {At: since.Add(2 * time.Second), Reminders: 1}}}
	}
	commitChecks := func(s *shared, checks map[string]*store.CheckRecord) {
		t.Helper()
		if _, err := s.st.Commit(&store.Batch{Checks: checks}); err != nil {
			t.Fatal(err)
		}
	}
	committed := time.Now()
	commitChecks(a, map[string]*store.CheckRecord{id: down(2)})
	waitFor(t, "b to read a's record", func() bool {
		rec := b.st.SharedCheck(id)
		return rec != nil && rec.State == "down" && rec.Notified["oncall"].Reminders == 1 && rec.Since.Equal(since) && len(rec.Changes) == 1
	})
	t.Logf("a's change read by b %s after its commit", time.Since(committed).Round(time.Millisecond))
	// A member that gains the check reads its record from Consul; not
	// the records of checks it does not gain, nor its own.
	waitFor(t, "a's record in Consul", func() bool {
		recs, err := b.st.ReadChecks(context.Background(), func(string) bool { return true })
		rec := recs[id]
		return err == nil && rec != nil && rec.State == "down" && rec.Since.Equal(since) && rec.Notified["oncall"].Reminders == 1 && len(rec.Changes) == 1
	})
	if recs, err := b.st.ReadChecks(context.Background(), func(string) bool { return false }); err != nil || len(recs) != 0 {
		t.Errorf("b read %d records of checks it does not gain (%v)", len(recs), err)
	}
	if recs, err := a.st.ReadChecks(context.Background(), nil); err != nil || recs[id] != nil {
		t.Errorf("a read its own record as another member's (%v)", err)
	}
	if got := b.st.SharedOwner(id); got != "a" {
		t.Errorf("the record of %s was written by %q, want a", id, got)
	}
	if rec := b.st.SharedCheck(id); rec.Target != "" || rec.Labels != nil {
		t.Errorf("the shared record carries what discovery says: %+v", rec)
	}
	if a.st.SharedCheck(id) != nil {
		t.Error("a member is given its own record as another member's")
	}
	mu.Lock()
	if len(told["b"]) == 0 || told["b"][0] != id {
		t.Errorf("b was told of %v, want %s", told["b"], id)
	}
	mu.Unlock()

	// More failures of a DOWN check are not a change; b, which does not
	// own the check, does not write it; a new reason is a change.
	commitChecks(a, map[string]*store.CheckRecord{id: down(3)})
	commitChecks(b, map[string]*store.CheckRecord{id: {State: "up", Since: time.Now()}})
	next := down(4)
	next.Reason = "HTTP 502"
	commitChecks(a, map[string]*store.CheckRecord{id: next})
	waitFor(t, "b to read the new reason", func() bool {
		rec := b.st.SharedCheck(id)
		return rec != nil && rec.Reason == "HTTP 502"
	})
	if n := testutil.ToFloat64(a.st.checkWrites); n != 2 {
		t.Errorf("a wrote %v records for two changes", n)
	}
	if n := testutil.ToFloat64(b.st.checkWrites); n != 0 {
		t.Errorf("b wrote %v records of a check it does not own", n)
	}

	// The check moves to b: b writes it from then on, a reads it.
	a.st.SetOwner(func(string) bool { return false })
	b.st.SetOwner(func(string) bool { return true })
	up := &store.CheckRecord{State: "up", Since: time.Now().Truncate(time.Second), Changes: []time.Time{since, time.Now().Truncate(time.Second)}}
	commitChecks(b, map[string]*store.CheckRecord{id: up})
	waitFor(t, "a to read b's record", func() bool {
		rec := a.st.SharedCheck(id)
		return rec != nil && rec.State == "up" && len(rec.Changes) == 2 && a.st.SharedOwner(id) == "b"
	})
	// Removed from discovery: its owner deletes it.
	commitChecks(b, map[string]*store.CheckRecord{id: nil})
	waitFor(t, "a to forget the record", func() bool { return a.st.SharedOwner(id) == "" })
}
