// Package api serves the subset of Alertmanager's API v2 that Prometheus,
// amtool and Grafana use: alerts in (POST /api/v2/alerts) and out,
// silences, receivers and status. Answers are byte-for-byte the shapes of
// Alertmanager's OpenAPI models, always with Content-Type
// application/json, so that those clients work unchanged. The package
// also holds the Go client the `vigie_router silence` commands use.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/version"

	"github.com/vigie-monitoring/vigie/alertrouter/alerts"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/silence"
	"github.com/vigie-monitoring/vigie/alertrouter/view"
	"github.com/vigie-monitoring/vigie/config"
)

// Limits bound what a client can make the router hold. Zero (or less)
// means no limit.
type Limits struct {
	// MaxRequestBytes bounds the body of a POST (--web.max-request-bytes).
	MaxRequestBytes int64
	// MaxAlertsPerRequest bounds the alerts of one POST /api/v2/alerts
	// (--alerts.max-alerts-per-request). Prometheus sends at most a few
	// hundred.
	MaxAlertsPerRequest int
	// MaxAlertSizeBytes bounds one alert: its label and annotation names
	// and values and its generatorURL (--alerts.max-alert-size-bytes).
	MaxAlertSizeBytes int
}

// The limits, by flag name: the label of vigie_router_limit_refused_total
// and what refusals name.
const (
	LimitRequestBytes      = "web.max-request-bytes"
	LimitAlertsPerRequest  = "alerts.max-alerts-per-request"
	LimitAlertSize         = "alerts.max-alert-size-bytes"
	maxProblemsInAnswer    = 20  // invalid alerts named in one answer
	maxLabelsInProblem     = 200 // characters of an alert's labels in an error
	maxValueInProblem      = 64  // characters of a bad label value in an error
	defaultMaxRequestBytes = 32 << 20
)

// Pipeline is what the API needs of the router's pipeline.
type Pipeline interface {
	IngestAlerts(ctx context.Context, alerts []notify.Alert) error
	View() *view.View
}

// Options configure the API.
type Options struct {
	Pipeline Pipeline
	Silences *silence.Silences
	// Config returns the running configuration.
	Config func() *config.RouterConfig
	Logger *slog.Logger
	// Registerer receives the API's metrics (nil: none).
	Registerer prometheus.Registerer
	Limits     Limits
	// Refused counts what a limit refused, by limit name (nil: not
	// counted); silence limits are the silence package's names.
	Refused *prometheus.CounterVec
	// Name identifies this router in /api/v2/status (cluster.name).
	Name string
	// Started is the start time reported as uptime.
	Started time.Time
	// Now defaults to time.Now.
	Now func() time.Time
}

// API serves /api/v2/.
type API struct {
	o       Options
	invalid prometheus.Counter
}

// New prepares the API.
func New(o Options) *API {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Started.IsZero() {
		o.Started = o.Now()
	}
	if o.Limits.MaxRequestBytes <= 0 {
		o.Limits.MaxRequestBytes = defaultMaxRequestBytes
	}
	// The engine counts the valid alerts it takes
	// (vigie_router_alerts_received_total).
	a := &API{
		o: o,
		invalid: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigie_router_alerts_invalid_total",
			Help: "Alerts refused by the Alertmanager API as invalid.",
		}),
	}
	if o.Registerer != nil {
		o.Registerer.MustRegister(a.invalid)
	}
	return a
}

// Register adds the API's routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v2/status", a.status)
	mux.HandleFunc("GET /api/v2/receivers", a.receivers)
	mux.HandleFunc("GET /api/v2/alerts", a.getAlerts)
	mux.HandleFunc("POST /api/v2/alerts", a.postAlerts)
	mux.HandleFunc("GET /api/v2/alerts/groups", a.getAlertGroups)
	mux.HandleFunc("GET /api/v2/silences", a.getSilences)
	mux.HandleFunc("POST /api/v2/silences", a.postSilence)
	mux.HandleFunc("GET /api/v2/silence/{id}", a.getSilence)
	mux.HandleFunc("DELETE /api/v2/silence/{id}", a.deleteSilence)
	mux.HandleFunc("/api/v2/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("%s %s is not part of the router's Alertmanager API", r.Method, r.URL.Path))
	})
	mux.HandleFunc("/api/v1/", func(w http.ResponseWriter, r *http.Request) {
		// As Alertmanager 0.27+: v1 is gone.
		writeError(w, http.StatusGone, "the Alertmanager API v1 is not supported: use /api/v2 (Prometheus: alerting.alertmanagers[].api_version: v2)")
	})
}

func (a *API) status(w http.ResponseWriter, r *http.Request) {
	original := ""
	if cfg := a.o.Config(); cfg != nil {
		out, err := cfg.Marshal() // secrets masked
		if err != nil {
			writeError(w, http.StatusInternalServerError, fmt.Sprintf("cannot render the configuration: %v", err))
			return
		}
		original = string(out)
	}
	writeJSON(w, http.StatusOK, Status{
		Cluster: ClusterStatus{Name: a.o.Name, Status: "ready", Peers: []PeerStatus{}},
		VersionInfo: VersionInfo{
			Version: version.Version, Revision: version.GetRevision(), Branch: version.Branch,
			BuildUser: version.BuildUser, BuildDate: version.BuildDate, GoVersion: version.GoVersion,
		},
		Config: ConfigStatus{Original: original},
		Uptime: a.o.Started.UTC(),
	})
}

func (a *API) receivers(w http.ResponseWriter, r *http.Request) {
	out := []Receiver{}
	if cfg := a.o.Config(); cfg != nil {
		for _, rc := range cfg.Receivers {
			out = append(out, Receiver{Name: rc.Name})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// postAlerts takes alerts the way Alertmanager does: every valid alert is
// kept even when others in the request are not, and the answer is 400
// naming each invalid one. A request over a limit of its own (body size,
// number of alerts) is refused whole, with 413.
func (a *API) postAlerts(w http.ResponseWriter, r *http.Request) {
	posted, code, err := a.decodeAlerts(w, r)
	if err != nil {
		writeError(w, code, err.Error())
		return
	}
	now := a.o.Now()
	valid := make([]notify.Alert, 0, len(posted))
	index := make([]int, 0, len(posted)) // of each valid alert in posted
	var problems []string
	for i := range posted {
		al, err := a.normalize(&posted[i], now)
		if err != nil {
			var le *limitError
			if errors.As(err, &le) {
				a.refused(le.limit, 1)
			} else {
				a.invalid.Inc()
			}
			problems = append(problems, fmt.Sprintf("alert %d %s: %v", i, describeLabels(posted[i].Labels), err))
			continue
		}
		valid = append(valid, al)
		index = append(index, i)
	}
	posted = nil // the originals can go: the engine keeps its own copy
	if len(valid) > 0 {
		err := a.o.Pipeline.IngestAlerts(r.Context(), valid)
		var le *alerts.LimitError
		if errors.As(err, &le) {
			a.refused(alerts.LimitAlerts, len(le.Refused))
			for _, j := range le.Refused {
				problems = append(problems, fmt.Sprintf("alert %d %s: %v", index[j], describeLabels(valid[j].Labels), le))
			}
			err = without(err, le)
		}
		if err != nil {
			a.o.Logger.Error("Cannot take posted alerts", "count", len(valid), "err", err)
			writeError(w, http.StatusInternalServerError, fmt.Sprintf("cannot take the alerts: %v", err))
			return
		}
	}
	if len(problems) > 0 {
		msg := joinProblems(problems)
		a.o.Logger.Warn("Refused alerts", "count", len(problems), "err", msg)
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
}

// without returns err (possibly joined errors) without target; nil when
// nothing else is left.
func without(err, target error) error {
	if err == target {
		return nil
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		var rest []error
		for _, e := range joined.Unwrap() {
			if e = without(e, target); e != nil {
				rest = append(rest, e)
			}
		}
		return errors.Join(rest...)
	}
	return err
}

// joinProblems lists the first problems of a request, and counts the rest:
// an answer (and a log line) stays short whatever was posted.
func joinProblems(problems []string) string {
	if len(problems) <= maxProblemsInAnswer {
		return strings.Join(problems, "; ")
	}
	return fmt.Sprintf("%s; and %d more", strings.Join(problems[:maxProblemsInAnswer], "; "), len(problems)-maxProblemsInAnswer)
}

// decodeAlerts reads the posted array one alert at a time, so that a
// request with too many alerts is refused before they are all in memory.
func (a *API) decodeAlerts(w http.ResponseWriter, r *http.Request) ([]PostableAlert, int, error) {
	body, err := a.body(w, r)
	if err != nil {
		return nil, http.StatusUnsupportedMediaType, err
	}
	dec := json.NewDecoder(body)
	tok, err := dec.Token()
	if err != nil {
		return nil, a.decodeStatus(err), a.decodeError(err)
	}
	if tok == nil { // null: no alert
		return nil, 0, nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, http.StatusBadRequest, errors.New("cannot decode the request body: want a JSON array of alerts")
	}
	limit := a.o.Limits.MaxAlertsPerRequest
	var out []PostableAlert
	for dec.More() {
		if limit > 0 && len(out) == limit {
			a.refused(LimitAlertsPerRequest, 1)
			return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("more than %d alerts in one request (--%s=%d): send them in several requests",
				limit, LimitAlertsPerRequest, limit)
		}
		var p PostableAlert
		if err := dec.Decode(&p); err != nil {
			return nil, a.decodeStatus(err), a.decodeError(err)
		}
		out = append(out, p)
	}
	if _, err := dec.Token(); err != nil {
		return nil, a.decodeStatus(err), a.decodeError(err)
	}
	return out, 0, nil
}

// body checks that a posted body is JSON (a browser cannot send that to
// another site without its consent, CORS, which the router never gives)
// and bounds it.
func (a *API) body(w http.ResponseWriter, r *http.Request) (io.Reader, error) {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return nil, fmt.Errorf("Content-Type must be application/json, not %q", ct)
	}
	return http.MaxBytesReader(w, r.Body, a.o.Limits.MaxRequestBytes), nil
}

func (a *API) decodeStatus(err error) int {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		a.refused(LimitRequestBytes, 1)
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

func (a *API) decodeError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return fmt.Errorf("request body larger than %d bytes (--%s)", mbe.Limit, LimitRequestBytes)
	}
	return fmt.Errorf("cannot decode the request body: %v", err)
}

func (a *API) refused(limit string, n int) {
	if a.o.Refused != nil {
		a.o.Refused.WithLabelValues(limit).Add(float64(n))
	}
}

// limitError is an alert refused by a limit rather than for being invalid.
type limitError struct {
	limit string
	msg   string
}

func (e *limitError) Error() string { return e.msg }

// alertSize is what --alerts.max-alert-size-bytes measures.
func alertSize(p *PostableAlert) int {
	n := len(p.GeneratorURL)
	for k, v := range p.Labels {
		n += len(k) + len(v)
	}
	for k, v := range p.Annotations {
		n += len(k) + len(v)
	}
	return n
}

// normalize applies Alertmanager's defaults and validation to one alert:
// empty label values are dropped, a missing start is the end (or now). A
// missing end stays missing: the engine gives it global.resolve_timeout.
func (a *API) normalize(p *PostableAlert, now time.Time) (notify.Alert, error) {
	if limit := a.o.Limits.MaxAlertSizeBytes; limit > 0 {
		if n := alertSize(p); n > limit {
			return notify.Alert{}, &limitError{limit: LimitAlertSize, msg: fmt.Sprintf(
				"alert is %d bytes (label and annotation names and values, generatorURL), over --%s=%d", n, LimitAlertSize, limit)}
		}
	}
	labels := make(map[string]string, len(p.Labels))
	for k, v := range p.Labels {
		if v != "" {
			labels[k] = v
		}
	}
	al := notify.Alert{
		Labels: labels, Annotations: p.Annotations, StartsAt: p.StartsAt, EndsAt: p.EndsAt,
		GeneratorURL: p.GeneratorURL,
	}
	if al.Annotations == nil {
		al.Annotations = map[string]string{}
	}
	if al.StartsAt.IsZero() {
		al.StartsAt = now
		if !al.EndsAt.IsZero() {
			al.StartsAt = al.EndsAt
		}
	}
	if err := notify.ValidateAlert(&al); err != nil {
		return al, err
	}
	al.Fingerprint = notify.Fingerprint(labels)
	al.Status = notify.StatusFiring
	if !al.EndsAt.IsZero() && !al.EndsAt.After(now) {
		al.Status = notify.StatusResolved
	}
	return al, nil
}

// describeLabels names an alert in an error, shortened: its labels may be
// as large as --alerts.max-alert-size-bytes, or larger when it is refused
// for that.
func describeLabels(labels map[string]string) string {
	ls := make(model.LabelSet, len(labels))
	for k, v := range labels {
		ls[model.LabelName(notify.Truncate(maxValueInProblem, k))] = model.LabelValue(notify.Truncate(maxValueInProblem, v))
	}
	return notify.Truncate(maxLabelsInProblem, ls.String())
}

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
	for _, av := range a.o.Pipeline.View().Alerts {
		if !av.EndsAt.IsZero() && av.EndsAt.Before(now) {
			continue
		}
		g := toGettable(&av)
		if f.keep(&g) {
			out = append(out, g)
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

func (a *API) getSilences(w http.ResponseWriter, r *http.Request) {
	ms, err := parseFilter(r.URL.Query()["filter"])
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	now := a.o.Now()
	out := []GettableSilence{}
	for _, s := range a.o.Silences.List() {
		if silenceMatchesFilter(&s, ms) {
			out = append(out, FromSilence(s, now))
		}
	}
	writeJSONArray(w, out)
}

// silenceMatchesFilter is Alertmanager's rule: the filter matchers must
// accept the labels the silence's equality matchers name.
func silenceMatchesFilter(s *silence.Silence, filter config.Matchers) bool {
	if len(filter) == 0 {
		return true
	}
	labels := map[string]string{}
	for _, m := range s.Matchers {
		if m.IsEqual && !m.IsRegex {
			labels[m.Name] = m.Value
		}
	}
	return filter.Matches(labels)
}

func (a *API) postSilence(w http.ResponseWriter, r *http.Request) {
	var p PostableSilence
	body, err := a.body(w, r)
	if err != nil {
		writeError(w, http.StatusUnsupportedMediaType, err.Error())
		return
	}
	if err := json.NewDecoder(body).Decode(&p); err != nil {
		writeError(w, a.decodeStatus(err), a.decodeError(err).Error())
		return
	}
	sil := p.ToSilence()
	id, err := a.o.Silences.Set(sil)
	var ve *silence.ValidationError
	var le *silence.LimitError
	switch {
	case errors.As(err, &le):
		a.refused(le.Limit, 1)
		writeError(w, http.StatusBadRequest, "Failed to create silence: "+err.Error())
		return
	case errors.As(err, &ve):
		writeError(w, http.StatusBadRequest, "Failed to create silence: "+err.Error())
		return
	case errors.Is(err, silence.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	a.o.Logger.Info("Silence set", "id", id, "matchers", sil.MatchersString(), "created_by", p.CreatedBy, "ends_at", p.EndsAt)
	writeJSON(w, http.StatusOK, PostSilenceResponse{SilenceID: id})
}

func (a *API) getSilence(w http.ResponseWriter, r *http.Request) {
	s, err := a.o.Silences.Get(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, FromSilence(s, a.o.Now()))
}

func (a *API) deleteSilence(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	err := a.o.Silences.Expire(id)
	switch {
	case errors.Is(err, silence.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	a.o.Logger.Info("Silence expired", "id", id)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v) // the client went away
}

// writeJSONArray answers a list one element at a time, with the bytes
// json.Encoder would write for the whole: a request for thousands of
// alerts or silences costs the largest of them in memory, not all of them.
func writeJSONArray[T any](w http.ResponseWriter, items []T) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	sep := "["
	for i := range items {
		data, err := json.Marshal(&items[i])
		if err != nil {
			return // cannot happen with these types; the client sees a truncated answer
		}
		if _, err := io.WriteString(w, sep); err != nil {
			return // the client went away
		}
		if _, err := w.Write(data); err != nil {
			return
		}
		sep = ","
	}
	if sep == "[" {
		io.WriteString(w, "[")
	}
	io.WriteString(w, "]\n")
}

// writeError answers with a JSON string, as Alertmanager does.
func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, msg)
}
