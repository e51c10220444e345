package prober

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/vigie-monitoring/vigie/config"
	"github.com/vigie-monitoring/vigie/internal/schema"
)

// gzipMinSize is the smallest response worth compressing: below it gzip costs
// more CPU than the bytes it saves, and clients accept identity anyway.
const gzipMinSize = 4096

// Handler serves /probe.
type Handler struct {
	// Config returns the current configuration.
	Config func() *config.Config
	// Logger is the exporter's logger; probe logs are forwarded to it at ProberLevel.
	Logger      *slog.Logger
	ProberLevel slog.Level
	// TimeoutOffset is subtracted from Prometheus's scrape timeout (--timeout-offset).
	TimeoutOffset float64
	History       *History
	// UnknownModules counts requests for modules that do not exist.
	UnknownModules prometheus.Counter
	// PolicyRefused counts probes refused by the target policy.
	PolicyRefused prometheus.Counter
	// Probers overrides Lookup (tests).
	Probers func(string) (ProbeFn, bool)

	compiled atomic.Pointer[compiledConfig]
	formats  formatCache
}

// compiledConfig is what the handler derives once from a configuration.
type compiledConfig struct {
	cfg    *config.Config
	policy *Policy
	// modules point to copies of the configuration's modules: a probe
	// passes them on and keeps one for its debug output without copying a
	// module (kilobytes) to the heap each time.
	modules map[string]*config.Module
}

func (h *Handler) compile(c *config.Config) *compiledConfig {
	if cc := h.compiled.Load(); cc != nil && cc.cfg == c {
		return cc
	}
	cc := &compiledConfig{cfg: c, policy: NewPolicy(c.Security.Targets), modules: make(map[string]*config.Module, len(c.Modules))}
	for name, m := range c.Modules {
		cc.modules[name] = &m
	}
	h.compiled.Store(cc)
	return cc
}

// ProbeResult is the JSON rendition of a probe (Accept: application/json).
type ProbeResult struct {
	Target  string `json:"target"`
	Module  string `json:"module"`
	Prober  string `json:"prober"`
	Success bool   `json:"success"`
	Reason  string `json:"reason,omitempty"`
	// Refused is true when the target policy refused the target (HTTP 403).
	Refused         bool      `json:"refused,omitempty"`
	StartedAt       time.Time `json:"started_at"`
	DurationSeconds float64   `json:"duration_seconds"`
	TimeoutSeconds  float64   `json:"timeout_seconds"`
	LogID           int64     `json:"log_id"`
	Metrics         []Sample  `json:"metrics"`
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	params := r.URL.Query()
	cc := h.compile(h.Config())

	moduleName := params.Get("module")
	if moduleName == "" {
		moduleName = "http_2xx"
	}
	module, ok := cc.modules[moduleName]
	if !ok {
		http.Error(w, fmt.Sprintf("Unknown module %q", moduleName), http.StatusBadRequest)
		h.Logger.Debug("Unknown module", "module", moduleName)
		if h.UnknownModules != nil {
			h.UnknownModules.Inc()
		}
		return
	}

	timeoutSeconds, err := getTimeout(r, module.Timeout, h.TimeoutOffset)
	if err != nil {
		http.Error(w, fmt.Sprintf("Failed to parse timeout from Prometheus header: %s", err), http.StatusInternalServerError)
		return
	}

	target := params.Get("target")
	if target == "" {
		http.Error(w, "Target parameter is missing", http.StatusBadRequest)
		return
	}

	lookup := h.Probers
	if lookup == nil {
		lookup = Lookup
	}
	probeFn, ok := lookup(module.Prober)
	if !ok {
		http.Error(w, fmt.Sprintf("Unknown prober %q", module.Prober), http.StatusBadRequest)
		return
	}

	if hostname := params.Get("hostname"); hostname != "" {
		m := *module
		row, _ := config.LookupProber(m.Prober)
		if err := row.ApplyHostname(&m, hostname); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		module = &m
	}

	ctx, cancel := context.WithTimeout(r.Context(), time.Duration(timeoutSeconds*float64(time.Second)))
	defer cancel()

	ctx = withProbeLifetime(ctx)
	if ctx, err = cc.policy.CheckTarget(ctx, module.Prober, target); err != nil {
		if h.History != nil {
			plog := &probeLog{}
			registry := NewRegistry()
			h.History.Add(&Result{
				Module: moduleName, Target: target, Reason: err.Error(), Start: time.Now(),
				module: module, log: plog, registry: registry,
			})
		}
		h.refuse(w, r, params, module.Prober, moduleName, target, timeoutSeconds, err)
		return
	}

	logger, plog := newProbeLogger(h.Logger.Handler(), h.ProberLevel, slog.String("module", moduleName), slog.String("target", redactTarget(target)))
	logInfoAttrs(logger, "Beginning probe", slog.String("probe", module.Prober), slog.Float64("timeout_seconds", timeoutSeconds))

	registry := NewRegistry()
	successGauge := registry.NewGauge("probe_success", "Displays whether or not the probe was a success")
	durationGauge := registry.NewGauge("probe_duration_seconds", "Returns how long the probe took to complete in seconds")
	registry.NewGauge("probe_timeout_seconds", "Returns how long the probe timeout is in seconds").Set(timeoutSeconds)

	start := time.Now()
	probeErr := runProbe(ctx, probeFn, target, module, registry, logger)
	duration := time.Since(start)
	durationGauge.Set(duration.Seconds())
	reason := ""
	if probeErr == nil {
		successGauge.Set(1)
		logInfoAttrs(logger, "Probe succeeded", slog.Float64("duration_seconds", duration.Seconds()))
	} else {
		reason = redactReason(probeErr.Error(), target)
		logErrorAttrs(logger, "Probe failed", slog.Float64("duration_seconds", duration.Seconds()), slog.String("reason", reason))
	}

	result := &Result{
		Module: moduleName, Target: target, Success: probeErr == nil, Reason: reason,
		Start: start, Duration: duration,
		module: module, log: plog, registry: registry,
	}
	if h.History != nil {
		h.History.Add(result)
	}

	if probeErr != nil && IsPolicyError(probeErr) {
		h.refuse(w, r, params, module.Prober, moduleName, target, timeoutSeconds, probeErr)
		return
	}

	switch {
	case params.Get("debug") == "true":
		w.Header().Set("Content-Type", "text/plain")
		w.Write(result.DebugOutput())
	case wantsJSON(r, params):
		w.Header().Set("Content-Type", "application/json")
		bp := bufPool.Get().(*[]byte)
		*bp = appendProbeResultJSON((*bp)[:0], &ProbeResult{
			Target: target, Module: moduleName, Prober: module.Prober,
			Success: result.Success, Reason: reason, StartedAt: start.UTC(),
			DurationSeconds: duration.Seconds(), TimeoutSeconds: timeoutSeconds,
			LogID: result.ID,
		}, registry)
		w.Write(*bp)
		bufPool.Put(bp)
	default:
		writeMetrics(w, r, h.formats.negotiate(r.Header), registry)
	}
}

// runProbe runs the prober and turns a panic into a failed probe, so that a
// bug in one prober cannot take a scrape down with it.
func runProbe(ctx context.Context, fn ProbeFn, target string, module *config.Module, registry *Registry, logger *slog.Logger) (err error) {
	defer func() {
		if p := recover(); p != nil {
			logError(logger, "Prober panicked", "panic", p)
			err = fmt.Errorf("internal error in %s prober: %v", module.Prober, p)
		}
	}()
	return fn(ctx, target, module, registry, logger)
}

// refuse answers 403 for a target the policy refuses: the reason as text,
// or as a failed ProbeResult when JSON was asked for.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, params url.Values, prober, module, target string, timeoutSeconds float64, err error) {
	if h.PolicyRefused != nil {
		h.PolicyRefused.Inc()
	}
	h.Logger.Warn("Target refused by policy", "module", module, "target", redactTarget(target), "err", err)
	if wantsJSON(r, params) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_ = json.NewEncoder(w).Encode(ProbeResult{
			Target: target, Module: module, Prober: prober, Reason: err.Error(), Refused: true,
			StartedAt: time.Now().UTC(), TimeoutSeconds: timeoutSeconds, LogID: -1, Metrics: []Sample{},
		})
		return
	}
	http.Error(w, err.Error(), http.StatusForbidden)
}

// writeMetrics renders the registry in the negotiated exposition format,
// exactly as promhttp would, rendering text directly.
func writeMetrics(w http.ResponseWriter, r *http.Request, negotiated negotiatedFormat, registry *Registry) {
	format := negotiated.format
	if !negotiated.text {
		var buf bytes.Buffer
		enc := expfmt.NewEncoder(&buf, format)
		mfs, _ := registry.Gather()
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				http.Error(w, "error encoding metrics: "+err.Error(), http.StatusInternalServerError)
				return
			}
		}
		w.Header().Set("Content-Type", string(format))
		writeMaybeGzip(w, r, buf.Bytes())
		return
	}
	bp := bufPool.Get().(*[]byte)
	body := registry.AppendText((*bp)[:0])
	w.Header().Set("Content-Type", string(format))
	writeMaybeGzip(w, r, body)
	*bp = body
	bufPool.Put(bp)
}

var gzipPool = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

func writeMaybeGzip(w http.ResponseWriter, r *http.Request, body []byte) {
	if len(body) < gzipMinSize || !acceptsGzip(r.Header.Get("Accept-Encoding")) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
		return
	}
	w.Header().Set("Content-Encoding", "gzip")
	gz := gzipPool.Get().(*gzip.Writer)
	gz.Reset(w)
	_, _ = gz.Write(body)
	gz.Close()
	gzipPool.Put(gz)
}

func acceptsGzip(ae string) bool {
	for _, part := range strings.Split(ae, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(name) != "gzip" {
			continue
		}
		if q, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q="); ok {
			if f, err := strconv.ParseFloat(q, 64); err == nil && f == 0 {
				return false
			}
		}
		return true
	}
	return false
}

// wantsJSON reports whether the client asked for the JSON rendition, with
// ?format=json or an Accept header that prefers application/json.
func wantsJSON(r *http.Request, params url.Values) bool {
	if params.Get("format") == "json" {
		return true
	}
	accept := r.Header.Get("Accept")
	if !strings.Contains(accept, "application/json") {
		return false
	}
	best, bestQ := "", -1.0
	for _, part := range strings.Split(accept, ",") {
		mt, ps, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		for _, p := range strings.Split(ps, ";") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(p), "q="); ok {
				if f, err := strconv.ParseFloat(v, 64); err == nil {
					q = f
				}
			}
		}
		if q > bestQ {
			best, bestQ = strings.TrimSpace(mt), q
		}
	}
	return best == "application/json"
}

// getTimeout returns the probe timeout: Prometheus's scrape timeout header
// (120s when absent) minus the offset, unless the module's timeout is set
// and smaller, or the header minus the offset is negative.
func getTimeout(r *http.Request, moduleTimeout time.Duration, offset float64) (float64, error) {
	timeoutSeconds := 0.0
	if v := r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds"); v != "" {
		var err error
		timeoutSeconds, err = strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, err
		}
	}
	if timeoutSeconds == 0 {
		timeoutSeconds = 120
	}
	maxTimeoutSeconds := timeoutSeconds - offset
	moduleSeconds := moduleTimeout.Seconds()
	if moduleSeconds > 0 && moduleSeconds < maxTimeoutSeconds || maxTimeoutSeconds < 0 {
		return moduleSeconds, nil
	}
	return maxTimeoutSeconds, nil
}

// debugOutput renders the three sections of ?debug=true (and /logs).
func debugOutput(module *config.Module, plog *probeLog, registry *Registry) []byte {
	var buf bytes.Buffer
	buf.WriteString("Logs for the probe:\n")
	buf.Write(plog.Text())
	buf.WriteString("\n\n\nMetrics that would have been returned:\n")
	buf.Write(registry.AppendText(nil))
	buf.WriteString("\n\n\nModule configuration:\n")
	c, err := schema.MarshalYAML(module)
	if err != nil {
		fmt.Fprintf(&buf, "Error marshalling config: %s\n", err)
	}
	buf.Write(c)
	return buf.Bytes()
}
