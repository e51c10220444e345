package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/view"
)

// withProblems adds checks to a fake pipeline's View.
type withProblems struct {
	*fakePipeline
	problems []view.CheckView
}

func (w withProblems) View() *view.View {
	v := w.fakePipeline.View()
	v.Problems = w.problems
	return v
}

// TestGetAlertsListsDownChecks: a DOWN check is an alert of GET
// /api/v2/alerts (ProbeFailed, its labels), with the locations that fail
// it when probed from several; an UP flapping one is not.
func TestGetAlertsListsDownChecks(t *testing.T) {
	since := time.Date(2026, 12, 5, 10, 2, 0, 0, time.UTC)
	labels := map[string]string{"alertname": "ProbeFailed", "instance": "https://shop.example", "module": "http_2xx"}
	p := withProblems{fakePipeline: &fakePipeline{now: time.Now}, problems: []view.CheckView{
		{ID: "http_2xx https://shop.example", Target: "https://shop.example", Module: "http_2xx", Labels: labels,
			State: "down", Since: since, Reason: "2/3 locations: paris: connection refused; berlin: timeout",
			Notified: []string{"ops"}, MutedBy: []string{"3fa85f64-5717-4562-b3fc-2c963f66afa6", "maintenance:nightly"},
			Locations: []notify.LocationResult{{Location: "paris", Failing: true}, {Location: "berlin", Failing: true}, {Location: "amsterdam"}}},
		{ID: "http_2xx https://flap.example", Target: "https://flap.example", Module: "http_2xx",
			Labels: map[string]string{"alertname": "ProbeFailed", "instance": "https://flap.example"}, State: "up", Flapping: true},
	}}
	cfg, err := config.ParseRouter([]byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	New(Options{Pipeline: p, Config: func() *config.RouterConfig { return cfg }, Now: time.Now}).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/v2/alerts?filter=" + `instance="https://shop.example"`)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got []GettableAlert
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("got %d alerts, want the DOWN check: %+v", len(got), got)
	}
	a := got[0]
	if a.Labels["alertname"] != "ProbeFailed" || a.Annotations["locations_failing"] != "paris,berlin" ||
		a.Annotations["description"] == "" || !a.StartsAt.Equal(since) || a.Fingerprint != notify.Fingerprint(labels) {
		t.Errorf("alert = %+v", a)
	}
	if a.Status.State != "suppressed" || len(a.Status.SilencedBy) != 1 || len(a.Receivers) != 1 || a.Receivers[0].Name != "ops" {
		t.Errorf("status = %+v, receivers %+v", a.Status, a.Receivers)
	}
	resp2, err := http.Get(srv.URL + "/api/v2/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	var all []GettableAlert
	if err := json.NewDecoder(resp2.Body).Decode(&all); err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 {
		t.Errorf("%d alerts, want only the DOWN check (not the flapping UP one)", len(all))
	}
}
