package targets

import (
	"fmt"
	"testing"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
)

// BenchmarkApplyUnchanged100k applies the same list of 100,000 checks
// (100 groups of 1,000) to a source that knows them: what every /sd
// refresh costs when nothing changed.
func BenchmarkApplyUnchanged100k(b *testing.B) {
	benchApplyUnchanged(b, nil, 100000, 100000)
}

// benchApplyUnchanged applies benchList once with owner o (nil: every
// check), expecting between lo and hi checks added, then times
// applying it again.
func benchApplyUnchanged(b *testing.B, o Owner, lo, hi int) {
	groups := benchList()
	s := NewSource(config.RemovalGuard{MaxRemovedRatio: 0.5, Confirmations: 3}, nil, nil, nil)
	if o != nil {
		s.SetOwner(o)
	}
	if u := s.Apply(groups, nobody, t0); len(u.Added) < lo || len(u.Added) > hi {
		b.Fatalf("%d added", len(u.Added))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if u := s.Apply(groups, nobody, t0); len(u.Added)+len(u.Relabeled)+len(u.Removed) != 0 {
			b.Fatalf("unchanged list changed something: %+v", u)
		}
	}
}

func benchList() []exporter.TargetGroup {
	var groups []exporter.TargetGroup
	for g := range 100 {
		tg := exporter.TargetGroup{Labels: map[string]string{"module": "tcp_connect", "group": fmt.Sprintf("g%d", g)}}
		for i := range 1000 {
			tg.Targets = append(tg.Targets, fmt.Sprintf("site%06d.example:443", g*1000+i))
		}
		groups = append(groups, tg)
	}
	return groups
}

// halfOwner owns the ids of even hash (odd: odd hash), as a member of a
// pair would.
type halfOwner struct{ odd bool }

func (o halfOwner) Owns(id string) bool      { return (idHash(id)%2 == 1) == o.odd }
func (o halfOwner) OwnsBytes(id []byte) bool { return (idHash(id)%2 == 1) == o.odd }

// BenchmarkApplyMemberUnchanged100k is BenchmarkApplyUnchanged100k for a
// member of a pair: the checks of the other member are hashed, not
// looked up.
func BenchmarkApplyMemberUnchanged100k(b *testing.B) {
	benchApplyUnchanged(b, halfOwner{}, 45000, 55000)
}

// BenchmarkMemberRelist100k is what a membership change costs a member
// of a pair in its target source: half of its checks go, and the list
// fetched again starts the other half.
func BenchmarkMemberRelist100k(b *testing.B) {
	groups := benchList()
	s := NewSource(config.RemovalGuard{MaxRemovedRatio: 0.5, Confirmations: 3}, nil, nil, nil)
	s.SetOwner(halfOwner{})
	s.Apply(groups, nobody, t0)
	owners := []Owner{halfOwner{odd: true}, halfOwner{}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		s.SetOwner(owners[i%2])
		if u := s.Apply(groups, nobody, t0); len(u.Added) < 45000 || len(u.Removed) != 0 {
			b.Fatalf("relist: %d added, %d removed", len(u.Added), len(u.Removed))
		}
	}
}
