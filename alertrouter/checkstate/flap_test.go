package checkstate

import (
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/rules"
)

func TestNoteChange(t *testing.T) {
	fd := &config.FlapDetection{Changes: 4, Window: config.Duration(30 * time.Minute)}
	var f Check
	starts := 0
	for i, min := range []int{0, 1, 2, 40, 41, 42, 43} {
		if f.noteChange(t0.Add(time.Duration(min)*time.Minute), fd) {
			starts++
			f.Flapping = true
			if i != 6 {
				t.Errorf("flapping at change %d (minute %d)", i, min)
			}
		}
	}
	if starts != 1 || len(f.Changes()) != 4 {
		t.Errorf("starts %d, %d changes kept", starts, len(f.Changes()))
	}
}

// TestMachineFlapping drives one check through the machine alone: the
// K-th change within the window starts flapping, changes are then held,
// and a whole quiet window settles it.
func TestMachineFlapping(t *testing.T) {
	pol := &rules.Policy{Failures: 1, Successes: 1, Flap: &config.FlapDetection{Changes: 4, Window: config.Duration(30 * time.Minute)}}
	m := NewMachine(nil, nil, nil)
	m.Add("c", pol, t0)
	now := t0
	step := func(ok bool) Change {
		t.Helper()
		now = now.Add(time.Minute)
		ch, found := m.Observe("c", ok, "refused", now)
		if found == nil {
			t.Fatal("unknown check")
		}
		return ch
	}
	step(true)
	for i, ok := range []bool{false, true, false} {
		if ch := step(ok); ch.Flap != FlapNone || ch.Transition == NoChange {
			t.Fatalf("change %d: %+v", i+1, ch)
		}
	}
	ch := step(true)
	if ch.Flap != FlapStarted || ch.Transition != CameBackUp || !m.Get("c").Flapping || !m.Get("c").FlappingSince().Equal(now) {
		t.Fatalf("4th change: %+v", ch)
	}
	if _, flapping := m.Counts(); flapping != 1 {
		t.Errorf("flapping count %d", flapping)
	}
	if ch := step(false); ch.Flap != FlapHeld || !ch.Flapping || ch.Transition != WentDown {
		t.Fatalf("while flapping: %+v", ch)
	}
	var last Change
	for range 30 {
		last = step(false)
	}
	if last.Flap != FlapSettled || !last.Changed || m.Get("c").Flapping || len(m.Get("c").Changes()) != 0 || !m.Get("c").FlappingSince().IsZero() {
		t.Fatalf("after a quiet window: %+v", last)
	}
	if counts, flapping := m.Counts(); flapping != 0 || counts[Down] != 1 {
		t.Errorf("counts %v, flapping %d", counts, flapping)
	}
	if dirty := m.TakeDirty(); len(dirty) != 1 || dirty[0] != "c" {
		t.Errorf("dirty %v", dirty)
	}
}
