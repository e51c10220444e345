package incident

import (
	"fmt"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/checkstate"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

// A flapping check (checkstate: flap detection) is announced once
// (FLAPPING) instead of the change that made it flap; its DOWN, UP and
// reminder messages are then held. When it settles, one STABLE message
// says how it ended (UP: resolved, DOWN: firing, and its recovery will be
// announced as usual). Every receiver told about the check (its DOWN, or
// the FLAPPING) hears how it ended.

// startFlapping announces that the check is flapping, to every receiver
// that may be notified now; they will hear how it ends.
func (s *Stage) startFlapping(c *check, now time.Time) {
	st := c.st
	s.dirtyChecks[c.t.ID] = true
	s.problemChanged()
	s.logger.Info("Check is FLAPPING; its changes are not notified one by one until it settles",
		"target", c.t.Target, "module", c.t.Module, "changes", len(st.Changes()), "window", c.pol.Flap.Window)
	h := s.holdCheck(c, now)
	summary := fmt.Sprintf("%s (%s) is FLAPPING: %d state changes within %s, now %s",
		c.t.Target, c.t.Module, len(st.Changes()), c.pol.Flap.Window, stateWord(st))
	for i := range c.pol.Routes {
		r := &c.pol.Routes[i]
		if h.blocks(i) {
			continue
		}
		if c.notified == nil {
			c.notified = map[string]store.Notified{}
		}
		c.notified[r.Receiver] = store.Notified{At: now}
		s.emit(s.checkNotification(c, notify.KindFlapping, notify.StatusFiring, r.Receiver, st.FlappingSince(), now, "flapping", summary), r, c.t.AlertLabels(), now)
	}
}

// settleFlapping ends a flapping episode (begun at since) with one STABLE
// message saying how the check is now.
func (s *Stage) settleFlapping(c *check, since, now time.Time) {
	st := c.st
	s.dirtyChecks[c.t.ID] = true
	s.problemChanged()
	s.logger.Info("Check stopped flapping", "target", c.t.Target, "module", c.t.Module, "state", st.State)
	if st.State != checkstate.Down {
		summary := fmt.Sprintf("%s (%s) stopped flapping and is UP", c.t.Target, c.t.Module)
		s.closeIncident(c, now, notify.KindStable, "stable", since, summary, nil)
		return
	}
	// Still DOWN: those told about the episode hear it (unless muted now)
	// and keep it as an open incident, closed by the next UP; catchUp
	// announces it to the others.
	h := s.holdCheck(c, now)
	summary := fmt.Sprintf("%s (%s) stopped flapping and is DOWN %s: %s",
		c.t.Target, c.t.Module, notify.SinceText(st.Since, now, 0), st.Reason)
	for i := range c.pol.Routes {
		r := &c.pol.Routes[i]
		if _, told := c.notified[r.Receiver]; !told || h.blocks(i) {
			continue
		}
		c.notified[r.Receiver] = store.Notified{At: now}
		s.emit(s.checkNotification(c, notify.KindStable, notify.StatusFiring, r.Receiver, since, now, "stable", summary), r, c.t.AlertLabels(), now)
	}
	s.catchUp(c, h, now)
}

func stateWord(st *checkstate.Check) string {
	if st.State == checkstate.Down {
		return "DOWN: " + st.Reason
	}
	return "UP"
}
