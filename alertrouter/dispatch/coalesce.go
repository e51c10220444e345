package dispatch

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

// Coalescing. A destination with a rate limit (Telegram: about one message
// a second per chat; SMS: a budget per hour) cannot take a flood one
// message at a time: 200 checks going down together would take 200 s to
// announce, and their recoveries would queue behind. So when more
// notifications are due for a destination than its rate limit lets
// through right now, the worker sends what is due as one summary: what is
// down, and what recovered, one line per incident (a DOWN and its UP both
// waiting become one "was down from … to …" line). The entries keep their
// own keys: they are marked delivered together, in one transaction, when
// the summary is accepted, so exactly-once holds for each of them.

// maxSummary bounds how many entries one summary replaces.
const maxSummary = 1000

// coalescible reports whether e may be sent as part of a summary: DOWNs,
// reminders and UPs, the kinds a flood is made of.
func coalescible(e *store.OutboxEntry, in *Integration) bool {
	n := e.Notification
	if n == nil || len(n.Alerts) == 0 {
		return false
	}
	switch n.Kind {
	case notify.KindDown, notify.KindReminder:
		return true
	case notify.KindUp:
		return in.SendResolved
	}
	return false
}

// backlogLocked returns what to send from the head of w's queue: the head
// alone, or, when more entries are due than the destination's buckets let
// through now, every due entry in order (at most maxSummary), to be sent
// as one summary. The buckets were refilled to now by their delay.
func (d *Dispatcher) backlogLocked(w *worker, buckets []*bucket, now time.Time) []*store.OutboxEntry {
	head, in := w.queue[0], w.integration
	if !coalescible(head, in) {
		return []*store.OutboxEntry{head}
	}
	capacity := math.MaxInt
	for _, b := range buckets {
		capacity = min(capacity, int(b.tokens))
	}
	due := []*store.OutboxEntry{head}
	for _, e := range w.queue[1:] {
		if len(due) == maxSummary || !coalescible(e, in) || e.NextAttempt.After(now) ||
			expired(e, now, d.policy.MaxAge) || d.inFlight[e.Key] || d.openerDropped(in, e) {
			break // it waits for its turn at the head
		}
		due = append(due, e)
	}
	if len(due) <= capacity {
		return due[:1]
	}
	return due
}

// coalesce makes one summary of entries: one alert per incident, in order
// of first appearance, what is still firing first; a later notification
// of an incident (its UP) replaces an earlier one (its DOWN).
func coalesce(es []*store.OutboxEntry, now time.Time) *notify.Notification {
	var alerts []notify.Alert
	at := map[string]int{}
	keys := make([]string, 0, len(es))
	for _, e := range es {
		n := e.Notification
		keys = append(keys, n.Key)
		for i, a := range n.Alerts {
			if a.Status == "" {
				a.Status = n.Status
			}
			id := "key:" + n.Key + "#" + strconv.Itoa(i)
			if a.Fingerprint != "" {
				id = a.Fingerprint + "@" + strconv.FormatInt(a.StartsAt.UnixNano(), 10)
			}
			if j, ok := at[id]; ok {
				alerts[j] = a
				continue
			}
			at[id] = len(alerts)
			alerts = append(alerts, a)
		}
	}
	status := notify.StatusResolved
	for _, a := range alerts {
		if a.Status != notify.StatusResolved {
			status = notify.StatusFiring
		}
	}
	sort.SliceStable(alerts, func(i, j int) bool {
		return alerts[i].Status != notify.StatusResolved && alerts[j].Status == notify.StatusResolved
	})
	sum := sha256.Sum256([]byte(strings.Join(keys, "\n")))
	first, last := es[0].Notification, es[len(es)-1].Notification
	return &notify.Notification{
		Key:               "summary|" + hex.EncodeToString(sum[:16]),
		Receiver:          first.Receiver,
		Kind:              notify.KindSummary,
		Status:            status,
		Alerts:            alerts,
		GroupLabels:       map[string]string{},
		CommonLabels:      map[string]string{},
		CommonAnnotations: map[string]string{},
		ExternalURL:       last.ExternalURL,
		CreatedAt:         now,
	}
}
