package discovery

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// sdExchange is one /sd request as a client made it and how it was answered.
type sdExchange struct {
	query, acceptEncoding, ifNoneMatch, userAgent string
	status                                        int
	contentType, contentEncoding                  string
}

// recordingWriter keeps the status of an answer.
type recordingWriter struct {
	http.ResponseWriter
	status int
}

func (w *recordingWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// TestPrometheusHTTPSDClient: the real Prometheus reads /sd and
// /sd?module=… through http_sd_configs, follows a change, and every
// answer it got is the one its request asked for (the JSON as rendered
// unless it asks for gzip, 304 only when it revalidates). What Prometheus
// sends is logged: 2.42 asks for neither gzip nor revalidation.
func TestPrometheusHTTPSDClient(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus")
	}
	m := startManager(t, ManagerOptions{})
	p := newFakeProvider()
	m.SetProviders([]NamedProvider{named("static[0]", "static", p)})
	// Loopback addresses on closed ports: Prometheus may scrape some
	// before the test ends (its scrape interval is an hour), harmlessly.
	targets := func(n, from int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("127.0.0.1:%d", 1024+from+i))
		}
		return out
	}
	p.send(Update{Source: "static:x", Groups: []TargetGroup{group("tcp_connect", targets(1500, 0)...), group("icmp", targets(500, 2000)...)}})

	var mu sync.Mutex
	var seen []sdExchange
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &recordingWriter{ResponseWriter: w, status: http.StatusOK}
		m.ServeHTTP(rw, r)
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, sdExchange{
			query: r.URL.RawQuery, acceptEncoding: r.Header.Get("Accept-Encoding"), ifNoneMatch: r.Header.Get("If-None-Match"),
			userAgent: r.Header.Get("User-Agent"), status: rw.status,
			contentType: w.Header().Get("Content-Type"), contentEncoding: w.Header().Get("Content-Encoding"),
		})
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })

	sdURL := "http://" + l.Addr().String() + "/sd"
	promAddr := startPrometheus(t, []byte(fmt.Sprintf(`global:
  scrape_interval: 1h
scrape_configs:
  - job_name: all
    http_sd_configs:
      - url: %s
        refresh_interval: 1s
  - job_name: icmp
    http_sd_configs:
      - url: %s?module=icmp
        refresh_interval: 1s
`, sdURL, sdURL)))

	activeTargets := func() map[string]int {
		resp, err := http.Get("http://" + promAddr + "/api/v1/targets?state=active")
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		var body struct {
			Data struct {
				ActiveTargets []struct {
					Labels map[string]string `json:"labels"`
				} `json:"activeTargets"`
			} `json:"data"`
		}
		if json.NewDecoder(resp.Body).Decode(&body) != nil {
			return nil
		}
		byJob := map[string]int{}
		for _, a := range body.Data.ActiveTargets {
			byJob[a.Labels["job"]]++
		}
		return byJob
	}
	waitTargets := func(all, icmp int) {
		t.Helper()
		var got map[string]int
		eventually(t, 60*time.Second, fmt.Sprintf("Prometheus to discover %d and %d targets", all, icmp), func() bool {
			got = activeTargets()
			return got["all"] == all && got["icmp"] == icmp
		})
	}
	waitTargets(2000, 500)
	p.send(Update{Source: "static:x", Groups: []TargetGroup{group("tcp_connect", targets(1000, 0)...), group("icmp", targets(600, 2000)...)}})
	waitTargets(1600, 600)

	mu.Lock()
	defer mu.Unlock()
	if len(seen) < 4 {
		t.Fatalf("%d /sd requests recorded, want Prometheus's", len(seen))
	}
	agents := map[string]bool{}
	for _, x := range seen {
		agents[fmt.Sprintf("User-Agent %q, Accept-Encoding %q, If-None-Match %q", x.userAgent, x.acceptEncoding, x.ifNoneMatch)] = true
		wantEncoding := ""
		if strings.Contains(x.acceptEncoding, "gzip") {
			wantEncoding = "gzip"
		}
		wantStatus := http.StatusOK
		if x.ifNoneMatch != "" {
			wantStatus = 0 // 200 or 304, depending on whether it changed
		}
		if wantStatus != 0 && x.status != wantStatus || x.contentType != "application/json" || x.contentEncoding != wantEncoding {
			t.Errorf("/sd?%s asked with Accept-Encoding %q, If-None-Match %q: answered %d, %q, Content-Encoding %q",
				x.query, x.acceptEncoding, x.ifNoneMatch, x.status, x.contentType, x.contentEncoding)
		}
	}
	for a := range agents {
		t.Logf("Prometheus's /sd requests: %s", a)
	}
}
