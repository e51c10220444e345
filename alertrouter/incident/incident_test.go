package incident

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/checkstate"
	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/rules"
	"github.com/vigie-monitoring/vigie/alertrouter/targets"
)

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

// recorder is the stage's Emitter: it keeps what it is given.
type recorder struct{ sent []string }

func (r *recorder) Emit(n *notify.Notification, rt *rules.Route, labels map[string]string, now time.Time) {
	r.sent = append(r.sent, n.Receiver+" "+string(n.Kind)+" "+n.Alerts[0].Labels["instance"])
}

func (r *recorder) take() string {
	s := strings.Join(r.sent, "; ")
	r.sent = nil
	return s
}

// silenced mutes every label set with instance="b".
type silenced struct{}

func (silenced) Muted(labels map[string]string, now time.Time) []string {
	if labels["instance"] == "b" {
		return []string{"s1"}
	}
	return nil
}

// TestStageAlone drives the incident stage with the state machine's
// changes, no pipeline: DOWN to the rule's receivers, reminders after
// repeat_interval, nothing for a silenced check, UP to those told.
func TestStageAlone(t *testing.T) {
	cfg, err := config.ParseRouter([]byte(`
rules:
  - failures: 1
    successes: 1
    repeat_interval: 1h
    receivers: [ops, audit]
receivers:
  - name: ops
  - name: audit
`))
	if err != nil {
		t.Fatal(err)
	}
	out := &recorder{}
	s := New(Options{Config: cfg, Muter: silenced{}, Out: out})
	m := checkstate.NewMachine(nil, nil, nil)
	for _, name := range []string{"a", "b"} {
		tg := targets.New(name, "tcp_connect", nil)
		pol := s.Policy(tg.MatchLabels())
		s.AddCheck(tg, m.Add(tg.ID, pol, t0), pol, nil)
	}
	observe := func(name string, ok bool, at time.Time) string {
		t.Helper()
		id := targets.ID(name, "tcp_connect")
		ch, found := m.Observe(id, ok, "connection refused", at)
		if found == nil {
			t.Fatalf("no check %s", id)
		}
		s.Observe(id, ch, at)
		return out.take()
	}
	if got := observe("a", false, t0); got != "ops down a; audit down a" {
		t.Fatalf("DOWN: %q", got)
	}
	if got := observe("b", false, t0); got != "" || !s.Announced("tcp_connect a") || s.Announced("tcp_connect b") {
		t.Fatalf("silenced DOWN: %q", got)
	}
	if got := observe("a", false, t0.Add(59*time.Minute)); got != "" {
		t.Fatalf("early reminder: %q", got)
	}
	if got := observe("a", false, t0.Add(time.Hour)); got != "ops reminder a; audit reminder a" {
		t.Fatalf("reminders: %q", got)
	}
	if got := observe("a", true, t0.Add(2*time.Hour)); got != "audit up a; ops up a" {
		t.Fatalf("UP: %q", got)
	}
	if got := observe("b", true, t0.Add(2*time.Hour)); got != "" {
		t.Fatalf("UP of an incident nobody heard of: %q", got)
	}
	if checks, _, _ := s.TakeDirty(); !slices.Contains(checks, "tcp_connect a") {
		t.Errorf("who was told of a is not to be saved: %v", checks)
	}
}
