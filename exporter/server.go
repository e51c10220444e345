// Package exporter assembles vigie_exporter's HTTP surface: /probe, /metrics,
// /logs, /sd and the landing page, with /config, /-/reload and /-/healthy
// as both binaries serve them (internal/webserver.Ops), on an explicit mux
// under an optional route prefix.
package exporter

import (
	"html/template"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/version"

	"github.com/vigie-monitoring/vigie/config"
	"github.com/vigie-monitoring/vigie/internal/webserver"
	"github.com/vigie-monitoring/vigie/prober"
)

// Options are what the server needs from main.
type Options struct {
	Store       *config.Store
	Probe       *prober.Handler
	History     *prober.History
	Gatherer    prometheus.Gatherer
	Logger      *slog.Logger
	RoutePrefix string // "" or "/" for none; "/blackbox" otherwise
	// Reloader serves /-/reload (and is what SIGHUP uses).
	Reloader *webserver.Reloader
	// SD serves /sd when discovery is wired; nil answers an empty list.
	SD          http.Handler
	EnablePprof bool
}

// NewHandler returns the exporter's mux.
func NewHandler(o Options) http.Handler {
	prefix := strings.TrimRight(o.RoutePrefix, "/")
	mux := http.NewServeMux()
	route := func(p string) string { return prefix + p }

	// A probe lasts up to the scrape timeout, longer than --web.write-timeout.
	mux.Handle(route("/probe"), webserver.LongRunning(o.Probe))
	mux.Handle(route("/metrics"), promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(o.Logger.Handler(), slog.LevelError)}))
	webserver.Ops{
		Reloader: o.Reloader,
		Config:   func() ([]byte, error) { return o.Store.Get().Marshal() },
		Logger:   o.Logger,
	}.Register(mux, prefix)
	mux.HandleFunc(route("/logs"), func(w http.ResponseWriter, r *http.Request) {
		serveLogs(w, r, o.History)
	})
	sd := o.SD
	if sd == nil {
		sd = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte("[]\n"))
		})
	}
	mux.Handle(route("/sd"), sd)
	if o.EnablePprof {
		mux.HandleFunc(route("/debug/pprof/"), pprof.Index)
		mux.HandleFunc(route("/debug/pprof/cmdline"), pprof.Cmdline)
		mux.HandleFunc(route("/debug/pprof/profile"), pprof.Profile)
		mux.HandleFunc(route("/debug/pprof/symbol"), pprof.Symbol)
		mux.HandleFunc(route("/debug/pprof/trace"), pprof.Trace)
	}
	mux.HandleFunc(route("/"), func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != route("/") && r.URL.Path != prefix {
			http.NotFound(w, r)
			return
		}
		serveLanding(w, prefix, o.History, o.Store)
	})
	return mux
}

func serveLogs(w http.ResponseWriter, r *http.Request, h *prober.History) {
	q := r.URL.Query()
	idParam, target := q.Get("id"), q.Get("target")
	if idParam != "" && target != "" {
		http.Error(w, "Probe id and target can't be defined at the same time", http.StatusBadRequest)
		return
	}
	var result *prober.Result
	switch {
	case target != "":
		result = h.GetByTarget(target, q.Get("module"))
		if result == nil {
			http.Error(w, "Probe target not found", http.StatusNotFound)
			return
		}
	case idParam != "":
		id, err := strconv.ParseInt(idParam, 10, 64)
		if err != nil {
			http.Error(w, "Invalid probe id", http.StatusBadRequest)
			return
		}
		result = h.Get(id)
		if result == nil {
			http.Error(w, "Probe id not found", http.StatusNotFound)
			return
		}
	default:
		http.Error(w, "Probe id or target must be defined as http query parameters", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Write(result.DebugOutput())
}

var landingTemplate = template.Must(template.New("landing").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>vigie exporter</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; }
th, td { padding: 0.3em 0.8em; border-bottom: 1px solid #ddd; text-align: left; }
.ok { color: #1a7f37; } .fail { color: #cf222e; }
code { background: #f4f4f4; padding: 0 0.2em; }
</style>
</head>
<body>
<h1>vigie exporter</h1>
<p>A blackbox_exporter-compatible probe exporter. Version {{.Version}}.</p>
<form action="{{.Prefix}}/probe">
<label>Target: <input type="text" name="target" placeholder="https://example.org" size="40"></label>
<label>Module: <select name="module">{{range .Modules}}<option>{{.}}</option>{{end}}</select></label>
<input type="hidden" name="debug" value="true">
<input type="submit" value="Probe (debug)">
</form>
<ul>
<li><a href="{{.Prefix}}/metrics">Metrics</a></li>
<li><a href="{{.Prefix}}/config">Configuration</a></li>
<li><a href="{{.Prefix}}/sd">Discovered targets (HTTP SD)</a></li>
</ul>
<h2>Recent probes</h2>
{{if .Results}}
<table>
<tr><th>Module</th><th>Target</th><th>Result</th><th>Reason</th><th>Duration</th><th>Debug</th></tr>
{{range .Results}}<tr><td>{{.Module}}</td><td>{{.DisplayTarget}}</td>
<td>{{if .Success}}<span class="ok">Success</span>{{else}}<span class="fail">Failure</span>{{end}}</td>
<td>{{.Reason}}</td><td>{{printf "%.3fs" .Duration.Seconds}}</td>
<td><a href="{{$.Prefix}}/logs?id={{.ID}}">Logs</a></td></tr>
{{end}}</table>
{{else}}<p>No probes yet. Try <code>{{.Prefix}}/probe?target=http://127.0.0.1:9115/-/healthy&amp;module=http_2xx</code>.</p>{{end}}
</body>
</html>
`))

func serveLanding(w http.ResponseWriter, prefix string, h *prober.History, store *config.Store) {
	results := h.List()
	// Most recent first.
	for i, j := 0, len(results)-1; i < j; i, j = i+1, j-1 {
		results[i], results[j] = results[j], results[i]
	}
	var modules []string
	for name := range store.Get().Modules {
		modules = append(modules, name)
	}
	sort.Strings(modules)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	err := landingTemplate.Execute(w, struct {
		Version string
		Prefix  string
		Modules []string
		Results []*prober.Result
	}{version.Version, prefix, modules, results})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// RoutePrefix derives the route prefix from --web.route-prefix and
// --web.external-url, as Prometheus does.
func RoutePrefix(routePrefix, externalURLPath string) string {
	if routePrefix == "" {
		routePrefix = externalURLPath
	}
	if routePrefix == "" || routePrefix == "/" {
		return ""
	}
	return "/" + strings.Trim(path.Clean(routePrefix), "/")
}
