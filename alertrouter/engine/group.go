package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

// Grouping (a rule's group_by and group_wait). Notifications to one
// receiver whose labels agree on group_by form a batch: the first one
// opens it, and group_wait later the batch is sent as one message per kind
// (the DOWNs together, the UPs together, …: firing and resolved are never
// mixed, so that each message has one headline). A notification arriving
// after that opens a new batch. A DOWN and the UP of the same incident in
// one receiver's batches cancel out: nobody hears of a blip shorter than
// group_wait. Batches are in the store, committed with the check states
// that caused them, so a restart neither loses nor repeats them; the
// message's idempotency key is derived from its members' keys.
//
// Without group_by (the default) every notification is its own message,
// at once: vigie's checks already wait for `failures` failures, and each
// check is one thing to fix. group_by: ['...'] (every label) is the same.

// emit sends one notification: to its group when its route batches, else
// straight to the outbox. rt is nil when the notification follows no rule
// (the exporter's alert, a receiver no longer routed).
func (e *Engine) emit(n *notify.Notification, rt *route, labels map[string]string, now time.Time) {
	if base, ok := strings.CutSuffix(n.Key, "|up"); ok && e.cancelPending(n.Receiver, base+"|down") {
		e.logger.Debug("DOWN and UP within group_wait: neither is sent", "receiver", n.Receiver, "key", base)
		return
	}
	if rt == nil || rt.groupBy == nil {
		e.outbox = append(e.outbox, e.dispatcher.Expand([]*notify.Notification{n}, now)...)
		return
	}
	gl := groupLabels(labels, rt.groupBy)
	id := n.Receiver + "|" + toLabelSet(gl).String()
	g := e.groups[id]
	if g == nil {
		g = &store.GroupRecord{Receiver: n.Receiver, Labels: gl, ReleaseAt: now.Add(rt.groupWait)}
		e.groups[id] = g
	}
	n.GroupLabels = gl
	g.Members = append(g.Members, n)
	e.dirtyGroups[id] = true
	e.groupsChanged()
}

// cancelPending removes the member with key from the receiver's batches
// and reports whether there was one.
func (e *Engine) cancelPending(receiver, key string) bool {
	for id, g := range e.groups {
		if g.Receiver != receiver {
			continue
		}
		for i, m := range g.Members {
			if m.Key != key {
				continue
			}
			g.Members = slices.Delete(g.Members, i, i+1)
			if len(g.Members) == 0 {
				delete(e.groups, id)
			}
			e.dirtyGroups[id] = true
			e.groupsChanged()
			return true
		}
	}
	return false
}

// releaseGroups sends the batches whose group_wait is over.
func (e *Engine) releaseGroups(now time.Time) {
	if len(e.groups) == 0 {
		return
	}
	var due []string
	for id, g := range e.groups {
		if !g.ReleaseAt.After(now) {
			due = append(due, id)
		}
	}
	// Oldest first, so that the outbox keeps their order.
	sort.Slice(due, func(i, j int) bool {
		a, b := e.groups[due[i]], e.groups[due[j]]
		if !a.ReleaseAt.Equal(b.ReleaseAt) {
			return a.ReleaseAt.Before(b.ReleaseAt)
		}
		return due[i] < due[j]
	})
	for _, id := range due {
		g := e.groups[id]
		e.withdrawSuppressed(g, now)
		if len(g.Members) > 0 {
			e.outbox = append(e.outbox, e.dispatcher.Expand(groupMessages(g, now), now)...)
		}
		delete(e.groups, id)
		e.dirtyGroups[id] = true
	}
	if len(due) > 0 {
		e.groupsChanged()
	}
}

// withdrawSuppressed takes out of a batch the DOWNs of checks whose
// parent (depends_on) went down or started failing while the batch waited:
// a child often fails before its parent, and group_wait gives the parent
// time to fail too. The child is announced later if it is still down when
// the parent is up again.
func (e *Engine) withdrawSuppressed(g *store.GroupRecord, now time.Time) {
	kept := g.Members[:0]
	for _, m := range g.Members {
		if m.Kind == notify.KindDown {
			if c := e.checkOfKey(m.Key); c != nil && c.State == Down && len(c.pol.dependsOn) > 0 {
				if p := e.parentDown(c.pol.dependsOn, c); p != nil {
					e.logger.Info("A check it depends on went down while its DOWN waited in a group; not sent",
						"target", c.target, "module", c.module, "parent", p.id, "receiver", g.Receiver)
					delete(c.notified, g.Receiver)
					e.dirty[c.id] = true
					e.holdCheck(c, now)
					continue
				}
			}
		}
		kept = append(kept, m)
	}
	clear(g.Members[len(kept):])
	g.Members = kept
}

// checkOfKey returns the check a notification key ("check|<id>|<incident>|
// <step>") names, if it is still known.
func (e *Engine) checkOfKey(key string) *check {
	rest, ok := strings.CutPrefix(key, "check|")
	if !ok {
		return nil
	}
	i := strings.LastIndexByte(rest, '|')
	if i < 0 {
		return nil
	}
	j := strings.LastIndexByte(rest[:i], '|')
	if j < 0 {
		return nil
	}
	return e.checks[rest[:j]]
}

// nextRelease returns when the next batch is due (zero: none).
func (e *Engine) nextRelease() time.Time {
	var next time.Time
	for _, g := range e.groups {
		if next.IsZero() || g.ReleaseAt.Before(next) {
			next = g.ReleaseAt
		}
	}
	return next
}

func (e *Engine) groupsChanged() {
	n := 0
	for _, g := range e.groups {
		n += len(g.Members)
	}
	e.metrics.grouped.Set(float64(n))
}

// kindOrder is the order of a batch's messages: what fires first, then
// what is resolved, so that a receiver reads an incident in order.
var kindOrder = map[string]int{
	string(notify.KindDown) + notify.StatusFiring:     0,
	string(notify.KindFlapping) + notify.StatusFiring: 1,
	string(notify.KindReminder) + notify.StatusFiring: 2,
	string(notify.KindStable) + notify.StatusFiring:   3,
	string(notify.KindStable) + notify.StatusResolved: 4,
	string(notify.KindUp) + notify.StatusResolved:     5,
}

// groupMessages turns a batch into one notification per kind and status.
// A kind with one member is that member unchanged (same key as without
// grouping).
func groupMessages(g *store.GroupRecord, now time.Time) []*notify.Notification {
	parts := map[string][]*notify.Notification{}
	var order []string
	for _, m := range g.Members {
		k := string(m.Kind) + m.Status
		if _, ok := parts[k]; !ok {
			order = append(order, k)
		}
		parts[k] = append(parts[k], m)
	}
	sort.SliceStable(order, func(i, j int) bool { return rank(order[i]) < rank(order[j]) })
	out := make([]*notify.Notification, 0, len(order))
	for _, k := range order {
		ms := parts[k]
		if len(ms) == 1 {
			out = append(out, ms[0])
			continue
		}
		out = append(out, combine(g, ms, now))
	}
	return out
}

func rank(k string) int {
	if r, ok := kindOrder[k]; ok {
		return r
	}
	return len(kindOrder)
}

// combine makes one notification of several of the same kind.
func combine(g *store.GroupRecord, ms []*notify.Notification, now time.Time) *notify.Notification {
	keys := make([]string, len(ms))
	var alerts []notify.Alert
	for i, m := range ms {
		keys[i] = m.Key
		alerts = append(alerts, m.Alerts...)
	}
	sort.Strings(keys)
	sum := sha256.Sum256([]byte(strings.Join(keys, "\n")))
	labels := make([]map[string]string, len(alerts))
	annotations := make([]map[string]string, len(alerts))
	for i, a := range alerts {
		labels[i], annotations[i] = a.Labels, a.Annotations
	}
	return &notify.Notification{
		Key:               "group|" + hex.EncodeToString(sum[:16]) + "|" + string(ms[0].Kind),
		Receiver:          g.Receiver,
		Kind:              ms[0].Kind,
		Status:            ms[0].Status,
		Alerts:            alerts,
		GroupLabels:       g.Labels,
		CommonLabels:      common(labels),
		CommonAnnotations: common(annotations),
		ExternalURL:       ms[0].ExternalURL,
		CreatedAt:         now,
	}
}

// common returns the pairs every map has.
func common(ms []map[string]string) map[string]string {
	if len(ms) == 0 {
		return map[string]string{}
	}
	out := maps.Clone(ms[0])
	if out == nil {
		out = map[string]string{}
	}
	for _, m := range ms[1:] {
		for k, v := range out {
			if mv, ok := m[k]; !ok || mv != v {
				delete(out, k)
			}
		}
	}
	return out
}

// groupLabels returns the values of the group_by labels that are set.
func groupLabels(labels map[string]string, by []string) map[string]string {
	out := make(map[string]string, len(by))
	for _, name := range by {
		if v, ok := labels[name]; ok && v != "" {
			out[name] = v
		}
	}
	return out
}

func toLabelSet(m map[string]string) model.LabelSet {
	ls := make(model.LabelSet, len(m))
	for k, v := range m {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return ls
}
