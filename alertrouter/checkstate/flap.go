package checkstate

import (
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
)

// Flap detection (a rule's flap_detection: {changes: K, window: W}): the
// K-th confirmed state change (DOWN or UP) within W makes a check
// flapping. Its changes are then not announced one by one; once it has not
// changed for a whole W it settles. What is said, and to whom, is the
// incident stage's business: the machine only reports FlapStarted,
// FlapHeld and FlapSettled.

// FlapEvent is what one result did to a check's flapping episode.
type FlapEvent uint8

// The flap events.
const (
	FlapNone    FlapEvent = iota
	FlapStarted           // this change made it flapping
	FlapHeld              // flapping, not settled: its changes are held
	FlapSettled           // it has been quiet for a whole window
)

// flapHistory is a check's flap-detection memory. Most checks never have
// one (no flap detection, or no confirmed change yet): it is allocated
// with the first change it records.
type flapHistory struct {
	// changes are the times of the last confirmed state changes.
	changes []time.Time
	// since is when the current flapping episode began.
	since time.Time
}

// noteChange records a confirmed state change and reports whether the
// check starts flapping with it.
func (c *Check) noteChange(now time.Time, fd *config.FlapDetection) bool {
	if fd == nil {
		if c.hist != nil {
			c.hist.changes = nil
		}
		return false
	}
	if c.hist == nil {
		c.hist = &flapHistory{}
	}
	h := c.hist
	h.changes = append(h.changes, now)
	window := fd.Window.Std()
	keep := 0
	for keep < len(h.changes) && now.Sub(h.changes[keep]) > window {
		keep++
	}
	// Only the last K matter: the K-th most recent is within the window or not.
	keep = max(keep, len(h.changes)-fd.Changes)
	h.changes = append(h.changes[:0], h.changes[keep:]...)
	return !c.Flapping && len(h.changes) >= fd.Changes
}

// settled reports whether a flapping check has been quiet long enough (or
// lost its flap detection in a reload).
func (c *Check) settled(now time.Time, fd *config.FlapDetection) bool {
	changes := c.Changes()
	if fd == nil || len(changes) == 0 {
		return true
	}
	return now.Sub(changes[len(changes)-1]) >= fd.Window.Std()
}

// Changes are the times of the check's last confirmed state changes (flap
// detection).
func (c *Check) Changes() []time.Time {
	if c.hist == nil {
		return nil
	}
	return c.hist.changes
}

// FlappingSince is when the current flapping episode began (zero when the
// check is not flapping).
func (c *Check) FlappingSince() time.Time {
	if c.hist == nil || !c.Flapping {
		return time.Time{}
	}
	return c.hist.since
}
