package notify

import (
	"bytes"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"log/slog"
	"strings"
	"text/template"
	"time"

	// Templates may show times in any zone (inZone "Europe/Paris"); embed
	// the zone database so that this works in minimal containers too.
	_ "time/tzdata"
)

// Data is what receiver templates see: the notification, with each alert
// already answering what is down, since when, why, and where to look.
type Data struct {
	Kind     Kind
	Status   string // StatusFiring or StatusResolved
	Receiver string
	// Headline names what happened: DOWN, UP, STILL DOWN, FIRING,
	// RESOLVED, STILL FIRING, FLAPPING, STABLE, EXPORTER UNREACHABLE,
	// EXPORTER REACHABLE, STORE DAMAGED, TEST.
	Headline string
	// Icon is an emoji matching Headline, for integrations that show them.
	Icon string
	// Alerts are the alerts to show; an integration with a size limit may
	// show only the first ones (see Omitted). Firing and Resolved split
	// Alerts by status.
	Alerts   []AlertData
	Firing   []AlertData
	Resolved []AlertData
	// Total is the number of alerts in the notification; Omitted how many
	// of them Alerts leaves out ("… and 37 more"). FiringTotal and
	// ResolvedTotal count all of them by status, shown or not.
	Total         int
	Omitted       int
	FiringTotal   int
	ResolvedTotal int

	GroupLabels       map[string]string
	CommonLabels      map[string]string
	CommonAnnotations map[string]string
	// ExternalURL is where to look: the router's status page.
	ExternalURL string
	// Now is when the notification was created; durations are relative to it.
	Now time.Time
	Key string

	all []AlertData
}

// AlertData is one alert as templates see it.
type AlertData struct {
	Alert
	// Title says what is down: "https://example.org (http_2xx)" for a check
	// of the router's, "HighLatency https://example.org" for a Prometheus
	// alert.
	Title  string
	Target string // instance label
	Module string // module label
	Name   string // alertname label
	// Why is the failure reason of a check, or the summary (else the
	// description) annotation of a Prometheus alert.
	Why string
	// Since is when the problem started: for a check, its first failed
	// probe.
	Since time.Time
	// When is Since for a person reading the message later, maybe on
	// another day: "08:04 UTC" on the day of the notification, with the
	// date otherwise (see FormatWhen).
	When string
	// SinceText says since when and for how long a firing alert has been
	// firing: "since 08:04 UTC, 3 failed probes over 45s" (a check just
	// announced DOWN) or "since 08:04 UTC (for 2h)" (see SinceText).
	SinceText string
	// Duration is how long it has been down (firing) or was down (resolved).
	Duration time.Duration
	// IsCheck is true for the router's own checks, false for alerts posted
	// by Prometheus (those carry a generatorURL).
	IsCheck bool
}

// NewData prepares n for templates. Durations are computed relative to
// n.CreatedAt, or now when it is not set.
func NewData(n *Notification, now time.Time) *Data {
	if !n.CreatedAt.IsZero() {
		now = n.CreatedAt
	}
	d := &Data{
		Kind:              n.Kind,
		Status:            n.Status,
		Receiver:          n.Receiver,
		Total:             len(n.Alerts),
		GroupLabels:       orEmpty(n.GroupLabels),
		CommonLabels:      orEmpty(n.CommonLabels),
		CommonAnnotations: orEmpty(n.CommonAnnotations),
		ExternalURL:       n.ExternalURL,
		Now:               now,
		Key:               n.Key,
	}
	d.all = make([]AlertData, len(n.Alerts))
	checks := len(n.Alerts) > 0
	for i, a := range n.Alerts {
		d.all[i] = newAlertData(a, now)
		checks = checks && d.all[i].IsCheck
		if d.all[i].Status == StatusResolved {
			d.ResolvedTotal++
		} else {
			d.FiringTotal++
		}
	}
	if d.Status == "" {
		d.Status = StatusFiring
		if n.Kind == KindUp {
			d.Status = StatusResolved
		}
	}
	d.Headline, d.Icon = headline(n.Kind, d.Status, checks || len(n.Alerts) == 0)
	if n.Kind == KindSummary {
		d.Headline, d.Icon = summaryHeadline(d.FiringTotal, d.ResolvedTotal, checks)
	}
	d.setAlerts(len(d.all))
	return d
}

// Limit returns a copy of d showing only the first n alerts.
func (d *Data) Limit(n int) *Data {
	c := *d
	c.setAlerts(n)
	return &c
}

func (d *Data) setAlerts(n int) {
	n = max(0, min(n, len(d.all)))
	d.Alerts = d.all[:n:n]
	d.Omitted = len(d.all) - n
	d.Firing, d.Resolved = nil, nil
	for _, a := range d.Alerts {
		if a.Status == StatusResolved {
			d.Resolved = append(d.Resolved, a)
		} else {
			d.Firing = append(d.Firing, a)
		}
	}
}

func newAlertData(a Alert, now time.Time) AlertData {
	ad := AlertData{
		Alert:   a,
		Target:  a.Labels["instance"],
		Module:  a.Labels["module"],
		Name:    a.Labels["alertname"],
		Since:   a.StartsAt,
		IsCheck: a.Check || a.GeneratorURL == "",
	}
	ad.Labels = orEmpty(a.Labels)
	ad.Annotations = orEmpty(a.Annotations)
	switch {
	case a.Reason != "":
		ad.Why = a.Reason
	case ad.Annotations["summary"] != "":
		ad.Why = ad.Annotations["summary"]
	default:
		ad.Why = ad.Annotations["description"]
	}
	switch {
	case ad.IsCheck && ad.Target != "" && ad.Module != "":
		ad.Title = ad.Target + " (" + ad.Module + ")"
	case ad.Name != "" && ad.Target != "":
		ad.Title = ad.Name + " " + ad.Target
	case ad.Name != "":
		ad.Title = ad.Name
	case ad.Target != "":
		ad.Title = ad.Target
	case a.Fingerprint != "":
		ad.Title = "alert " + a.Fingerprint
	default:
		ad.Title = "alert"
	}
	end := now
	if a.Status == StatusResolved && !a.EndsAt.IsZero() {
		end = a.EndsAt
	}
	if !a.StartsAt.IsZero() && end.After(a.StartsAt) {
		ad.Duration = end.Sub(a.StartsAt)
	}
	ad.When = FormatWhen(a.StartsAt, now)
	ad.SinceText = SinceText(a.StartsAt, now, a.FailedProbes)
	return ad
}

func headline(k Kind, status string, checks bool) (string, string) {
	resolved := status == StatusResolved
	down, up := "DOWN", "UP"
	if !checks {
		down, up = "FIRING", "RESOLVED"
	}
	switch k {
	case KindDown:
		return down, "🔴"
	case KindUp:
		return up, "✅"
	case KindReminder:
		return "STILL " + down, "🔁"
	case KindFlapping:
		return "FLAPPING", "⚠️"
	case KindStable:
		if resolved {
			return "STABLE", "✅"
		}
		return "STABLE", "🔴"
	case KindExporterErr:
		if resolved {
			return "EXPORTER REACHABLE", "✅"
		}
		return "EXPORTER UNREACHABLE", "🟠"
	case KindStoreDamaged:
		return "STORE DAMAGED", "🟠"
	case KindTest:
		return "TEST", "🧪"
	case KindStore:
		if resolved {
			return "STORE WRITABLE AGAIN", "✅"
		}
		return "STORE NOT WRITABLE", "🟠"
	}
	if resolved {
		return strings.ToUpper(string(k)), "✅"
	}
	return strings.ToUpper(string(k)), "🔴"
}

// summaryHeadline says what a summary holds: "12 DOWN, 188 UP".
func summaryHeadline(firing, resolved int, checks bool) (string, string) {
	down, up := "DOWN", "UP"
	if !checks {
		down, up = "FIRING", "RESOLVED"
	}
	var parts []string
	if firing > 0 {
		parts = append(parts, fmt.Sprintf("%d %s", firing, down))
	}
	if resolved > 0 {
		parts = append(parts, fmt.Sprintf("%d %s", resolved, up))
	}
	if firing > 0 {
		return strings.Join(parts, ", "), "🔴"
	}
	return strings.Join(parts, ", "), "✅"
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// Summarise renders d with as many of its alerts as fit, so that a long
// group becomes "the first N … and 37 more" instead of a cut message. It
// keeps at least one alert: if even that does not fit, it returns that
// rendering with fit false and the caller shortens it safely.
func Summarise(d *Data, render func(*Data) (string, error), fits func(string) bool) (text string, fit bool, err error) {
	text, err = render(d)
	if err != nil || fits(text) || len(d.all) <= 1 {
		return text, err == nil && fits(text), err
	}
	// Largest n in [1, len-1] whose rendering fits; renderings grow with n.
	lo, hi := 1, len(d.all)-1
	best := ""
	for lo <= hi {
		mid := (lo + hi) / 2
		t, err := render(d.Limit(mid))
		if err != nil {
			return "", false, err
		}
		if fits(t) {
			best, lo = t, mid+1
		} else {
			hi = mid - 1
		}
	}
	if best != "" {
		return best, true, nil
	}
	text, err = render(d.Limit(1))
	return text, false, err
}

// executor is what text/template and html/template templates have in common.
type executor interface {
	Execute(w io.Writer, data any) error
}

// Template is a receiver template: the user's override when configured,
// and the integration's default to fall back on when the override fails at
// send time (a notification with a plain default message beats none).
type Template struct {
	key    string
	custom executor
	def    executor
	logger *slog.Logger
}

// NewTextTemplate parses a text/template. key names the configuration key
// (used in errors and logs); custom is the user's template ("" for none);
// def the integration's default, which must parse.
func NewTextTemplate(key, custom, def string, logger *slog.Logger) (*Template, error) {
	parse := func(text string) (executor, error) {
		return template.New(key).Funcs(FuncMap()).Option("missingkey=zero").Parse(text)
	}
	return newTemplate(key, custom, def, logger, parse)
}

// NewHTMLTemplate parses an html/template (contextual escaping).
func NewHTMLTemplate(key, custom, def string, logger *slog.Logger) (*Template, error) {
	parse := func(text string) (executor, error) {
		return htmltemplate.New(key).Funcs(htmltemplate.FuncMap(FuncMap())).Option("missingkey=zero").Parse(text)
	}
	return newTemplate(key, custom, def, logger, parse)
}

func newTemplate(key, custom, def string, logger *slog.Logger, parse func(string) (executor, error)) (*Template, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	t := &Template{key: key, logger: logger}
	var err error
	if t.def, err = parse(def); err != nil {
		return nil, fmt.Errorf("default %s template: %w", key, err)
	}
	if custom != "" {
		if t.custom, err = parse(custom); err != nil {
			return nil, fmt.Errorf("%s: invalid template: %w", key, err)
		}
	}
	return t, nil
}

// Execute renders data with the user's template, falling back to the
// default (and logging why) when it fails.
func (t *Template) Execute(data any) (string, error) {
	text, _, err := t.Render(data)
	return text, err
}

// Render is Execute that also says whether the user's template produced
// the text (false: the default did).
func (t *Template) Render(data any) (text string, custom bool, err error) {
	var buf bytes.Buffer
	if t.custom != nil {
		err := t.custom.Execute(&buf, data)
		if err == nil && strings.TrimSpace(buf.String()) != "" {
			return buf.String(), true, nil
		}
		if err == nil {
			err = errors.New("it rendered an empty message")
		}
		t.logger.Warn("Template failed, using the default one", "key", t.key, "err", err)
		buf.Reset()
	}
	if err := t.def.Execute(&buf, data); err != nil {
		return "", false, fmt.Errorf("default %s template: %w", t.key, err)
	}
	return buf.String(), false, nil
}
