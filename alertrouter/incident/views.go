package incident

import (
	"sort"
	"strings"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/checkstate"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/view"
)

// Withdraw reports whether a member of a batch (grouping) must be taken
// out before the batch is sent: the DOWN of a check whose parent
// (depends_on) went down or started failing while the batch waited. A
// child often fails before its parent, and group_wait gives the parent
// time to fail too. The child is announced later if it is still down when
// the parent is up again.
func (s *Stage) Withdraw(receiver string, m *notify.Notification, now time.Time) bool {
	if m.Kind != notify.KindDown {
		return false
	}
	c := s.checkOfKey(m.Key)
	if c == nil || c.st.State != checkstate.Down || len(c.pol.DependsOn) == 0 {
		return false
	}
	p := s.parentDown(c.pol.DependsOn, c)
	if p == nil {
		return false
	}
	s.logger.Info("A check it depends on went down while its DOWN waited in a group; not sent",
		"target", c.t.Target, "module", c.t.Module, "parent", p.t.ID, "receiver", receiver)
	delete(c.notified, receiver)
	s.dirtyChecks[c.t.ID] = true
	s.holdCheck(c, now)
	return true
}

// checkOfKey returns the check a notification key ("check|<id>|<incident>|
// <step>") names, if it is still known.
func (s *Stage) checkOfKey(key string) *check {
	rest, ok := strings.CutPrefix(key, "check|")
	if !ok {
		return nil
	}
	i := strings.LastIndexByte(rest, '|')
	if i < 0 {
		return nil
	}
	j := strings.LastIndexByte(rest[:i], '|')
	if j < 0 {
		return nil
	}
	return s.check(rest[:j])
}

// RefreshMutes re-evaluates what mutes the problems and alerts (silences
// changed), for the views; notifications follow at the next probe of a
// check, or the next refresh of an alert.
func (s *Stage) RefreshMutes(now time.Time) {
	for _, c := range s.problems {
		s.holdCheck(c, now)
	}
	for _, a := range s.alerts {
		s.holdAlert(a, now)
	}
	s.alertsChanged()
}

func (s *Stage) problemChanged() { s.marks.Problems = true }

func (s *Stage) alertsChanged() { s.marks.Alerts = true }

// ProblemViews returns the checks that are DOWN or flapping, oldest first,
// at most view.MaxProblems, and how many more there are.
func (s *Stage) ProblemViews() (problems []view.CheckView, omitted int) {
	list := make([]*check, 0, len(s.problems))
	for _, c := range s.problems {
		list = append(list, c)
	}
	sort.Slice(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if !a.st.Since.Equal(b.st.Since) {
			return a.st.Since.Before(b.st.Since)
		}
		return a.t.ID < b.t.ID
	})
	omitted = max(0, len(list)-view.MaxProblems)
	list = list[:len(list)-omitted]
	out := make([]view.CheckView, len(list))
	for i, c := range list {
		st := c.st
		out[i] = view.CheckView{
			ID: c.t.ID, Target: c.t.Target, Module: c.t.Module, Labels: c.t.AlertLabels(),
			State: st.State.String(), Since: st.Since, Reason: st.Reason,
			Flapping: st.Flapping, FlappingSince: st.FlappingSince(),
			MutedBy: c.mutedBy(), SuppressedBy: c.suppressedBy(),
			Notified:  sortedKeys(c.notified),
			Locations: c.locations(),
		}
		if st.State != checkstate.Down {
			out[i].Reason = ""
		}
	}
	return out, omitted
}

// AlertViews returns the alerts, oldest first (every known alert is
// firing).
func (s *Stage) AlertViews() []view.AlertView {
	out := make([]view.AlertView, 0, len(s.alerts))
	for _, st := range s.alerts {
		v := view.AlertView{
			Alert: st.a.Alert, UpdatedAt: st.a.UpdatedAt, State: "active",
			SilencedBy: view.OrEmpty(st.silencedBy), InhibitedBy: []string{}, MutedBy: view.OrEmpty(st.mutedBy),
			Receivers: make([]string, len(st.pol.Routes)),
		}
		for i, r := range st.pol.Routes {
			v.Receivers[i] = r.Receiver
		}
		if st.suppressedBy != "" {
			v.InhibitedBy = []string{st.suppressedBy}
		}
		if len(st.silencedBy) > 0 || st.suppressedBy != "" || st.allMuted {
			v.State = "suppressed"
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].StartsAt.Equal(out[j].StartsAt) {
			return out[i].StartsAt.Before(out[j].StartsAt)
		}
		return out[i].Fingerprint < out[j].Fingerprint
	})
	return out
}
