package targets

import (
	"fmt"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
)

// clusterList is n http_2xx checks t0 … t<n-1>, one group.
func clusterList(n int, skip func(i int) bool) []exporter.TargetGroup {
	g := exporter.TargetGroup{Labels: map[string]string{"module": "http_2xx", "group": "web"}}
	for i := range n {
		if skip == nil || !skip(i) {
			g.Targets = append(g.Targets, fmt.Sprintf("t%d", i))
		}
	}
	return []exporter.TargetGroup{g}
}

// evenOwner owns the checks t0, t2, t4 … (odd: the others).
func evenOwner(odd bool) Owner {
	return OwnerFunc(func(id string) bool {
		var i int
		_, _ = fmt.Sscanf(id, "http_2xx t%d", &i)
		return (i%2 == 1) == odd
	})
}

// TestSourceOwner: a member keeps Targets for its own checks only and
// counts the others'; a change of ownership is no removal: the checks it
// loses are returned by SetOwner and named by no Update, those it gains
// are added by the next list.
func TestSourceOwner(t *testing.T) {
	m := NewMetrics(nil, nil)
	s := NewSource(config.RemovalGuard{MaxRemovedRatio: 0.5, Confirmations: 2}, nil, m, nil)
	s.Restore([]string{"http_2xx t1", "http_2xx t2"})
	if lost := s.SetOwner(evenOwner(false)); lost != nil {
		t.Fatalf("nothing known, lost %v", lost)
	}
	u := s.Apply(clusterList(10, nil), nobody, t0)
	if !slices.Equal(ids(u.Added), []string{"http_2xx t0", "http_2xx t2", "http_2xx t4", "http_2xx t6", "http_2xx t8"}) ||
		!slices.Equal(u.Elsewhere, []string{"http_2xx t1"}) || len(u.Removed) != 0 {
		t.Fatalf("first list: added %v, elsewhere %v, removed %v", ids(u.Added), u.Elsewhere, u.Removed)
	}
	if _, ok := s.Get("http_2xx t1"); ok || s.Len() != 5 || s.Elsewhere() != 5 || s.Index().Len() != 5 {
		t.Fatalf("known %d, elsewhere %d, numbered %d", s.Len(), s.Elsewhere(), s.Index().Len())
	}
	if got := testutil.ToFloat64(m.Targets); got != 10 {
		t.Errorf("vigie_router_sd_checks %v, want the cluster's 10", got)
	}

	// The ownership turns: the even checks go, the odd ones come with
	// the next list; nothing is removed.
	lost := s.SetOwner(evenOwner(true))
	if !slices.Equal(lost, []string{"http_2xx t0", "http_2xx t2", "http_2xx t4", "http_2xx t6", "http_2xx t8"}) || s.Len() != 0 || s.Elsewhere() != 10 {
		t.Fatalf("lost %v; known %d, elsewhere %d", lost, s.Len(), s.Elsewhere())
	}
	u = s.Apply(clusterList(10, nil), nobody, t0)
	if len(u.Added) != 5 || u.Added[0].ID != "http_2xx t1" || len(u.Removed)+len(u.Relabeled) != 0 || s.Elsewhere() != 5 {
		t.Fatalf("after the move: added %v, removed %v, elsewhere %d", ids(u.Added), u.Removed, s.Elsewhere())
	}
	if got := testutil.ToFloat64(m.Targets); got != 10 {
		t.Errorf("vigie_router_sd_checks %v after the move, want 10", got)
	}
	if got := testutil.ToFloat64(m.RemovalsHeld); got != 0 {
		t.Errorf("a move held %v removals", got)
	}

	// A check of another member leaves the list: counted, not removed here.
	u = s.Apply(clusterList(10, func(i int) bool { return i == 4 }), nobody, t0)
	if len(u.Removed)+len(u.Added) != 0 || s.Elsewhere() != 4 || s.Len() != 5 {
		t.Fatalf("another member's check removed: %+v; elsewhere %d", u, s.Elsewhere())
	}
	// Back to every check (the cluster emptied): the others come back.
	if lost := s.SetOwner(nil); lost != nil {
		t.Fatalf("owning every check lost %v", lost)
	}
	if u = s.Apply(clusterList(10, func(i int) bool { return i == 4 }), nobody, t0); len(u.Added) != 4 || len(u.Removed) != 0 || s.Elsewhere() != 0 {
		t.Fatalf("every check again: added %v, removed %v, elsewhere %d", ids(u.Added), u.Removed, s.Elsewhere())
	}
}

// TestSourceOwnerGuard: in a cluster the removal guard judges the
// cluster's list: a list that drops most checks is held even when they
// are other members' (and this member's few removals with them), and is
// applied once confirmed, even if ownership moved in between.
func TestSourceOwnerGuard(t *testing.T) {
	m := NewMetrics(nil, nil)
	s := NewSource(config.RemovalGuard{MaxRemovedRatio: 0.5, Confirmations: 3}, nil, m, nil)
	s.SetOwner(evenOwner(false))
	s.Apply(clusterList(100, nil), nobody, t0)
	// 80 of 100 go: t0 … t79, 40 of them this member's.
	collapsed := clusterList(100, func(i int) bool { return i < 80 })
	u := s.Apply(collapsed, nobody, t0)
	if len(u.Removed) != 0 || s.Len() != 50 || s.Elsewhere() != 50 {
		t.Fatalf("a collapsed list was applied: removed %d; known %d, elsewhere %d", len(u.Removed), s.Len(), s.Elsewhere())
	}
	if got := testutil.ToFloat64(m.RemovalsHeld); got != 80 {
		t.Errorf("vigie_router_sd_removals_held %v, want the cluster's 80", got)
	}
	// Fewer than the ratio of this member's checks, most of the
	// cluster's: held too.
	s2 := NewSource(config.RemovalGuard{MaxRemovedRatio: 0.5, Confirmations: 3}, nil, nil, nil)
	s2.SetOwner(evenOwner(false))
	s2.Apply(clusterList(100, nil), nobody, t0)
	if u := s2.Apply(clusterList(100, func(i int) bool { return i%2 == 1 || i < 10 }), nobody, t0); len(u.Removed) != 0 {
		t.Fatalf("the others' checks gone (and 5 of this member's): removed %v", u.Removed)
	}
	// The ownership moves while the removal is held: the same removal
	// (not a new one to confirm from the start), applied once confirmed.
	// The 40 checks of it this member had stay here (held back: their new
	// owner never had them) and are removed here; the 10 listed ones it
	// loses go.
	if lost := s.SetOwner(evenOwner(true)); len(lost) != 10 {
		t.Fatalf("lost %d checks, want the 10 the list still names", len(lost))
	}
	if u = s.Apply(collapsed, nobody, t0); len(u.Removed) != 0 || s.Len() != 50 || s.Elsewhere() != 50 {
		t.Fatalf("held across the move: removed %d, known %d, elsewhere %d", len(u.Removed), s.Len(), s.Elsewhere())
	}
	u = s.Unchanged(nobody, t0)
	if len(u.Removed) != 40 || s.Elsewhere() != 10 || s.Len() != 10 {
		t.Fatalf("confirmed: removed %d, known %d, elsewhere %d", len(u.Removed), s.Len(), s.Elsewhere())
	}
	if got := testutil.ToFloat64(m.Targets); got != 20 {
		t.Errorf("vigie_router_sd_checks %v, want 20", got)
	}
	if got := testutil.ToFloat64(m.RemovalsHeld); got != 0 {
		t.Errorf("vigie_router_sd_removals_held %v once confirmed", got)
	}
}
