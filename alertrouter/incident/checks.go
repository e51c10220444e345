package incident

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/checkstate"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/rules"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
	"github.com/vigie-monitoring/vigie/alertrouter/targets"
)

// check is one check's incident. It is kept small (48 bytes): there is
// one per check, 10^5 on a large router, and what few checks have lives
// behind rare.
type check struct {
	t  *targets.Target
	st *checkstate.Check // the state machine's, read here only
	// pol is the rules' policy for the check (shared with the machine).
	pol      *rules.Policy
	notified map[string]store.Notified
	// rare is nil for most checks: see checkRare.
	rare     *checkRare
	problem  bool // in Stage.problems
	troubled bool // in Stage.troubled
	removed  bool
}

// checkRare is what holds a check's notifications back, as last
// evaluated (views), and its last round from each location (several
// locations): a problem's, or every check's with several locations.
type checkRare struct {
	mutedBy      []string // silences and time intervals
	suppressedBy string   // the parent check that is down
	locs         []notify.LocationResult
}

func (c *check) mutedBy() []string {
	if c.rare == nil {
		return nil
	}
	return c.rare.mutedBy
}

func (c *check) suppressedBy() string {
	if c.rare == nil {
		return ""
	}
	return c.rare.suppressedBy
}

func (c *check) locations() []notify.LocationResult {
	if c.rare == nil {
		return nil
	}
	return c.rare.locs
}

// setHeld records what holds the check back.
func (c *check) setHeld(mutedBy []string, suppressedBy string) {
	if c.rare == nil {
		if len(mutedBy) == 0 && suppressedBy == "" {
			return
		}
		c.rare = &checkRare{}
	}
	c.rare.mutedBy, c.rare.suppressedBy = mutedBy, suppressedBy
	c.dropRare()
}

// setLocations records the check's last round from each location.
func (c *check) setLocations(locs []notify.LocationResult) {
	if c.rare == nil {
		if len(locs) == 0 {
			return
		}
		c.rare = &checkRare{}
	}
	c.rare.locs = locs
	c.dropRare()
}

// dropRare frees rare once it holds nothing.
func (c *check) dropRare() {
	if r := c.rare; r != nil && len(r.mutedBy) == 0 && r.suppressedBy == "" && len(r.locs) == 0 {
		c.rare = nil
	}
}

// AddCheck starts following a check: st is its state (the machine's),
// notified who was told of its current incident by the last run. Call
// CatchUp once every new check is added (parents first need to be known).
func (s *Stage) AddCheck(t *targets.Target, st *checkstate.Check, pol *rules.Policy, notified map[string]store.Notified) {
	c := &check{t: t, st: st, pol: pol, notified: notified}
	i, ok := s.index.Lookup(t.ID)
	if !ok || s.check(t.ID) == nil {
		i = s.index.Acquire(t.ID)
	}
	*targets.Slot(&s.checks, i) = c
	s.track(c)
}

// check returns a check, or nil.
func (s *Stage) check(id string) *check {
	if i, ok := s.index.Lookup(id); ok {
		return targets.At(s.checks, i)
	}
	return nil
}

// Relabel gives a check its new labels and policy (the rules may send it
// elsewhere now: CatchUp).
func (s *Stage) Relabel(t *targets.Target, pol *rules.Policy) {
	if c := s.check(t.ID); c != nil {
		c.t, c.pol = t, pol
		if c.problem {
			s.problemChanged()
		}
	}
}

// SetPolicy gives a check the policy of a reloaded configuration.
func (s *Stage) SetPolicy(id string, pol *rules.Policy) {
	if c := s.check(id); c != nil {
		c.pol = pol
	}
}

// Announced reports whether some receiver was told of the check's
// current incident.
func (s *Stage) Announced(id string) bool {
	c := s.check(id)
	return c != nil && len(c.notified) > 0
}

// Notified returns who was told of the check's current incident (nil for
// an unknown check). The caller must not change it.
func (s *Stage) Notified(id string) map[string]store.Notified {
	if c := s.check(id); c != nil {
		return c.notified
	}
	return nil
}

// RemoveCheck forgets a check that left the target list. A check that was
// announced DOWN (or FLAPPING) is resolved ("removed from discovery")
// rather than left DOWN forever.
func (s *Stage) RemoveCheck(id string, now time.Time) {
	c := s.check(id)
	if c == nil {
		return
	}
	if len(c.notified) > 0 {
		incident := c.st.Since
		if c.st.Flapping {
			incident = c.st.FlappingSince()
		}
		s.resolved(c, now, "removed", incident)
		s.logger.Info("Check removed from discovery while DOWN; resolving it", "target", c.t.Target, "module", c.t.Module)
	}
	c.removed = true
	s.track(c)
	i, _ := s.index.Lookup(id)
	s.checks[i] = nil
	s.index.Release(id)
}

// Forget drops a check this router no longer probes (another member of
// its cluster owns it now, and continues its incident from its record):
// unlike RemoveCheck, nothing is announced.
func (s *Stage) Forget(id string) {
	c := s.check(id)
	if c == nil {
		return
	}
	c.removed = true
	s.track(c)
	i, _ := s.index.Lookup(id)
	s.checks[i] = nil
	s.index.Release(id)
}

// Observe acts on what one probe result did to a check (the machine's
// Change): the DOWN, UP, FLAPPING and STABLE messages it calls for, and
// the reminders that are due.
func (s *Stage) Observe(id string, ch checkstate.Change, now time.Time) {
	c := s.check(id)
	if c == nil {
		return
	}
	st := c.st
	// What views show of a problem: state, since, reason.
	if ch.Changed && (c.problem || st.State == checkstate.Down) &&
		(st.State != ch.Before.State || !st.Since.Equal(ch.Before.Since) || st.Reason != ch.Before.Reason) {
		s.problemChanged()
	}
	defer s.track(c)
	if ch.Flap == checkstate.FlapStarted {
		s.track(c) // a DOWN flapping check is a parent at once
		s.startFlapping(c, now)
		return
	}
	switch ch.Transition {
	case checkstate.WentDown:
		s.logger.Info("Check is DOWN", "target", c.t.Target, "module", c.t.Module, "reason", st.Reason, "failures", st.Failures, "flapping", ch.Flapping)
	case checkstate.CameBackUp:
		s.logger.Info("Check is UP again", "target", c.t.Target, "module", c.t.Module, "flapping", ch.Flapping)
		if !ch.Flapping {
			s.resolved(c, now, "up", ch.Before.Since)
		}
	}
	switch ch.Flap {
	case checkstate.FlapHeld:
		return // held until it settles
	case checkstate.FlapSettled:
		s.settleFlapping(c, ch.FlapSince, now)
	}
	if st.State == checkstate.Down {
		s.track(c) // the troubled set decides parents
		h := s.holdCheck(c, now)
		s.catchUp(c, h, now)
		s.reminders(c, h, now)
	}
}

// CatchUp announces a DOWN check to the receivers that may hear of it now
// and have not (see catchUp).
func (s *Stage) CatchUp(id string, now time.Time) {
	if c := s.check(id); c != nil {
		s.catchUp(c, nil, now)
	}
}

// CatchUpAll is CatchUp for every check, in order (after a reload).
func (s *Stage) CatchUpAll(now time.Time) {
	all := make([]*check, 0, len(s.checks))
	for _, c := range s.checks {
		if c != nil {
			all = append(all, c)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].t.ID < all[j].t.ID })
	for _, c := range all {
		s.catchUp(c, nil, now)
	}
}

// catchUp announces a DOWN check to each of its receivers that has not
// heard of it yet and may hear of it now: at the transition, and later to
// receivers added by a reload or a label change, to those whose silence or
// maintenance window ended, and to all once the parent check that
// suppressed the DOWN is up again. A flapping check is held.
func (s *Stage) catchUp(c *check, h *hold, now time.Time) {
	st := c.st
	if st.State != checkstate.Down || st.Flapping || !c.unannounced() {
		return
	}
	if h == nil {
		h = s.holdCheck(c, now)
	}
	for i := range c.pol.Routes {
		r := &c.pol.Routes[i]
		if _, ok := c.notified[r.Receiver]; ok || h.blocks(i) {
			continue
		}
		if c.notified == nil {
			c.notified = map[string]store.Notified{}
		}
		c.notified[r.Receiver] = store.Notified{At: now}
		s.dirtyChecks[c.t.ID] = true
		// Said with the probes that confirmed it when announced at the
		// transition; a late announcement (after a silence, a reload) says
		// for how long instead.
		probes := 0
		if st.Failures > 0 && st.FailingSince.Equal(st.Since) {
			probes = int(st.Failures)
		}
		summary := fmt.Sprintf("%s (%s) is DOWN %s: %s", c.t.Target, c.t.Module, notify.SinceText(st.Since, now, probes), st.Reason)
		n := s.checkNotification(c, notify.KindDown, notify.StatusFiring, r.Receiver, st.Since, now, "down", summary)
		n.Alerts[0].FailedProbes = probes
		s.emit(n, r, c.t.AlertLabels(), now)
	}
}

// unannounced reports whether some receiver of the check has not heard of
// its current incident.
func (c *check) unannounced() bool {
	for _, r := range c.pol.Routes {
		if _, ok := c.notified[r.Receiver]; !ok {
			return true
		}
	}
	return false
}

// reminders says "still down" to the receivers whose repeat_interval has
// passed since they last heard of the check, unless it is muted or
// suppressed now (a silence acknowledges an incident: no more reminders).
func (s *Stage) reminders(c *check, h *hold, now time.Time) {
	st := c.st
	if st.State != checkstate.Down || st.Flapping {
		return
	}
	for i := range c.pol.Routes {
		r := &c.pol.Routes[i]
		n, ok := c.notified[r.Receiver]
		if !ok || r.Repeat <= 0 || now.Sub(n.At) < r.Repeat || n.AckedBy != "" {
			continue
		}
		if h == nil {
			h = s.holdCheck(c, now)
		}
		if h.blocks(i) {
			continue
		}
		n.At = now
		n.Reminders++
		c.notified[r.Receiver] = n
		s.dirtyChecks[c.t.ID] = true
		summary := fmt.Sprintf("%s (%s) is still DOWN %s: %s", c.t.Target, c.t.Module, notify.SinceText(st.Since, now, 0), st.Reason)
		s.emit(s.checkNotification(c, notify.KindReminder, notify.StatusFiring, r.Receiver, st.Since, now, "reminder/"+strconv.Itoa(n.Reminders), summary), r, c.t.AlertLabels(), now)
	}
}

// resolved closes an announced incident: every receiver that heard of it
// hears of its end (unless send_resolved is false for it), even if a
// reload no longer routes the check there, and whether or not it is muted
// now: a recovery of a notified incident is always sent.
func (s *Stage) resolved(c *check, now time.Time, why string, incident time.Time) {
	var summary string
	switch why {
	case "removed":
		was := "DOWN"
		if c.st.Flapping {
			was = "FLAPPING"
		}
		summary = fmt.Sprintf("%s (%s) was removed from discovery while %s (since %s)",
			c.t.Target, c.t.Module, was, notify.FormatWhen(incident, now))
	default:
		summary = fmt.Sprintf("%s (%s) is UP again after %s (down since %s)",
			c.t.Target, c.t.Module, notify.HumanizeDuration(now.Sub(incident)), notify.FormatWhen(incident, now))
	}
	s.closeIncident(c, now, notify.KindUp, "up", incident, summary, func(n *notify.Notification) {
		n.Alerts[0].Annotations["resolution"] = why
	})
}

// closeIncident sends a resolution (UP, or STABLE after flapping) to every
// receiver told about the incident, then forgets them.
func (s *Stage) closeIncident(c *check, now time.Time, kind notify.Kind, step string, incident time.Time, summary string, decorate func(*notify.Notification)) {
	for _, name := range sortedKeys(c.notified) {
		r := c.pol.RouteTo(name)
		// A receiver no longer configured still gets the recovery: dispatch
		// sends it after the DOWN if that waits there too (so that the two
		// go, or expire, together), and forgets it otherwise.
		if r != nil && !r.SendResolved {
			continue
		}
		n := s.checkNotification(c, kind, notify.StatusResolved, name, incident, now, step, summary)
		if decorate != nil {
			decorate(n)
		}
		s.emit(n, r, c.t.AlertLabels(), now)
	}
	c.notified = nil
	s.dirtyChecks[c.t.ID] = true
}

func (s *Stage) checkNotification(c *check, kind notify.Kind, status, receiver string, incident, now time.Time, step, summary string) *notify.Notification {
	var endsAt time.Time
	reason := c.st.Reason
	if status == notify.StatusResolved {
		endsAt, reason = now, ""
	}
	annotations := map[string]string{"summary": summary}
	if c.st.Reason != "" {
		annotations["description"] = c.st.Reason
	}
	locs := c.locations()
	if len(locs) > 0 {
		if status == notify.StatusResolved {
			annotations["summary"] += " (from every location)"
		} else if failing := locationsFailing(locs); failing != "" {
			annotations[AnnotationLocationsFailing] = failing
		}
	}
	labels := c.t.AlertLabels()
	return &notify.Notification{
		Key:      "check|" + c.t.ID + "|" + strconv.FormatInt(incident.UnixNano(), 10) + "|" + step,
		Receiver: receiver,
		Kind:     kind,
		Status:   status,
		Alerts: []notify.Alert{{
			Labels:       labels,
			Annotations:  annotations,
			StartsAt:     incident,
			EndsAt:       endsAt,
			GeneratorURL: s.debugURL(c.t.Target, c.t.Module),
			Fingerprint:  notify.Fingerprint(labels),
			Status:       status,
			Reason:       reason,
			Check:        true,
			Locations:    locs,
		}},
		GroupLabels:       map[string]string{"alertname": targets.AlertName, "instance": labels["instance"], "module": c.t.Module},
		CommonLabels:      labels,
		CommonAnnotations: annotations,
		ExternalURL:       s.externalURL,
		CreatedAt:         now,
	}
}

// Replace gives a check the state and the incident another member of a
// router cluster recorded: the check is probed there (the views show it
// here too), or it was until it moved here (its incident continues: the
// start, who was told and when, hence the reminders' schedule). Nothing
// is announced: that member did.
func (s *Stage) Replace(id string, st *checkstate.Check, notified map[string]store.Notified, now time.Time) {
	c := s.check(id)
	if c == nil {
		return
	}
	was := c.problem
	c.st, c.notified = st, notified
	s.track(c)
	if c.problem {
		s.holdCheck(c, now)
	}
	if was || c.problem {
		s.problemChanged()
	}
}
