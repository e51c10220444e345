package engine

import (
	"fmt"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

// AlertStoreDamaged names the router's own alert sent when its store could
// not be read and was replaced by an empty one.
const AlertStoreDamaged = "StoreDamaged"

// readSavedState checks the state of a record saved by the last run. A
// state it cannot parse (a damaged record, or one a newer version wrote) is
// reported as unreadable, and read conservatively rather than as a silent
// "unknown", which announced a DOWN a second time: the record is DOWN when
// some receiver was told about an incident (it is not announced again, and
// its end will be), unknown when nobody was told anything (the next probes
// decide, and nothing can be announced twice).
func (e *Engine) readSavedState(st *store.Store, bucket, key string, rec *store.CheckRecord) {
	if _, ok := parseState(rec.State); ok {
		return
	}
	bad := rec.State
	rec.State = Unknown.String()
	if len(rec.Notified) > 0 {
		rec.State = Down.String()
	}
	st.Unreadable(bucket, key, fmt.Errorf("state %q is not unknown, up or down; read as %s (receivers told of an incident: %d)", bad, rec.State, len(rec.Notified)))
}

// storeDamaged tells the router's own receivers (those of "exporter
// unreachable") that the store was replaced: what was lost is exactly what
// would make the next messages surprising (DOWNs announced again, silences
// gone). It is committed at once to the new store's outbox, so a crash
// right after start does not lose it either. It is a one-off notice: the
// new store works, nothing resolves it.
func (e *Engine) storeDamaged(d *store.Damage, now time.Time) error {
	labels := map[string]string{"alertname": AlertStoreDamaged, "instance": d.Path}
	reason := d.Err.Error()
	annotations := map[string]string{
		"summary": fmt.Sprintf("vigie_router's store %s could not be read and was replaced by an empty one at %s: %s",
			d.Path, notify.FormatWhen(d.At, now), reason),
		"description": "The damaged file is kept as " + d.MovedTo + ". Check states, silences and pending notifications were lost: " +
			"checks that are DOWN will be announced again, and silences must be set again.",
	}
	e.metrics.storeDamaged.Set(1)
	for _, name := range e.cfg.ExporterReceivers() {
		e.emit(&notify.Notification{
			Key:      "store|" + d.MovedTo + "|damaged",
			Receiver: name, Kind: notify.KindStoreDamaged, Status: notify.StatusFiring,
			Alerts: []notify.Alert{{
				Labels: labels, Annotations: annotations, StartsAt: d.At,
				Fingerprint: fingerprint(labels), Status: notify.StatusFiring, Reason: reason,
			}},
			GroupLabels:       map[string]string{"alertname": AlertStoreDamaged},
			CommonLabels:      labels,
			CommonAnnotations: annotations,
			ExternalURL:       e.externalURL,
			CreatedAt:         now,
		}, nil, nil, now)
	}
	return e.flush()
}
