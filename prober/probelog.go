package prober

import (
	"bytes"
	"context"
	"log/slog"
	"runtime"
	"sync"
	"time"
)

// LevelNone disables forwarding of probe logs to the exporter's log.
const LevelNone = slog.Level(100)

// probeLog captures every record a probe logs (all levels: they make the
// debug output and /logs) and forwards them, re-levelled to --log.prober, to
// the exporter's logger. Records are kept as they are and only formatted
// when someone reads them: most probes' logs are never looked at.
//
// Every probe has one, so it is compact: the records of a typical probe and
// their attributes fit in arrays allocated with it, and a record keeps no
// source location (the debug output shows none).
type probeLog struct {
	handler probeLogHandler // the root handler, allocated with the log

	mu      sync.Mutex
	entries []logEntry
	attrs   []slog.Attr // the attributes of every entry, one after the other

	entryBuf [10]logEntry
	attrBuf  [20]slog.Attr
	withBuf  [2]slog.Attr // the handler's own attributes (module, target)
}

// logEntry is one captured record; its attributes are attrs[start:end] of
// its probeLog.
type logEntry struct {
	time       time.Time
	msg        string
	level      slog.Level
	start, end int32
	with       []slog.Attr // from Logger.With, shared with the handler
}

type probeLogHandler struct {
	log     *probeLog
	attrs   []slog.Attr
	level   slog.Level   // level records are forwarded at
	nextOut slog.Handler // the exporter's handler with attrs applied; nil: no forwarding
}

// newProbeLogger returns a logger writing into a new probeLog and, at
// forwardLevel, to next (when next is enabled for it).
func newProbeLogger(next slog.Handler, forwardLevel slog.Level, attrs ...slog.Attr) (*slog.Logger, *probeLog) {
	pl := &probeLog{}
	pl.entries = pl.entryBuf[:0]
	pl.attrs = pl.attrBuf[:0]
	h := &pl.handler
	*h = probeLogHandler{log: pl, attrs: append(pl.withBuf[:0:len(pl.withBuf)], attrs...), level: forwardLevel}
	if next != nil && forwardLevel != LevelNone && next.Enabled(context.Background(), forwardLevel) {
		h.nextOut = next.WithAttrs(h.attrs)
	}
	return slog.New(h), pl
}

func (h *probeLogHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *probeLogHandler) Handle(ctx context.Context, r slog.Record) error {
	pl := h.log
	pl.mu.Lock()
	start := len(pl.attrs)
	r.Attrs(func(a slog.Attr) bool {
		pl.attrs = append(pl.attrs, a)
		return true
	})
	pl.entries = append(pl.entries, logEntry{time: r.Time, msg: r.Message, level: r.Level, start: int32(start), end: int32(len(pl.attrs)), with: h.attrs})
	pl.mu.Unlock()
	if h.nextOut != nil {
		fr := slog.NewRecord(r.Time, h.level, r.Message, r.PC)
		r.Attrs(func(a slog.Attr) bool { fr.AddAttrs(a); return true })
		return h.nextOut.Handle(ctx, fr)
	}
	return nil
}

func (h *probeLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append(h.attrs[:len(h.attrs):len(h.attrs)], attrs...)
	if h.nextOut != nil {
		n.nextOut = h.nextOut.WithAttrs(attrs)
	}
	return &n
}

// capture keeps a record of the time, level, message and attributes given,
// as Handle keeps a record made of them (Record.AddAttrs drops empty
// groups).
func (h *probeLogHandler) capture(t time.Time, level slog.Level, msg string, attrs []slog.Attr) {
	pl := h.log
	pl.mu.Lock()
	start := len(pl.attrs)
	for _, a := range attrs {
		if a.Value.Kind() == slog.KindGroup && len(a.Value.Group()) == 0 {
			continue
		}
		pl.attrs = append(pl.attrs, a)
	}
	pl.entries = append(pl.entries, logEntry{time: t, msg: msg, level: level, start: int32(start), end: int32(len(pl.attrs)), with: h.attrs})
	pl.mu.Unlock()
}

// WithGroup is not used by probers; groups are flattened.
func (h *probeLogHandler) WithGroup(string) slog.Handler { return h }

// Text renders the captured records in logfmt (slog's text handler).
func (pl *probeLog) Text() []byte {
	var buf bytes.Buffer
	th := slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})
	pl.mu.Lock()
	defer pl.mu.Unlock()
	var (
		h        slog.Handler
		lastWith []slog.Attr
	)
	for i, e := range pl.entries {
		// Records of one logger share their attributes: format them once.
		if i == 0 || !sameAttrs(e.with, lastWith) {
			h, lastWith = th.WithAttrs(e.with), e.with
		}
		r := slog.NewRecord(e.time, e.level, e.msg, 0)
		r.AddAttrs(pl.attrs[e.start:e.end]...)
		_ = h.Handle(context.Background(), r)
	}
	return buf.Bytes()
}

// sameAttrs reports whether a and b are the same slice.
func sameAttrs(a, b []slog.Attr) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// The probers log through these rather than through the Logger's methods.
// A *slog.Logger records the caller of every call (runtime.Callers, a stack
// walk), and a probe's logger is always enabled: every level is kept for
// the debug output and /logs, which show no source location. The caller is
// looked up only when a handler may show it: when the probe log forwards to
// the exporter's log (--log.prober), or for a logger that is not a probe's.

func logDebug(l *slog.Logger, msg string, args ...any) { logAt(l, slog.LevelDebug, msg, args, nil) }
func logInfo(l *slog.Logger, msg string, args ...any)  { logAt(l, slog.LevelInfo, msg, args, nil) }
func logWarn(l *slog.Logger, msg string, args ...any)  { logAt(l, slog.LevelWarn, msg, args, nil) }
func logError(l *slog.Logger, msg string, args ...any) { logAt(l, slog.LevelError, msg, args, nil) }

// logDebugAttrs is logDebug with attributes, as Logger.LogAttrs: values
// such as times are not boxed into interfaces (an allocation each).
func logDebugAttrs(l *slog.Logger, msg string, attrs ...slog.Attr) {
	logAt(l, slog.LevelDebug, msg, nil, attrs)
}

// logInfoAttrs and logErrorAttrs are logInfo and logError with attributes:
// the same record as with the arguments (slog makes a string argument a
// String value, a float64 a Float64 value), without their boxing.
func logInfoAttrs(l *slog.Logger, msg string, attrs ...slog.Attr) {
	logAt(l, slog.LevelInfo, msg, nil, attrs)
}

func logErrorAttrs(l *slog.Logger, msg string, attrs ...slog.Attr) {
	logAt(l, slog.LevelError, msg, nil, attrs)
}

// logAt logs as l.Log(context.Background(), level, msg, args...) (or
// l.LogAttrs with attrs) would, with
// the same record, source location included when it can be shown. It must be
// called by one of the functions above, directly by the code logging: the
// caller recorded is two frames up.
func logAt(l *slog.Logger, level slog.Level, msg string, args []any, attrs []slog.Attr) {
	ctx := context.Background()
	h := l.Handler()
	if !h.Enabled(ctx, level) {
		return
	}
	var pc uintptr
	ph, ok := h.(*probeLogHandler)
	if ok && ph.nextOut == nil && args == nil {
		// Only the probe log takes it: what Handle keeps of the record
		// slog.NewRecord(time.Now(), level, msg, 0) with attrs added,
		// without making the record.
		ph.capture(time.Now(), level, msg, attrs)
		return
	}
	if !ok || ph.nextOut != nil {
		var pcs [1]uintptr
		// Skip runtime.Callers, logAt and its wrapper (logInfo…).
		runtime.Callers(3, pcs[:])
		pc = pcs[0]
	}
	r := slog.NewRecord(time.Now(), level, msg, pc)
	r.Add(args...)
	r.AddAttrs(attrs...)
	_ = h.Handle(ctx, r)
}
