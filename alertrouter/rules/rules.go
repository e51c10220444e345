// Package rules applies the configuration's rules to the labels of a check
// or an alert: the first matching rule decides how its state is confirmed
// (failures, successes, flap detection), and it and the rules reached
// through `continue: true` say who hears of it, when (repeat_interval,
// grouping, time intervals) and what suppresses it (depends_on). A Policy
// is computed once per check and shared, read-only, by the stages that
// need it.
package rules

import (
	"encoding/binary"
	"slices"
	"strings"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
)

// Policy is what the rules say about one check or alert.
type Policy struct {
	// Matched is false for the policy of checks no rule matches.
	Matched             bool
	Failures, Successes int
	Routes              []Route
	// DependsOn are the parent selectors of every matching rule.
	DependsOn []config.Matchers
	// Flap is the first matching rule's flap detection (nil: none).
	Flap *config.FlapDetection
}

// Route is one receiver a check's or alert's notifications go to.
type Route struct {
	Receiver     string
	SendResolved bool
	Repeat       time.Duration // 0: no reminders
	// GroupBy is nil when notifications are sent one by one.
	GroupBy   []string
	GroupWait time.Duration
	// Mute and Active are the rule's maintenance windows and working
	// hours (mute_time_intervals, active_time_intervals).
	Mute, Active []*config.TimeIntervalSet
}

// defaultPolicy returns the policy of what no rule matches: evaluated with
// the default thresholds (its state is shown), notifying nobody.
func defaultPolicy() *Policy { return &Policy{Failures: 3, Successes: 2} }

// Set is a configuration's rules and the policies they give. A policy
// depends only on which rules match, so checks matched by the same rules
// share one Policy: 10,000 checks hold a handful of them. It is for one
// goroutine.
type Set struct {
	cfg   *config.RouterConfig
	cache map[string]*Policy // by the indexes of the matching rules
	none  *Policy            // what no rule matches, shared by those checks
	key   []byte
}

// NewSet returns cfg's rules.
func NewSet(cfg *config.RouterConfig) *Set {
	return &Set{cfg: cfg, cache: map[string]*Policy{}, none: defaultPolicy()}
}

// For applies the rules to labels. The first matching rule decides
// failures, successes and flap detection; it and the rules reached through
// `continue: true` contribute receivers and parents (depends_on). A
// receiver reached twice is notified once, with send_resolved if any of
// its rules asks for it and the shortest non-zero repeat_interval; its
// grouping and time intervals are those of the first rule that reaches
// it. The Policy is shared: it must not be changed.
func (s *Set) For(labels map[string]string) *Policy {
	return s.ForLabel(func(name string) string { return labels[name] })
}

// ForLabel is For with the labels given one by one (label returns "" for
// a label that is not set): a check's labels need not be built as a map
// (targets.Target.MatchLabel).
func (s *Set) ForLabel(label func(name string) string) *Policy {
	s.key = s.key[:0]
	for i := range s.cfg.Rules {
		r := &s.cfg.Rules[i]
		if !matchesLabel(r.Matchers, label) {
			continue
		}
		s.key = binary.AppendUvarint(s.key, uint64(i))
		if !r.Continue {
			break
		}
	}
	if len(s.key) == 0 {
		return s.none
	}
	if p, ok := s.cache[string(s.key)]; ok {
		return p
	}
	p := s.build(s.key)
	s.cache[string(s.key)] = p
	return p
}

// build makes the policy of the rules whose indexes key holds.
func (s *Set) build(key []byte) *Policy {
	var p *Policy
	for len(key) > 0 {
		i, n := binary.Uvarint(key)
		key = key[n:]
		r := &s.cfg.Rules[i]
		if p == nil {
			p = &Policy{Matched: true, Failures: r.Failures, Successes: r.Successes, Flap: r.FlapDetection}
		}
		if len(r.DependsOn) > 0 {
			p.DependsOn = append(p.DependsOn, r.DependsOn)
		}
		for _, name := range r.Receivers {
			p.addRoute(s.cfg, r, name)
		}
	}
	return p
}

func (p *Policy) addRoute(cfg *config.RouterConfig, r *config.Rule, receiver string) {
	repeat := time.Duration(r.RepeatInterval)
	if rt := p.RouteTo(receiver); rt != nil {
		rt.SendResolved = rt.SendResolved || r.SendResolved
		if repeat > 0 && (rt.Repeat == 0 || repeat < rt.Repeat) {
			rt.Repeat = repeat
		}
		return
	}
	rt := Route{Receiver: receiver, SendResolved: r.SendResolved, Repeat: repeat}
	if r.Grouped() {
		rt.GroupBy, rt.GroupWait = r.GroupBy, r.GroupWaitOrDefault()
	}
	for _, name := range r.MuteTimeIntervals {
		if s, ok := cfg.TimeIntervalSet(name); ok {
			rt.Mute = append(rt.Mute, s)
		}
	}
	for _, name := range r.ActiveTimeIntervals {
		if s, ok := cfg.TimeIntervalSet(name); ok {
			rt.Active = append(rt.Active, s)
		}
	}
	p.Routes = append(p.Routes, rt)
}

// RouteTo returns the route to receiver, or nil when the rules do not
// send there.
func (p *Policy) RouteTo(receiver string) *Route {
	for i := range p.Routes {
		if p.Routes[i].Receiver == receiver {
			return &p.Routes[i]
		}
	}
	return nil
}

// MutedBy returns the route's time intervals that mute it at now: an
// active maintenance window ("maintenance:<name>"), or being outside every
// active interval ("outside:<names>").
func (r *Route) MutedBy(now time.Time) []string {
	var by []string
	for _, s := range r.Mute {
		if s.Contains(now) {
			by = append(by, "maintenance:"+s.Name)
		}
	}
	if len(r.Active) > 0 && !slices.ContainsFunc(r.Active, func(s *config.TimeIntervalSet) bool { return s.Contains(now) }) {
		names := make([]string, len(r.Active))
		for i, s := range r.Active {
			names[i] = s.Name
		}
		by = append(by, "outside:"+strings.Join(names, ","))
	}
	return by
}

func matchesLabel(ms config.Matchers, label func(string) string) bool {
	for _, m := range ms {
		if !m.Matches(label(m.Name)) {
			return false
		}
	}
	return true
}
