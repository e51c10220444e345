package dispatch

import (
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

// An incident's notifications to one integration go together: a recovery
// follows (or is dropped with) the notification that opened its incident.
// followers returns the recoveries queued in q whose every incident was
// opened by one of the dropped firing entries: a DOWN and its UP are
// dropped together.
func followers(q, dropped []*store.OutboxEntry) []*store.OutboxEntry {
	gone := map[*store.OutboxEntry]bool{}
	opened := map[string]bool{}
	for _, e := range dropped {
		gone[e] = true
		if n := e.Notification; n != nil && n.Status != notify.StatusResolved {
			for _, id := range n.Incidents() {
				opened[id] = true
			}
		}
	}
	var out []*store.OutboxEntry
	if len(opened) == 0 {
		return nil
	}
	for _, e := range q {
		n := e.Notification
		if gone[e] || n == nil || n.Status != notify.StatusResolved {
			continue
		}
		all := true
		for _, id := range n.Incidents() {
			all = all && opened[id]
		}
		if all {
			out = append(out, e)
		}
	}
	return out
}

// holdsIncident reports whether q holds a notification of one of n's
// incidents.
func holdsIncident(q []*store.OutboxEntry, n *notify.Notification) bool {
	want := map[string]bool{}
	for _, id := range n.Incidents() {
		want[id] = true
	}
	for _, e := range q {
		if e.Notification == nil {
			continue
		}
		for _, id := range e.Notification.Incidents() {
			if want[id] {
				return true
			}
		}
	}
	return false
}

func without(q []*store.OutboxEntry, e *store.OutboxEntry) []*store.OutboxEntry {
	for i, x := range q {
		if x == e {
			return append(q[:i:i], q[i+1:]...)
		}
	}
	return q
}
