package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/vigie-monitoring/vigie/alertrouter/alerts"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

// POST /api/v2/alerts: alerts in, as Alertmanager takes them.
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
