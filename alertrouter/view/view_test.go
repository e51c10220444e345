package view

import (
	"fmt"
	"testing"
	"time"
)

// TestMerge: the cluster's view from the members' summaries: counts
// added up (unknown keys and negative counts ignored), problems oldest
// first then by id, a check two summaries list (it moves) once as this
// member lists it, at most MaxProblems with the rest omitted.
func TestMerge(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	own := &Summary{Counts: map[string]int{"up": 3, "down": 2}, ProblemsOmitted: 1, Problems: []CheckView{
		{ID: "b", Since: t0.Add(time.Minute), Reason: "own"}, {ID: "c", Since: t0.Add(2 * time.Minute)},
	}}
	peer := &Summary{Member: "r2", Counts: map[string]int{"up": 1, "down": 2, "flapping": 1, "weird": 5, "unknown": -3}, Problems: []CheckView{
		{ID: "a", Since: t0.Add(time.Minute)}, {ID: "b", Since: t0, Reason: "peer"},
	}}
	counts, problems, omitted := Merge(own, []*Summary{peer})
	if fmt.Sprint(counts) != "map[down:4 flapping:1 unknown:0 up:4]" || omitted != 1 {
		t.Errorf("counts %v, omitted %d", counts, omitted)
	}
	var ids string
	for _, p := range problems {
		ids += p.ID + "/" + p.Reason + " "
	}
	if ids != "a/ b/own c/ " {
		t.Errorf("problems %q", ids)
	}
	// Alone, its own list as it is.
	if _, ps, _ := Merge(own, nil); len(ps) != 2 || &ps[0] != &own.Problems[0] {
		t.Errorf("alone: %+v", ps)
	}
	// Bounded.
	var many []CheckView
	for i := range MaxProblems {
		many = append(many, CheckView{ID: fmt.Sprintf("p%04d", i), Since: t0})
	}
	_, ps, omitted := Merge(&Summary{Problems: many}, []*Summary{{Problems: []CheckView{{ID: "q", Since: t0.Add(-time.Hour)}, {ID: "z", Since: t0}}}})
	if len(ps) != MaxProblems || ps[0].ID != "q" || omitted != 2 {
		t.Errorf("%d problems, first %s, %d omitted", len(ps), ps[0].ID, omitted)
	}
}
