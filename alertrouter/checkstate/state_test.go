package checkstate

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

func TestStatusObserve(t *testing.T) {
	type step struct {
		ok    bool
		want  Transition
		state State
	}
	cases := []struct {
		name      string
		failures  int
		successes int
		start     State
		steps     []step
	}{
		{"first success makes a new check UP", 3, 2, Unknown, []step{{true, BecameUp, Up}, {true, NoChange, Up}}},
		{"exactly failures make DOWN", 3, 2, Up, []step{{false, NoChange, Up}, {false, NoChange, Up}, {false, WentDown, Down}, {false, NoChange, Down}}},
		{"a new check failing goes DOWN", 2, 2, Unknown, []step{{false, NoChange, Unknown}, {false, WentDown, Down}}},
		{"exactly successes make UP", 3, 2, Down, []step{{true, NoChange, Down}, {true, CameBackUp, Up}, {true, NoChange, Up}}},
		{"failures=1 is immediate", 1, 1, Up, []step{{false, WentDown, Down}, {true, CameBackUp, Up}}},
		{"flapping below failures", 3, 2, Up, []step{{false, NoChange, Up}, {false, NoChange, Up}, {true, NoChange, Up}, {false, NoChange, Up}, {false, NoChange, Up}, {true, NoChange, Up}}},
		{"flapping below successes", 3, 2, Down, []step{{true, NoChange, Down}, {false, NoChange, Down}, {true, NoChange, Down}, {false, NoChange, Down}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := Status{State: tc.start}
			var firstFailure time.Time
			for i, st := range tc.steps {
				now := t0.Add(time.Duration(i) * time.Minute)
				if st.ok {
					firstFailure = time.Time{}
				} else if firstFailure.IsZero() {
					firstFailure = now
				}
				got := s.Observe(st.ok, "boom", now, tc.failures, tc.successes)
				if got != st.want || s.State != st.state {
					t.Fatalf("step %d (ok=%v): transition %d state %s, want %d %s", i, st.ok, got, s.State, st.want, st.state)
				}
				// A DOWN began with the first failed probe of its streak;
				// an UP when it was confirmed.
				want := now
				if got == WentDown {
					want = firstFailure
				}
				if got != NoChange && !s.Since.Equal(want) {
					t.Errorf("step %d: since = %s, want %s", i, s.Since, want)
				}
				if !s.FailingSince.Equal(firstFailure) {
					t.Errorf("step %d: failing since %s, want %s", i, s.FailingSince, firstFailure)
				}
			}
		})
	}
}
