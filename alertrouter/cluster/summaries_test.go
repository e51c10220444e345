package cluster

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	page "github.com/vigie-monitoring/vigie/alertrouter/view"
	"github.com/vigie-monitoring/vigie/internal/testenv"
)

// TestSummaries: each member publishes its summary (counts, problems)
// and reads the others'; a summary is bounded (at most page.MaxProblems
// problems and maxSummaryBytes, the rest counted as omitted); a member
// that dies is no longer shown once its session ends.
func TestSummaries(t *testing.T) {
	consul := testenv.StartConsul(t)
	a := newShared(t, consul, "a", t.TempDir())
	b := newShared(t, consul, "b", t.TempDir())
	var told atomic.Int64
	b.st.SetSummariesChanged(func() { told.Add(1) })
	for _, s := range []*shared{a, b} {
		s.start(t, false)
		s.runStore(t, nil)
	}
	for _, s := range []*shared{a, b} {
		waitFor(t, s.Name()+" to see a and b", seesMembers(s.member, "a", "b"))
	}
	since := time.Now().Add(-time.Hour).Truncate(time.Second)
	a.st.Publish(&page.Summary{Checks: 3, Counts: map[string]int{"up": 2, "down": 1},
		Problems: []page.CheckView{{ID: "http_2xx https://x.example", Target: "https://x.example", Module: "http_2xx", State: "down", Since: since}}})
	b.st.Publish(&page.Summary{Checks: 4, Counts: map[string]int{"up": 4}})
	waitFor(t, "b to read a's summary", func() bool {
		sums := b.st.Summaries()
		return len(sums) == 1 && sums[0].Member == "a" && sums[0].Counts["down"] == 1 && len(sums[0].Problems) == 1 && sums[0].Problems[0].Since.Equal(since)
	})
	if told.Load() == 0 {
		t.Error("b was not told that a's summary changed")
	}
	waitFor(t, "a to read b's summary", func() bool { sums := a.st.Summaries(); return len(sums) == 1 && sums[0].Checks == 4 })
	if got := b.st.OwnedBy(b.Members()); got["a"] != 3 || got["b"] != 4 {
		t.Errorf("checks per member: %v", got)
	}
	if got := a.st.owned(); got != 3 {
		t.Errorf("a owns %v checks, want 3", got)
	}

	// A summary too large for Consul is cut; what is cut is omitted.
	var many []page.CheckView
	for i := range 3 * page.MaxProblems {
		many = append(many, page.CheckView{ID: fmt.Sprintf("http_2xx https://%d.example", i), State: "down", Since: since,
			Reason: strings.Repeat("x", 200)})
	}
	a.st.Publish(&page.Summary{Checks: len(many), Counts: map[string]int{"down": len(many)}, Problems: many})
	waitFor(t, "b to read a's large summary", func() bool {
		sums := b.st.Summaries()
		return len(sums) == 1 && sums[0].Checks == len(many)
	})
	sum := b.st.Summaries()[0]
	if len(sum.Problems) > page.MaxProblems || len(sum.Problems)+sum.ProblemsOmitted != len(many) || len(sum.Problems) == 0 {
		t.Errorf("a large summary: %d problems, %d omitted, of %d", len(sum.Problems), sum.ProblemsOmitted, len(many))
	}
	if value, err := encodeSummary(&page.Summary{Problems: many}); err != nil || len(value) > maxSummaryBytes {
		t.Errorf("an encoded summary is %d bytes (%v), want at most %d", len(value), err, maxSummaryBytes)
	}

	// a dies: once its session ends, b shows no summary of it.
	a.stop()
	waitFor(t, "b to forget a's summary", func() bool { return len(b.st.Summaries()) == 0 })
}
