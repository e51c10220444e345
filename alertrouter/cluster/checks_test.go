package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigie-monitoring/vigie/alertrouter/store"
	"github.com/vigie-monitoring/vigie/internal/testenv"
)

// TestSharedCheckRecords: the owner of a check writes its record when it
// changes (not when only the failure count of a DOWN check grows), a
// member that gains the check reads it from Consul (not the records of
// checks it does not gain, nor its own), a member that does not own a
// check never writes it, and the member that takes a check over writes
// it from then on.
func TestSharedCheckRecords(t *testing.T) {
	consul := testenv.StartConsul(t)
	a := newShared(t, consul, "a", t.TempDir())
	b := newShared(t, consul, "b", t.TempDir())
	for _, s := range []*shared{a, b} {
		s.start(t, false)
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
	all := func(string) bool { return true }
	read := func(s *shared, owned func(string) bool) *store.CheckRecord {
		recs, err := s.st.ReadChecks(context.Background(), owned)
		if err != nil {
			t.Fatal(err)
		}
		return recs[id]
	}
	committed := time.Now()
	commitChecks(a, map[string]*store.CheckRecord{id: down(2)})
	waitFor(t, "a's record in Consul", func() bool {
		rec := read(b, all)
		return rec != nil && rec.State == "down" && rec.Notified["oncall"].Reminders == 1 && rec.Since.Equal(since) && len(rec.Changes) == 1
	})
	t.Logf("a's change readable %s after its commit", time.Since(committed).Round(time.Millisecond))
	if rec := read(b, all); rec.Target != "" || rec.Labels != nil {
		t.Errorf("the shared record carries what discovery says: %+v", rec)
	}
	if rec := read(b, func(string) bool { return false }); rec != nil {
		t.Errorf("b read the record of a check it does not gain: %+v", rec)
	}
	if _, err := a.st.LoadChecks(); err != nil {
		t.Fatal(err)
	}
	if rec := read(a, nil); rec != nil {
		t.Errorf("a, with its store, read its own record from Consul: %+v", rec)
	}
	// a's disk lost: it takes its own records back from Consul.
	empty, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = empty.Close() }()
	lost := NewStore(a.Cluster, empty, StoreOptions{})
	if _, err := lost.LoadChecks(); err != nil {
		t.Fatal(err)
	}
	if recs, err := lost.ReadChecks(context.Background(), nil); err != nil || recs[id] == nil || recs[id].State != "down" {
		t.Errorf("a without its disk does not take its record back: %v (%v)", recs[id], err)
	}

	// More failures of a DOWN check are not a change; b, which does not
	// own the check, does not write it; a new reason is a change.
	commitChecks(a, map[string]*store.CheckRecord{id: down(3)})
	commitChecks(b, map[string]*store.CheckRecord{id: {State: "up", Since: time.Now()}})
	next := down(4)
	next.Reason = "HTTP 502"
	commitChecks(a, map[string]*store.CheckRecord{id: next})
	waitFor(t, "the new reason in Consul", func() bool {
		rec := read(b, all)
		return rec != nil && rec.Reason == "HTTP 502"
	})
	if n := testutil.ToFloat64(a.st.checkWrites); n != 2 {
		t.Errorf("a wrote %v records for two changes", n)
	}
	if n := testutil.ToFloat64(b.st.checkWrites); n != 0 {
		t.Errorf("b wrote %v records of a check it does not own", n)
	}

	// The check moves to b: b reads it (as a member that gains it does)
	// and writes it only when it says something new; a reads b's.
	a.st.SetOwner(func(string) bool { return false })
	b.st.SetOwner(all)
	if rec := read(b, all); rec == nil || rec.Reason != "HTTP 502" {
		t.Fatalf("b gains %s: %+v", id, rec)
	}
	commitChecks(b, map[string]*store.CheckRecord{id: next})
	up := &store.CheckRecord{State: "up", Since: time.Now().Truncate(time.Second), Changes: []time.Time{since, time.Now().Truncate(time.Second)}}
	commitChecks(b, map[string]*store.CheckRecord{id: up})
	waitFor(t, "a to read b's record", func() bool {
		rec := read(a, all)
		return rec != nil && rec.State == "up" && len(rec.Changes) == 2
	})
	if n := testutil.ToFloat64(b.st.checkWrites); n != 1 {
		t.Errorf("b wrote %v records for one change of the check it gained", n)
	}
	// Removed from discovery: its owner deletes it.
	commitChecks(b, map[string]*store.CheckRecord{id: nil})
	waitFor(t, "the record deleted", func() bool { return read(a, all) == nil })
}
