package engine

import (
	"fmt"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

// Flap detection (a rule's flap_detection: {changes: K, window: W}): the
// K-th confirmed state change (DOWN or UP) within W makes a check
// flapping. It is announced once (FLAPPING) instead of that change; its
// DOWN, UP and reminder messages are then held. Once it has not changed
// for a whole W it settles: one STABLE message says how it ended (UP:
// resolved, DOWN: firing, and its recovery will be announced as usual).
// Every receiver told about the check (its DOWN, or the FLAPPING) hears
// how it ended.

// noteChange records a confirmed state change and reports whether the
// check starts flapping with it.
func (c *check) noteChange(now time.Time, fd *config.FlapDetection) bool {
	if fd == nil {
		c.changes = nil
		return false
	}
	c.changes = append(c.changes, now)
	window := fd.Window.Std()
	keep := 0
	for keep < len(c.changes) && now.Sub(c.changes[keep]) > window {
		keep++
	}
	// Only the last K matter: the K-th most recent is within the window or not.
	keep = max(keep, len(c.changes)-fd.Changes)
	c.changes = append(c.changes[:0], c.changes[keep:]...)
	return !c.flapping && len(c.changes) >= fd.Changes
}

// settled reports whether a flapping check has been quiet long enough (or
// lost its flap detection in a reload).
func (c *check) settled(now time.Time) bool {
	if c.pol.flap == nil || len(c.changes) == 0 {
		return true
	}
	return now.Sub(c.changes[len(c.changes)-1]) >= c.pol.flap.Window.Std()
}

// startFlapping announces that the check is flapping, to every receiver
// that may be notified now; they will hear how it ends.
func (e *Engine) startFlapping(c *check, now time.Time) {
	c.flapping, c.flapSince = true, now
	e.flapping++
	e.metrics.flapping.Set(float64(e.flapping))
	e.dirty[c.id] = true
	e.problemChanged(c)
	e.logger.Info("Check is FLAPPING; its changes are not notified one by one until it settles",
		"target", c.target, "module", c.module, "changes", len(c.changes), "window", c.pol.flap.Window)
	h := e.holdCheck(c, now)
	summary := fmt.Sprintf("%s (%s) is FLAPPING: %d state changes within %s, now %s",
		c.target, c.module, len(c.changes), c.pol.flap.Window, stateWord(c))
	for i := range c.pol.routes {
		r := &c.pol.routes[i]
		if h.blocks(i) {
			continue
		}
		if c.notified == nil {
			c.notified = map[string]store.Notified{}
		}
		c.notified[r.receiver] = store.Notified{At: now}
		e.emit(e.checkNotification(c, notify.KindFlapping, notify.StatusFiring, r.receiver, c.flapSince, now, "flapping", summary), r, c.labels, now)
	}
}

// settleFlapping ends a flapping episode with one STABLE message saying
// how the check is now.
func (e *Engine) settleFlapping(c *check, now time.Time) {
	since := c.flapSince
	c.flapping, c.flapSince, c.changes = false, time.Time{}, nil
	e.flapping--
	e.metrics.flapping.Set(float64(e.flapping))
	e.dirty[c.id] = true
	e.problemChanged(c)
	e.logger.Info("Check stopped flapping", "target", c.target, "module", c.module, "state", c.State)
	if c.State != Down {
		summary := fmt.Sprintf("%s (%s) stopped flapping and is UP", c.target, c.module)
		e.closeIncident(c, now, notify.KindStable, "stable", since, summary, nil)
		return
	}
	// Still DOWN: those told about the episode hear it (unless muted now)
	// and keep it as an open incident, closed by the next UP; catchUp
	// announces it to the others.
	h := e.holdCheck(c, now)
	summary := fmt.Sprintf("%s (%s) stopped flapping and is DOWN %s: %s",
		c.target, c.module, notify.SinceText(c.Since, now, 0), c.Reason)
	for i := range c.pol.routes {
		r := &c.pol.routes[i]
		if _, told := c.notified[r.receiver]; !told || h.blocks(i) {
			continue
		}
		c.notified[r.receiver] = store.Notified{At: now}
		e.emit(e.checkNotification(c, notify.KindStable, notify.StatusFiring, r.receiver, since, now, "stable", summary), r, c.labels, now)
	}
	e.catchUp(c, h, now)
}

func stateWord(c *check) string {
	if c.State == Down {
		return "DOWN: " + c.Reason
	}
	return "UP"
}
