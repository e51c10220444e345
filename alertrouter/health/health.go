// Package health is the pipeline's exporter-health stage: every request
// the router makes to the exporter (probes, target lists) tells it whether
// the exporter answers. An exporter error is not a target failure: check
// states are kept, and once the errors have lasted exporter.alert_after,
// with at least exporter.failures of them in a row, one "exporter
// unreachable" incident is raised (a restart of the exporter stays quiet,
// an outage does not). The stage feeds the incident stage, which says it
// to the router's own receivers.
package health

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigie-monitoring/vigie/alertrouter/checkstate"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
	"github.com/vigie-monitoring/vigie/alertrouter/view"
)

// Sink is what the stage feeds: the incident stage.
type Sink interface {
	// ExporterDown raises the incident, which began at since.
	ExporterDown(url string, since time.Time, reason string, now time.Time)
	// ExporterUp ends the incident that began at since.
	ExporterUp(url string, since time.Time, now time.Time)
}

// Config is the exporter's alerting thresholds.
type Config struct {
	URL        string
	Failures   int           // exporter.failures
	AlertAfter time.Duration // exporter.alert_after
}

// Health is what the router knows of the exporter.
type Health struct {
	cfg    Config
	out    Sink
	logger *slog.Logger
	up     prometheus.Gauge

	down     bool
	since    time.Time // first error of the current streak, or of the incident
	failures int       // consecutive errors
	reason   string
	dirty    bool // to be saved
	marks    *view.Marks
}

// NewGauge creates vigie_router_exporter_up; it is registered on reg
// unless it is nil.
func NewGauge(reg prometheus.Registerer) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "vigie_router_exporter_up",
		Help: "0 while the \"exporter unreachable\" alert is raised, 1 otherwise.",
	})
	if reg != nil {
		reg.MustRegister(g)
	}
	return g
}

// New returns the stage, the exporter answering; logger, up and marks may
// be nil.
func New(cfg Config, out Sink, logger *slog.Logger, up prometheus.Gauge, marks *view.Marks) *Health {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if up == nil {
		up = NewGauge(nil)
	}
	if marks == nil {
		marks = &view.Marks{}
	}
	up.Set(1)
	marks.Exporter = true
	return &Health{cfg: cfg, out: out, logger: logger, up: up, marks: marks}
}

// SetConfig applies a reload.
func (h *Health) SetConfig(cfg Config) {
	h.cfg = cfg
	h.marks.Exporter = true
}

// Restore takes back the state saved by the last run (checked when the
// store was read).
func (h *Health) Restore(rec *store.CheckRecord) {
	state, _ := checkstate.ParseState(rec.State)
	h.down = state == checkstate.Down
	h.since, h.reason = rec.Since, rec.Reason
	if h.down {
		h.up.Set(0)
	}
	h.marks.Exporter = true
}

// Record fills the stage's part of the saved state.
func (h *Health) Record(rec *store.CheckRecord) {
	state := checkstate.Up
	if h.down {
		state = checkstate.Down
	}
	rec.State, rec.Since, rec.Reason = state.String(), h.since, h.reason
}

// Failed counts an exporter error.
func (h *Health) Failed(err error, now time.Time) {
	if h.failures == 0 && !h.down {
		h.since = now
	}
	h.failures++
	h.reason = err.Error()
	if h.down || h.failures < h.cfg.Failures || now.Sub(h.since) < h.cfg.AlertAfter {
		return
	}
	h.down = true
	h.up.Set(0)
	h.dirty, h.marks.Exporter = true, true
	h.logger.Error("Exporter unreachable; check states are kept until it answers again", "url", h.cfg.URL, "err", err, "since", h.since)
	h.out.ExporterDown(h.cfg.URL, h.since, h.reason, now)
}

// Answered notes a good answer; it ends an exporter incident.
func (h *Health) Answered(now time.Time) {
	if h.failures == 0 && !h.down {
		return
	}
	h.failures = 0
	if !h.down {
		return
	}
	h.down = false
	h.up.Set(1)
	h.dirty, h.marks.Exporter = true, true
	h.logger.Info("Exporter answers again", "url", h.cfg.URL)
	h.out.ExporterUp(h.cfg.URL, h.since, now)
}

// Down reports whether the incident is raised.
func (h *Health) Down() bool { return h.down }

// Failures is the number of errors in a row.
func (h *Health) Failures() int { return h.failures }

// TakeDirty reports whether the state changed since the last call.
func (h *Health) TakeDirty() bool {
	d := h.dirty
	h.dirty = false
	return d
}

// View is the exporter's health for people.
func (h *Health) View() view.ExporterView {
	return view.ExporterView{URL: h.cfg.URL, Reachable: !h.down, Since: h.since, LastError: h.reason}
}
