package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/checkstate"
	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
	"github.com/vigie-monitoring/vigie/alertrouter/history"
	"github.com/vigie-monitoring/vigie/alertrouter/internal/clock"
	"github.com/vigie-monitoring/vigie/alertrouter/targets"
)

// publicFixture: group "shop" has a check down whose target carries
// credentials and a token, group "internal" is not chosen.
func publicFixture(t *testing.T, reasons bool) *httptest.Server {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC))
	h, err := history.Open(history.Options{Path: t.TempDir(), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	secret := targets.New("https://bob:hunter2@shop.example/health?token=s3cr3t", "http_2xx", map[string]string{"group": "shop"})
	fine := targets.New("https://www.example", "http_2xx", map[string]string{"group": "shop", "name": "Web site"})
	hidden := targets.New("https://intranet.example", "http_2xx", map[string]string{"group": "internal"})
	var st checkstate.Status
	for i := range 5 {
		before := st
		tr := st.Observe(false, "connection refused by 10.1.2.3 (internal reason)", clk.Now(), 2, 1)
		h.Probed(secret, exporter.Result{Reason: "connection refused by 10.1.2.3 (internal reason)"}, checkstate.Change{Before: before, Transition: tr}, clk.Now())
		h.Probed(fine, exporter.Result{Success: true, Duration: time.Millisecond}, checkstate.Change{Transition: map[bool]checkstate.Transition{true: checkstate.BecameUp}[i == 0]}, clk.Now())
		h.Probed(hidden, exporter.Result{Reason: "intranet down"}, checkstate.Change{}, clk.Now())
		clk.Advance(time.Minute)
	}
	if err := h.Flush(); err != nil {
		t.Fatal(err)
	}
	p := NewPublic(PublicOptions{History: h, Groups: []string{"shop"}, Reasons: reasons, Now: clk.Now, Title: "Shop status"})
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv
}

func TestPublicStatusPage(t *testing.T) {
	srv := publicFixture(t, false)
	code, body := get(t, srv.URL+"/")
	if code != 200 {
		t.Fatalf("GET /: %d %s", code, body)
	}
	for _, want := range []string{"<h1>Shop status</h1>", "1 check down", `id="group-shop"`, "https://shop.example/health", `class="bars"`,
		"since <time", "24 h: <b class=\"poor\">50.00 %</b>"} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %q", want)
		}
	}
	for _, leak := range []string{"hunter2", "bob", "s3cr3t", "token", "10.1.2.3", "internal reason", "intranet", "internal", "<form", "silence", "<script"} {
		if strings.Contains(body, leak) {
			t.Errorf("the public page shows %q", leak)
		}
	}
	// Nothing else is served, and nothing can be written.
	for _, tc := range []struct{ method, path string }{
		{"POST", "/"}, {"POST", "/silences"}, {"POST", "/api/v2/silences"}, {"POST", "/api/v2/alerts"}, {"PUT", "/"},
		{"DELETE", "/api/v2/silence/x"}, {"POST", "/-/reload"}, {"POST", "/receivers/ops/test"},
		{"GET", "/api/v2/silences"}, {"GET", "/checks"}, {"GET", "/api/v1/checks"}, {"GET", "/metrics"}, {"GET", "/config"}, {"GET", "/events"},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(`{"matchers":[]}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := map[bool]int{true: 405, false: 404}[tc.method != "GET"]; resp.StatusCode != want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, resp.StatusCode, want)
		}
	}
}

func TestPublicStatusPageReasonsWhenAllowed(t *testing.T) {
	srv := publicFixture(t, true)
	_, body := get(t, srv.URL+"/")
	if !strings.Contains(body, "internal reason") {
		t.Error("reasons allowed but not shown")
	}
	if strings.Contains(body, "hunter2") || strings.Contains(body, "s3cr3t") {
		t.Error("credentials shown")
	}
}

// BenchmarkPublicPage renders the public page of 10 groups of 100 checks
// among 10,000 (its rendering is cached 10 s; this measures one).
func BenchmarkPublicPage(b *testing.B) {
	h, clk := fillHistory(b, 10_000, 15)
	groups := make([]string, 10)
	for i := range groups {
		groups[i] = fmt.Sprintf("team-%03d", i)
	}
	p := NewPublic(PublicOptions{History: h, Groups: groups, Now: clk.Now})
	for b.Loop() {
		p.mu.Lock()
		p.cache = nil
		p.mu.Unlock()
		rec := httptest.NewRecorder()
		p.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}
