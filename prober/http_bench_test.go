package prober

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/vigie-monitoring/vigie/config"
)

// BenchmarkProbeHandlerHTTP drives the whole /probe handler for an http_2xx
// probe of a loopback fixture, with the headers Prometheus sends.
func BenchmarkProbeHandlerHTTP(b *testing.B) {
	fixture := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	defer fixture.Close()
	cfg, err := config.Parse([]byte("modules:\n  http_2xx:\n    prober: http\n    http:\n      preferred_ip_protocol: ip4\n"))
	if err != nil {
		b.Fatal(err)
	}
	h := &Handler{
		Config:        func() *config.Config { return cfg },
		Logger:        slog.New(slog.DiscardHandler),
		ProberLevel:   slog.LevelInfo,
		TimeoutOffset: 0.5,
	}
	target := "/probe?module=http_2xx&target=" + url.QueryEscape(fixture.URL)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest("GET", target, nil)
		req.Header.Set("Accept-Encoding", "gzip")
		req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "5")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}
