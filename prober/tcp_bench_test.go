package prober

import (
	"bytes"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/vigie-monitoring/vigie/config"
)

// BenchmarkProbeHandlerTCP measures a whole /probe request of a tcp_connect
// module, as Prometheus sends it, against a loopback listener that accepts
// and closes: the cost of the exporter around one TCP connection.
func BenchmarkProbeHandlerTCP(b *testing.B) {
	addr := serveLoopback(b, func(net.Conn) {})

	cfg, err := config.Parse([]byte("modules:\n  tcp_connect:\n    prober: tcp\n    tcp:\n      preferred_ip_protocol: ip4\n"))
	if err != nil {
		b.Fatal(err)
	}
	h := &Handler{
		Config:      func() *config.Config { return cfg },
		Logger:      slog.New(slog.DiscardHandler),
		ProberLevel: LevelNone,
	}
	req := httptest.NewRequest(http.MethodGet, "/probe?module=tcp_connect&target="+addr, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "5")

	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if !bytes.Contains(w.Body.Bytes(), []byte("probe_success 1\n")) {
			b.Fatalf("probe failed:\n%s", w.Body.String())
		}
	}
}
