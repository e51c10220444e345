package targets

import (
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
)

// TestIndex: a number is free only once every holder released it, and
// is then given to the next new id, never while a holder keeps it.
func TestIndex(t *testing.T) {
	x := NewIndex()
	a := x.Acquire("a")
	if again := x.Acquire("a"); again != a {
		t.Fatalf("a second holder of a got %d, want %d", again, a)
	}
	b := x.Acquire("b")
	if a == b {
		t.Fatalf("a and b share %d", a)
	}
	x.Release("a")
	if c := x.Acquire("c"); c == a {
		t.Fatalf("c got %d while a still has a holder", c)
	}
	x.Release("a")
	if _, ok := x.Lookup("a"); ok {
		t.Fatal("a is still known after its last holder released it")
	}
	if d := x.Acquire("d"); d != a {
		t.Errorf("d got %d, want the freed %d (numbers are reused)", d, a)
	}
	if got := x.Len(); got != 3 {
		t.Errorf("Len = %d, want 3 (b, c, d)", got)
	}
	x.Release("nothing") // a no-op
	for _, id := range []string{"b", "c", "d"} {
		x.Release(id)
	}
	if got := x.Len(); got != 0 {
		t.Errorf("Len = %d after every release, want 0", got)
	}
	if e := x.Acquire("e"); e != 0 {
		t.Errorf("e got %d in an empty index, want 0", e)
	}
}

// TestSourceReusedNumber: a check added in the list that removes another
// may take the removed check's number; each keeps its own Target.
func TestSourceReusedNumber(t *testing.T) {
	x := NewIndex()
	s := NewSource(config.RemovalGuard{MaxRemovedRatio: 1, Confirmations: 1}, nil, nil, x)
	never := func(string) bool { return false }
	group := func(targets ...string) []exporter.TargetGroup {
		return []exporter.TargetGroup{{Targets: targets, Labels: map[string]string{"module": "http_2xx"}}}
	}
	s.Apply(group("https://a.example", "https://b.example"), never, time.Time{})
	u := s.Apply(group("https://b.example"), never, time.Time{})
	if len(u.Removed) != 1 || u.Removed[0] != ID("https://a.example", "http_2xx") {
		t.Fatalf("removed %v, want a", u.Removed)
	}
	u = s.Apply(group("https://b.example", "https://c.example"), never, time.Time{})
	if len(u.Added) != 1 || len(u.Removed) != 0 {
		t.Fatalf("added %d, removed %v; want c added, nothing removed", len(u.Added), u.Removed)
	}
	// c took a's number; a list naming b and c again changes nothing.
	u = s.Apply(group("https://c.example", "https://b.example"), never, time.Time{})
	if len(u.Added)+len(u.Relabeled)+len(u.Removed) != 0 {
		t.Fatalf("an unchanged list changed %+v", u)
	}
	for _, target := range []string{"https://b.example", "https://c.example"} {
		if got, ok := s.Get(ID(target, "http_2xx")); !ok || got.Target != target {
			t.Errorf("Get(%s) = %v, %v", target, got, ok)
		}
	}
	if _, ok := s.Get(ID("https://a.example", "http_2xx")); ok {
		t.Error("a is still known")
	}
	if s.Len() != 2 || x.Len() != 2 {
		t.Errorf("Len = %d, index Len = %d; want 2, 2", s.Len(), x.Len())
	}
}
