// Package grouping is the pipeline's grouping stage (a rule's group_by
// and group_wait), between the incident stage and the outbox.
// Notifications to one receiver whose labels agree on group_by form a
// batch: the first one opens it, and group_wait later the batch is sent as
// one message per kind (the DOWNs together, the UPs together, …: firing
// and resolved are never mixed, so that each message has one headline). A
// notification arriving after that opens a new batch. A DOWN and the UP of
// the same incident in one receiver's batches cancel out: nobody hears of
// a blip shorter than group_wait. Batches are in the store, committed with
// the check states that caused them, so a restart neither loses nor
// repeats them; the message's idempotency key is derived from its
// members' keys.
//
// Without group_by (the default) every notification is its own message,
// at once: vigie's checks already wait for `failures` failures, and each
// check is one thing to fix. group_by: ['...'] (every label) is the same.
package grouping

import (
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/rules"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
	"github.com/vigie-monitoring/vigie/alertrouter/view"
)

// Batcher holds the batches waiting for their group_wait.
type Batcher struct {
	groups  map[string]*store.GroupRecord
	dirty   map[string]bool
	out     func(*notify.Notification)
	logger  *slog.Logger
	grouped prometheus.Gauge
	marks   *view.Marks
}

// NewGauge creates vigie_router_notifications_grouped; it is registered on
// reg unless it is nil.
func NewGauge(reg prometheus.Registerer) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "vigie_router_notifications_grouped",
		Help: "Notifications waiting in a group for its group_wait to end.",
	})
	if reg != nil {
		reg.MustRegister(g)
	}
	return g
}

// New returns a Batcher that hands what leaves to out; logger, grouped
// and marks may be nil.
func New(out func(*notify.Notification), logger *slog.Logger, grouped prometheus.Gauge, marks *view.Marks) *Batcher {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if grouped == nil {
		grouped = NewGauge(nil)
	}
	if marks == nil {
		marks = &view.Marks{}
	}
	return &Batcher{groups: map[string]*store.GroupRecord{}, dirty: map[string]bool{}, out: out, logger: logger, grouped: grouped, marks: marks}
}

// Restore takes back the batches saved by the last run.
func (b *Batcher) Restore(groups map[string]*store.GroupRecord) {
	maps.Copy(b.groups, groups)
	b.groupsChanged()
}

// Emit sends one notification: to its batch when its route groups, else
// on at once. rt is nil when the notification follows no rule (the
// router's own alerts, a receiver no longer routed).
func (b *Batcher) Emit(n *notify.Notification, rt *rules.Route, labels map[string]string, now time.Time) {
	if base, ok := strings.CutSuffix(n.Key, "|up"); ok && b.cancelPending(n.Receiver, base+"|down") {
		b.logger.Debug("DOWN and UP within group_wait: neither is sent", "receiver", n.Receiver, "key", base)
		return
	}
	if rt == nil || rt.GroupBy == nil {
		b.out(n)
		return
	}
	gl := groupLabels(labels, rt.GroupBy)
	id := n.Receiver + "|" + toLabelSet(gl).String()
	g := b.groups[id]
	if g == nil {
		g = &store.GroupRecord{Receiver: n.Receiver, Labels: gl, ReleaseAt: now.Add(rt.GroupWait)}
		b.groups[id] = g
	}
	n.GroupLabels = gl
	g.Members = append(g.Members, n)
	b.dirty[id] = true
	b.groupsChanged()
}

// cancelPending removes the member with key from the receiver's batches
// and reports whether there was one.
func (b *Batcher) cancelPending(receiver, key string) bool {
	for id, g := range b.groups {
		if g.Receiver != receiver {
			continue
		}
		for i, m := range g.Members {
			if m.Key != key {
				continue
			}
			g.Members = slices.Delete(g.Members, i, i+1)
			if len(g.Members) == 0 {
				delete(b.groups, id)
			}
			b.dirty[id] = true
			b.groupsChanged()
			return true
		}
	}
	return false
}

// Release sends the batches whose group_wait is over, oldest first (so
// that the outbox keeps their order). withdraw takes a member out of its
// batch before it is sent (a DOWN whose parent went down meanwhile).
func (b *Batcher) Release(now time.Time, withdraw func(receiver string, m *notify.Notification) bool) {
	if len(b.groups) == 0 {
		return
	}
	var due []string
	for id, g := range b.groups {
		if !g.ReleaseAt.After(now) {
			due = append(due, id)
		}
	}
	sort.Slice(due, func(i, j int) bool {
		x, y := b.groups[due[i]], b.groups[due[j]]
		if !x.ReleaseAt.Equal(y.ReleaseAt) {
			return x.ReleaseAt.Before(y.ReleaseAt)
		}
		return due[i] < due[j]
	})
	for _, id := range due {
		g := b.groups[id]
		if withdraw != nil {
			g.Members = slices.DeleteFunc(g.Members, func(m *notify.Notification) bool { return withdraw(g.Receiver, m) })
		}
		for _, n := range groupMessages(g, now) {
			b.out(n)
		}
		delete(b.groups, id)
		b.dirty[id] = true
	}
	if len(due) > 0 {
		b.groupsChanged()
	}
}

// Next returns when the next batch is due (zero: none).
func (b *Batcher) Next() time.Time {
	var next time.Time
	for _, g := range b.groups {
		if next.IsZero() || g.ReleaseAt.Before(next) {
			next = g.ReleaseAt
		}
	}
	return next
}

// Count is how many notifications wait in batches.
func (b *Batcher) Count() (n int) {
	for _, g := range b.groups {
		n += len(g.Members)
	}
	return n
}

// TakeDirty returns the batches changed since the last call, to be saved
// (a nil record: deleted).
func (b *Batcher) TakeDirty() map[string]*store.GroupRecord {
	if len(b.dirty) == 0 {
		return nil
	}
	out := make(map[string]*store.GroupRecord, len(b.dirty))
	for id := range b.dirty {
		out[id] = b.groups[id]
	}
	clear(b.dirty)
	return out
}

func (b *Batcher) groupsChanged() {
	n := 0
	for _, g := range b.groups {
		n += len(g.Members)
	}
	b.grouped.Set(float64(n))
	b.marks.Grouped = true
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
