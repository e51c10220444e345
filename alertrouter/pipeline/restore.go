package pipeline

import (
	"fmt"

	"github.com/vigie-monitoring/vigie/alertrouter/checkstate"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

// restore takes back what the last run saved. Checks wait for a target
// list to name them (their ids are known to the target source, whose
// removal guard protects them); alerts, batches and the exporter's health
// are restored at once.
func (p *Pipeline) restore() error {
	st, now := p.o.Store, p.clock.Now()
	checks, err := st.LoadChecks()
	if err != nil {
		return err
	}
	ids := sortedKeys(checks)
	for _, id := range ids {
		readSavedState(st, "checks", id, checks[id])
	}
	p.restored = checks
	p.source.Restore(ids)
	saved, err := st.LoadAlerts()
	if err != nil {
		return err
	}
	for _, a := range p.ingest.Restore(saved) {
		p.incident.RestoreAlert(a, saved[a.Fingerprint].Notified, now)
	}
	groups, err := st.LoadGroups()
	if err != nil {
		return err
	}
	p.batcher.Restore(groups)
	rec, err := st.LoadExporter()
	if err != nil {
		return err
	}
	if rec != nil {
		readSavedState(st, "meta", "exporter", rec)
		p.health.Restore(rec)
		p.incident.RestoreExporter(rec.Notified)
		p.locHealth.Restore(rec.Locations, p.incident.RestoreLocation)
	}
	return nil
}

// readSavedState checks the state of a record saved by the last run. A
// state it cannot parse (a damaged record, or one a newer version wrote) is
// reported as unreadable, and read conservatively rather than as a silent
// "unknown", which announced a DOWN a second time: the record is DOWN when
// some receiver was told about an incident (it is not announced again, and
// its end will be), unknown when nobody was told anything (the next probes
// decide, and nothing can be announced twice).
func readSavedState(st store.State, bucket, key string, rec *store.CheckRecord) {
	if _, ok := checkstate.ParseState(rec.State); ok {
		return
	}
	bad := rec.State
	rec.State = checkstate.Unknown.String()
	if len(rec.Notified) > 0 {
		rec.State = checkstate.Down.String()
	}
	st.Unreadable(bucket, key, fmt.Errorf("state %q is not unknown, up or down; read as %s (receivers told of an incident: %d)", bad, rec.State, len(rec.Notified)))
}
