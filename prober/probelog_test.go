package prober

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// logSomeProbe logs through logger what probers log: every level, a
// logger made With attributes, records with many attributes and, with
// records > 0, that many more records (more than the log holds inline).
func logSomeProbe(logger *slog.Logger, records int) {
	logger.Info("Beginning probe", "probe", "http", "timeout_seconds", 4.5)
	logger.Debug("Dialing", "addr", "127.0.0.1:80")
	sub := logger.With("roundtrip", 1)
	sub.Info("Making HTTP request", "url", "http://127.0.0.1/")
	sub.With("phase", "tls").Warn("Odd certificate", "subject", "CN=a \"b\"\nc")
	logger.Debug("Response timings", "a", 1, "b", 2, "c", 3, "d", 4, "e", 5, "f", 6, "g", 7, "h", 8, "i", 9)
	for i := range records {
		logger.Info("Extra", "i", i, "j", fmt.Sprint(i))
	}
	logger.Error("Probe failed", "reason", "HTTP status 503 not in 2xx")
}

var timeField = regexp.MustCompile(`time=\S+ `)

// textLogOf is what slog's text handler writes for logSomeProbe, times removed.
func textLogOf(records int, attrs ...any) string {
	var buf bytes.Buffer
	logSomeProbe(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})).With(attrs...), records)
	return timeField.ReplaceAllString(buf.String(), "")
}

func TestProbeLogTextIsSlogText(t *testing.T) {
	for _, records := range []int{0, 40} {
		logger, plog := newProbeLogger(nil, LevelNone, slog.String("module", "http_2xx"), slog.String("target", "http://127.0.0.1/"))
		logSomeProbe(logger, records)
		got := timeField.ReplaceAllString(string(plog.Text()), "")
		if want := textLogOf(records, "module", "http_2xx", "target", "http://127.0.0.1/"); got != want {
			t.Errorf("%d extra records: captured log\n%s\nwant\n%s", records, got, want)
		}
	}
}

func TestProbeLogKeepsTimes(t *testing.T) {
	logger, plog := newProbeLogger(nil, LevelNone)
	logger.Info("one")
	text := string(plog.Text())
	if !strings.HasPrefix(text, "time=20") || !strings.Contains(text, `level=INFO msg=one`) {
		t.Errorf("captured log %q lacks the time or the record", text)
	}
}

// recordingHandler keeps the records it is given, enabled from level on.
type recordingHandler struct {
	level   slog.Level
	attrs   []slog.Attr
	mu      *sync.Mutex
	records *[]string
}

func (h recordingHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }
func (h recordingHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	for _, a := range h.attrs {
		fmt.Fprintf(&b, " %s", a)
	}
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s", a); return true })
	if r.PC == 0 {
		b.WriteString(" (no source)")
	}
	h.mu.Lock()
	*h.records = append(*h.records, b.String())
	h.mu.Unlock()
	return nil
}
func (h recordingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	h.attrs = append(h.attrs[:len(h.attrs):len(h.attrs)], as...)
	return h
}
func (h recordingHandler) WithGroup(string) slog.Handler { return h }

func TestProbeLogForwarding(t *testing.T) {
	for _, tc := range []struct {
		name          string
		exporterLevel slog.Level
		proberLevel   slog.Level
		want          []string
	}{
		{
			name: "re-levelled", exporterLevel: slog.LevelInfo, proberLevel: slog.LevelWarn,
			want: []string{
				"WARN Beginning probe module=tcp_connect probe=tcp",
				"WARN Dialing module=tcp_connect addr=127.0.0.1:80",
				"WARN Connected module=tcp_connect try=2 local=127.0.0.1:4000",
			},
		},
		{name: "exporter log above the prober level", exporterLevel: slog.LevelInfo, proberLevel: slog.LevelDebug},
		{name: "none", exporterLevel: slog.LevelDebug, proberLevel: LevelNone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			next := recordingHandler{level: tc.exporterLevel, mu: &sync.Mutex{}, records: &got}
			logger, plog := newProbeLogger(next, tc.proberLevel, slog.String("module", "tcp_connect"))
			logger.Info("Beginning probe", "probe", "tcp")
			logger.Debug("Dialing", "addr", "127.0.0.1:80")
			logger.With("try", 2).Error("Connected", "local", "127.0.0.1:4000")
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("forwarded\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			// Captured whatever is forwarded.
			if text := string(plog.Text()); strings.Count(text, "\n") != 3 {
				t.Errorf("captured log has not the 3 records:\n%s", text)
			}
		})
	}
}

func TestProbeLogConcurrentLoggers(t *testing.T) {
	logger, plog := newProbeLogger(nil, LevelNone)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := logger.With("g", g)
			for i := range 50 {
				l.Info("tick", "i", i)
			}
		}()
	}
	wg.Wait()
	text := string(plog.Text())
	for g := range 4 {
		if n := strings.Count(text, fmt.Sprintf("msg=tick g=%d i=", g)); n != 50 {
			t.Errorf("goroutine %d: %d records captured, want 50", g, n)
		}
	}
}

// sourceHandler keeps the level, message, attributes and source line of
// every record it is given, enabled from level on.
type sourceHandler struct {
	level   slog.Level
	records *[]string
}

func (h sourceHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }
func (h sourceHandler) Handle(_ context.Context, r slog.Record) error {
	line := 0
	if r.PC != 0 {
		f, _ := runtime.CallersFrames([]uintptr{r.PC}).Next()
		if filepath.Base(f.File) == "probelog_test.go" {
			line = f.Line
		}
	}
	s := fmt.Sprintf("%s %s line=%d", r.Level, r.Message, line)
	r.Attrs(func(a slog.Attr) bool { s += " " + a.String(); return true })
	*h.records = append(*h.records, s)
	return nil
}
func (h sourceHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h sourceHandler) WithGroup(string) slog.Handler      { return h }

// The probers' logging functions make the records Logger's methods make,
// with the caller's source line wherever a handler may show it.
func TestLogHelpersMatchLogger(t *testing.T) {
	logBoth := func(logger *slog.Logger) (line int) {
		_, _, line, _ = runtime.Caller(0)
		logDebug(logger, "debug", "a", 1)
		logInfo(logger, "info", "b", "two", slog.Int("c", 3))
		logWarn(logger, "warn")
		logError(logger, "error", "err", errors.New("boom"))
		logDebugAttrs(logger, "attrs", slog.Int("i", 1), slog.Time("t", time.Unix(1, 2)), slog.String("s", "x"), slog.Bool("b", true), slog.Float64("f", 0.5), slog.Any("a", []int{1}))
		logInfoAttrs(logger, "infoattrs", slog.Group("empty"), slog.String("s", "y"), slog.Group("g", slog.Int("n", 1)), slog.Float64("f", 4.5))
		logErrorAttrs(logger, "errorattrs", slog.String("reason", "HTTP status 503 not in 2xx"))
		return line
	}
	logMethods := func(logger *slog.Logger) {
		logger.Debug("debug", "a", 1)
		logger.Info("info", "b", "two", slog.Int("c", 3))
		logger.Warn("warn")
		logger.Error("error", "err", errors.New("boom"))
		logger.LogAttrs(context.Background(), slog.LevelDebug, "attrs", slog.Int("i", 1), slog.Time("t", time.Unix(1, 2)), slog.String("s", "x"), slog.Bool("b", true), slog.Float64("f", 0.5), slog.Any("a", []int{1}))
		logger.LogAttrs(context.Background(), slog.LevelInfo, "infoattrs", slog.Group("empty"), slog.String("s", "y"), slog.Group("g", slog.Int("n", 1)), slog.Float64("f", 4.5))
		logger.LogAttrs(context.Background(), slog.LevelError, "errorattrs", slog.String("reason", "HTTP status 503 not in 2xx"))
	}
	for _, tc := range []struct {
		name   string
		logger func(records *[]string) (*slog.Logger, *probeLog)
		source bool // whether records carry the caller
	}{
		{"plain logger", func(r *[]string) (*slog.Logger, *probeLog) {
			return slog.New(sourceHandler{level: slog.LevelDebug, records: r}), nil
		}, true},
		{"plain logger, some levels off", func(r *[]string) (*slog.Logger, *probeLog) {
			return slog.New(sourceHandler{level: slog.LevelError, records: r}), nil
		}, true},
		{"probe log forwarding", func(r *[]string) (*slog.Logger, *probeLog) {
			return newProbeLogger(sourceHandler{level: slog.LevelDebug, records: r}, slog.LevelDebug)
		}, true},
		{"probe log not forwarding", func(r *[]string) (*slog.Logger, *probeLog) {
			return newProbeLogger(sourceHandler{level: slog.LevelInfo, records: r}, slog.LevelDebug)
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var viaHelpers, viaMethods []string
			logger, plog := tc.logger(&viaHelpers)
			line := logBoth(logger)
			other, otherLog := tc.logger(&viaMethods)
			logMethods(other)
			if len(viaHelpers) != len(viaMethods) {
				t.Fatalf("helpers made %d records, methods %d:\n%q\n%q", len(viaHelpers), len(viaMethods), viaHelpers, viaMethods)
			}
			// Each message is logged on its line after the one logBoth
			// takes its own from.
			lines := map[string]int{"debug": line + 1, "info": line + 2, "warn": line + 3, "error": line + 4, "attrs": line + 5, "infoattrs": line + 6, "errorattrs": line + 7}
			for i := range viaHelpers {
				want := viaMethods[i]
				if tc.source {
					msg := strings.Fields(want)[1]
					want = regexp.MustCompile(`line=\d+`).ReplaceAllString(want, fmt.Sprintf("line=%d", lines[msg]))
				}
				if viaHelpers[i] != want {
					t.Errorf("record %d: %s\nwant %s", i, viaHelpers[i], want)
				}
			}
			if plog != nil {
				got := timeField.ReplaceAllString(string(plog.Text()), "")
				if want := timeField.ReplaceAllString(string(otherLog.Text()), ""); got != want {
					t.Errorf("captured log\n%s\nwant\n%s", got, want)
				}
			}
		})
	}
}
