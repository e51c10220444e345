package engine

import (
	"slices"
	"strings"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
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

// silences asks the Muter (silences) about labels.
func (e *Engine) silences(labels map[string]string, now time.Time) []string {
	if e.muter == nil {
		return nil
	}
	return e.muter.Muted(labels, now)
}

// holdFor evaluates what holds back notifications with these labels and
// policy; self (nil for alerts) is never its own parent.
func (e *Engine) holdFor(labels map[string]string, pol *policy, self *check, now time.Time) *hold {
	h := &hold{silenced: e.silences(labels, now)}
	for i := range pol.routes {
		if w := windowsMuting(&pol.routes[i], now); len(w) > 0 {
			if h.windows == nil {
				h.windows = make([][]string, len(pol.routes))
			}
			h.windows[i] = w
		}
	}
	if p := e.parentDown(pol.dependsOn, self); p != nil {
		h.parent = p.id
	}
	return h
}

// holdCheck evaluates a check's hold and records it for the View.
func (e *Engine) holdCheck(c *check, now time.Time) *hold {
	h := e.holdFor(c.labels, c.pol, c, now)
	if by := h.mutedBy(); !slices.Equal(by, c.mutedBy) {
		c.mutedBy = by
		e.problemChanged(c)
	}
	if h.parent != c.suppressedBy {
		if h.parent != "" {
			e.logger.Info("Check is DOWN while a check it depends on is down; not notified", "target", c.target, "module", c.module, "parent", h.parent)
		}
		c.suppressedBy = h.parent
		e.problemChanged(c)
	}
	return h
}

// windowsMuting returns the route's time intervals that mute it at now:
// an active maintenance window, or being outside every active interval.
func windowsMuting(r *route, now time.Time) []string {
	var by []string
	for _, s := range r.mute {
		if s.Contains(now) {
			by = append(by, "maintenance:"+s.Name)
		}
	}
	if len(r.active) > 0 && !slices.ContainsFunc(r.active, func(s *config.TimeIntervalSet) bool { return s.Contains(now) }) {
		names := make([]string, len(r.active))
		for i, s := range r.active {
			names[i] = s.Name
		}
		by = append(by, "outside:"+strings.Join(names, ","))
	}
	return by
}

// parentDown returns a check matched by one of the parent selectors that
// is DOWN or failing towards DOWN (a child often fails first: its DOWN
// waits for the parent's verdict), other than self; the smallest id when
// several are, so that the answer is stable.
func (e *Engine) parentDown(deps []config.Matchers, self *check) *check {
	if len(deps) == 0 || len(e.troubled) == 0 {
		return nil
	}
	var best *check
	for _, p := range e.troubled {
		if p == self || (best != nil && p.id > best.id) {
			continue
		}
		for _, sel := range deps {
			if sel.Matches(p.matchLabels) {
				best = p
				break
			}
		}
	}
	return best
}
