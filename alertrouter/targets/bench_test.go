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
	var groups []exporter.TargetGroup
	for g := range 100 {
		tg := exporter.TargetGroup{Labels: map[string]string{"module": "tcp_connect", "group": fmt.Sprintf("g%d", g)}}
		for i := range 1000 {
			tg.Targets = append(tg.Targets, fmt.Sprintf("site%06d.example:443", g*1000+i))
		}
		groups = append(groups, tg)
	}
	s := NewSource(config.RemovalGuard{MaxRemovedRatio: 0.5, Confirmations: 3}, nil, nil, nil)
	if u := s.Apply(groups, nobody, t0); len(u.Added) != 100000 {
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
