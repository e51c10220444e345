package targets

import (
	"fmt"
	"runtime"
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

// TestIndexShrinksAfterLoss: a member holds every check until it knows
// the membership, then gives a share away; the index's table must not stay
// sized for all of them. Measured as the heap the index holds: 100,000
// ids, then 45,000 released (a member of a pair keeps about half; the
// 55,000 left keep their numbers).
func TestIndexShrinksAfterLoss(t *testing.T) {
	const n, kept = 100_000, 55_000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("http_2xx https://host-%06d.example/", i)
	}
	numbers := make([]int32, n)
	base := liveHeap()
	x := NewIndex()
	for i, id := range ids {
		numbers[i] = x.Acquire(id)
	}
	full := liveHeap() - base
	for _, id := range ids[kept:] {
		x.Release(id)
	}
	after := liveHeap() - base
	// The table is made again once it holds less than 3/4 of the most
	// it held: sized for 75,000 ids or fewer, with the numbers' slices as
	// they were. One that kept its room holds all of it, and the list of
	// freed numbers.
	if float64(after) > 0.8*float64(full) {
		t.Errorf("the index holds %d bytes after 45%% of its ids were released, %d with all of them: want at most 0.8 of it", after, full)
	}
	t.Logf("the index holds %d bytes with 100,000 ids, %d after 45,000 were released", full, after)
	for i, id := range ids[:kept] {
		if got, ok := x.Lookup(id); !ok || got != numbers[i] {
			t.Fatalf("after the shrink %s has number %d, %v; want %d", id, got, ok, numbers[i])
		}
	}
	if x.Len() != kept {
		t.Errorf("Len = %d, want %d", x.Len(), kept)
	}
	if i := x.Acquire("http_2xx https://new.example/"); i < kept || i >= n {
		t.Errorf("a new id got %d, want a freed number", i)
	}
	runtime.KeepAlive(ids)
}

// liveHeap is the heap in use after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
