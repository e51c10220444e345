package history

import (
	"encoding/json"
	"errors"
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
		d, err := h.Detail(r.PathValue("id"), o.Now())
		switch {
		case errors.Is(err, ErrUnknownCheck) && o.ProbedAt != nil && o.ProbedAt(r.PathValue("id")) != "":
			u := strings.TrimSuffix(o.ProbedAt(r.PathValue("id")), "/") + "/api/v1/checks/" + url.PathEscape(r.PathValue("id")) + "/history"
			http.Redirect(w, r, u, http.StatusTemporaryRedirect)
			return
		case errors.Is(err, ErrUnknownCheck):
			writeJSON(w, http.StatusNotFound, errorJSON{"no such check: " + strconv.Quote(r.PathValue("id"))})
			return
		case err != nil:
			writeJSON(w, http.StatusInternalServerError, errorJSON{err.Error()})
			return
		}
		out := historyJSON{Check: toJSON(&d.Check), Buckets: map[string][]Bucket{}, Incidents: d.Incidents}
		for r := range resolutions {
			out.Buckets[Resolution(r).String()] = orEmpty(d.Buckets[Resolution(r)])
		}
		if out.Incidents == nil {
			out.Incidents = []Incident{}
		}
		writeJSON(w, http.StatusOK, out)
	})
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
