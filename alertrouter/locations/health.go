package locations

import (
	"log/slog"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
	"github.com/vigie-monitoring/vigie/alertrouter/health"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
	"github.com/vigie-monitoring/vigie/alertrouter/view"
)

// Sink is told when a location's exporter becomes unreachable and when it
// answers again: the incident stage, which says it once to the router's
// own receivers.
type Sink interface {
	LocationDown(location, url string, since time.Time, reason string, now time.Time)
	LocationUp(location, url string, since time.Time, now time.Time)
	// LocationRemoved ends the incident of a location a reload removed.
	LocationRemoved(location, url string, since time.Time, now time.Time)
}

// Health is the exporter-health stage of every location: the health
// stage's rules (exporter.failures errors in a row lasting
// exporter.alert_after, per location) with one incident per location.
// With one location it holds nothing: the pipeline's own health stage
// watches the exporter.
type Health struct {
	out     Sink
	logger  *slog.Logger
	metrics *Metrics
	marks   *view.Marks

	order []string
	locs  map[string]*health.Health
}

// NewHealth returns the stage for cfg; logger, m and marks may be nil.
func NewHealth(cfg *config.RouterConfig, out Sink, logger *slog.Logger, m *Metrics, marks *view.Marks) *Health {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	if marks == nil {
		marks = &view.Marks{}
	}
	h := &Health{out: out, logger: logger, metrics: m, marks: marks, locs: map[string]*health.Health{}}
	h.SetConfig(cfg, time.Time{})
	return h
}

// SetConfig applies a reload: locations keep their state, new ones start
// answering, and the incident of a location no longer configured is
// closed.
func (h *Health) SetConfig(cfg *config.RouterConfig, now time.Time) {
	var locs []config.ExporterConfig
	if cfg.MultiLocation() {
		locs = cfg.Locations()
	}
	keep := map[string]bool{}
	h.order = h.order[:0]
	for i := range locs {
		x := &locs[i]
		keep[x.Location] = true
		h.order = append(h.order, x.Location)
		hc := health.Config{URL: x.URL, Failures: x.Failures, AlertAfter: x.AlertAfter.Std()}
		if hl, ok := h.locs[x.Location]; ok {
			hl.SetConfig(hc)
			continue
		}
		h.locs[x.Location] = health.New(hc, locationSink{x.Location, h.out}, h.logger.With("location", x.Location), h.metrics.Up.WithLabelValues(x.Location), h.marks)
	}
	for name, hl := range h.locs {
		if keep[name] {
			continue
		}
		if hl.Down() {
			// Nobody will hear it answer again: its incident ends with it.
			v := hl.View()
			h.out.LocationRemoved(name, v.URL, v.Since, now)
		}
		delete(h.locs, name)
		h.metrics.forget(name)
		h.marks.Exporter = true
	}
}

// Observe counts each location's answer to a round.
func (h *Health) Observe(res exporter.Result, now time.Time) {
	for i := range res.Locations {
		l := &res.Locations[i]
		hl := h.locs[l.Location]
		if hl == nil {
			continue // a round begun before a reload
		}
		if l.Answered() {
			hl.Answered(now)
		} else {
			hl.Failed(l.Err, now)
		}
	}
}

// TakeDirty reports whether some location's state changed since the last
// call.
func (h *Health) TakeDirty() bool {
	dirty := false
	for _, hl := range h.locs {
		if hl.TakeDirty() {
			dirty = true
		}
	}
	return dirty
}

// Records are what is saved of each location's health, with who was told
// of its incident (notified).
func (h *Health) Records(notified func(location string) map[string]store.Notified) map[string]*store.CheckRecord {
	if len(h.locs) == 0 {
		return nil
	}
	out := make(map[string]*store.CheckRecord, len(h.locs))
	for name, hl := range h.locs {
		rec := &store.CheckRecord{Notified: notified(name)}
		hl.Record(rec)
		out[name] = rec
	}
	return out
}

// Restore takes back the health the last run saved, for the locations
// still configured; restored tells who was told of each location's
// incident.
func (h *Health) Restore(recs map[string]*store.CheckRecord, restored func(location string, notified map[string]store.Notified)) {
	for name, rec := range recs {
		if hl := h.locs[name]; hl != nil {
			hl.Restore(rec)
			restored(name, rec.Notified)
		}
	}
}

// Views are the locations' health for people, in configuration order.
func (h *Health) Views() []view.LocationView {
	out := make([]view.LocationView, 0, len(h.order))
	for _, name := range h.order {
		out = append(out, view.LocationView{Location: name, ExporterView: h.locs[name].View()})
	}
	return out
}

// Down reports whether location's incident is raised.
func (h *Health) Down(location string) bool {
	hl := h.locs[location]
	return hl != nil && hl.Down()
}

// locationSink names the location to the incident stage.
type locationSink struct {
	location string
	out      Sink
}

func (s locationSink) ExporterDown(url string, since time.Time, reason string, now time.Time) {
	s.out.LocationDown(s.location, url, since, reason, now)
}

func (s locationSink) ExporterUp(url string, since time.Time, now time.Time) {
	s.out.LocationUp(s.location, url, since, now)
}
