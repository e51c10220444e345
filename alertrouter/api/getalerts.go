package api

import (
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/view"
)

// GET /api/v2/alerts and /api/v2/alerts/groups: the alerts the router
// knows, filtered as Alertmanager filters them.
// alertFilter is the query of GET /api/v2/alerts and /alerts/groups.
type alertFilter struct {
	active, silenced, inhibited, unprocessed bool
	matchers                                 config.Matchers
	receiver                                 *regexp.Regexp
}

func parseAlertFilter(r *http.Request) (*alertFilter, error) {
	q := r.URL.Query()
	f := &alertFilter{}
	for _, b := range []struct {
		name string
		dst  *bool
	}{{"active", &f.active}, {"silenced", &f.silenced}, {"inhibited", &f.inhibited}, {"unprocessed", &f.unprocessed}} {
		*b.dst = true
		if v := q.Get(b.name); v != "" {
			parsed, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("bad %s=%q: want true or false", b.name, v)
			}
			*b.dst = parsed
		}
	}
	ms, err := parseFilter(q["filter"])
	if err != nil {
		return nil, err
	}
	f.matchers = ms
	if v := q.Get("receiver"); v != "" {
		re, err := regexp.Compile("^(?:" + v + ")$")
		if err != nil {
			return nil, fmt.Errorf("bad receiver regexp %q: %v", v, err)
		}
		f.receiver = re
	}
	return f, nil
}

func parseFilter(filters []string) (config.Matchers, error) {
	var out config.Matchers
	for _, s := range filters {
		ms, err := config.ParseMatchers(s)
		if err != nil {
			return nil, fmt.Errorf("bad filter %q: %v", s, err)
		}
		out = append(out, ms...)
	}
	return out, nil
}

func (f *alertFilter) keep(a *GettableAlert) bool {
	st := &a.Status
	switch {
	case !f.active && st.State == "active",
		!f.unprocessed && st.State == "unprocessed",
		!f.silenced && len(st.SilencedBy) > 0,
		!f.inhibited && len(st.InhibitedBy) > 0,
		!f.matchers.Matches(a.Labels):
		return false
	}
	if f.receiver != nil {
		for _, rc := range a.Receivers {
			if f.receiver.MatchString(rc.Name) {
				return true
			}
		}
		return false
	}
	return true
}

// alerts returns the engine's current (not yet ended) alerts that pass f,
// by fingerprint.
func (a *API) alerts(f *alertFilter) []GettableAlert {
	now := a.o.Now()
	out := []GettableAlert{}
	v := a.o.Pipeline.View()
	for _, av := range v.Alerts {
		if !av.EndsAt.IsZero() && av.EndsAt.Before(now) {
			continue
		}
		g := toGettable(&av)
		if f.keep(&g) {
			out = append(out, g)
		}
	}
	for i := range v.Problems {
		if c := &v.Problems[i]; c.State == "down" {
			g := checkAlert(c)
			if f.keep(&g) {
				out = append(out, g)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Fingerprint < out[j].Fingerprint })
	return out
}

func toGettable(av *view.AlertView) GettableAlert {
	g := GettableAlert{
		Labels: av.Labels, Annotations: av.Annotations,
		StartsAt: av.StartsAt, EndsAt: av.EndsAt, UpdatedAt: av.UpdatedAt,
		GeneratorURL: av.GeneratorURL, Fingerprint: av.Fingerprint,
		Receivers: make([]Receiver, len(av.Receivers)),
		Status: AlertStatus{
			State:      av.State,
			SilencedBy: nonNil(av.SilencedBy), InhibitedBy: nonNil(av.InhibitedBy),
		},
	}
	if g.Labels == nil {
		g.Labels = map[string]string{}
	}
	if g.Annotations == nil {
		g.Annotations = map[string]string{}
	}
	if g.Fingerprint == "" {
		g.Fingerprint = notify.Fingerprint(g.Labels)
	}
	if g.Status.State == "" {
		g.Status.State = "active"
		if len(av.SilencedBy)+len(av.InhibitedBy) > 0 {
			g.Status.State = "suppressed"
		}
	}
	for i, name := range av.Receivers {
		g.Receivers[i] = Receiver{Name: name}
	}
	return g
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (a *API) getAlerts(w http.ResponseWriter, r *http.Request) {
	f, err := parseAlertFilter(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSONArray(w, a.alerts(f))
}

// getAlertGroups groups the alerts of each receiver by alertname.
func (a *API) getAlertGroups(w http.ResponseWriter, r *http.Request) {
	f, err := parseAlertFilter(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	type key struct{ receiver, alertname string }
	groups := map[key]*AlertGroup{}
	var order []key
	for _, al := range a.alerts(f) {
		for _, rc := range al.Receivers {
			if f.receiver != nil && !f.receiver.MatchString(rc.Name) {
				continue
			}
			k := key{rc.Name, al.Labels["alertname"]}
			g, ok := groups[k]
			if !ok {
				g = &AlertGroup{Labels: map[string]string{"alertname": k.alertname}, Receiver: rc}
				groups[k] = g
				order = append(order, k)
			}
			g.Alerts = append(g.Alerts, al)
		}
	}
	sort.Slice(order, func(i, j int) bool {
		if order[i].receiver != order[j].receiver {
			return order[i].receiver < order[j].receiver
		}
		return order[i].alertname < order[j].alertname
	})
	out := make([]AlertGroup, 0, len(order))
	for _, k := range order {
		out = append(out, *groups[k])
	}
	writeJSONArray(w, out)
}
