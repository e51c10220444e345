package prober

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
)

// LevelNone disables forwarding of probe logs to the exporter's log.
const LevelNone = slog.Level(100)

// probeLog captures every record a probe logs (all levels: they make the
// debug output and /logs) and forwards them, re-levelled to --log.prober, to
// the exporter's logger. Records are kept as they are and only formatted
// when someone reads them: most probes' logs are never looked at.
type probeLog struct {
	mu      sync.Mutex
	records []capturedRecord
}

type capturedRecord struct {
	rec   slog.Record
	attrs []slog.Attr // from Logger.With
}

type probeLogHandler struct {
	log     *probeLog
	attrs   []slog.Attr
	next    slog.Handler // nil: no forwarding
	level   slog.Level   // level records are forwarded at
	nextOut slog.Handler // next with attrs applied
}

// newProbeLogger returns a logger writing into a new probeLog and, at
// forwardLevel, to next (when next is enabled for it).
func newProbeLogger(next slog.Handler, forwardLevel slog.Level, attrs ...slog.Attr) (*slog.Logger, *probeLog) {
	pl := &probeLog{records: make([]capturedRecord, 0, 8)}
	h := &probeLogHandler{log: pl, attrs: attrs, level: forwardLevel}
	if next != nil && forwardLevel != LevelNone && next.Enabled(context.Background(), forwardLevel) {
		h.next = next
		h.nextOut = next.WithAttrs(attrs)
	}
	return slog.New(h), pl
}

func (h *probeLogHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *probeLogHandler) Handle(ctx context.Context, r slog.Record) error {
	h.log.mu.Lock()
	h.log.records = append(h.log.records, capturedRecord{rec: r.Clone(), attrs: h.attrs})
	h.log.mu.Unlock()
	if h.nextOut != nil {
		fr := slog.NewRecord(r.Time, h.level, r.Message, r.PC)
		r.Attrs(func(a slog.Attr) bool { fr.AddAttrs(a); return true })
		return h.nextOut.Handle(ctx, fr)
	}
	return nil
}

func (h *probeLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append(append([]slog.Attr(nil), h.attrs...), attrs...)
	if h.nextOut != nil {
		n.nextOut = h.nextOut.WithAttrs(attrs)
	}
	return &n
}

// WithGroup is not used by probers; groups are flattened.
func (h *probeLogHandler) WithGroup(string) slog.Handler { return h }

// Text renders the captured records in logfmt (slog's text handler).
func (pl *probeLog) Text() []byte {
	var buf bytes.Buffer
	th := slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})
	pl.mu.Lock()
	defer pl.mu.Unlock()
	for _, cr := range pl.records {
		h := slog.Handler(th)
		if len(cr.attrs) > 0 {
			h = th.WithAttrs(cr.attrs)
		}
		_ = h.Handle(context.Background(), cr.rec)
	}
	return buf.Bytes()
}
