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
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

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
}

// Page serves the status page.
type Page struct {
	o     Options
	tmpl  *template.Template
	token string // CSRF token of the forms, one per process
	csrf  *http.CrossOriginProtection

	updates broadcast
	live    liveCache
	done    chan struct{} // closed when Run ends: live streams stop

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
	p := &Page{o: o, token: rand.Text(), csrf: webserver.CrossOriginProtection(nil), done: make(chan struct{})}
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
	}).Parse(pageHTML))
	return p
}

// Register adds the page's routes to mux.
func (p *Page) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", p.serve)
	// Live updates stay open for hours, beyond --web.write-timeout.
	mux.Handle("GET /events", webserver.LongRunning(http.HandlerFunc(p.events)))
	mux.Handle("POST /silences", p.csrf.Handler(http.HandlerFunc(p.createSilence)))
	mux.Handle("POST /silences/{id}/expire", p.csrf.Handler(http.HandlerFunc(p.expireSilence)))
}

// Run pushes live updates until ctx ends: at most one per UpdateInterval
// after the engine or the silences change, and one every Refresh.
func (p *Page) Run(ctx context.Context) error {
	defer close(p.done)
	pipelineCh, stopPipeline := p.o.Pipeline.Changes()
	defer stopPipeline()
	var silenceCh <-chan struct{}
	if p.o.Silences != nil {
		ch, stop := p.o.Silences.Changes()
		defer stop()
		silenceCh = ch
	}
	clk := p.o.Clock
	refresh := clk.NewTimer(p.o.Refresh)
	defer refresh.Stop()
	var last time.Time
	var pending <-chan time.Time // armed while a change waits for its turn
	changed := func() {
		if pending != nil {
			return
		}
		pending = clk.After(max(0, p.o.UpdateInterval-clk.Now().Sub(last)))
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-pipelineCh:
			changed()
		case <-silenceCh:
			changed()
		case <-refresh.C():
			refresh.Reset(p.o.Refresh)
			changed()
		case <-pending:
			pending = nil
			last = clk.Now()
			p.updates.fire()
		}
	}
}

// broadcast wakes every waiter at once; gen counts the updates.
type broadcast struct {
	mu  sync.Mutex
	ch  chan struct{}
	gen uint64
}

// wait returns a channel closed at the next update, and the number of
// the current one.
func (b *broadcast) wait() (<-chan struct{}, uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ch, b.gen
}

func (b *broadcast) fire() {
	b.mu.Lock()
	close(b.ch)
	b.ch = make(chan struct{})
	b.gen++
	b.mu.Unlock()
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
}

type silenceForm struct {
	Matchers, Duration, Author, Comment string
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

type notificationRow struct {
	At          time.Time
	Integration string
	What        string
	Outcome     string
	Class       string
	Detail      string
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

// notifications reads the store at most once a second: it scans the
// notification log.
func (p *Page) notifications(now time.Time, alerts []view.AlertView) ([]notificationRow, error) {
	p.notifMu.Lock()
	defer p.notifMu.Unlock()
	if !p.notifAt.IsZero() && now.Sub(p.notifAt) < time.Second && now.After(p.notifAt) {
		return p.notifCache, p.notifErr
	}
	recs, err := p.o.Notifications(maxNotifications)
	rows := make([]notificationRow, 0, len(recs))
	for i := range recs {
		r := &recs[i]
		id := r.Integration + "|" + r.Key
		if n := r.Notification; n != nil {
			p.summaries.put(id, summarize(n))
		}
		row := toRow(r, now)
		if s, ok := p.summaries.get(id); ok {
			row.What = s
		} else if what := describeAlertKey(r.Key, alerts); what != "" {
			row.What = what
		}
		rows = append(rows, row)
	}
	p.notifAt, p.notifCache, p.notifErr = now, rows, err
	return rows, err
}

func toRow(r *store.NotificationRecord, now time.Time) notificationRow {
	row := notificationRow{At: r.At, Integration: r.Integration, What: describeKey(r.Key), Outcome: r.Outcome, Class: r.Outcome}
	switch r.Outcome {
	case store.OutcomePending:
		if r.Notification != nil {
			row.What = summarize(r.Notification)
		}
		if r.Attempts > 0 {
			row.Detail = fmt.Sprintf("%d attempts, next %s: %s", r.Attempts, ago(r.NextAttempt, now), r.LastError)
		}
	case store.OutcomeFailed:
		row.Detail = "permanent error (see the log)"
		if r.LastError != "" {
			row.Detail = "permanent error: " + r.LastError
		}
	case store.OutcomeExpired:
		row.Class = "expired-delivery"
		row.Detail = "dropped after delivery.max_age"
		if r.LastError != "" {
			row.Detail = "dropped: " + r.LastError
		}
	}
	return row
}

// summarize says what a notification announces, in one line.
func summarize(n *notify.Notification) string {
	if s := n.CommonAnnotations["summary"]; s != "" {
		return s
	}
	if len(n.Alerts) == 0 {
		return describeKey(n.Key)
	}
	first := n.Alerts[0].Annotations["summary"]
	if first == "" {
		first = labelsString(n.Alerts[0].Labels)
		if name := n.Alerts[0].Labels["alertname"]; name != "" {
			first = name + " " + first
		}
	}
	if len(n.Alerts) == 1 {
		return first
	}
	return fmt.Sprintf("%d alerts %s: %s, …", len(n.Alerts), strings.ToUpper(n.Status), first)
}

// describeKey makes a notification key readable when its content is no
// longer known (the notification log keeps keys only): check keys are
// "check|<module> <target>|<incident>|<step>".
func describeKey(key string) string {
	parts := strings.Split(key, "|")
	switch {
	case len(parts) == 4 && parts[0] == "check":
		module, target, _ := strings.Cut(parts[1], " ")
		return fmt.Sprintf("%s (%s): %s", target, module, parts[3])
	case len(parts) == 4 && parts[0] == "alert":
		return fmt.Sprintf("alert %s: %s", parts[1], parts[3])
	case len(parts) == 3 && parts[0] == "group":
		return "grouped notification: " + parts[2]
	case len(parts) == 3 && parts[0] == "exporter":
		return "exporter unreachable: " + parts[2]
	}
	return key
}

// describeAlertKey names a Prometheus alert's notification by the alert,
// while the router still knows it.
func describeAlertKey(key string, alerts []view.AlertView) string {
	parts := strings.Split(key, "|")
	if len(parts) != 4 || parts[0] != "alert" {
		return ""
	}
	for i := range alerts {
		if a := &alerts[i]; a.Fingerprint == parts[1] {
			return fmt.Sprintf("%s {%s}: %s", a.Labels["alertname"], labelsString(a.Labels), parts[3])
		}
	}
	return ""
}

// summaryCache remembers what recent notifications said, so that they
// are still described once delivered (the notification log keeps keys
// only). It forgets the oldest beyond its size.
type summaryCache struct {
	byID  map[string]string
	order []string
}

const summaryCacheSize = 512

func (c *summaryCache) put(id, summary string) {
	if c.byID == nil {
		c.byID = map[string]string{}
	}
	if _, ok := c.byID[id]; !ok {
		c.order = append(c.order, id)
		if len(c.order) > summaryCacheSize {
			delete(c.byID, c.order[0])
			c.order = c.order[1:]
		}
	}
	c.byID[id] = summary
}

func (c *summaryCache) get(id string) (string, bool) {
	s, ok := c.byID[id]
	return s, ok
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

// fragmentNames are the live parts of the page, by element id.
var fragmentNames = []string{"title", "summary", "problems", "alerts", "notifications", "silences"}

// fragmentKeys are the names as JSON object keys.
var fragmentKeys = func() map[string][]byte {
	m := map[string][]byte{}
	for _, name := range fragmentNames {
		m[name] = []byte(strconv.Quote(name) + ":")
	}
	return m
}()

// fragment is one live part of the page, rendered once for every client:
// its HTML as a JSON string, ready to be written into an update. id
// identifies the content: clients remember ids, not fragments, so that a
// slow client does not keep an old rendering alive.
type fragment struct {
	id   uint64
	json []byte
}

// liveCache shares the rendering of the live parts among all the clients
// of /events: one rendering per update (and page of problems) whatever the
// number of clients, whose streams all write the same bytes. A part that
// did not change keeps its fragment (and id) from one rendering to the
// next, so that a client knows what to send by comparing ids.
type liveCache struct {
	mu      sync.Mutex
	gen     uint64                       // update the renderings are of
	fresh   map[int]bool                 // pages rendered for gen
	last    map[int]map[string]*fragment // latest rendering of each page; never modified once stored
	renders int                          // how many renderings (tests)
	nextID  uint64                       // of fragments
}

// renders says how many renderings of the live parts were made.
func (p *Page) renders() int {
	p.live.mu.Lock()
	defer p.live.mu.Unlock()
	return p.live.renders
}

// clampPage is the page of problems data(page) shows.
func (p *Page) clampPage(page int) int {
	pages := max(1, (len(p.o.Pipeline.View().Problems)+p.o.PageSize-1)/p.o.PageSize)
	return min(max(page, 1), pages)
}

// fragments returns the live parts of a page as of update gen (or later),
// rendering them if no client did yet.
func (p *Page) fragments(gen uint64, page int) (map[string]*fragment, error) {
	c := &p.live
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen > c.gen || c.fresh == nil {
		c.gen, c.fresh = max(gen, c.gen), map[int]bool{}
	}
	if c.last == nil {
		c.last = map[int]map[string]*fragment{}
	}
	page = p.clampPage(page)
	if c.fresh[page] {
		return c.last[page], nil
	}
	d := p.data(page)
	prev := c.last[page]
	next := make(map[string]*fragment, len(fragmentNames))
	var buf bytes.Buffer
	for _, name := range fragmentNames {
		buf.Reset()
		if err := p.tmpl.ExecuteTemplate(&buf, name, d); err != nil {
			return nil, err
		}
		data, err := json.Marshal(buf.String())
		if err != nil {
			return nil, err
		}
		if f := prev[name]; f != nil && bytes.Equal(f.json, data) {
			next[name] = f
		} else {
			c.nextID++
			next[name] = &fragment{id: c.nextID, json: data}
		}
	}
	c.last[page], c.fresh[page] = next, true
	c.renders++
	return next, nil
}

// events streams the changed parts of the page as server-sent events
// ("update", data: a JSON object of element id → inner HTML).
func (p *Page) events(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n\n")
	flusher.Flush()

	sent := map[string]uint64{} // fragment ids
	ping := p.o.Clock.NewTimer(heartbeat)
	defer ping.Stop()
	// The first round sends everything: the page may have changed since
	// it was rendered.
	wake, gen := p.updates.wait()
	for {
		if err := p.sendChanged(w, gen, page, sent); err != nil {
			p.o.Logger.Debug("Live update stream ended", "err", err)
			return
		}
		flusher.Flush()
	idle:
		for {
			select {
			case <-r.Context().Done():
				return
			case <-p.done:
				return
			case <-ping.C():
				ping.Reset(heartbeat)
				// Keeps proxies from closing an idle stream.
				if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
					return
				}
				flusher.Flush()
			case <-wake:
				wake, gen = p.updates.wait()
				break idle
			}
		}
	}
}

// sendChanged writes one update with the parts that changed since the
// client's last one, straight from the shared rendering.
func (p *Page) sendChanged(w io.Writer, gen uint64, page int, sent map[string]uint64) error {
	frags, err := p.fragments(gen, page)
	if err != nil {
		p.o.Logger.Error("Cannot render live update", "err", err)
		return nil
	}
	first := true
	for _, name := range fragmentNames {
		f := frags[name]
		if sent[name] == f.id {
			continue
		}
		sent[name] = f.id
		sep := ","
		if first {
			sep, first = "event: update\ndata: {", false
		}
		if _, err := io.WriteString(w, sep); err != nil {
			return err
		}
		if _, err := w.Write(fragmentKeys[name]); err != nil {
			return err
		}
		if _, err := w.Write(f.json); err != nil {
			return err
		}
	}
	if !first {
		_, err = io.WriteString(w, "}\n\n")
	}
	return err
}

// checkToken verifies the form's token: with the same-origin check of
// CrossOriginProtection, it keeps other sites from posting forms here.
func (p *Page) checkToken(r *http.Request) bool {
	return subtle.ConstantTimeCompare([]byte(r.PostFormValue("token")), []byte(p.token)) == 1
}

func (p *Page) createSilence(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
		return
	}
	if !p.checkToken(r) {
		http.Error(w, "Forbidden: the form is stale or comes from another site; reload the page.", http.StatusForbidden)
		return
	}
	form := silenceForm{
		Matchers: strings.TrimSpace(r.PostFormValue("matchers")),
		Duration: strings.TrimSpace(r.PostFormValue("duration")),
		Author:   strings.TrimSpace(r.PostFormValue("author")),
		Comment:  strings.TrimSpace(r.PostFormValue("comment")),
	}
	id, err := p.setSilence(form)
	var le *silence.LimitError
	if errors.As(err, &le) && p.o.Refused != nil {
		p.o.Refused.WithLabelValues(le.Limit).Inc()
	}
	if err != nil {
		d := p.data(1)
		d.Form, d.Error = form, "Silence not created: "+err.Error()
		p.render(w, http.StatusBadRequest, d)
		return
	}
	p.o.Logger.Info("Silence created on the status page", "id", id, "matchers", form.Matchers, "created_by", form.Author)
	seeOther(w, "./?created="+id+"#silences-title")
}

func (p *Page) setSilence(f silenceForm) (string, error) {
	if f.Author == "" || f.Comment == "" {
		return "", errors.New("author and comment are required")
	}
	if f.Matchers == "" {
		return "", errors.New("at least one matcher is required")
	}
	ms, err := silence.ParseMatchers(f.Matchers)
	if err != nil {
		return "", err
	}
	d, err := model.ParseDuration(f.Duration)
	if err != nil || d <= 0 {
		return "", fmt.Errorf("bad duration %q: use 30m, 2h, 1d…", f.Duration)
	}
	return p.o.Silences.Set(silence.Silence{
		Matchers: ms, EndsAt: p.o.Now().Add(time.Duration(d)), // starts now
		CreatedBy: f.Author, Comment: f.Comment,
	})
}

func (p *Page) expireSilence(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
		return
	}
	if !p.checkToken(r) {
		http.Error(w, "Forbidden: the form is stale or comes from another site; reload the page.", http.StatusForbidden)
		return
	}
	id := r.PathValue("id")
	if err := p.o.Silences.Expire(id); err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, silence.ErrNotFound) {
			code = http.StatusNotFound
		}
		http.Error(w, "Silence not expired: "+err.Error(), code)
		return
	}
	p.o.Logger.Info("Silence expired on the status page", "id", id)
	seeOther(w, "../../?expired="+id+"#silences-title")
}

// seeOther redirects to a relative location, kept relative (unlike
// http.Redirect) so that the page works behind a reverse proxy's prefix.
func seeOther(w http.ResponseWriter, location string) {
	w.Header().Set("Location", location)
	w.WriteHeader(http.StatusSeeOther)
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

// isSilenceID tells silence ids (UUIDs) from the names of maintenance
// windows among what mutes a check.
func isSilenceID(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil && len(s) == 36
}

// checkMatchers are the matchers that silence exactly one check.
func checkMatchers(c view.CheckView) string {
	instance := c.Target
	if v := c.Labels["instance"]; v != "" {
		instance = v
	}
	return fmt.Sprintf("instance=%s, module=%s", strconv.Quote(instance), strconv.Quote(c.Module))
}
