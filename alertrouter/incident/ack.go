package incident

import (
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/checkstate"
)

// Ack is what an acknowledgement (or a lookup) found.
type Ack struct {
	// Found: the check is known; Target, Module and Labels are its own.
	Found          bool
	Target, Module string
	Labels         map[string]string
	// Current: the incident named is the check's current one (DOWN since
	// then, announced).
	Current bool
	// AckedBy and AckedAt say who acknowledged it first.
	AckedBy string
	AckedAt time.Time
	// Done: this call acknowledged it.
	Done bool
}

// Acknowledge looks up the check whose alert labels have fingerprint
// and, when ack is true and incident (its start) is the check's current
// incident, acknowledges it for every receiver told of it: no more
// reminders, until the incident ends (the next one is announced and
// reminded as usual). It is not a silence: nothing else is held back.
func (s *Stage) Acknowledge(fingerprint string, incident time.Time, by string, ack bool, now time.Time) Ack {
	var c *check
	for _, cand := range s.checks {
		if cand != nil && cand.t.Fingerprint() == fingerprint {
			c = cand
			break
		}
	}
	if c == nil {
		return Ack{}
	}
	res := Ack{Found: true, Target: c.t.Target, Module: c.t.Module, Labels: c.t.AlertLabels()}
	st := c.st
	if st.State != checkstate.Down || !st.Since.Equal(incident) || len(c.notified) == 0 {
		return res
	}
	res.Current = true
	for _, n := range c.notified {
		if n.AckedBy != "" {
			res.AckedBy, res.AckedAt = n.AckedBy, n.AckedAt
			break
		}
	}
	if !ack || res.AckedBy != "" {
		return res
	}
	for name, n := range c.notified {
		n.AckedBy, n.AckedAt = by, now
		c.notified[name] = n
	}
	s.dirtyChecks[c.t.ID] = true
	res.AckedBy, res.AckedAt, res.Done = by, now, true
	s.logger.Info("Incident acknowledged: no more reminders for it", "target", c.t.Target, "module", c.t.Module, "by", by)
	return res
}
