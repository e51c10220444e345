package web

import (
	"bytes"
	_ "embed"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/history"
)

// PublicHistory is what the public status page needs of the history:
// the router's (history.History), or in a cluster the members' gathered.
type PublicHistory interface {
	GroupsStatus(label string, values []string, days int, now time.Time) (history.Status, error)
}

// PublicOptions configure the public status page.
type PublicOptions struct {
	History PublicHistory
	// Label names the groups; Groups are the values shown, in order.
	Label  string
	Groups []string
	// Reasons shows why checks fail (off: only that they do).
	Reasons bool
	Title   string
	Now     func() time.Time
	Logger  *slog.Logger
}

// Public bounds: incidents listed per group, and how long a rendering is
// served again (the page is for anyone: many readers cost one rendering).
const (
	maxPublicIncidents = 20
	publicCacheFor     = 10 * time.Second
	publicDays         = 30
)

//go:embed public.html
var publicHTML string

// Public is the read-only public status page: for the chosen groups
// only, a summary, availability bars and the ongoing incidents. It serves
// GET / and nothing else: no form, no API, no write method; it never
// shows a target's credentials or query (or reasons, unless allowed).
type Public struct {
	o    PublicOptions
	tmpl *template.Template

	mu    sync.Mutex
	at    time.Time
	cache []byte
}

// NewPublic prepares the public page.
func NewPublic(o PublicOptions) *Public {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Label == "" {
		o.Label = DefaultGroupLabel
	}
	if o.Title == "" {
		o.Title = "Service status"
	}
	return &Public{o: o, tmpl: template.Must(template.New("public").Funcs(historyFuncs(o.Now)).Parse(publicHTML))}
}

type publicGroup struct {
	Name             string
	Checks, Down     int
	Availability     history.Availability
	Bars             []bar
	Incidents        []publicIncident
	IncidentsOmitted int
}

type publicIncident struct {
	Name, Reason string
	Since        time.Time
}

type publicData struct {
	Title   string
	Now     time.Time
	Down    int
	Groups  []publicGroup
	Reasons bool
	// Partial: in a router cluster, members did not answer and their
	// checks are missing.
	Partial bool
}

// ServeHTTP serves the page at / (GET and HEAD); anything else is refused.
func (p *Public) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "the public status page is read-only", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	body, err := p.render()
	if err != nil {
		p.o.Logger.Error("Cannot render the public status page", "err", err)
		http.Error(w, "the status page is unavailable", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=10")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'none'; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(body)
}

func (p *Public) render() ([]byte, error) {
	now := p.o.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cache != nil && now.Sub(p.at) < publicCacheFor && !now.Before(p.at) {
		return p.cache, nil
	}
	d := &publicData{Title: p.o.Title, Now: now, Reasons: p.o.Reasons}
	// One status for all the groups (in a cluster, one request to each
	// member per rendering, at most every publicCacheFor), asked
	// MaxStatusValues groups at a time.
	var st history.Status
	for i := 0; i < len(p.o.Groups); i += history.MaxStatusValues {
		part, err := p.o.History.GroupsStatus(p.o.Label, p.o.Groups[i:min(i+history.MaxStatusValues, len(p.o.Groups))], publicDays, now)
		if err != nil {
			return nil, err
		}
		st.Groups = append(st.Groups, part.Groups...)
		for _, m := range part.Unanswered {
			if !slices.Contains(st.Unanswered, m) {
				st.Unanswered = append(st.Unanswered, m)
			}
		}
	}
	if len(st.Unanswered) > 0 {
		// Members are not named to the public; the log names them.
		d.Partial = true
		p.o.Logger.Warn("The public status page misses the checks of cluster members that did not answer", "members", st.Unanswered)
	}
	for _, g := range st.Groups {
		pg := publicGroup{Name: g.Value, Checks: g.Checks, Down: g.Down, Availability: g.Availability}
		if g.Checks == 0 {
			pg.Availability = history.Availability{-1, -1, -1}
		}
		for _, b := range g.Days {
			pg.Bars = append(pg.Bars, bar{Day: b.Start, Availability: b.Availability, Class: availClass(b.Availability),
				Title: b.Start.Format("2006-01-02") + ": " + pct(b.Availability)})
		}
		for _, c := range g.DownChecks[:min(len(g.DownChecks), maxPublicIncidents)] {
			in := publicIncident{Name: publicName(history.Check{Target: c.Target, Labels: map[string]string{"name": c.Name}}), Since: c.Since}
			if p.o.Reasons {
				in.Reason = c.Reason
			}
			pg.Incidents = append(pg.Incidents, in)
		}
		pg.IncidentsOmitted = max(0, g.Down-len(pg.Incidents))
		d.Down += pg.Down
		d.Groups = append(d.Groups, pg)
	}
	var buf bytes.Buffer
	if err := p.tmpl.ExecuteTemplate(&buf, "public", d); err != nil {
		return nil, err
	}
	p.cache, p.at = buf.Bytes(), now
	return p.cache, nil
}

// publicName is what the public sees of a check: its "name" label, else
// its target without credentials, path parameters, query or fragment.
func publicName(c history.Check) string {
	if n := c.Labels["name"]; n != "" {
		return n
	}
	t := c.Target
	if u, err := url.Parse(t); err == nil && u.Scheme != "" && u.Host != "" {
		u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
		return u.String()
	}
	// host:port, or anything else: drop what looks like credentials.
	if i := strings.LastIndex(t, "@"); i >= 0 {
		t = t[i+1:]
	}
	if i := strings.IndexAny(t, "?#"); i >= 0 {
		t = t[:i]
	}
	return t
}
