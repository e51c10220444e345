package deploy

// Tests of deploy/grafana: the dashboard's structure, that every metric its
// PromQL queries use is one the exporter really emits (derived from the
// prober sources and from a running exporter, not from a hand-kept list),
// that promtool parses every query, and the provisioning files.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigie-monitoring/vigie/internal/testenv"
)

const (
	grafanaDashboardFile  = "grafana/dashboards/vigie.json"
	grafanaDatasourceFile = "grafana/provisioning/datasources/prometheus.yml"
	grafanaProviderFile   = "grafana/provisioning/dashboards/vigie.yml"
	// grafanaDatasourceVar is how every panel and query names its data source.
	grafanaDatasourceVar = "${datasource}"
)

// grafanaPrometheusSeries are the series Prometheus itself adds to every
// scrape: the dashboard may use them although no exporter emits them.
var grafanaPrometheusSeries = []string{
	"up", "scrape_duration_seconds", "scrape_samples_scraped",
	"scrape_samples_post_metric_relabeling", "scrape_series_added",
}

// The part of Grafana's dashboard schema the tests check.
type grafanaDashboard struct {
	ID            any    `json:"id"`
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []grafanaVariable `json:"list"`
	} `json:"templating"`
	Panels []grafanaPanel `json:"panels"`
}

type grafanaVariable struct {
	Type       string                `json:"type"`
	Name       string                `json:"name"`
	Query      json.RawMessage       `json:"query"`
	Datasource *grafanaDatasourceRef `json:"datasource"`
}

type grafanaDatasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type grafanaGridPos struct {
	X, Y, W, H int
}

type grafanaPanel struct {
	ID         int                   `json:"id"`
	Type       string                `json:"type"`
	Title      string                `json:"title"`
	Datasource *grafanaDatasourceRef `json:"datasource"`
	GridPos    *grafanaGridPos       `json:"gridPos"`
	Targets    []grafanaTarget       `json:"targets"`
	Panels     []grafanaPanel        `json:"panels"` // a collapsed row's panels
}

type grafanaTarget struct {
	RefID      string                `json:"refId"`
	Expr       string                `json:"expr"`
	Datasource *grafanaDatasourceRef `json:"datasource"`
}

// grafanaQuery is one PromQL expression of the dashboard and where it is.
type grafanaQuery struct {
	Where    string // "panel 12 (HTTP details) target B", "variable instance"
	Expr     string // as written, Grafana variables included
	Variable bool   // a templating query: not filtered by the variables themselves
	Label    string // the label a label_values(expr, label) variable lists
}

func grafanaLoadDashboard(t *testing.T) []byte {
	t.Helper()
	raw, err := os.ReadFile(grafanaDashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func grafanaParseDashboard(raw []byte) (*grafanaDashboard, error) {
	var d grafanaDashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", grafanaDashboardFile, err)
	}
	return &d, nil
}

// grafanaAllPanels flattens rows: a collapsed row holds its panels.
func grafanaAllPanels(panels []grafanaPanel) []grafanaPanel {
	var all []grafanaPanel
	for _, p := range panels {
		all = append(all, p)
		all = append(all, grafanaAllPanels(p.Panels)...)
	}
	return all
}

// grafanaRequiredVariables are the variables the issue asks for, by type.
var grafanaRequiredVariables = map[string]string{
	"datasource":   "datasource",
	"job":          "query",
	"instance":     "query",
	"module":       "query",
	"exporter_job": "query",
}

var grafanaKnownPanelTypes = []string{"row", "stat", "timeseries", "table", "bargauge", "gauge", "piechart", "text"}

// grafanaStructureProblems lists what is wrong with the dashboard's
// structure; nil when it is fine.
func grafanaStructureProblems(d *grafanaDashboard) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	if d.ID != nil {
		add("id must be null so that the dashboard can be imported and provisioned (got %v)", d.ID)
	}
	if !regexp.MustCompile(`^[a-zA-Z0-9_-]{1,40}$`).MatchString(d.UID) {
		add("uid %q must be 1 to 40 characters among [a-zA-Z0-9_-]", d.UID)
	}
	if strings.TrimSpace(d.Title) == "" {
		add("title is empty")
	}
	if d.SchemaVersion < 36 {
		add("schemaVersion %d is older than Grafana 10's (36 or later)", d.SchemaVersion)
	}

	vars := map[string]grafanaVariable{}
	for _, v := range d.Templating.List {
		if _, dup := vars[v.Name]; dup {
			add("variable %q is defined twice", v.Name)
		}
		vars[v.Name] = v
	}
	for name, typ := range grafanaRequiredVariables {
		v, ok := vars[name]
		switch {
		case !ok:
			add("variable %q is missing", name)
		case v.Type != typ:
			add("variable %q has type %q, want %q", name, v.Type, typ)
		case typ == "datasource":
			if q, _ := strconv.Unquote(string(v.Query)); q != "prometheus" {
				add("variable %q must list Prometheus data sources (query %s)", name, v.Query)
			}
		case v.Datasource == nil || v.Datasource.UID != grafanaDatasourceVar:
			add("variable %q must query the data source %s", name, grafanaDatasourceVar)
		}
	}

	ids := map[int]string{}
	var placed []grafanaPanel
	for _, p := range grafanaAllPanels(d.Panels) {
		name := fmt.Sprintf("panel %d (%s)", p.ID, p.Title)
		if p.ID <= 0 {
			add("%s: id must be positive", name)
		} else if other, dup := ids[p.ID]; dup {
			add("%s: id %d is also used by %q", name, p.ID, other)
		}
		ids[p.ID] = p.Title
		if strings.TrimSpace(p.Title) == "" {
			add("%s: no title", name)
		}
		if !slices.Contains(grafanaKnownPanelTypes, p.Type) {
			add("%s: unknown panel type %q", name, p.Type)
		}
		if g := p.GridPos; g == nil {
			add("%s: no gridPos", name)
		} else {
			if g.W < 1 || g.H < 1 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
				add("%s: gridPos %+v is outside the 24-column grid", name, *g)
			}
			for _, o := range placed {
				if grafanaOverlap(*g, *o.GridPos) {
					add("%s: gridPos %+v overlaps panel %d (%s) at %+v", name, *g, o.ID, o.Title, *o.GridPos)
				}
			}
			placed = append(placed, p)
		}
		if p.Type == "row" || p.Type == "text" {
			continue
		}
		if p.Datasource == nil || p.Datasource.Type != "prometheus" || p.Datasource.UID != grafanaDatasourceVar {
			add("%s: datasource must be {type: prometheus, uid: %s}", name, grafanaDatasourceVar)
		}
		if len(p.Targets) == 0 {
			add("%s: no query", name)
		}
		refIDs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.RefID == "" || refIDs[tg.RefID] {
				add("%s: refId %q is empty or used twice", name, tg.RefID)
			}
			refIDs[tg.RefID] = true
			if strings.TrimSpace(tg.Expr) == "" {
				add("%s target %s: empty expr", name, tg.RefID)
			}
			if tg.Datasource != nil && tg.Datasource.UID != grafanaDatasourceVar {
				add("%s target %s: datasource must be %s", name, tg.RefID, grafanaDatasourceVar)
			}
		}
	}
	return problems
}

func grafanaOverlap(a, b grafanaGridPos) bool {
	return a.X < b.X+b.W && b.X < a.X+a.W && a.Y < b.Y+b.H && b.Y < a.Y+a.H
}

// grafanaQueries returns every PromQL expression of the dashboard: panel
// targets and the templating variables' queries (the expression inside
// label_values(…) or query_result(…)).
func grafanaQueries(d *grafanaDashboard) ([]grafanaQuery, []string) {
	var queries []grafanaQuery
	var problems []string
	for _, p := range grafanaAllPanels(d.Panels) {
		for _, tg := range p.Targets {
			queries = append(queries, grafanaQuery{
				Where: fmt.Sprintf("panel %d (%s) target %s", p.ID, p.Title, tg.RefID),
				Expr:  tg.Expr,
			})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, err := grafanaVariableQueryText(v.Query)
		if err == nil {
			var expr, label string
			expr, label, err = grafanaVariableQueryExpr(q)
			if err == nil && expr != "" {
				queries = append(queries, grafanaQuery{Where: "variable " + v.Name, Expr: expr, Variable: true, Label: label})
			}
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("variable %s: %v", v.Name, err))
		}
	}
	return queries, problems
}

// grafanaVariableQueryText accepts both forms Grafana stores: a string, or
// the Prometheus variable editor's object {"query": "…", "refId": …}.
func grafanaVariableQueryText(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var obj struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return "", fmt.Errorf("query is neither a string nor an object with a query: %s", raw)
	}
	return obj.Query, nil
}

// grafanaVariableQueryExpr returns the PromQL expression inside one of
// Grafana's Prometheus variable functions ("" when the function takes
// none) and, for label_values, the label it lists.
func grafanaVariableQueryExpr(q string) (expr, label string, err error) {
	q = strings.TrimSpace(q)
	open := strings.IndexByte(q, '(')
	if open < 0 || !strings.HasSuffix(q, ")") {
		return "", "", fmt.Errorf("variable query %q is not one of Grafana's Prometheus functions", q)
	}
	fn, args := q[:open], strings.TrimSpace(q[open+1:len(q)-1])
	switch fn {
	case "label_values":
		comma := grafanaLastTopLevelComma(args)
		if comma < 0 {
			return "", "", nil // label_values(label): no metric involved
		}
		label := strings.TrimSpace(args[comma+1:])
		if !regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`).MatchString(label) {
			return "", "", fmt.Errorf("label_values: %q is not a label name", label)
		}
		return strings.TrimSpace(args[:comma]), label, nil
	case "query_result":
		return args, "", nil
	case "label_names":
		return "", "", nil
	default:
		return "", "", fmt.Errorf("variable query %q: unsupported function %q", q, fn)
	}
}

// grafanaLastTopLevelComma finds the last comma outside brackets and quotes.
func grafanaLastTopLevelComma(s string) int {
	depth, last := 0, -1
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\'', '`':
			end := grafanaSkipString(s, i)
			if end < 0 {
				return -1
			}
			i = end - 1
		case '(', '{', '[':
			depth++
		case ')', '}', ']':
			depth--
		case ',':
			if depth == 0 {
				last = i
			}
		}
	}
	return last
}

// Grafana's built-in interval variables, replaced by durations so that the
// expressions parse.
var grafanaBuiltinVariables = map[string]string{
	"__rate_interval": "5m",
	"__interval":      "1m",
	"__range":         "1h",
}

var grafanaVariableRef = regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]`)

// grafanaSubstitute replaces Grafana variables: built-in intervals by
// durations, dashboard variables by ".*" (they only appear in regexp
// matchers). It reports variables that are neither.
func grafanaSubstitute(expr string, defined map[string]bool) (string, []string) {
	var unknown []string
	out := grafanaVariableRef.ReplaceAllStringFunc(expr, func(m string) string {
		sub := grafanaVariableRef.FindStringSubmatch(m)
		name := sub[1] + sub[2] + sub[3]
		if d, ok := grafanaBuiltinVariables[name]; ok {
			return d
		}
		if defined[name] {
			return ".*"
		}
		unknown = append(unknown, name)
		return m
	})
	return out, unknown
}

// grafanaMetricRef is one metric a PromQL expression selects, with the
// text of its label matchers.
type grafanaMetricRef struct {
	Name     string
	Matchers string
}

// PromQL keywords that are followed by a parenthesised list of label names.
var grafanaLabelListKeywords = []string{"by", "without", "on", "ignoring", "group_left", "group_right"}

// Other PromQL keywords: operators and literals, never metric names.
var grafanaKeywords = []string{"bool", "and", "or", "unless", "offset", "atan2", "inf", "nan"}

// grafanaMetricRefs returns the metrics a PromQL expression (Grafana
// variables already substituted) selects. It skips what is not a metric
// name: strings, numbers and durations, label matchers and label lists,
// function and aggregation names, keywords. It refuses what would let a
// metric escape the check: {__name__=…} selectors and selectors without a
// metric name.
func grafanaMetricRefs(expr string) ([]grafanaMetricRef, error) {
	var refs []grafanaMetricRef
	s := expr
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#': // comment to the end of the line
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '"' || c == '\'' || c == '`':
			end := grafanaSkipString(s, i)
			if end < 0 {
				return nil, fmt.Errorf("unterminated string at offset %d", i)
			}
			i = end
		case c == '{':
			return nil, fmt.Errorf("selector without a metric name at offset %d: name the metric so that it can be checked", i)
		case c == '[':
			end := grafanaSkipBalanced(s, i, '[', ']')
			if end < 0 {
				return nil, fmt.Errorf("unbalanced [ at offset %d", i)
			}
			i = end
		case c == '$':
			return nil, fmt.Errorf("unsubstituted variable at offset %d", i)
		case grafanaIsDigit(c) || c == '.' && i+1 < len(s) && grafanaIsDigit(s[i+1]):
			// numbers, hex, exponents and durations (5m, 1h30m)
			for i < len(s) && (grafanaIsIdent(s[i]) || s[i] == '.') {
				i++
			}
		case grafanaIsIdentStart(c):
			start := i
			for i < len(s) && grafanaIsIdent(s[i]) {
				i++
			}
			word := s[start:i]
			next := grafanaSkipSpace(s, i)
			lower := strings.ToLower(word)
			switch {
			case slices.Contains(grafanaLabelListKeywords, lower):
				if next < len(s) && s[next] == '(' {
					end := grafanaSkipBalanced(s, next, '(', ')')
					if end < 0 {
						return nil, fmt.Errorf("unbalanced ( after %s", word)
					}
					i = end
				}
			case slices.Contains(grafanaKeywords, lower):
			case next < len(s) && s[next] == '(',
				grafanaWordAt(s, next, "by"), grafanaWordAt(s, next, "without"):
				// a function or an aggregation (sum by (x) (…)): its
				// arguments are scanned next
			default:
				ref := grafanaMetricRef{Name: word}
				if next < len(s) && s[next] == '{' {
					end := grafanaSkipBalanced(s, next, '{', '}')
					if end < 0 {
						return nil, fmt.Errorf("unbalanced { after %s", word)
					}
					ref.Matchers = s[next+1 : end-1]
					i = end
				}
				if strings.Contains(ref.Matchers, "__name__") {
					return nil, fmt.Errorf("%s: a __name__ matcher hides which metrics are used", word)
				}
				refs = append(refs, ref)
			}
		default:
			i++ // operators, commas, parentheses, @
		}
	}
	return refs, nil
}

func grafanaIsDigit(c byte) bool      { return c >= '0' && c <= '9' }
func grafanaIsIdentStart(c byte) bool { return c == '_' || c == ':' || c|0x20 >= 'a' && c|0x20 <= 'z' }
func grafanaIsIdent(c byte) bool      { return grafanaIsIdentStart(c) || grafanaIsDigit(c) }

// grafanaWordAt reports whether the identifier at s[i] is word (any case).
func grafanaWordAt(s string, i int, word string) bool {
	end := i
	for end < len(s) && grafanaIsIdent(s[end]) {
		end++
	}
	return strings.EqualFold(s[i:end], word)
}

func grafanaSkipSpace(s string, i int) int {
	for i < len(s) && strings.IndexByte(" \t\r\n", s[i]) >= 0 {
		i++
	}
	return i
}

// grafanaSkipString returns the offset just after the string starting at
// s[i], or -1 when it is not terminated. Raw strings (`) have no escapes.
func grafanaSkipString(s string, i int) int {
	quote := s[i]
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && quote != '`':
			j++
		case s[j] == quote:
			return j + 1
		}
	}
	return -1
}

// grafanaSkipBalanced returns the offset just after the bracket closing the
// one at s[i], skipping strings, or -1.
func grafanaSkipBalanced(s string, i int, open, closing byte) int {
	depth := 0
	for j := i; j < len(s); j++ {
		switch s[j] {
		case '"', '\'', '`':
			end := grafanaSkipString(s, j)
			if end < 0 {
				return -1
			}
			j = end - 1
		case open:
			depth++
		case closing:
			depth--
			if depth == 0 {
				return j + 1
			}
		}
	}
	return -1
}

func TestGrafanaPromQLMetricRefs(t *testing.T) {
	tests := []struct {
		expr string
		want []string // "name" or "name{matchers}"
		err  string
	}{
		{expr: `probe_success`, want: []string{"probe_success"}},
		{expr: `probe_success{job=~".*", instance="a,b{c}"} == 0`, want: []string{`probe_success{job=~".*", instance="a,b{c}"}`}},
		{expr: `sum by (phase, instance) (probe_http_duration_seconds{job="x"})`, want: []string{`probe_http_duration_seconds{job="x"}`}},
		{expr: `sum(probe_success) without (module, instance)`, want: []string{"probe_success"}},
		{expr: `count_values("code", probe_http_status_code)`, want: []string{"probe_http_status_code"}},
		{expr: `rate(process_cpu_seconds_total[5m:1m]) * on(instance) group_left(version) go_info`, want: []string{"process_cpu_seconds_total", "go_info"}},
		{expr: `a / ignoring (x) group_right b offset 1h30m`, want: []string{"a", "b"}},
		{expr: `count(x > bool 1e-3) or vector(0) and on() y unless z @ end()`, want: []string{"x", "y", "z"}},
		{expr: `label_replace(up, "dst", "$1", "src", "(.*)")`, want: []string{"up"}},
		{expr: `histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m]))) > Inf or NaN`, want: []string{"h_bucket"}},
		{expr: "x # a comment naming not_a_metric\n+ 0x1F", want: []string{"x"}},
		{expr: `ns:recording:rule`, want: []string{"ns:recording:rule"}},
		{expr: `{job="x"}`, err: "selector without a metric name"},
		{expr: `probe_success{__name__=~"probe_.*"}`, err: "__name__"},
		{expr: `probe_success{job="x"`, err: "unbalanced {"},
		{expr: `probe_success{job="x}`, err: "unbalanced {"},
		{expr: `topk($n, x)`, err: "unsubstituted variable"},
		{expr: `"open`, err: "unterminated string"},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			refs, err := grafanaMetricRefs(tc.expr)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range refs {
				if r.Matchers != "" {
					got = append(got, r.Name+"{"+r.Matchers+"}")
				} else {
					got = append(got, r.Name)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("refs = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestGrafanaVariableQueryExpr(t *testing.T) {
	tests := []struct {
		query, want, label, err string
	}{
		{query: `label_values(probe_success, job)`, want: `probe_success`, label: "job"},
		{query: `label_values(probe_success{job=~"$job", x="a,b"}, instance)`, want: `probe_success{job=~"$job", x="a,b"}`, label: "instance"},
		{query: `label_values(job)`, want: ``},
		{query: `query_result(count by (module) (probe_success))`, want: `count by (module) (probe_success)`},
		{query: `label_names()`, want: ``},
		{query: `label_values(probe_success, "job")`, err: "not a label name"},
		{query: `metrics(probe_.*)`, err: "unsupported function"},
		{query: `probe_success`, err: "not one of Grafana's"},
	}
	for _, tc := range tests {
		got, label, err := grafanaVariableQueryExpr(tc.query)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error = %v, want one containing %q", tc.query, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want || label != tc.label {
			t.Errorf("%s: got %q, %q, %v; want %q, %q", tc.query, got, label, err, tc.want, tc.label)
		}
	}
}

func TestGrafanaDashboardStructure(t *testing.T) {
	d, err := grafanaParseDashboard(grafanaLoadDashboard(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range grafanaStructureProblems(d) {
		t.Error(p)
	}
	if _, problems := grafanaQueries(d); len(problems) > 0 {
		t.Error(strings.Join(problems, "\n"))
	}
}

// TestGrafanaDashboardStructureCatchesMistakes breaks the real dashboard in
// the ways the structure check exists for, and expects each to be reported.
func TestGrafanaDashboardStructureCatchesMistakes(t *testing.T) {
	raw := string(grafanaLoadDashboard(t))
	tests := []struct {
		name, old, new, want string
	}{
		{"old schema", `"schemaVersion": 39`, `"schemaVersion": 27`, "schemaVersion 27"},
		{"fixed id", `"id": null`, `"id": 7`, "id must be null"},
		{"no uid", `"uid": "vigie-probes"`, `"uid": ""`, "uid"},
		{"duplicate panel id", `"id": 3,`, `"id": 2,`, "id 2 is also used"},
		{"hard-coded datasource", `"datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "gridPos"`, `"datasource": {
        "type": "prometheus",
        "uid": "PBFA97CFB590B2093"
      },
      "gridPos"`, "datasource must be"},
		{"no gridPos", `"gridPos": {
        "x": 6,
        "y": 1,`, `"gridPosition": {
        "x": 6,
        "y": 1,`, "no gridPos"},
		{"overlap", `"x": 6,
        "y": 1,`, `"x": 5,
        "y": 1,`, "overlaps"},
		{"missing variable", `"name": "module"`, `"name": "modules"`, `variable "module" is missing`},
		{"unknown panel type", `"type": "bargauge"`, `"type": "graph"`, "unknown panel type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(raw, tc.old) {
				t.Fatalf("the dashboard no longer contains %q: update this test", tc.old)
			}
			d, err := grafanaParseDashboard([]byte(strings.Replace(raw, tc.old, tc.new, 1)))
			if err != nil {
				t.Fatal(err)
			}
			problems := strings.Join(grafanaStructureProblems(d), "\n")
			if !strings.Contains(problems, tc.want) {
				t.Fatalf("problems %q do not mention %q", problems, tc.want)
			}
		})
	}
}

// grafanaEmitted is what the exporter can emit, with where each name was
// found.
type grafanaEmitted struct {
	names map[string]string // name → origin
	// httpMerged reports whether the http prober registers metrics yet
	// (it is a placeholder until its branch is merged).
	httpMerged bool
}

// grafanaProbeMetricPattern matches a string literal that is a probe
// metric name.
var grafanaProbeMetricPattern = regexp.MustCompile(`^probe_[a-z0-9_]+$`)

// grafanaScanProberSources returns every string literal of prober/*.go
// (tests excluded) that is a probe metric name: the names given to
// NewGauge/NewGaugeVec, directly or through constants and small helpers.
func grafanaScanProberSources(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("../prober/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no prober sources found: %v", err)
	}
	names := map[string]string{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			v, err := strconv.Unquote(lit.Value)
			if err == nil && grafanaProbeMetricPattern.MatchString(v) {
				names[v] = fset.Position(lit.Pos()).String()
			}
			return true
		})
	}
	return names
}

// grafanaExpositionNames returns the series names of a text exposition:
// each family's name, plus _sum/_count/_bucket for summaries and histograms.
func grafanaExpositionNames(text string) []string {
	var names []string
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) != 4 || f[0] != "#" || f[1] != "TYPE" {
			continue
		}
		names = append(names, f[2])
		switch f[3] {
		case "summary":
			names = append(names, f[2]+"_sum", f[2]+"_count")
		case "histogram":
			names = append(names, f[2]+"_sum", f[2]+"_count", f[2]+"_bucket")
		}
	}
	return names
}

// grafanaEmittedMetrics derives the names the exporter emits: the probe
// metrics from the prober sources, and the exporter's own metrics
// (vigie_*, go_*, process_*) from the /metrics of a running exporter. It
// also runs a few probes through that exporter and fails when one returns
// a probe metric the source scan missed, so that the scan cannot silently
// rot (a name built at run time, say).
func grafanaEmittedMetrics(t *testing.T) grafanaEmitted {
	t.Helper()
	e := grafanaEmitted{names: grafanaScanProberSources(t)}
	for name := range e.names {
		if strings.HasPrefix(name, "probe_http_") {
			e.httpMerged = true
		}
	}
	for _, n := range grafanaPrometheusSeries {
		e.names[n] = "added by Prometheus to every scrape"
	}

	bin := systemdBuildBinary(t, "vigie_exporter")
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cmd := exec.Command(bin, "--web.listen-address="+addr, "--log.level=warn")
	cmd.Dir = t.TempDir() // no vigie.yml there: the embedded default modules
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("exporter log:\n%s", stderr.String())
		}
	})
	testenv.WaitForPort(t, addr, 10*time.Second)

	for _, name := range grafanaExpositionNames(grafanaGet(t, "http://"+addr+"/metrics")) {
		e.names[name] = "the exporter's /metrics"
	}
	probes := []struct{ module, target string }{
		{"tcp_connect", addr},
		{"http_2xx", "http://" + addr + "/metrics"},
		{"icmp", "127.0.0.1"},
		{"icmp_loss", "127.0.0.1"},
	}
	for _, p := range probes {
		text := grafanaGet(t, "http://"+addr+"/probe?module="+p.module+"&target="+p.target)
		for _, name := range grafanaExpositionNames(text) {
			if _, ok := e.names[name]; !ok {
				t.Errorf("probe %s of %s returned %s, which the scan of prober/*.go did not find: the scan misses how it is registered", p.module, p.target, name)
			}
		}
	}
	return e
}

func grafanaGet(t *testing.T, url string) string {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, body)
	}
	return string(body)
}

// grafanaMetricProblems checks every metric the queries use against the
// emitted names, and that panel queries filter on the dashboard's
// variables. pending lists names skipped because their prober is not
// merged yet.
func grafanaMetricProblems(d *grafanaDashboard, e grafanaEmitted) (problems, pending []string) {
	defined := map[string]bool{}
	for _, v := range d.Templating.List {
		defined[v.Name] = true
	}
	queries, qproblems := grafanaQueries(d)
	problems = append(problems, qproblems...)
	for _, q := range queries {
		_, unknown := grafanaSubstitute(q.Expr, defined)
		for _, u := range unknown {
			problems = append(problems, fmt.Sprintf("%s: unknown variable $%s in %q", q.Where, u, q.Expr))
		}
		// The dashboard variables sit in matcher strings and the interval
		// variables in range brackets, where the tokenizer does not look:
		// the written expression gives the names and the matchers as they
		// are, variables included.
		refs, err := grafanaMetricRefs(q.Expr)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v in %q", q.Where, err, q.Expr))
			continue
		}
		for _, ref := range refs {
			if _, ok := e.names[ref.Name]; !ok {
				if !e.httpMerged && strings.HasPrefix(ref.Name, "probe_http_") {
					pending = append(pending, ref.Name)
				} else {
					problems = append(problems, fmt.Sprintf("%s: %s is not a metric the exporter emits (%q)", q.Where, ref.Name, q.Expr))
				}
			}
			if q.Variable {
				continue
			}
			for _, want := range grafanaWantedFilters(ref.Name) {
				if !strings.Contains(ref.Matchers, want) {
					problems = append(problems, fmt.Sprintf("%s: %s does not filter on %s (%q)", q.Where, ref.Name, want, q.Expr))
				}
			}
		}
	}
	slices.Sort(pending)
	return problems, slices.Compact(pending)
}

// grafanaWantedFilters are the matchers a panel query must carry so that
// the dashboard's variables apply to it.
func grafanaWantedFilters(metric string) []string {
	if strings.HasPrefix(metric, "probe_") {
		return []string{`job=~"$job"`, `instance=~"$instance"`, `module=~"$module"`}
	}
	return []string{`job=~"$exporter_job"`}
}

// TestGrafanaDashboardMetrics checks that every metric the dashboard
// queries is one the exporter emits, and that the check catches typos.
func TestGrafanaDashboardMetrics(t *testing.T) {
	raw := string(grafanaLoadDashboard(t))
	emitted := grafanaEmittedMetrics(t)

	t.Run("emitted", func(t *testing.T) {
		d, err := grafanaParseDashboard([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		problems, pending := grafanaMetricProblems(d, emitted)
		for _, p := range problems {
			t.Error(p)
		}
		if len(pending) > 0 && !t.Failed() {
			t.Fatalf("prober/http.go registers no metric: %s cannot be checked", strings.Join(pending, ", "))
		}
	})

	// Rename metrics of the real dashboard into names the exporter does
	// not emit: each must be reported.
	typos := []struct {
		old, new string
		http     bool
	}{
		{old: "probe_icmp_packet_loss_ratio{", new: "probe_icmp_packet_loss{"},
		{old: "probe_ssh_info{", new: "probe_ssh_infos{"},
		{old: "vigie_exporter_config_last_reload_successful{", new: "vigie_config_last_reload_successful{"},
		{old: `label_values(probe_success, job)`, new: `label_values(probe_succes, job)`},
		{old: "probe_http_status_code{", new: "probe_http_status{", http: true},
	}
	for _, tc := range typos {
		t.Run("typo "+tc.new, func(t *testing.T) {
			if tc.http && !emitted.httpMerged {
				t.Fatal("prober/http.go registers no metric")
			}
			if !strings.Contains(raw, tc.old) {
				t.Fatalf("the dashboard no longer contains %q: update this test", tc.old)
			}
			d, err := grafanaParseDashboard([]byte(strings.ReplaceAll(raw, tc.old, tc.new)))
			if err != nil {
				t.Fatal(err)
			}
			problems, _ := grafanaMetricProblems(d, emitted)
			name := strings.TrimSuffix(tc.new, "{")
			if strings.HasPrefix(name, "label_values(") {
				name = "probe_succes"
			}
			if !strings.Contains(strings.Join(problems, "\n"), name+" is not a metric the exporter emits") {
				t.Fatalf("%s was not reported; problems: %q", name, problems)
			}
		})
	}
}

func TestGrafanaDashboardFiltersCatchMissingVariables(t *testing.T) {
	raw := string(grafanaLoadDashboard(t))
	const old = `count(probe_success{job=~\"$job\", instance=~\"$instance\", module=~\"$module\"})`
	if !strings.Contains(raw, old) {
		t.Fatalf("the dashboard no longer contains %s: update this test", old)
	}
	d, err := grafanaParseDashboard([]byte(strings.Replace(raw, old, `count(probe_success{job=~\"$job\"})`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	problems, _ := grafanaMetricProblems(d, grafanaEmitted{names: map[string]string{}, httpMerged: true})
	if !strings.Contains(strings.Join(problems, "\n"), `probe_success does not filter on instance=~"$instance"`) {
		t.Fatalf("the missing filter was not reported: %q", problems)
	}
}

// TestGrafanaDashboardQueriesParse has promtool parse every query (as a
// recording rule), with the Grafana variables substituted: syntax errors,
// unknown functions and wrong argument types fail here.
func TestGrafanaDashboardQueriesParse(t *testing.T) {
	d, err := grafanaParseDashboard(grafanaLoadDashboard(t))
	if err != nil {
		t.Fatal(err)
	}
	promtoolBin := testenv.Promtool(t)
	defined := map[string]bool{}
	for _, v := range d.Templating.List {
		defined[v.Name] = true
	}
	queries, _ := grafanaQueries(d)
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	for i, q := range queries {
		expr, _ := grafanaSubstitute(q.Expr, defined)
		rules = append(rules, rule{Record: fmt.Sprintf("dashboard_query_%d", i), Expr: expr})
	}
	out, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "dashboard-queries.yml")
	if err := os.WriteFile(file, out, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := exec.Command(promtoolBin, "check", "rules", file).CombinedOutput()
	if err != nil {
		// promtool names the rule; map it back to the panel.
		var where []string
		for i, q := range queries {
			if bytes.Contains(res, fmt.Appendf(nil, "dashboard_query_%d", i)) || bytes.Contains(res, fmt.Appendf(nil, "%d:", i)) {
				where = append(where, fmt.Sprintf("dashboard_query_%d = %s: %s", i, q.Where, q.Expr))
			}
		}
		t.Fatalf("promtool check rules: %v\n%s\n%s", err, res, strings.Join(where, "\n"))
	}
	if want := fmt.Sprintf("SUCCESS: %d rules found", len(rules)); !strings.Contains(string(res), want) {
		t.Fatalf("promtool did not check every query (want %q):\n%s", want, res)
	}
}

// Grafana's provisioning schemas (the keys Grafana reads); decoding is
// strict so that a misspelt key fails.
type grafanaDatasourcesFile struct {
	APIVersion  int `yaml:"apiVersion"`
	Datasources []struct {
		Name            string         `yaml:"name"`
		UID             string         `yaml:"uid"`
		Type            string         `yaml:"type"`
		Access          string         `yaml:"access"`
		OrgID           int            `yaml:"orgId"`
		URL             string         `yaml:"url"`
		User            string         `yaml:"user"`
		Database        string         `yaml:"database"`
		BasicAuth       bool           `yaml:"basicAuth"`
		BasicAuthUser   string         `yaml:"basicAuthUser"`
		WithCredentials bool           `yaml:"withCredentials"`
		IsDefault       bool           `yaml:"isDefault"`
		JSONData        map[string]any `yaml:"jsonData"`
		SecureJSONData  map[string]any `yaml:"secureJsonData"`
		Version         int            `yaml:"version"`
		Editable        bool           `yaml:"editable"`
	} `yaml:"datasources"`
	DeleteDatasources []map[string]any `yaml:"deleteDatasources"`
}

type grafanaProvidersFile struct {
	APIVersion int `yaml:"apiVersion"`
	Providers  []struct {
		Name                  string `yaml:"name"`
		OrgID                 int    `yaml:"orgId"`
		Folder                string `yaml:"folder"`
		FolderUID             string `yaml:"folderUid"`
		Type                  string `yaml:"type"`
		DisableDeletion       bool   `yaml:"disableDeletion"`
		UpdateIntervalSeconds int    `yaml:"updateIntervalSeconds"`
		AllowUIUpdates        bool   `yaml:"allowUiUpdates"`
		Options               struct {
			Path                      string `yaml:"path"`
			FoldersFromFilesStructure bool   `yaml:"foldersFromFilesStructure"`
		} `yaml:"options"`
	} `yaml:"providers"`
}

func grafanaDecodeStrict(t *testing.T, path string, v any) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestGrafanaProvisioning(t *testing.T) {
	var ds grafanaDatasourcesFile
	grafanaDecodeStrict(t, grafanaDatasourceFile, &ds)
	if ds.APIVersion != 1 || len(ds.Datasources) != 1 {
		t.Fatalf("%s: want apiVersion 1 and one data source, got %+v", grafanaDatasourceFile, ds)
	}
	src := ds.Datasources[0]
	if src.Type != "prometheus" || src.Access != "proxy" || !src.IsDefault || src.Name == "" {
		t.Errorf("%s: want the default prometheus data source with proxy access, got %+v", grafanaDatasourceFile, src)
	}
	if !regexp.MustCompile(`^https?://[^/]+`).MatchString(src.URL) {
		t.Errorf("%s: url %q is not an http(s) URL", grafanaDatasourceFile, src.URL)
	}
	// $__rate_interval is only right when Grafana knows the scrape interval.
	if interval, _ := src.JSONData["timeInterval"].(string); interval == "" {
		t.Errorf("%s: jsonData.timeInterval (the scrape interval) is not set", grafanaDatasourceFile)
	} else if promInterval, ok := grafanaPrometheusScrapeInterval(t); ok && promInterval != interval {
		t.Errorf("%s: timeInterval %s differs from the scrape_interval %s of ../prometheus/prometheus.yml", grafanaDatasourceFile, interval, promInterval)
	}

	var pv grafanaProvidersFile
	grafanaDecodeStrict(t, grafanaProviderFile, &pv)
	if pv.APIVersion != 1 || len(pv.Providers) != 1 {
		t.Fatalf("%s: want apiVersion 1 and one provider, got %+v", grafanaProviderFile, pv)
	}
	p := pv.Providers[0]
	if p.Type != "file" || !filepath.IsAbs(p.Options.Path) || p.Name == "" {
		t.Errorf("%s: want a named file provider with an absolute options.path, got %+v", grafanaProviderFile, p)
	}

	// Every file of the dashboards directory is a dashboard Grafana loads:
	// valid, with its own uid.
	entries, err := os.ReadDir(filepath.Dir(grafanaDashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	uids := map[string]string{}
	for _, e := range entries {
		path := filepath.Join(filepath.Dir(grafanaDashboardFile), e.Name())
		if filepath.Ext(e.Name()) != ".json" {
			t.Errorf("%s: the dashboards directory should hold only dashboard JSON files", path)
			continue
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		d, err := grafanaParseDashboard(raw)
		if err != nil {
			t.Error(err)
			continue
		}
		if other, dup := uids[d.UID]; dup {
			t.Errorf("%s and %s share the uid %q", path, other, d.UID)
		}
		uids[d.UID] = path
	}
}

// grafanaPrometheusScrapeInterval reads global.scrape_interval from the
// Prometheus configuration shipped in ../prometheus, when it exists.
func grafanaPrometheusScrapeInterval(t *testing.T) (string, bool) {
	t.Helper()
	raw, err := os.ReadFile("prometheus/prometheus.yml")
	if os.IsNotExist(err) {
		t.Log("prometheus/prometheus.yml does not exist yet (discovery's branch): timeInterval not compared with it")
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Global struct {
			ScrapeInterval string `yaml:"scrape_interval"`
		} `yaml:"global"`
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("prometheus/prometheus.yml: %v", err)
	}
	if cfg.Global.ScrapeInterval == "" {
		return "1m", true // Prometheus's default
	}
	return cfg.Global.ScrapeInterval, true
}

// TestGrafanaDashboardUsesEveryVariable keeps the variables honest: a
// variable no query uses is a dead selector in the UI.
func TestGrafanaDashboardUsesEveryVariable(t *testing.T) {
	d, err := grafanaParseDashboard(grafanaLoadDashboard(t))
	if err != nil {
		t.Fatal(err)
	}
	raw := string(grafanaLoadDashboard(t))
	var unused []string
	for _, v := range d.Templating.List {
		if !strings.Contains(raw, "$"+v.Name+`\"`) && !strings.Contains(raw, "${"+v.Name+"}") {
			unused = append(unused, v.Name)
		}
	}
	sort.Strings(unused)
	if len(unused) > 0 {
		t.Errorf("variables used by no query: %s", strings.Join(unused, ", "))
	}
}

// TestGrafanaDashboardWithPrometheus runs the whole chain on loopback: the
// exporter discovers a few targets from a static file and publishes them at
// /sd, a real Prometheus scrapes them with the shipped configuration
// (deploy/prometheus/prometheus.yml, pointed at this exporter and made
// faster), and every dashboard query is evaluated by that Prometheus: each
// must succeed, and the panels this setup feeds must show data (label
// names, relabelling and the variables' queries included).
func TestGrafanaDashboardWithPrometheus(t *testing.T) {
	shipped, err := os.ReadFile("prometheus/prometheus.yml")
	if os.IsNotExist(err) {
		t.Fatal("deploy/prometheus/prometheus.yml does not exist")
	}
	if err != nil {
		t.Fatal(err)
	}
	prometheusBin := testenv.Binary(t, "prometheus")
	d, err := grafanaParseDashboard(grafanaLoadDashboard(t))
	if err != nil {
		t.Fatal(err)
	}
	httpMerged := false
	for name := range grafanaScanProberSources(t) {
		httpMerged = httpMerged || strings.HasPrefix(name, "probe_http_")
	}

	dir := t.TempDir()
	exporterAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	grafanaWriteFile(t, filepath.Join(dir, "vigie.yml"), `modules:
  tcp_connect:
    prober: tcp
  http_2xx:
    prober: http
    http:
      preferred_ip_protocol: ip4
  icmp:
    prober: icmp
    icmp:
      preferred_ip_protocol: ip4
  icmp_loss:
    prober: icmp
    icmp:
      preferred_ip_protocol: ip4
      packets: 3
      interval: 100ms
discovery:
  static:
    - files: [targets.yml]
`)
	grafanaWriteFile(t, filepath.Join(dir, "targets.yml"), fmt.Sprintf(`- targets: ["%[1]s"]
  modules: [tcp_connect]
- targets: ["http://%[1]s/metrics"]
  modules: [http_2xx]
- targets: [127.0.0.1]
  modules: [icmp, icmp_loss]
`, exporterAddr))
	grafanaStart(t, dir, "exporter", systemdBuildBinary(t, "vigie_exporter"), "--config.file=vigie.yml", "--web.listen-address="+exporterAddr, "--log.level=warn")
	testenv.WaitForPort(t, exporterAddr, 10*time.Second)

	promAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	grafanaWriteFile(t, filepath.Join(dir, "prometheus.yml"), grafanaFastPrometheusConfig(t, shipped, exporterAddr))
	grafanaStart(t, dir, "prometheus", prometheusBin, "--config.file=prometheus.yml", "--storage.tsdb.path=data", "--web.listen-address="+promAddr, "--log.level=warn")
	testenv.WaitForPort(t, promAddr, 20*time.Second)

	// Enough scrapes of every target for rate() and *_over_time().
	query := func(expr string) (int, error) {
		series, err := grafanaPromQuery(t, promAddr, expr)
		return len(series), err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		n, err := query(`count(count_over_time(probe_success[1m]) >= 3) >= 4 and on() count(count_over_time(up{job="vigie_exporter"}[1m]) >= 3)`)
		if err == nil && n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus did not scrape the 4 probes and the exporter 3 times within 60s (last error: %v)", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	icmpWorks, _ := query(`probe_success{module="icmp"} == 1`)

	defined := map[string]bool{}
	for _, v := range d.Templating.List {
		defined[v.Name] = true
	}
	queries, _ := grafanaQueries(d)
	withData := map[string]bool{}
	for _, q := range queries {
		expr, _ := grafanaSubstitute(q.Expr, defined)
		expr = strings.ReplaceAll(expr, "["+grafanaBuiltinVariables["__rate_interval"]+"]", "[20s]")
		if q.Label != "" {
			// What label_values lists: the label's values in the result.
			expr = fmt.Sprintf("count by (%s) (%s)", q.Label, expr)
		}
		series, err := grafanaPromQuery(t, promAddr, expr)
		if err != nil {
			t.Errorf("%s: %v\n%s", q.Where, err, expr)
		}
		n := len(series)
		if q.Label != "" {
			n = 0
			for _, s := range series {
				if s[q.Label] != "" {
					n++
				}
			}
		}
		if n > 0 {
			where, _, _ := strings.Cut(q.Where, " target ")
			withData[where] = true
		}
	}

	mustShow := []string{"Success ratio", "Failing probes", "Probes", "Success ratio by module", "Probe duration",
		"Duration by phase", "Exporters up", "Config reload", "Versions", "Refused and unknown-module probes",
		"CPU and memory", "Goroutines and file descriptors"}
	if httpMerged {
		mustShow = append(mustShow, "HTTP status codes", "HTTP duration by phase", "HTTP details")
	} else {
		t.Log("the http prober's branch is not merged: the HTTP panels may be empty")
	}
	if icmpWorks > 0 {
		mustShow = append(mustShow, "Packet loss", "Round-trip time", "ICMP now")
	} else {
		t.Log("ICMP is not permitted here (not root, ping_group_range closed): the ICMP panels may be empty")
	}
	titles := map[string]string{}
	for _, p := range grafanaAllPanels(d.Panels) {
		titles[p.Title] = fmt.Sprintf("panel %d (%s)", p.ID, p.Title)
	}
	for _, title := range mustShow {
		where, ok := titles[title]
		switch {
		case !ok:
			t.Errorf("no panel is titled %q any more: update this test", title)
		case !withData[where]:
			t.Errorf("%s shows no data although this setup feeds it", where)
		}
	}
	for _, v := range []string{"job", "instance", "module", "exporter_job"} {
		if !withData["variable "+v] {
			t.Errorf("variable %s lists no value", v)
		}
	}
}

func grafanaWriteFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// grafanaStart starts a program in dir until the end of the test.
func grafanaStart(t *testing.T, dir, name, bin string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s log:\n%s", name, logs.String())
		}
	})
}

// grafanaFastPrometheusConfig is the shipped Prometheus configuration with
// the exporter's address replaced, every interval shortened to seconds and
// no rule files (their tests are elsewhere).
func grafanaFastPrometheusConfig(t *testing.T, shipped []byte, exporterAddr string) string {
	t.Helper()
	if !bytes.Contains(shipped, []byte("127.0.0.1:9115")) {
		t.Fatal("prometheus/prometheus.yml no longer names the exporter 127.0.0.1:9115: update this test")
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(bytes.ReplaceAll(shipped, []byte("127.0.0.1:9115"), []byte(exporterAddr)), &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["global"] = map[string]any{"scrape_interval": "2s", "scrape_timeout": "2s", "evaluation_interval": "2s"}
	delete(cfg, "rule_files")
	jobs, _ := cfg["scrape_configs"].([]any)
	for _, j := range jobs {
		job, _ := j.(map[string]any)
		delete(job, "scrape_interval")
		delete(job, "scrape_timeout")
		sds, _ := job["http_sd_configs"].([]any)
		for _, s := range sds {
			if sd, ok := s.(map[string]any); ok {
				sd["refresh_interval"] = "1s"
			}
		}
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// grafanaPromQuery evaluates an instant query and returns the label sets
// of the series it returned (one empty set for a scalar).
func grafanaPromQuery(t *testing.T, addr, expr string) ([]map[string]string, error) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + addr + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var res struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return nil, fmt.Errorf("decoding the answer (%s): %w", resp.Status, err)
	}
	if res.Status != "success" {
		return nil, fmt.Errorf("query failed: %s", res.Error)
	}
	if res.Data.ResultType == "scalar" || res.Data.ResultType == "string" {
		return []map[string]string{{}}, nil
	}
	var series []struct {
		Metric map[string]string `json:"metric"`
	}
	if err := json.Unmarshal(res.Data.Result, &series); err != nil {
		return nil, err
	}
	labels := make([]map[string]string, len(series))
	for i, s := range series {
		labels[i] = s.Metric
	}
	return labels, nil
}
