package web

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/checkstate"
	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
	"github.com/vigie-monitoring/vigie/alertrouter/history"
	"github.com/vigie-monitoring/vigie/alertrouter/internal/clock"
	"github.com/vigie-monitoring/vigie/alertrouter/targets"
)

// fillHistory makes a history of n checks in groups of 100, each probed
// every minute for rounds minutes; check i fails one round in i%10+1
// (check 0 always), and the first check went down and came back.
func fillHistory(tb testing.TB, n, rounds int) (*history.History, *clock.Fake) {
	tb.Helper()
	clk := clock.NewFake(time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC))
	h, err := history.Open(history.Options{Path: tb.TempDir(), Clock: clk})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = h.Close() })
	ts := make([]*targets.Target, n)
	for i := range ts {
		ts[i] = targets.New(fmt.Sprintf("https://host-%05d.example.org/health", i), "http_2xx",
			map[string]string{"group": fmt.Sprintf("team-%03d", i/100)})
	}
	for r := range rounds {
		for i, t := range ts {
			ok := r%(i%10+1) != 0
			var ch checkstate.Change
			if i == 0 {
				ok = r != 1 && r != 2
				ch.Before.State = checkstate.Up
				switch r {
				case 2:
					ch.Transition, ch.Before.FailingSince = checkstate.WentDown, clk.Now().Add(-time.Minute)
				case 3:
					ch.Before.State, ch.Transition = checkstate.Down, checkstate.CameBackUp
				}
			}
			h.Probed(t, exporter.Result{Success: ok, Duration: time.Duration(50+i%7*10) * time.Millisecond, Reason: "HTTP status 503 not in 2xx"}, ch, clk.Now())
		}
		clk.Advance(time.Minute)
		if r%10 == 9 {
			if err := h.Flush(); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if err := h.Flush(); err != nil {
		tb.Fatal(err)
	}
	return h, clk
}

func historyPage(tb testing.TB, h *history.History, clk *clock.Fake) (*Page, *httptest.Server) {
	v := baseView()
	v.Problems[0].ID = targets.ID("https://host-00000.example.org/health", "http_2xx")
	p := New(Options{Pipeline: &fakePipeline{view: v}, Version: "test", History: h, Clock: clk})
	mux := http.NewServeMux()
	p.Register(mux)
	srv := httptest.NewServer(mux)
	tb.Cleanup(srv.Close)
	return p, srv
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestHistoryPages(t *testing.T) {
	h, clk := fillHistory(t, 250, 60)
	_, srv := historyPage(t, h, clk)
	first := targets.ID("https://host-00000.example.org/health", "http_2xx")
	for _, tc := range []struct {
		name, path string
		code       int
		want, not  []string
	}{
		{"home links checks and shows availability", "/", 200,
			[]string{`href="checks/http_2xx%20https:%2F%2Fhost-00000.example.org%2Fhealth"`, `<span class="poor">96.66 %</span>`, `href="groups"`, `<label for="search">`}, nil},
		{"list, paginated", "/checks", 200,
			[]string{"250 checks · page 1 of 3", "host-00001.example.org", `<span class="poor">50.00 %</span>`, `rel="next"`}, []string{"host-00200"}},
		{"page 3", "/checks?page=3", 200, []string{"host-00249", `rel="prev"`}, []string{"host-00001."}},
		{"search", "/checks?search=HOST-0012", 200, []string{"10 checks", "host-00120"}, []string{"host-00130"}},
		{"label filter", "/checks?label=group%3Dteam-002", 200, []string{"50 checks", "host-00249"}, []string{"host-00199"}},
		{"bad state", "/checks?state=sideways", 400, []string{`state must be`}, nil},
		{"groups", "/groups?by=group", 200, []string{`data-group="team-000"`, `data-group="team-002"`, `checks?label=group%3Dteam-001`}, nil},
		{"groups by path", "/groups/group", 200, []string{`data-group="team-001"`, `href="../checks?label=group%3Dteam-001"`}, nil},
		{"check page", "/checks/" + url.PathEscape(first), 200,
			[]string{`<svg class="chart"`, `role="img"`, `<title id="chart-title">`, `<polyline class="line" points="`, `class="fail"`,
				`<td><time datetime="2026-11-20T10:01:00Z">2026-11-20 10:01 UTC</time></td>`, "HTTP status 503 not in 2xx", `class="bars"`, `href="../checks"`}, nil},
		{"check page, a year", "/checks/" + url.PathEscape(first) + "?range=1y", 200, []string{`Mean latency, 1d buckets`}, nil},
		{"unknown check", "/checks/nope", 404, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, srv.URL+tc.path)
			if code != tc.code {
				t.Fatalf("status %d, want %d: %s", code, tc.code, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("missing %q", w)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(body, w) {
					t.Errorf("unexpected %q", w)
				}
			}
		})
	}
	// Write methods are not served.
	resp, err := http.Post(srv.URL+"/checks", "application/x-www-form-urlencoded", strings.NewReader("x=1"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /checks: %d", resp.StatusCode)
	}
}

// TestGroupAvailability: a group's availability is its checks' successes
// over their rounds.
func TestGroupAvailability(t *testing.T) {
	h, _ := fillHistory(t, 100, 60)
	gs := h.Groups("group", history.Filter{})
	if len(gs) != 1 || gs[0].Checks != 100 {
		t.Fatalf("groups %+v", gs)
	}
	var ok, rounds float64
	list, _ := h.List(history.Filter{}, 0, 1000)
	for _, c := range list {
		ok += c.Availability[0] * float64(c.Rounds[0])
		rounds += float64(c.Rounds[0])
	}
	if got, want := gs[0].Availability[0], ok/rounds; got-want > 1e-9 || want-got > 1e-9 {
		t.Errorf("group availability %v, want %v", got, want)
	}
	if !regexp.MustCompile(`^\d\d\.\d\d %$`).MatchString(pct(gs[0].Availability[0])) {
		t.Errorf("pct %q", pct(gs[0].Availability[0]))
	}
}

func benchPage(b *testing.B, path string) {
	h, clk := fillHistory(b, 10_000, 15)
	p, _ := historyPage(b, h, clk)
	p.o.Pipeline = &fakePipeline{view: bigView()}
	mux := http.NewServeMux()
	p.Register(mux)
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("%s: %d", path, rec.Code)
		}
	}
}

// The pages at 10,000 checks (goal: the summary well under 100 ms).
func BenchmarkSummaryWithHistory(b *testing.B) { benchPage(b, "/") }
func BenchmarkChecksList(b *testing.B)         { benchPage(b, "/checks?search=host-0") }
func BenchmarkCheckPage(b *testing.B) {
	benchPage(b, "/checks/"+url.PathEscape(targets.ID("https://host-00000.example.org/health", "http_2xx")))
}
func BenchmarkGroupsPage(b *testing.B) { benchPage(b, "/groups?by=group") }

// clusterHist is a cluster's history: the list says which members did
// not answer.
type clusterHist struct{ *history.History }

func (c clusterHist) ListCluster(f history.Filter, offset, limit int) ([]history.Check, int, []string) {
	list, total := c.List(f, offset, limit)
	return list, total, []string{"r3"}
}

// TestClusterHistoryPages: in a router cluster the page of checks says
// which members' checks are missing (they did not answer), and the page
// of a check another member probes redirects to that member's.
func TestClusterHistoryPages(t *testing.T) {
	h, clk := fillHistory(t, 5, 2)
	p := New(Options{Pipeline: &fakePipeline{view: baseView()}, Version: "test", History: clusterHist{h}, Clock: clk,
		ProbedAt: func(id string) string {
			if id == "http_2xx https://elsewhere.example" {
				return "http://r2.example:9116/"
			}
			return ""
		}})
	mux := http.NewServeMux()
	p.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	if code, body := get(t, srv.URL+"/checks"); code != 200 || !strings.Contains(body, "Not listed: the checks of r3, which did not answer.") {
		t.Errorf("/checks: %d\n%s", code, body)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(srv.URL + "/checks/" + url.PathEscape("http_2xx https://elsewhere.example") + "?range=30d")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusTemporaryRedirect ||
		loc != "http://r2.example:9116/checks/"+url.PathEscape("http_2xx https://elsewhere.example")+"?range=30d" {
		t.Errorf("a check another member probes: %d, Location %q", resp.StatusCode, loc)
	}
	if code, _ := get(t, srv.URL+"/checks/"+url.PathEscape("http_2xx https://nowhere.example")); code != http.StatusNotFound {
		t.Errorf("an unknown check: %d", code)
	}
}
