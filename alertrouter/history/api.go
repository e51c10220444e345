package history

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// API limits: a list answers at most MaxLimit checks (DefaultLimit unless
// asked), and a search text is at most maxSearch bytes.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
	maxSearch    = 256
)

// APIOptions configure the JSON API.
type APIOptions struct {
	// Counts returns the checks by state as the pipeline counts them
	// ("up", "down", "unknown", "flapping"); nil: the history's counts.
	Counts func() map[string]int
	Now    func() time.Time
	// Gather, in a router cluster, lists the cluster's checks: this
	// member's and the other members' (nil: this router's only).
	Gather *Gather
	// ProbedAt, in a router cluster, is the address of the member that
	// probes a check when it is another member ("" otherwise): the
	// history of a check another member probes redirects there.
	ProbedAt func(id string) string
}

// RegisterAPI serves /api/v1/summary, /api/v1/checks and
// /api/v1/checks/{id}/history (GET only: the mux answers 405 to the
// rest).
func (h *History) RegisterAPI(mux *http.ServeMux, o APIOptions) {
	if o.Now == nil {
		o.Now = h.clock.Now
	}
	if o.Counts == nil {
		o.Counts = h.Summary
	}
	mux.HandleFunc("GET /api/v1/summary", func(w http.ResponseWriter, r *http.Request) {
		c := o.Counts()
		writeJSON(w, http.StatusOK, summaryJSON{
			Total: c["up"] + c["down"] + c["unknown"], Up: c["up"], Down: c["down"], Unknown: c["unknown"], Flapping: c["flapping"],
		})
	})
	mux.HandleFunc("GET /api/v1/checks", func(w http.ResponseWriter, r *http.Request) {
		f, offset, limit, err := ParseListQuery(r)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, errorJSON{err.Error()})
			return
		}
		var list []Check
		var total int
		var g Gathered
		if o.Gather != nil && r.URL.Query().Get("scope") != ScopeMember {
			g = o.Gather.List(r.Context(), f, offset, limit)
			list, total = g.Checks, g.Total
		} else {
			list, total = h.List(f, offset, limit)
		}
		out := checksJSON{Total: total, Offset: offset, Limit: limit, Checks: make([]checkJSON, len(list)), Unanswered: g.Unanswered, UnansweredReasons: g.Reasons}
		for i := range list {
			out.Checks[i] = toJSON(&list[i])
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /api/v1/checks/{id}/history", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		member := r.URL.Query().Get("scope") == ScopeMember
		switch r.URL.Query().Get("scope") {
		case "", ScopeMember:
		default:
			writeJSON(w, http.StatusBadRequest, errorJSON{`scope must be "member" or empty`})
			return
		}
		var d *Detail
		var err error
		if o.Gather != nil && !member {
			d, err = o.Gather.Detail(r.Context(), id, o.Now())
		} else {
			d, err = h.Detail(id, o.Now())
		}
		switch {
		case errors.Is(err, ErrUnknownCheck) && !member && o.ProbedAt != nil && o.ProbedAt(id) != "":
			// Not known by any member that answered: the member that
			// should probe it may know it.
			u := strings.TrimSuffix(o.ProbedAt(id), "/") + "/api/v1/checks/" + url.PathEscape(id) + "/history"
			http.Redirect(w, r, u, http.StatusTemporaryRedirect)
			return
		case errors.Is(err, ErrUnknownCheck):
			writeJSON(w, http.StatusNotFound, errorJSON{"no such check: " + strconv.Quote(id)})
			return
		case err != nil:
			writeJSON(w, http.StatusInternalServerError, errorJSON{err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, detailJSON(d))
	})
	mux.HandleFunc("GET /api/v1/groups", func(w http.ResponseWriter, r *http.Request) {
		label, f, err := parseGroupsQuery(r)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, errorJSON{err.Error()})
			return
		}
		var groups []Group
		var omitted int
		var unanswered []string
		if o.Gather != nil && r.URL.Query().Get("scope") != ScopeMember {
			groups, omitted, unanswered = o.Gather.Groups(r.Context(), label, f)
		} else {
			groups, omitted = mergeGroups([][]Group{h.Groups(label, f)}, 0)
		}
		out := groupsJSON{Label: label, Groups: make([]groupJSON, len(groups)), Omitted: omitted, Unanswered: unanswered}
		for i := range groups {
			out.Groups[i] = toGroupJSON(&groups[i])
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /api/v1/groups/status", func(w http.ResponseWriter, r *http.Request) {
		label, _, err := parseGroupsQuery(r)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, errorJSON{err.Error()})
			return
		}
		values, days, err := parseStatusQuery(r)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, errorJSON{err.Error()})
			return
		}
		var st Status
		if o.Gather != nil && r.URL.Query().Get("scope") != ScopeMember {
			st, err = o.Gather.GroupsStatus(r.Context(), label, values, days, o.Now())
		} else {
			st, err = h.GroupsStatus(label, values, days, o.Now())
		}
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, errorJSON{err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, toStatusJSON(label, days, &st))
	})
}

// parseGroupsQuery reads by (the label; default "group"), the filter
// and scope.
func parseGroupsQuery(r *http.Request) (string, Filter, error) {
	f, _, _, err := ParseListQuery(r)
	if err != nil {
		return "", f, err
	}
	label := r.URL.Query().Get("by")
	if label == "" {
		label = "group"
	}
	if len(label) > maxSearch {
		return "", f, errors.New("by is limited to 256 bytes")
	}
	return label, f, nil
}

// parseStatusQuery reads value (1 to MaxStatusValues of them) and days
// (1 to MaxStatusDays, default 30).
func parseStatusQuery(r *http.Request) ([]string, int, error) {
	q := r.URL.Query()
	values := q["value"]
	if len(values) == 0 || len(values) > MaxStatusValues {
		return nil, 0, fmt.Errorf("value must be given 1 to %d times", MaxStatusValues)
	}
	for _, v := range values {
		if len(v) > maxSearch {
			return nil, 0, errors.New("a value is limited to 256 bytes")
		}
	}
	days := 30
	if s := q.Get("days"); s != "" {
		var err error
		if days, err = strconv.Atoi(s); err != nil || days < 1 || days > MaxStatusDays {
			return nil, 0, fmt.Errorf("days must be a number from 1 to %d", MaxStatusDays)
		}
	}
	return values, days, nil
}

// ParseListQuery reads search, label, state, offset and limit (and checks
// scope: empty, or "member" for this member's checks only in a router
// cluster).
func ParseListQuery(r *http.Request) (f Filter, offset, limit int, err error) {
	q := r.URL.Query()
	f = Filter{Search: q.Get("search"), Label: q.Get("label"), State: q.Get("state")}
	if len(f.Search) > maxSearch || len(f.Label) > maxSearch {
		return f, 0, 0, errors.New("search and label are limited to 256 bytes")
	}
	switch f.State {
	case "", "up", "down", "unknown":
	default:
		return f, 0, 0, errors.New(`state must be "up", "down" or "unknown"`)
	}
	switch q.Get("scope") {
	case "", ScopeMember:
	default:
		return f, 0, 0, errors.New(`scope must be "member" or empty`)
	}
	limit = DefaultLimit
	if s := q.Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > MaxLimit {
			return f, 0, 0, errors.New("limit must be a number from 1 to 1000")
		}
	}
	if s := q.Get("offset"); s != "" {
		if offset, err = strconv.Atoi(s); err != nil || offset < 0 {
			return f, 0, 0, errors.New("offset must be a number from 0")
		}
	}
	return f, offset, limit, nil
}

type summaryJSON struct {
	Total    int `json:"total"`
	Up       int `json:"up"`
	Down     int `json:"down"`
	Unknown  int `json:"unknown"`
	Flapping int `json:"flapping"`
}

type errorJSON struct {
	Error string `json:"error"`
}

type checksJSON struct {
	Total  int         `json:"total"`
	Offset int         `json:"offset"`
	Limit  int         `json:"limit"`
	Checks []checkJSON `json:"checks"`
	// Unanswered, in a router cluster, names the members whose checks
	// are missing from the list: they did not answer.
	Unanswered []string `json:"unanswered,omitempty"`
	// UnansweredReasons says why each of them did not answer.
	UnansweredReasons map[string]string `json:"unanswered_reasons,omitempty"`
}

type checkJSON struct {
	ID        string            `json:"id"`
	Target    string            `json:"target"`
	Module    string            `json:"module"`
	Labels    map[string]string `json:"labels"`
	State     string            `json:"state"`
	LastProbe *time.Time        `json:"last_probe"`
	// Availability by window, null without rounds.
	Availability map[string]*float64 `json:"availability"`
	Rounds       map[string]uint32   `json:"rounds"`
}

var windowNames = [3]string{"24h", "7d", "30d"}

func toJSON(c *Check) checkJSON {
	out := checkJSON{ID: c.ID, Target: c.Target, Module: c.Module, Labels: c.Labels, State: c.State,
		Availability: map[string]*float64{}, Rounds: map[string]uint32{}}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	if !c.LastProbe.IsZero() {
		t := c.LastProbe.UTC()
		out.LastProbe = &t
	}
	for i, name := range windowNames {
		out.Rounds[name] = c.Rounds[i]
		if a := c.Availability[i]; a >= 0 {
			out.Availability[name] = &a
		} else {
			out.Availability[name] = nil
		}
	}
	return out
}

type historyJSON struct {
	Check     checkJSON           `json:"check"`
	Buckets   map[string][]Bucket `json:"buckets"`
	Incidents []Incident          `json:"incidents"`
	// Kept: a member asked for its own history (scope=member) of a check
	// another member probes now answers the rows it kept.
	Kept bool `json:"kept,omitempty"`
	// Unanswered names the cluster members whose part of the history is
	// missing (they did not answer).
	Unanswered []string `json:"unanswered,omitempty"`
}

func detailJSON(d *Detail) historyJSON {
	out := historyJSON{Check: toJSON(&d.Check), Buckets: map[string][]Bucket{}, Incidents: d.Incidents, Kept: d.Kept, Unanswered: d.Unanswered}
	for r := range resolutions {
		out.Buckets[Resolution(r).String()] = orEmpty(d.Buckets[Resolution(r)])
	}
	if out.Incidents == nil {
		out.Incidents = []Incident{}
	}
	return out
}

// fromDetailJSON is detailJSON's inverse (for another member's answer).
func fromDetailJSON(j *historyJSON) *Detail {
	d := &Detail{Check: fromJSON(&j.Check), Buckets: map[Resolution][]Bucket{}, Incidents: j.Incidents, Kept: j.Kept}
	for r := range resolutions {
		if bs := j.Buckets[Resolution(r).String()]; len(bs) > 0 {
			d.Buckets[Resolution(r)] = bs
		}
	}
	return d
}

type groupJSON struct {
	Value        string              `json:"value"`
	Checks       int                 `json:"checks"`
	Up           int                 `json:"up"`
	Down         int                 `json:"down"`
	Availability map[string]*float64 `json:"availability"`
	Rounds       map[string]uint32   `json:"rounds"`
	Successes    map[string]uint32   `json:"successes"`
	Maintenance  map[string]uint32   `json:"maintenance_rounds"`
}

type groupsJSON struct {
	Label  string      `json:"label"`
	Groups []groupJSON `json:"groups"`
	// Omitted counts the values beyond the first MaxGroups (at least).
	Omitted    int      `json:"omitted"`
	Unanswered []string `json:"unanswered,omitempty"`
}

func toGroupJSON(g *Group) groupJSON {
	out := groupJSON{Value: g.Value, Checks: g.Checks, Up: g.Up, Down: g.Down, Availability: map[string]*float64{},
		Rounds: map[string]uint32{}, Successes: map[string]uint32{}, Maintenance: map[string]uint32{}}
	for i, name := range windowNames {
		out.Rounds[name], out.Successes[name], out.Maintenance[name] = g.Rounds[i], g.Successes[i], g.Maintenance[i]
		if a := g.Availability[i]; a >= 0 {
			out.Availability[name] = &a
		} else {
			out.Availability[name] = nil
		}
	}
	return out
}

func fromGroupJSON(label string, j *groupJSON) Group {
	g := Group{Label: label, Value: j.Value, Checks: j.Checks, Up: j.Up, Down: j.Down}
	for i, name := range windowNames {
		g.Rounds[i], g.Successes[i], g.Maintenance[i] = j.Rounds[name], j.Successes[name], j.Maintenance[name]
	}
	g.setAvailability()
	return g
}

type downJSON struct {
	ID     string     `json:"id"`
	Target string     `json:"target"`
	Name   string     `json:"name,omitempty"`
	Since  *time.Time `json:"since"`
	Reason string     `json:"reason"`
}

type groupStatusJSON struct {
	groupJSON
	Days       []Bucket   `json:"days"`
	DownChecks []downJSON `json:"down_checks"`
}

type statusJSON struct {
	Label      string            `json:"label"`
	Days       int               `json:"days"`
	Groups     []groupStatusJSON `json:"groups"`
	Unanswered []string          `json:"unanswered,omitempty"`
}

func toStatusJSON(label string, days int, st *Status) statusJSON {
	out := statusJSON{Label: label, Days: days, Groups: make([]groupStatusJSON, len(st.Groups)), Unanswered: st.Unanswered}
	for i := range st.Groups {
		g := &st.Groups[i]
		gj := groupStatusJSON{groupJSON: toGroupJSON(&g.Group), Days: orEmpty(g.Days), DownChecks: []downJSON{}}
		for _, d := range g.DownChecks {
			dj := downJSON{ID: d.ID, Target: d.Target, Name: d.Name, Reason: d.Reason}
			if !d.Since.IsZero() {
				since := d.Since.UTC()
				dj.Since = &since
			}
			gj.DownChecks = append(gj.DownChecks, dj)
		}
		out.Groups[i] = gj
	}
	return out
}

func fromStatusJSON(j *statusJSON) Status {
	out := Status{Groups: make([]GroupStatus, len(j.Groups))}
	for i := range j.Groups {
		gj := &j.Groups[i]
		g := GroupStatus{Group: fromGroupJSON(j.Label, &gj.groupJSON), Days: gj.Days}
		for _, d := range gj.DownChecks {
			dc := DownCheck{ID: d.ID, Target: d.Target, Name: d.Name, Reason: d.Reason}
			if d.Since != nil {
				dc.Since = *d.Since
			}
			g.DownChecks = append(g.DownChecks, dc)
		}
		out.Groups[i] = g
	}
	return out
}

func orEmpty(b []Bucket) []Bucket {
	if b == nil {
		return []Bucket{}
	}
	return b
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // the client went away
}
