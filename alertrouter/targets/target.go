// Package targets is the pipeline's target source: it turns the exporter's
// target lists (/sd) into the set of checks, one per (target, module), and
// says what each new list adds, relabels and removes. Its removal guard
// holds back a list that would remove most checks, or every check
// announced DOWN, until more lists confirm it (guard.go); its fetcher
// (fetch.go) asks the exporter on a schedule.
//
// A Target is immutable once made: every stage downstream keeps the same
// pointer, and a change of labels is a new Target.
package targets

import (
	"hash/fnv"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

// AlertName is the alertname label of a check's notifications.
const AlertName = "ProbeFailed"

// Target is one check's identity: a target probed with a module, and the
// labels it was discovered with.
type Target struct {
	ID, Target, Module string
	// Labels are the target's labels, as discovered.
	Labels map[string]string
	// AlertLabels are the labels of the check's notifications: instance,
	// module, alertname and the target's labels but the __ ones.
	AlertLabels map[string]string
	// MatchLabels are what rules and selectors match: the above plus the
	// __meta_* labels and friends.
	MatchLabels map[string]string
	// Fingerprint is AlertLabels' (Alertmanager's fingerprint).
	Fingerprint string
	// Hash is a stable hash of the target and module: it spreads checks
	// over their interval (see Hash).
	Hash uint64
}

// ID names the check of target probed with module.
func ID(target, module string) string { return module + " " + target }

// New makes a Target.
func New(target, module string, labels map[string]string) *Target {
	return newTarget(ID(target, module), target, module, labels)
}

func newTarget(id, target, module string, labels map[string]string) *Target {
	t := &Target{ID: id, Target: target, Module: module, Labels: labels, Hash: Hash(target, module)}
	t.MatchLabels = make(map[string]string, len(labels)+3)
	t.AlertLabels = make(map[string]string, len(labels)+3)
	for k, v := range labels {
		t.MatchLabels[k] = v
		if len(k) < 2 || k[:2] != "__" {
			t.AlertLabels[k] = v
		}
	}
	for _, l := range []map[string]string{t.MatchLabels, t.AlertLabels} {
		if l["instance"] == "" {
			l["instance"] = target
		}
		l["module"] = module
		l["alertname"] = AlertName
	}
	t.Fingerprint = notify.Fingerprint(t.AlertLabels)
	return t
}

// Hash is a stable hash of a check's target and module.
func Hash(target, module string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(target))
	h.Write([]byte{0})
	h.Write([]byte(module))
	return h.Sum64()
}

func sameLabels(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}
