package alerts

import (
	"slices"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

type sink struct{ events []string }

func (s *sink) AlertFiring(a *Alert, now time.Time) {
	s.events = append(s.events, "firing "+a.Labels["alertname"])
}

func (s *sink) AlertResolved(a *Alert, now time.Time) {
	s.events = append(s.events, "resolved "+a.Labels["alertname"])
}

func alert(name string) notify.Alert {
	return notify.Alert{Labels: map[string]string{"alertname": name}}
}

// TestIngestAlone: alerts fire, refresh, expire at endsAt, and beyond Max
// new ones are refused while known ones still refresh.
func TestIngestAlone(t *testing.T) {
	out := &sink{}
	in := New(Options{Out: out, Max: 2, ResolveTimeout: 5 * time.Minute})
	if refused := in.Take([]notify.Alert{alert("A"), alert("B"), alert("C")}, t0); !slices.Equal(refused, []int{2}) {
		t.Fatalf("refused %v", refused)
	}
	a := in.Get(notify.Fingerprint(map[string]string{"alertname": "A"}))
	if a == nil || !a.Opened.Equal(t0) || !a.EndsAt.Equal(t0.Add(5*time.Minute)) || a.Status != notify.StatusFiring {
		t.Fatalf("alert A: %+v", a)
	}
	if !in.NextExpiry().Equal(t0.Add(5 * time.Minute)) {
		t.Errorf("next expiry %s", in.NextExpiry())
	}
	in.Take([]notify.Alert{alert("A")}, t0.Add(time.Minute)) // refreshed: B expires first
	in.Expire(t0.Add(5*time.Minute - time.Second))
	in.Expire(t0.Add(5 * time.Minute))
	want := []string{"firing A", "firing B", "firing A", "resolved B"}
	if !slices.Equal(out.events, want) {
		t.Fatalf("events %v, want %v", out.events, want)
	}
	if refused := in.Take([]notify.Alert{alert("C")}, t0.Add(5*time.Minute)); len(refused) != 0 || in.Len() != 2 {
		t.Errorf("room after B resolved: refused %v, %d alerts", refused, in.Len())
	}
	if dirty := in.TakeDirty(); len(dirty) != 3 {
		t.Errorf("dirty %v", dirty)
	}
}

// TestValidateBatch: invalid alerts are named, valid ones kept with their
// index.
func TestValidateBatch(t *testing.T) {
	valid, index, err := Validate([]notify.Alert{{}, alert("A")})
	if len(valid) != 1 || !slices.Equal(index, []int{1}) || err == nil || err.Error() != "alert 0: at least one label pair required" {
		t.Errorf("valid %v index %v err %v", valid, index, err)
	}
}
