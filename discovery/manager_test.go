package discovery

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

func named(name, kind string, p Provider) NamedProvider {
	return NamedProvider{Name: name, Kind: kind, Key: name, Provider: p}
}

func group(module string, targets ...string) TargetGroup {
	return TargetGroup{Targets: targets, Modules: []string{module}}
}

// waitPairs waits until /sd serves exactly want.
func waitPairs(t *testing.T, m *Manager, query string, want ...string) []sdGroup {
	t.Helper()
	slices.Sort(want)
	var groups []sdGroup
	eventually(t, 5*time.Second, fmt.Sprintf("/sd%s to serve %v", query, want), func() bool {
		if snap := m.snap.Load(); snap == nil || snap.unavailable != "" {
			return false
		}
		groups = getSD(t, m, query)
		return slices.Equal(pairs(groups), want)
	})
	return groups
}

func TestManagerMergesAndRemoves(t *testing.T) {
	metrics := NewMetrics(nil)
	m := startManager(t, ManagerOptions{Metrics: metrics})
	static, consul := newFakeProvider(), newFakeProvider()
	m.SetProviders([]NamedProvider{named("static[0]", "static", static), named("consul[0]", "consul", consul)})

	static.send(
		Update{Source: "static:a.yml", Groups: []TargetGroup{group("http_2xx", "https://a", "https://b")}},
		Update{Source: "static:b.yml", Groups: []TargetGroup{group("icmp", "10.0.0.1")}},
	)
	consul.send(Update{Source: "consul:web", Groups: []TargetGroup{group("http_2xx", "http://10.0.0.2:80", "https://a")}})
	groups := waitPairs(t, m, "", "https://a http_2xx", "https://b http_2xx", "10.0.0.1 icmp", "http://10.0.0.2:80 http_2xx")
	if l := labelsOf(groups, "https://a", "http_2xx"); l[SourceLabel] != "static:a.yml" {
		t.Errorf("a duplicate must keep the static source (listed first): %v", l)
	}
	if got := metricValue(t, metrics.duplicateTargets); got != 1 {
		t.Errorf("duplicates = %v, want 1", got)
	}
	if got := metricValue(t, metrics.targets.WithLabelValues("consul")); got != 2 {
		t.Errorf("consul targets = %v, want 2", got)
	}

	// An update replaces its source; an empty one removes it.
	static.send(Update{Source: "static:a.yml", Groups: []TargetGroup{group("http_2xx", "https://b")}}, Update{Source: "static:b.yml"})
	groups = waitPairs(t, m, "", "https://b http_2xx", "https://a http_2xx", "http://10.0.0.2:80 http_2xx")
	if l := labelsOf(groups, "https://a", "http_2xx"); l[SourceLabel] != "consul:web" {
		t.Errorf("once static drops it, the consul duplicate is served: %v", l)
	}
	if got := metricValue(t, metrics.shardTargets); got != 3 {
		t.Errorf("shard targets = %v, want 3", got)
	}

	// A provider removed from the configuration takes its targets along.
	m.SetProviders([]NamedProvider{named("static[0]", "static", static)})
	waitPairs(t, m, "", "https://b http_2xx")
}

func TestManagerNotReadyUntilProvidersReport(t *testing.T) {
	m := startManager(t, ManagerOptions{ReadyTimeout: time.Hour})
	a, b := newFakeProvider(), newFakeProvider()
	m.SetProviders([]NamedProvider{named("a", "static", a), named("b", "consul", b)})
	a.send(Update{Source: "a", Groups: []TargetGroup{group("m", "t1")}})

	time.Sleep(50 * time.Millisecond) // give a wrong render the chance to happen
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/sd", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("before every provider reported: status %d, want 503 (Prometheus keeps its targets on errors)", rec.Code)
	}
	b.send() // an empty initial state is a report
	waitPairs(t, m, "", "t1 m")
}

// A provider that stays silent keeps /sd unavailable, however long it
// takes: serving the others would drop its targets everywhere. Once late,
// it is named in the log.
func TestManagerReadyTimeout(t *testing.T) {
	logger, logs := testLogger(t)
	metrics := NewMetrics(nil)
	m := startManager(t, ManagerOptions{ReadyTimeout: 100 * time.Millisecond, Logger: logger, Metrics: metrics})
	a, silent := newFakeProvider(), newFakeProvider()
	m.SetProviders([]NamedProvider{named("a", "static", a), named("silent", "consul", silent)})
	a.send(Update{Source: "a", Groups: []TargetGroup{group("m", "t1")}})
	eventually(t, 5*time.Second, "a warning naming the silent provider", func() bool {
		return strings.Contains(logs.String(), `waiting_for="silent: no targets delivered yet"`)
	})
	code, body := getStatus(t, m, "")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "silent: no targets delivered yet") || strings.Contains(body, "\na") {
		t.Errorf("after the timeout: %d %q, want 503 naming only the silent provider", code, body)
	}
	if metricValue(t, metrics.ready) != 0 {
		t.Error("vigie_discovery_ready must be 0 while /sd answers 503")
	}
	silent.send()
	waitPairs(t, m, "", "t1 m")
	if metricValue(t, metrics.ready) != 1 {
		t.Error("vigie_discovery_ready must be 1 once /sd serves")
	}
}

// TestManagerFailedIsNotEmpty: a provider that failed before delivering
// any target keeps /sd unavailable, with a body naming it and the error;
// once every provider was good, a later failure keeps its last targets.
func TestManagerFailedIsNotEmpty(t *testing.T) {
	logger, logs := testLogger(t)
	m := startManager(t, ManagerOptions{ReadyTimeout: time.Hour, Logger: logger})
	static, consul := newFakeProvider(), newFakeProvider()
	m.SetProviders([]NamedProvider{named("static[0]", "static", static), named("consul[0]", "consul", consul)})
	static.send(
		Update{Source: "static:good.yml", Groups: []TargetGroup{group("m", "a")}},
		Update{Source: "static:web.yml", Err: errors.New("line 3: field lables not found")},
	)
	consul.send(Update{Err: errors.New("Consul 127.0.0.1:8500: connection refused")})
	want := "static[0]: static:web.yml: line 3: field lables not found"
	eventually(t, 5*time.Second, "a 503 naming both errors", func() bool {
		code, body := getStatus(t, m, "")
		return code == http.StatusServiceUnavailable && strings.Contains(body, want) &&
			strings.Contains(body, "consul[0]: Consul 127.0.0.1:8500: connection refused")
	})
	if !strings.Contains(logs.String(), "Target discovery is not ready") || !strings.Contains(logs.String(), "field lables not found") {
		t.Errorf("the failure must be logged at once:\n%s", logs)
	}

	// Consul answers (its initial state clears its error); the file is
	// still broken: still unavailable.
	consul.send(Update{}, Update{Source: "consul:web", Groups: []TargetGroup{group("m", "b")}})
	eventually(t, 5*time.Second, "consul's error to clear", func() bool {
		_, body := getStatus(t, m, "")
		return !strings.Contains(body, "consul[0]")
	})
	if code, body := getStatus(t, m, ""); code != http.StatusServiceUnavailable || !strings.Contains(body, want) {
		t.Fatalf("with a file still broken: %d %q", code, body)
	}
	static.send(Update{Source: "static:web.yml", Groups: []TargetGroup{group("m", "c")}})
	waitPairs(t, m, "", "a m", "b m", "c m")

	// Ready: a failure now keeps what the source had.
	static.send(Update{Source: "static:web.yml", Err: errors.New("line 1: broken again")})
	consul.send(Update{Err: errors.New("Consul 127.0.0.1:8500: connection refused")})
	time.Sleep(50 * time.Millisecond) // give a wrong render the chance to happen
	if got := pairs(getSD(t, m, "")); !slices.Equal(got, []string{"a m", "b m", "c m"}) {
		t.Errorf("after a later failure /sd = %v, want the last good targets", got)
	}
}

// getStatus fetches /sd and returns its status and body.
func getStatus(t *testing.T, h http.Handler, query string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/sd"+query, nil))
	return rec.Code, rec.Body.String()
}

func TestManagerNoProvidersServesEmptyList(t *testing.T) {
	m := startManager(t, ManagerOptions{})
	eventually(t, 5*time.Second, "a snapshot", func() bool { return m.snap.Load() != nil })
	if got := getSD(t, m, ""); len(got) != 0 {
		t.Errorf("/sd = %v, want []", got)
	}
}

// A restarted provider (its configuration changed) must not make targets
// blink: the old targets are served until the new provider reports.
func TestManagerHandoverOnReload(t *testing.T) {
	m := startManager(t, ManagerOptions{})
	old := newFakeProvider()
	m.SetProviders([]NamedProvider{{Name: "consul[0]", Kind: "consul", Key: "v1", Provider: old}})
	old.send(Update{Source: "consul:web", Groups: []TargetGroup{group("m", "old")}})
	waitPairs(t, m, "", "old m")

	replacement := newFakeProvider()
	m.SetProviders([]NamedProvider{{Name: "consul[0]", Kind: "consul", Key: "v2", Provider: replacement}})
	select {
	case <-old.stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("the replaced provider was not stopped")
	}
	time.Sleep(50 * time.Millisecond)
	if got := pairs(getSD(t, m, "")); !slices.Equal(got, []string{"old m"}) {
		t.Fatalf("before the new provider reports, /sd = %v, want the old targets", got)
	}
	replacement.send(Update{Source: "consul:web", Groups: []TargetGroup{group("m", "new")}})
	waitPairs(t, m, "", "new m")

	// Same name and key: the provider keeps running (no restart).
	m.SetProviders([]NamedProvider{{Name: "consul[0]", Kind: "consul", Key: "v2", Provider: newFakeProvider()}})
	select {
	case <-replacement.stopped:
		t.Fatal("an unchanged provider was restarted")
	case <-time.After(50 * time.Millisecond):
	}
	replacement.send(Update{Source: "consul:web", Groups: []TargetGroup{group("m", "newer")}})
	waitPairs(t, m, "", "newer m")
}

// A provider restarted by a reload that fails before it is good does not
// replace the old one's targets with nothing.
func TestManagerHandoverKeepsOldWhileNewFails(t *testing.T) {
	m := startManager(t, ManagerOptions{})
	old := newFakeProvider()
	m.SetProviders([]NamedProvider{{Name: "static[0]", Kind: "static", Key: "v1", Provider: old}})
	old.send(Update{Source: "static:web.yml", Groups: []TargetGroup{group("m", "old")}})
	waitPairs(t, m, "", "old m")

	replacement := newFakeProvider()
	m.SetProviders([]NamedProvider{{Name: "static[0]", Kind: "static", Key: "v2", Provider: replacement}})
	replacement.send(Update{Source: "static:web.yml", Err: errors.New("line 1: broken")}, Update{Source: "static:db.yml", Groups: []TargetGroup{group("m", "db")}})
	time.Sleep(50 * time.Millisecond) // give a wrong render the chance to happen
	if got := pairs(getSD(t, m, "")); !slices.Equal(got, []string{"old m"}) {
		t.Fatalf("while the new provider fails, /sd = %v, want the old targets", got)
	}
	replacement.send(Update{Source: "static:web.yml", Groups: []TargetGroup{group("m", "new")}})
	waitPairs(t, m, "", "db m", "new m")
}

// Adding or removing targets never moves the others between shards.
func TestManagerShardStability(t *testing.T) {
	const n = 3
	targets := func(from, to int) []string {
		var ts []string
		for i := from; i < to; i++ {
			ts = append(ts, fmt.Sprintf("https://site%d.example", i))
		}
		return ts
	}
	managers := make([]*Manager, n)
	providers := make([]*fakeProvider, n)
	for i := range n {
		managers[i] = startManager(t, ManagerOptions{Shard: Shard{uint64(i), n}})
		providers[i] = newFakeProvider()
		managers[i].SetProviders([]NamedProvider{named("static[0]", "static", providers[i])})
	}
	owners := func(ts []string) map[string]int {
		want := map[string]int{}
		for _, tg := range ts {
			for i := range n {
				if (Shard{uint64(i), n}).Contains(tg, "http_2xx") {
					want[tg] = i
				}
			}
		}
		return want
	}
	assign := func(ts []string) map[string]int {
		t.Helper()
		want := owners(ts)
		got := map[string]int{}
		for i := range n {
			providers[i].send(Update{Source: "static:x", Groups: []TargetGroup{group("http_2xx", ts...)}})
		}
		for i := range n {
			var mine []string
			for tg, owner := range want {
				if owner == i {
					mine = append(mine, tg+" http_2xx")
				}
			}
			for _, p := range pairs(waitPairs(t, managers[i], "", mine...)) {
				got[strings.TrimSuffix(p, " http_2xx")] = i
			}
		}
		if len(got) != len(ts) {
			t.Fatalf("%d of %d targets served by some shard", len(got), len(ts))
		}
		return got
	}
	before := assign(targets(0, 300))
	after := assign(append(targets(50, 300), targets(1000, 1100)...)) // 50 removed, 100 added
	moved := 0
	for tg, shard := range after {
		if old, ok := before[tg]; ok && old != shard {
			moved++
		}
	}
	if moved != 0 {
		t.Errorf("%d targets changed shard when others were added and removed", moved)
	}
}

func TestSDHandler(t *testing.T) {
	m := startManager(t, ManagerOptions{})
	p := newFakeProvider()
	m.SetProviders([]NamedProvider{named("static[0]", "static", p)})
	var many []string
	for i := range 200 {
		many = append(many, fmt.Sprintf("https://host%d.example.org", i))
	}
	p.send(Update{Source: "static:x", Groups: []TargetGroup{group("http_2xx", many...), group("icmp", "10.0.0.1")}})
	eventually(t, 5*time.Second, "targets", func() bool {
		snap := m.snap.Load()
		return snap != nil && snap.unavailable == "" && len(getSD(t, m, "")) == 2
	})

	do := func(method, query string, header http.Header) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "/sd"+query, nil)
		for k, v := range header {
			req.Header[k] = v
		}
		rec := httptest.NewRecorder()
		m.ServeHTTP(rec, req)
		return rec
	}

	t.Run("compressed once, before any request", func(t *testing.T) {
		// The manager compresses right after publishing: no client asking
		// for gzip waits for it, and no request compresses anything.
		snap := m.snap.Load()
		eventually(t, 5*time.Second, "the gzip body", func() bool { return snap.full.gz.Load() != nil })
		gz := snap.full.gz.Load()
		do(http.MethodGet, "", http.Header{"Accept-Encoding": {"gzip"}})
		if snap.full.gz.Load() != gz {
			t.Error("a request compressed the snapshot again")
		}
	})
	t.Run("module filter", func(t *testing.T) {
		if got := pairs(getSD(t, m, "?module=icmp")); !slices.Equal(got, []string{"10.0.0.1 icmp"}) {
			t.Errorf("?module=icmp = %v", got)
		}
		if got := getSD(t, m, "?module=unknown"); len(got) != 0 {
			t.Errorf("?module=unknown = %v, want []", got)
		}
	})
	t.Run("gzip", func(t *testing.T) {
		plain := do(http.MethodGet, "", nil)
		rec := do(http.MethodGet, "", http.Header{"Accept-Encoding": {"gzip, deflate"}})
		if rec.Header().Get("Content-Encoding") != "gzip" {
			t.Fatalf("Content-Encoding = %q, want gzip", rec.Header().Get("Content-Encoding"))
		}
		zr, err := gzip.NewReader(rec.Body)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		if string(body) != plain.Body.String() {
			t.Error("gzip body differs from the plain one")
		}
		if rec.Header().Get("ETag") == plain.Header().Get("ETag") {
			t.Error("gzip and identity representations must have different ETags")
		}
		if r := do(http.MethodGet, "", http.Header{"Accept-Encoding": {"gzip;q=0"}}); r.Header().Get("Content-Encoding") != "" {
			t.Error("gzip;q=0 refuses gzip")
		}
	})
	t.Run("etag", func(t *testing.T) {
		first := do(http.MethodGet, "", nil)
		etag := first.Header().Get("ETag")
		if etag == "" {
			t.Fatal("no ETag")
		}
		if rec := do(http.MethodGet, "", http.Header{"If-None-Match": {etag}}); rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
			t.Errorf("If-None-Match with the current ETag: %d, %d bytes; want 304, empty", rec.Code, rec.Body.Len())
		}
		if rec := do(http.MethodGet, "", http.Header{"If-None-Match": {`"stale"`}}); rec.Code != http.StatusOK {
			t.Errorf("If-None-Match with a stale ETag: %d, want 200", rec.Code)
		}
		mod := do(http.MethodGet, "?module=icmp", nil).Header().Get("ETag")
		if mod == etag {
			t.Error("a module's answer needs its own ETag")
		}
	})
	t.Run("head and methods", func(t *testing.T) {
		rec := do(http.MethodHead, "", nil)
		if rec.Code != http.StatusOK || rec.Body.Len() != 0 || rec.Header().Get("Content-Length") == "" {
			t.Errorf("HEAD: %d, %d bytes, Content-Length %q", rec.Code, rec.Body.Len(), rec.Header().Get("Content-Length"))
		}
		if rec := do(http.MethodPost, "", nil); rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("POST: %d, want 405", rec.Code)
		}
	})
}

func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{
		"":                    false,
		"gzip":                true,
		"deflate, gzip;q=1.0": true,
		"GZIP":                true,
		"gzip;q=0":            false,
		"gzip; q=0.0":         false,
		"*":                   true,
		"br, deflate":         false,
		"x-gzip-not":          false,
	} {
		if got := acceptsGzip(header); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", header, got, want)
		}
	}
}
