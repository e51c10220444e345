// Package checkstate is the pipeline's check state machine: one probe
// result in, one state change out. A check is DOWN after `failures`
// consecutive failures and UP again after `successes` consecutive
// successes (state.go); a check whose confirmed changes come too often is
// flapping until it settles (flap.go). The Machine keeps every check's
// state and the counts by state; it decides nothing about notifications,
// which are the incident stage's.
package checkstate

import (
	"time"
)

// State is what the router believes about a check.
type State uint8

// The states of a check.
const (
	Unknown State = iota // not probed yet (or only failures below the threshold)
	Up
	Down
)

var stateNames = [...]string{"unknown", "up", "down"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "invalid"
}

// ParseState reads a saved state ("unknown", "up", "down").
func ParseState(s string) (State, bool) {
	for i, n := range stateNames {
		if n == s {
			return State(i), true
		}
	}
	return Unknown, false
}

// Transition is what one probe result did to a check.
type Transition uint8

// The transitions.
const (
	NoChange   Transition = iota
	BecameUp              // UNKNOWN → UP: the first success, not announced
	WentDown              // confirmed DOWN: announced
	CameBackUp            // confirmed UP after DOWN: announced (send_resolved)
)

// Status is the state machine of one check: its state and the consecutive
// results that count towards leaving it.
//
// Its fields are ordered, and the counters int32, so that a Check is 96
// bytes (there is one per check, 10^5 on a large router): Flapping fills
// the padding after State.
type Status struct {
	State State
	// Flapping: the check's confirmed changes came too often; it is
	// flapping until it settles (flap.go). Only the Machine changes it.
	Flapping  bool
	Failures  int32 // consecutive failures (towards DOWN)
	Successes int32 // consecutive successes while DOWN (towards UP)
	// Since is when the current state began. A DOWN began with the first
	// failed probe of the streak that confirmed it, not when the streak
	// reached `failures`: that is when the target went down, and what a
	// person on call needs to know.
	Since time.Time
	// FailingSince is the first failed probe of the current streak of
	// failures (zero when the last probe succeeded).
	FailingSince time.Time
	Reason       string // last failure reason
}

// Observe feeds one probe result. A check is DOWN after `failures`
// consecutive failures and UP again after `successes` consecutive
// successes; the opposite result resets the count, so flapping below the
// thresholds changes nothing. A check never probed becomes UP on its first
// success (there is nothing to recover from).
func (s *Status) Observe(success bool, reason string, now time.Time, failures, successes int) Transition {
	if success {
		s.Failures, s.FailingSince = 0, time.Time{}
		switch s.State {
		case Unknown:
			s.State, s.Since, s.Successes = Up, now, 0
			return BecameUp
		case Down:
			s.Successes++
			if int(s.Successes) >= successes {
				s.State, s.Since, s.Successes = Up, now, 0
				return CameBackUp
			}
		}
		return NoChange
	}
	s.Successes = 0
	if s.Failures == 0 || s.FailingSince.IsZero() {
		// A streak restored from an older store has no start: it starts
		// now, which errs on the late side.
		s.FailingSince = now
	}
	s.Failures++
	s.Reason = reason
	if s.State != Down && int(s.Failures) >= failures {
		s.State, s.Since = Down, s.FailingSince
		return WentDown
	}
	return NoChange
}

// Pending reports whether the check is between two states: failing but
// not yet DOWN, or succeeding but not yet UP. Pending checks are probed at
// retry_interval to confirm quickly.
func (s *Status) Pending() bool {
	if s.State == Down {
		return s.Successes > 0
	}
	return s.Failures > 0
}
