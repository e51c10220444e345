// Package web is the router's status page: a server-rendered summary of
// checks by state, the checks that are down or flapping with their reason
// and since when, Prometheus alerts, recent notifications with their
// delivery state, and silences (listed, created and expired with plain
// HTML forms). It needs no JavaScript; a few lines of it apply live
// updates pushed over server-sent events (/events) when the engine or the
// silences change.
//
// The page is built from the engine's View, whose counts are kept by the
// engine: rendering does not walk every check, and lists are bounded, so
// the page stays fast with tens of thousands of checks.
package web

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigie-monitoring/vigie/alertrouter/dispatch"
	"github.com/vigie-monitoring/vigie/alertrouter/internal/clock"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/silence"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
	"github.com/vigie-monitoring/vigie/alertrouter/view"
	"github.com/vigie-monitoring/vigie/internal/webserver"
)

// Pipeline is what the page needs of the router's pipeline.
type Pipeline interface {
	View() *view.View
	Changes() (<-chan struct{}, func())
}

// Defaults.
const (
	DefaultPageSize       = 100
	DefaultUpdateInterval = time.Second
	DefaultRefresh        = 5 * time.Second
	maxAlerts             = 100
	maxNotifications      = 30
	maxSilences           = 100 // active and pending silences listed
	maxExpiredSilences    = 20  // expired silences listed (collapsed)
	// Longest texts shown, in characters: alerts and silences are
	// bounded in bytes by the API's limits, but a page of them must stay
	// small.
	maxShortText         = 300
	maxLongText          = 1000
	heartbeat            = 30 * time.Second
	defaultSilenceLength = "2h"
)

// Options configure the page.
type Options struct {
	Pipeline Pipeline
	Silences *silence.Silences
	// Notifications returns recent notifications (store.RecentNotifications).
	Notifications func(n int) ([]store.NotificationRecord, error)
	Logger        *slog.Logger
	Version       string
	// PageSize is how many problems one page lists.
	PageSize int
	// UpdateInterval is the least time between two live updates: changes
	// in between are sent together.
	UpdateInterval time.Duration
	// Refresh is how often live pages are refreshed without a change
	// (relative times, delivery states).
	Refresh time.Duration
	// Clock defaults to the system clock; it times live updates.
	Clock clock.Clock
	// Now defaults to Clock.Now.
	Now func() time.Time
	// Refused counts silences refused by a limit (package silence), by
	// limit; nil: not counted.
	Refused *prometheus.CounterVec
	// Receivers lists the configured receivers, in configuration order;
	// nil: the page has no receivers section.
	Receivers func() []Receiver
	// TestReceiver sends a test notification through every integration of
	// a receiver and says what each provider answered; nil: no "Send
	// test" button.
	TestReceiver func(ctx context.Context, receiver string) ([]dispatch.TestResult, error)
	// History serves the pages of checks, of one check and of groups, and
	// the availability in lists; nil: none of it.
	History History
	// GroupLabel is the label /groups groups by unless asked (default
	// "group").
	GroupLabel string
	// Cluster describes the router's cluster; nil: the page has no
	// cluster section (a router alone).
	Cluster func() *Cluster
	// ProbedBy names the cluster member that probes a check (nil: a
	// router alone).
	ProbedBy func(id string) string
	// ProbedAt is the address (advertise_url) of the cluster member that
	// probes a check when it is another member, "" otherwise: the page of
	// a check another member probes redirects there (nil: alone).
	ProbedAt func(id string) string
}

// Cluster is what the page shows of a router cluster.
type Cluster struct {
	Name    string // this member's
	Status  string // "ready" or "settling"
	Members []ClusterMember
	// StaleSince is when Consul stopped answering the reads of the
	// other members' check states (zero: they are up to date); the page
	// shows the last known ones meanwhile.
	StaleSince time.Time
}

// ClusterMember is one live member and the checks it probes.
type ClusterMember struct {
	Name, Address string
	Checks        int
}

// Page serves the status page.
type Page struct {
	o     Options
	tmpl  *template.Template
	htmpl *template.Template // pages of the history
	token string             // CSRF token of the forms, one per process
	csrf  *http.CrossOriginProtection

	updates broadcast
	live    liveCache
	done    chan struct{} // closed when Run ends: live streams stop

	// Tests of receivers started from the page (receivers.go).
	testsMu  sync.Mutex
	tests    map[string]*receiverTest
	testsCtx context.Context // ends with Run
	endTests context.CancelFunc
	kick     chan struct{} // asks Run for a live update

	notifMu    sync.Mutex // guards the fields below
	notifAt    time.Time
	notifCache []notificationRow
	notifErr   error
	summaries  summaryCache
}

//go:embed page.html
var pageHTML string

// New prepares the page. Run makes it live.
func New(o Options) *Page {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Now == nil {
		o.Now = o.Clock.Now
	}
	if o.PageSize <= 0 {
		o.PageSize = DefaultPageSize
	}
	if o.UpdateInterval <= 0 {
		o.UpdateInterval = DefaultUpdateInterval
	}
	if o.Refresh <= 0 {
		o.Refresh = DefaultRefresh
	}
	if o.Notifications == nil {
		o.Notifications = func(int) ([]store.NotificationRecord, error) { return nil, nil }
	}
	p := &Page{o: o, token: rand.Text(), csrf: webserver.CrossOriginProtection(nil), done: make(chan struct{}),
		tests: map[string]*receiverTest{}, kick: make(chan struct{}, 1)}
	p.testsCtx, p.endTests = context.WithCancel(context.Background())
	p.updates.ch, p.updates.gen = make(chan struct{}), 1
	p.tmpl = template.Must(template.New("page").Funcs(template.FuncMap{
		"ago":           func(t time.Time) string { return ago(t, p.o.Now()) },
		"abs":           func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"clock":         func(t time.Time) string { return t.Format("15:04:05") },
		"labels":        labelsString,
		"checkMatchers": checkMatchers,
		"isSilence":     isSilenceID,
		"inc":           func(i int) int { return i + 1 },
		"short":         func(s string) string { return notify.Truncate(maxShortText, s) },
		"silenceWith":   func(r silenceRow, token string) silenceItem { return silenceItem{Row: r, Token: token} },
		"long":          func(s string) string { return notify.Truncate(maxLongText, s) },
		"dec":           func(i int) int { return i - 1 },
		"pathSegment":   url.PathEscape,
		"history":       func() bool { return p.o.History != nil },
		"availability":  p.availability,
		"pct":           pct,
		"availClass":    availClass,
		"probedBy":      p.probedBy,
	}).Parse(pageHTML))
	p.htmpl = template.Must(template.New("history").Funcs(historyFuncs(p.o.Now)).Parse(historyHTML))
	return p
}

// Register adds the page's routes to mux.
func (p *Page) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", p.serve)
	// Live updates stay open for hours, beyond --web.write-timeout.
	mux.Handle("GET /events", webserver.LongRunning(http.HandlerFunc(p.events)))
	mux.Handle("POST /silences", p.csrf.Handler(http.HandlerFunc(p.createSilence)))
	mux.Handle("POST /silences/{id}/expire", p.csrf.Handler(http.HandlerFunc(p.expireSilence)))
	mux.Handle("POST /receivers/{name}/test", p.csrf.Handler(http.HandlerFunc(p.testReceiver)))
	if p.o.History != nil {
		p.registerHistory(mux)
	}
}

// probedBy names the member that probes a check ("" alone).
func (p *Page) probedBy(id string) string {
	if p.o.ProbedBy == nil {
		return ""
	}
	return p.o.ProbedBy(id)
}

// availability returns a check's availability over 24 h, 7 d and 30 d
// for the lists (nil without history).
func (p *Page) availability(id string) []float64 {
	if p.o.History == nil {
		return nil
	}
	c, ok := p.o.History.Get(id)
	if !ok {
		return nil
	}
	return c.Availability[:]
}

// pageData is what the template shows.
type pageData struct {
	Version, Token string
	Now            time.Time
	Flash, Error   string
	Form           silenceForm

	Total, Up, Down, Unknown, Flapping int
	Firing, ActiveSilences             int
	Exporter                           *view.ExporterView // set when unreachable
	// Locations are set when checks are probed from several locations;
	// Degraded the checks some of them fail (fewer than the quorum).
	Locations     []view.LocationView
	Degraded      []view.CheckView
	DegradedCount int

	Problems                  []view.CheckView
	ProblemCount, Page, Pages int
	ProblemsOmitted           int // beyond what the engine lists

	Alerts     []view.AlertView
	AlertCount int

	Notifications      []notificationRow
	NotificationsError error

	// Active and pending silences, the first maxSilences of them, then
	// the most recently expired ones.
	Silences        []silenceRow
	SilencesOmitted int
	Expired         []silenceRow
	ExpiredCount    int

	// Receivers, with the last test of each; nil when the page has no
	// receivers section.
	Receivers []receiverRow
	Testable  bool

	Cluster *Cluster
}

type silenceRow struct {
	silence.Silence
	State        string
	MatchersText string
}

func newSilenceRow(s silence.Silence, st silence.State) silenceRow {
	return silenceRow{Silence: s, State: string(st), MatchersText: s.MatchersString()}
}

// silenceItem is what the "silence" template shows: a row and the forms'
// token.
type silenceItem struct {
	Row   silenceRow
	Token string
}

// data builds what the page shows; page is 1-based.
func (p *Page) data(page int) *pageData {
	now := p.o.Now()
	v := p.o.Pipeline.View()
	d := &pageData{Version: p.o.Version, Token: p.token, Now: now,
		Form: silenceForm{Duration: defaultSilenceLength}}
	d.Up, d.Down, d.Unknown, d.Flapping = v.Counts["up"], v.Counts["down"], v.Counts["unknown"], v.Counts["flapping"]
	d.Total = d.Up + d.Down + d.Unknown
	if x := v.Exporter; x.URL != "" && !x.Reachable {
		d.Exporter = &x
	}
	d.Locations = v.Locations
	d.DegradedCount = len(v.Degraded)
	d.Degraded = v.Degraded[:min(len(v.Degraded), p.o.PageSize)]

	d.ProblemCount = len(v.Problems)
	d.ProblemsOmitted = v.ProblemsOmitted
	d.Pages = max(1, (d.ProblemCount+p.o.PageSize-1)/p.o.PageSize)
	d.Page = min(max(page, 1), d.Pages)
	from := (d.Page - 1) * p.o.PageSize
	d.Problems = v.Problems[from:min(from+p.o.PageSize, d.ProblemCount)]

	for i := range v.Alerts {
		a := &v.Alerts[i]
		if !a.EndsAt.IsZero() && !a.EndsAt.After(now) {
			continue
		}
		d.AlertCount++
		if a.State == "active" || a.State == "" && len(a.SilencedBy)+len(a.InhibitedBy)+len(a.MutedBy) == 0 {
			d.Firing++
		}
		if len(d.Alerts) < maxAlerts {
			d.Alerts = append(d.Alerts, *a)
		}
	}

	d.Notifications, d.NotificationsError = p.notifications(now, v.Alerts)
	d.Receivers, d.Testable = p.receiverRows()
	if p.o.Cluster != nil {
		d.Cluster = p.o.Cluster()
	}

	if p.o.Silences != nil {
		// Listed as Alertmanager orders them: active, pending, expired.
		for _, s := range p.o.Silences.List() {
			st := s.State(now)
			switch st {
			case silence.Expired:
				d.ExpiredCount++
				if len(d.Expired) < maxExpiredSilences {
					d.Expired = append(d.Expired, newSilenceRow(s, st))
				}
				continue
			case silence.Active:
				d.ActiveSilences++
			}
			if len(d.Silences) < maxSilences {
				d.Silences = append(d.Silences, newSilenceRow(s, st))
			} else {
				d.SilencesOmitted++
			}
		}
	}
	return d
}

func (p *Page) serve(w http.ResponseWriter, r *http.Request) {
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	d := p.data(page)
	if m := r.URL.Query().Get("silence"); m != "" {
		d.Form.Matchers = m
	}
	// Flash messages name real silences only: the page does not repeat
	// arbitrary text from its URL.
	for param, what := range map[string]string{"created": "created", "expired": "expired"} {
		if id := r.URL.Query().Get(param); id != "" && p.o.Silences != nil {
			if s, err := p.o.Silences.Get(id); err == nil {
				d.Flash = fmt.Sprintf("Silence %s %s %s.", s.ID, s.MatchersString(), what)
			}
		}
	}
	if user, _, ok := r.BasicAuth(); ok {
		d.Form.Author = user
	}
	p.render(w, http.StatusOK, d)
}

func (p *Page) render(w http.ResponseWriter, code int, d *pageData) {
	var buf bytes.Buffer
	if err := p.tmpl.ExecuteTemplate(&buf, "page", d); err != nil {
		p.o.Logger.Error("Cannot render the status page", "err", err)
		http.Error(w, "cannot render the page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// ago renders t relative to now: "5m ago", "in 2h".
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	if d < 0 {
		return "in " + shortDuration(-d)
	}
	if d < time.Second {
		return "just now"
	}
	return shortDuration(d) + " ago"
}

func shortDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 24*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return strconv.Itoa(h) + "h"
		}
		return fmt.Sprintf("%dh%dm", h, m)
	}
	days, h := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	if h == 0 {
		return strconv.Itoa(days) + "d"
	}
	return fmt.Sprintf("%dd%dh", days, h)
}

func labelsString(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		if k != "alertname" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.Quote(labels[k])
	}
	return strings.Join(parts, ", ")
}
