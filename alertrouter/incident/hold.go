package incident

import (
	"slices"
	"strings"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/checkstate"
	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/rules"
	"github.com/vigie-monitoring/vigie/alertrouter/targets"
)

// hold is what keeps the notifications of one check or alert from being
// sent now, while it keeps being evaluated: silences (every receiver),
// maintenance windows (per route, from the rule's mute_time_intervals and
// active_time_intervals) and a parent check that is down (depends_on).
// Recoveries of announced incidents ignore it.
type hold struct {
	silenced []string   // ids from the Muter
	windows  [][]string // by route index: "maintenance:<name>", "outside:<names>"
	parent   string     // id of the parent check that is down
}

// blocks reports whether route i may not be notified now.
func (h *hold) blocks(i int) bool {
	return h.parent != "" || len(h.silenced) > 0 || (i < len(h.windows) && len(h.windows[i]) > 0)
}

// mutedBy lists what mutes, for people: silences, then time intervals.
func (h *hold) mutedBy() []string {
	return append(slices.Clip(h.silenced), h.windowNames()...)
}

// windowNames returns the time intervals muting h's routes.
func (h *hold) windowNames() []string {
	var by []string
	for _, w := range h.windows {
		for _, name := range w {
			if !slices.Contains(by, name) {
				by = append(by, name)
			}
		}
	}
	return by
}

// holdFor evaluates what holds back notifications with these labels and
// policy; self (nil for alerts) is never its own parent.
func (s *Stage) holdFor(labels map[string]string, pol *rules.Policy, self *check, now time.Time) *hold {
	h := &hold{silenced: s.silences(labels, now)}
	for i := range pol.Routes {
		if w := pol.Routes[i].MutedBy(now); len(w) > 0 {
			if h.windows == nil {
				h.windows = make([][]string, len(pol.Routes))
			}
			h.windows[i] = w
		}
	}
	if p := s.parentDown(pol.DependsOn, self); p != nil {
		h.parent = p.t.ID
	}
	return h
}

// holdCheck evaluates a check's hold and records it for the View.
func (s *Stage) holdCheck(c *check, now time.Time) *hold {
	h := s.holdFor(c.t.AlertLabels(), c.pol, c, now)
	mutedBy, suppressedBy := c.mutedBy(), c.suppressedBy()
	if by := h.mutedBy(); !slices.Equal(by, mutedBy) {
		mutedBy = by
		s.problemChanged()
	}
	if h.parent != suppressedBy {
		if h.parent != "" {
			s.logger.Info("Check is DOWN while a check it depends on is down; not notified", "target", c.t.Target, "module", c.t.Module, "parent", h.parent)
		}
		suppressedBy = h.parent
		s.problemChanged()
	}
	c.setHeld(mutedBy, suppressedBy)
	return h
}

// parentDown returns a check matched by one of the parent selectors that
// is DOWN or failing towards DOWN (a child often fails first: its DOWN
// waits for the parent's verdict), other than self; the smallest id when
// several are, so that the answer is stable.
func (s *Stage) parentDown(deps []config.Matchers, self *check) *check {
	if len(deps) == 0 || len(s.troubled)+len(s.remote) == 0 {
		return nil
	}
	var best *check
	for _, set := range []map[string]*check{s.troubled, s.remote} {
		for _, p := range set {
			if p == self || (self != nil && p.t.ID == self.t.ID) || (best != nil && p.t.ID > best.t.ID) {
				continue
			}
			for _, sel := range deps {
				if matchesTarget(sel, p.t) {
					best = p
					break
				}
			}
		}
	}
	return best
}

// SetRemoteParents sets the checks other members of a router cluster
// probe and say are DOWN (their summaries): a check here that depends on
// one is held as it is for a parent probed here, and announced once it
// is no longer DOWN there.
func (s *Stage) SetRemoteParents(ts []*targets.Target, now time.Time) {
	next := make(map[string]*check, len(ts))
	for _, t := range ts {
		if c := s.remote[t.ID]; c != nil && c.t == t {
			next[t.ID] = c
			continue
		}
		next[t.ID] = &check{t: t}
	}
	s.remote = next
	list := make([]*check, 0, len(s.problems))
	for _, c := range s.problems {
		list = append(list, c)
	}
	slices.SortFunc(list, func(a, b *check) int { return strings.Compare(a.t.ID, b.t.ID) })
	for _, c := range list {
		s.catchUp(c, nil, now)
		s.holdCheck(c, now)
	}
}

// track keeps the sets of problem checks (DOWN or flapping: views) and
// troubled checks (DOWN or failing: possible parents for depends_on) up
// to date after c changed.
func (s *Stage) track(c *check) {
	st := c.st
	problem := !c.removed && (st.State == checkstate.Down || st.Flapping)
	if problem != c.problem {
		c.problem = problem
		if problem {
			s.problems[c.t.ID] = c
		} else {
			delete(s.problems, c.t.ID)
			c.setHeld(nil, "")
		}
		s.problemChanged()
	}
	troubled := !c.removed && (st.State == checkstate.Down || st.Failures > 0)
	if troubled != c.troubled {
		c.troubled = troubled
		if troubled {
			s.troubled[c.t.ID] = c
		} else {
			delete(s.troubled, c.t.ID)
		}
	}
}

// matchesTarget is sel.Matches(t.MatchLabels()) without building the
// labels: parentDown asks it of every troubled check.
func matchesTarget(sel config.Matchers, t *targets.Target) bool {
	for _, m := range sel {
		if !m.Matches(t.MatchLabel(m.Name)) {
			return false
		}
	}
	return true
}
