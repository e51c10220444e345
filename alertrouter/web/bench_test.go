package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/silence"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
	"github.com/vigie-monitoring/vigie/alertrouter/view"
)

// bigView is the engine's View of 10,000 checks, 300 of them in trouble,
// with 50 Prometheus alerts.
func bigView() *view.View {
	v := &view.View{GeneratedAt: now, Counts: map[string]int{"up": 9650, "down": 280, "unknown": 70, "flapping": 20},
		Exporter: view.ExporterView{URL: "http://127.0.0.1:9115", Reachable: true}}
	for i := range 300 {
		target := fmt.Sprintf("https://host-%04d.example.org/health", i)
		v.Problems = append(v.Problems, view.CheckView{
			ID: "http_2xx " + target, Target: target, Module: "http_2xx", State: "down", Flapping: i%15 == 0,
			Labels: map[string]string{"instance": target, "module": "http_2xx", "group": "web", "alertname": "ProbeFailed"},
			Since:  now.Add(-time.Duration(i) * time.Minute), Reason: "HTTP status 503 not in 2xx",
		})
	}
	for i := range 50 {
		v.Alerts = append(v.Alerts, view.AlertView{
			Alert: notify.Alert{Labels: map[string]string{"alertname": "HighLatency", "instance": fmt.Sprintf("api-%d:9100", i), "job": "api"},
				Annotations: map[string]string{"summary": "p99 latency above 2s"}, StartsAt: now.Add(-time.Hour), EndsAt: now.Add(time.Hour)},
			Receivers: []string{"ops"}, State: "active",
		})
	}
	return v
}

// BenchmarkStatusPage renders the whole page for 10,000 checks (goal:
// well under 100 ms per page).
func BenchmarkStatusPage(b *testing.B) {
	st, err := store.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	sils, _ := silence.New(silence.Options{Store: st})
	for i := range 20 {
		if _, err := sils.Set(silence.Silence{Matchers: []silence.Matcher{{Name: "instance", Value: fmt.Sprintf("api-%d:9100", i), IsEqual: true}},
			EndsAt: time.Now().Add(time.Hour), CreatedBy: "ann", Comment: "maintenance"}); err != nil {
			b.Fatal(err)
		}
	}
	notifs := make([]store.NotificationRecord, 30)
	for i := range notifs {
		notifs[i] = store.NotificationRecord{Integration: "ops/telegram/0", Key: fmt.Sprintf("check|http_2xx https://host-%04d.example.org/health|1|down", i),
			At: now.Add(-time.Duration(i) * time.Minute), Outcome: store.OutcomeDelivered}
	}
	p := New(Options{Pipeline: &fakePipeline{view: bigView()}, Silences: sils, Version: "bench",
		Notifications: func(int) ([]store.NotificationRecord, error) { return notifs, nil }})
	mux := http.NewServeMux()
	p.Register(mux)
	req := httptest.NewRequest("GET", "/", nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}

// BenchmarkLiveFragments renders what one live update sends.
func BenchmarkLiveFragments(b *testing.B) {
	p := New(Options{Pipeline: &fakePipeline{view: bigView()}, Version: "bench"})
	b.ReportAllocs()
	var gen uint64
	for b.Loop() {
		gen++ // a new update each time: no cached rendering
		if _, err := p.fragments(gen, 1); err != nil {
			b.Fatal(err)
		}
	}
}
