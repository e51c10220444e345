package checkstate

import (
	"time"

	"github.com/vigie-monitoring/vigie/config"
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

// Flap is a check's flap-detection memory.
type Flap struct {
	// Changes are the times of the last confirmed state changes.
	Changes []time.Time
	// Flapping is the current episode, since FlappingSince.
	Flapping      bool
	FlappingSince time.Time
}

// noteChange records a confirmed state change and reports whether the
// check starts flapping with it.
func (f *Flap) noteChange(now time.Time, fd *config.FlapDetection) bool {
	if fd == nil {
		f.Changes = nil
		return false
	}
	f.Changes = append(f.Changes, now)
	window := fd.Window.Std()
	keep := 0
	for keep < len(f.Changes) && now.Sub(f.Changes[keep]) > window {
		keep++
	}
	// Only the last K matter: the K-th most recent is within the window or not.
	keep = max(keep, len(f.Changes)-fd.Changes)
	f.Changes = append(f.Changes[:0], f.Changes[keep:]...)
	return !f.Flapping && len(f.Changes) >= fd.Changes
}

// settled reports whether a flapping check has been quiet long enough (or
// lost its flap detection in a reload).
func (f *Flap) settled(now time.Time, fd *config.FlapDetection) bool {
	if fd == nil || len(f.Changes) == 0 {
		return true
	}
	return now.Sub(f.Changes[len(f.Changes)-1]) >= fd.Window.Std()
}
