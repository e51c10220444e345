// Package mute defines what can keep a notification from being sent while
// the check or alert behind it keeps being evaluated: silences (package
// silence) and maintenance windows. Recoveries of incidents that were
// announced are never muted; the engine enforces that, not the muters.
package mute

import "time"

// Muter says whether an alert with these labels is muted at time now, and by
// what (silence ids, or "maintenance:<window name>").
type Muter interface {
	Muted(labels map[string]string, now time.Time) (by []string)
}

// Muters combines several muters.
type Muters []Muter

// Muted returns what mutes labels among all muters.
func (ms Muters) Muted(labels map[string]string, now time.Time) []string {
	var by []string
	for _, m := range ms {
		if m != nil {
			by = append(by, m.Muted(labels, now)...)
		}
	}
	return by
}
