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
	"iter"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

// AlertName is the alertname label of a check's notifications.
const AlertName = "ProbeFailed"

// Target is one check's identity: a target probed with a module, and the
// labels it was discovered with.
//
// The targets of one /sd group share their labels: a Target keeps the
// group's map and a pointer to the labels derived from it once per group
// (labelSet); only the instance label is the target's own, added when the
// full label sets are asked for. At 10^5 checks, three maps per Target
// were most of the router's memory.
type Target struct {
	// ID is "<module> <target>"; Target is a substring of it (one string
	// per check, not two).
	ID, Target, Module string
	// Labels are the target's labels, as discovered (shared by the
	// targets of a group: never change them).
	Labels map[string]string

	set *labelSet
}

// labelSet is what the targets of one group share: their labels with
// module and alertname, with and without the __ ones.
type labelSet struct {
	// match are what rules and selectors match (every label); alert the
	// labels of notifications (but the __ ones). Neither has instance
	// unless the group's labels set it (then hasInstance).
	match, alert map[string]string
	hasInstance  bool
}

func newLabelSet(labels map[string]string, module string) *labelSet {
	ls := &labelSet{match: make(map[string]string, len(labels)+2), alert: make(map[string]string, len(labels)+2)}
	for k, v := range labels {
		ls.match[k] = v
		if len(k) < 2 || k[:2] != "__" {
			ls.alert[k] = v
		}
	}
	for _, l := range []map[string]string{ls.match, ls.alert} {
		l["module"] = module
		l["alertname"] = AlertName
	}
	ls.hasInstance = ls.match["instance"] != ""
	if !ls.hasInstance {
		// An empty instance is replaced by the target's.
		delete(ls.match, "instance")
		delete(ls.alert, "instance")
	}
	return ls
}

// withInstance returns l with the target's instance: l itself when the
// group's labels name one.
func (ls *labelSet) withInstance(l map[string]string, target string) map[string]string {
	if ls.hasInstance {
		return l
	}
	out := make(map[string]string, len(l)+1)
	for k, v := range l {
		out[k] = v
	}
	out["instance"] = target
	return out
}

// AlertLabels are the labels of the check's notifications: instance,
// module, alertname and the target's labels but the __ ones. The map may
// be shared: never change it.
func (t *Target) AlertLabels() map[string]string {
	return t.set.withInstance(t.set.alert, t.Target)
}

// MatchLabels are what rules and selectors match: the alert labels plus
// the __meta_* labels and friends. The map may be shared: never change
// it.
func (t *Target) MatchLabels() map[string]string {
	return t.set.withInstance(t.set.match, t.Target)
}

// MatchLabel is one of MatchLabels, without building them: for matching
// many checks against selectors.
func (t *Target) MatchLabel(name string) string {
	if name == "instance" && !t.set.hasInstance {
		return t.Target
	}
	return t.set.match[name]
}

// AlertLabel is one of AlertLabels, without building them.
func (t *Target) AlertLabel(name string) string {
	if name == "instance" && !t.set.hasInstance {
		return t.Target
	}
	return t.set.alert[name]
}

// AllAlertLabels yields AlertLabels' names and values, without building
// them (in no particular order).
func (t *Target) AllAlertLabels() iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		if !t.set.hasInstance && !yield("instance", t.Target) {
			return
		}
		for k, v := range t.set.alert {
			if !yield(k, v) {
				return
			}
		}
	}
}

// Fingerprint is AlertLabels' (Alertmanager's fingerprint): computed when
// asked, for the notifications.
func (t *Target) Fingerprint() string { return notify.Fingerprint(t.AlertLabels()) }

// ID names the check of target probed with module.
func ID(target, module string) string { return module + " " + target }

// New makes a Target.
func New(target, module string, labels map[string]string) *Target {
	return newTarget(ID(target, module), module, labels, nil)
}

// newTarget makes the Target of id (ID(target, module)) with the group's
// labelSet (nil: its own).
func newTarget(id, module string, labels map[string]string, set *labelSet) *Target {
	if set == nil {
		set = newLabelSet(labels, module)
	}
	target := id[len(module)+1:]
	return &Target{ID: id, Target: target, Module: module, Labels: labels, set: set}
}

// Hash is a stable hash of a check's target and module: it spreads
// checks over their interval. It is computed when asked (when a check is
// scheduled), not kept in the Target: 8 bytes more would put every
// Target in the next size class (80 bytes instead of 64).
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
