package web

import (
	"bytes"
	"cmp"
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/history"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

// History is what the pages of checks and groups need of the router's
// history (package history).
type History interface {
	Get(id string) (history.Check, bool)
	List(f history.Filter, offset, limit int) ([]history.Check, int)
	Groups(label string, f history.Filter) []history.Group
	Detail(id string, now time.Time) (*history.Detail, error)
}

// DefaultGroupLabel is the label the grouped view groups by unless asked.
const DefaultGroupLabel = "group"

//go:embed history.html
var historyHTML string

func historyFuncs(now func() time.Time) template.FuncMap {
	return template.FuncMap{
		"ago":         func(t time.Time) string { return ago(t, now()) },
		"abs":         func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"when":        func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
		"pct":         pct,
		"availClass":  availClass,
		"checkURL":    func(id string) string { return "checks/" + url.PathEscape(id) },
		"duration":    func(in history.Incident) string { return shortDuration(in.Duration(now()).Round(time.Second)) },
		"short":       func(s string) string { return notify.Truncate(maxShortText, s) },
		"labels":      labelsString,
		"inc":         func(i int) int { return i + 1 },
		"dec":         func(i int) int { return i - 1 },
		"query":       func(v url.Values) template.URL { return template.URL(v.Encode()) },
		"join":        strings.Join,
		"windowNames": func() []string { return []string{"24 h", "7 d", "30 d"} },
	}
}

// pct renders an availability: "99.95 %", "–" without rounds.
func pct(a float64) string {
	if a < 0 {
		return "–"
	}
	if a == 1 {
		return "100 %"
	}
	// Never round up to 100 %: 99.9996 % is not 100 %.
	return strconv.FormatFloat(math.Floor(a*10000)/100, 'f', 2, 64) + " %"
}

// availClass colours an availability: good from 99.9 %, fair from 99 %.
func availClass(a float64) string {
	switch {
	case a < 0:
		return "nodata"
	case a >= 0.999:
		return "good"
	case a >= 0.99:
		return "fair"
	}
	return "poor"
}

// checksData is what the list of checks shows.
type checksData struct {
	Title, Base, Version string
	Now                  time.Time
	Filter               history.Filter
	Checks               []history.Check
	Total                int
	Page, Pages          int
	Prev, Next           url.Values
	Error                string
	// Unanswered are the cluster members whose checks are not listed.
	Unanswered []string
}

// ClusterHistory is a History whose list of checks is a router
// cluster's: it also names the members that did not answer.
type ClusterHistory interface {
	ListCluster(f history.Filter, offset, limit int) (checks []history.Check, total int, unanswered []string)
}

// ClusterGroups is a History whose groups are a router cluster's: the
// first history.MaxGroups values, how many more there are (at least),
// and the members that did not answer.
type ClusterGroups interface {
	GroupsCluster(label string, f history.Filter) (groups []history.Group, omitted int, unanswered []string)
}

// groupsData is what the grouped view shows.
type groupsData struct {
	Title, Base, Version string
	Now                  time.Time
	Label                string
	Filter               history.Filter
	Groups               []history.Group
	GroupsOmitted        int
	// Unanswered are the cluster members whose checks are not counted.
	Unanswered []string
}

// maxGroups bounds the grouped view (a label with a value per check
// would list every check).
const maxGroups = history.MaxGroups

// checkData is what the page of one check shows.
type checkData struct {
	Title, Base, Version string
	Now                  time.Time
	Detail               *history.Detail
	Range                string
	Chart                chart
	Bars                 []bar
	Reasons              bool
}

func (p *Page) registerHistory(mux *http.ServeMux) {
	mux.HandleFunc("GET /checks", p.serveChecks)
	mux.HandleFunc("GET /checks/{id}", p.serveCheck)
	mux.HandleFunc("GET /groups", p.serveGroups)
	mux.HandleFunc("GET /groups/{label}", p.serveGroups)
}

func (p *Page) serveChecks(w http.ResponseWriter, r *http.Request) {
	f, offset, _, err := history.ParseListQuery(r)
	d := &checksData{Title: "Checks", Base: "", Version: p.o.Version, Now: p.o.Now(), Filter: f}
	if err != nil {
		d.Error = err.Error()
		p.renderHistory(w, http.StatusBadRequest, "checks", d)
		return
	}
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	page = max(page, 1)
	if offset == 0 {
		offset = (page - 1) * p.o.PageSize
	}
	if c, ok := p.o.History.(ClusterHistory); ok {
		d.Checks, d.Total, d.Unanswered = c.ListCluster(f, offset, p.o.PageSize)
	} else {
		d.Checks, d.Total = p.o.History.List(f, offset, p.o.PageSize)
	}
	d.Pages = max(1, (d.Total+p.o.PageSize-1)/p.o.PageSize)
	d.Page = min(offset/p.o.PageSize+1, d.Pages)
	link := func(page int) url.Values {
		v := url.Values{}
		for k, s := range map[string]string{"search": f.Search, "label": f.Label, "state": f.State} {
			if s != "" {
				v.Set(k, s)
			}
		}
		v.Set("page", strconv.Itoa(page))
		return v
	}
	if d.Page > 1 {
		d.Prev = link(d.Page - 1)
	}
	if d.Page < d.Pages {
		d.Next = link(d.Page + 1)
	}
	p.renderHistory(w, http.StatusOK, "checks", d)
}

func (p *Page) serveGroups(w http.ResponseWriter, r *http.Request) {
	label := r.PathValue("label")
	base := ""
	if label != "" {
		base = "../"
	} else if label = r.URL.Query().Get("by"); label == "" {
		label = cmp.Or(p.o.GroupLabel, DefaultGroupLabel)
	}
	f, _, _, err := history.ParseListQuery(r)
	if err != nil || len(label) > 256 {
		http.Error(w, "bad filter: "+fmt.Sprint(err), http.StatusBadRequest)
		return
	}
	d := &groupsData{Title: "Checks by " + label, Base: base, Version: p.o.Version, Now: p.o.Now(), Label: label, Filter: f}
	if c, ok := p.o.History.(ClusterGroups); ok {
		d.Groups, d.GroupsOmitted, d.Unanswered = c.GroupsCluster(label, f)
	} else {
		d.Groups = p.o.History.Groups(label, f)
	}
	if n := len(d.Groups); n > maxGroups {
		d.Groups, d.GroupsOmitted = d.Groups[:maxGroups], n-maxGroups
	}
	p.renderHistory(w, http.StatusOK, "groups", d)
}

// ranges are what the check page can chart: the span and the resolution.
var ranges = map[string]history.Resolution{"48h": history.FiveMinutes, "30d": history.Hour, "1y": history.Day}

func (p *Page) serveCheck(w http.ResponseWriter, r *http.Request) {
	now := p.o.Now()
	rng := r.URL.Query().Get("range")
	res, ok := ranges[rng]
	if !ok {
		rng, res = "48h", history.FiveMinutes
	}
	det, err := p.o.History.Detail(r.PathValue("id"), now)
	if errors.Is(err, history.ErrUnknownCheck) {
		if elsewhere := p.probedAt(r.PathValue("id")); elsewhere != "" {
			// Another member of the cluster probes it: its history is
			// there.
			http.Redirect(w, r, elsewhere+"/checks/"+url.PathEscape(r.PathValue("id"))+queryOf(r), http.StatusTemporaryRedirect)
			return
		}
		http.Error(w, "no such check", http.StatusNotFound)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	d := &checkData{Title: det.Target + " · " + det.Module, Base: "../", Version: p.o.Version, Now: now, Detail: det, Range: rng, Reasons: true,
		Chart: latencyChart(det.Buckets[res], res, now), Bars: availabilityBars(det.Buckets[history.Day], now, 30)}
	p.renderHistory(w, http.StatusOK, "check", d)
}

func (p *Page) renderHistory(w http.ResponseWriter, code int, name string, d any) {
	var buf bytes.Buffer
	if err := p.htmpl.ExecuteTemplate(&buf, name, d); err != nil {
		p.o.Logger.Error("Cannot render a page", "page", name, "err", err)
		http.Error(w, "cannot render the page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// chart is a latency chart drawn as inline SVG.
type chart struct {
	W, H        int
	Line        string // polyline points of the mean latency
	Fails       []rect // buckets with failed rounds
	Maint       []rect // buckets with rounds in maintenance
	Max         string // the top of the scale
	From, To    time.Time
	Title, Desc string
	Empty       bool
}

type rect struct {
	X, W  float64
	Title string
}

const chartW, chartH = 720, 160

// latencyChart draws the mean latency of the successful rounds per
// bucket over the resolution's span, with the buckets that had failures
// (red) or maintenance (grey) marked below.
func latencyChart(bs []history.Bucket, res history.Resolution, now time.Time) chart {
	span, width := res.Span(), res.Width()
	to := now.Truncate(width).Add(width)
	from := to.Add(-span)
	c := chart{W: chartW, H: chartH, From: from, To: to, Title: "Mean latency, " + res.String() + " buckets"}
	maxLat := 0.0
	for _, b := range bs {
		maxLat = max(maxLat, b.LatencyAvg)
	}
	if len(bs) == 0 {
		c.Empty = true
		c.Desc = "No probe results in this range."
		return c
	}
	if maxLat <= 0 {
		maxLat = 1e-3
	}
	c.Max = seconds(maxLat)
	x := func(t time.Time) float64 { return float64(t.Sub(from)) / float64(span) * chartW }
	bw := float64(width) / float64(span) * chartW
	plot := float64(chartH - 20)
	var pts strings.Builder
	fails := 0
	worst := history.Bucket{Availability: 2}
	for _, b := range bs {
		if b.Successes > 0 {
			fmt.Fprintf(&pts, "%.1f,%.1f ", x(b.Start)+bw/2, plot-b.LatencyAvg/maxLat*(plot-10))
		}
		if b.Rounds > b.Successes {
			fails++
			c.Fails = append(c.Fails, rect{X: x(b.Start), W: max(bw, 1), Title: fmt.Sprintf("%s: %d of %d rounds failed", b.Start.UTC().Format("2006-01-02 15:04"), b.Rounds-b.Successes, b.Rounds)})
		}
		if b.Maintenance > 0 {
			c.Maint = append(c.Maint, rect{X: x(b.Start), W: max(bw, 1), Title: fmt.Sprintf("%s: %d rounds in maintenance", b.Start.UTC().Format("2006-01-02 15:04"), b.Maintenance)})
		}
		if b.Rounds > 0 && b.Availability < worst.Availability {
			worst = b
		}
	}
	c.Line = strings.TrimSpace(pts.String())
	c.Desc = fmt.Sprintf("Mean latency from %s to %s, at most %s; %d of %d buckets had failed rounds.",
		from.UTC().Format("2006-01-02 15:04"), to.UTC().Format("2006-01-02 15:04"), c.Max, fails, len(bs))
	return c
}

func seconds(s float64) string {
	if s < 1 {
		return strconv.FormatFloat(s*1000, 'f', 0, 64) + " ms"
	}
	return strconv.FormatFloat(s, 'f', 2, 64) + " s"
}

// bar is one day of an availability strip.
type bar struct {
	Day          time.Time
	Availability float64
	Class, Title string
}

// availabilityBars gives one bar per day for the last n days, oldest
// first (days without rounds are "no data").
func availabilityBars(days []history.Bucket, now time.Time, n int) []bar {
	byDay := map[int64]history.Bucket{}
	for _, b := range days {
		byDay[b.Start.Unix()] = b
	}
	today := now.UTC().Truncate(24 * time.Hour)
	out := make([]bar, n)
	for i := range n {
		day := today.AddDate(0, 0, i-n+1)
		a := -1.0
		if b, ok := byDay[day.Unix()]; ok {
			a = b.Availability
		}
		out[i] = bar{Day: day, Availability: a, Class: availClass(a), Title: day.Format("2006-01-02") + ": " + pct(a)}
	}
	return out
}

// probedAt is the address of the cluster member that probes check id
// when it is another member ("" otherwise).
func (p *Page) probedAt(id string) string {
	if p.o.ProbedAt == nil {
		return ""
	}
	return strings.TrimSuffix(p.o.ProbedAt(id), "/")
}

func queryOf(r *http.Request) string {
	if r.URL.RawQuery == "" {
		return ""
	}
	return "?" + r.URL.RawQuery
}
