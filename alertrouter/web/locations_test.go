package web

import (
	"strings"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/view"
)

// TestPageLocations: probed from several locations, the page says which
// exporters answer and lists the degraded checks with the failing
// locations and their reasons (escaped).
func TestPageLocations(t *testing.T) {
	f := setup(t, Options{})
	v := baseView()
	v.Locations = []view.LocationView{
		{Location: "paris", ExporterView: view.ExporterView{URL: "http://paris:9115", Reachable: true}},
		{Location: "amsterdam", ExporterView: view.ExporterView{URL: "http://ams:9115", Since: now.Add(-5 * time.Minute), LastError: "connection refused"}},
	}
	v.Degraded = []view.CheckView{{ID: "http_2xx https://shop.example", Target: "https://shop.example", Module: "http_2xx", State: "up",
		Locations: []notify.LocationResult{{Location: "paris", Failing: true, Reason: "HTTP status 503 <b>"}, {Location: "amsterdam", Unreachable: true, Reason: "connection refused"}}}}
	f.engine.set(v)
	_, page := f.get(t, "/")
	contains(t, "page", page,
		`Probed from 2 locations`,
		`data-location="amsterdam">amsterdam (exporter <code>http://ams:9115</code> unreachable`,
		`id="degraded"`,
		`class="location-failing" data-location="paris">paris: HTTP status 503 &lt;b&gt;`)
	if strings.Contains(page, `class="location-failing" data-location="amsterdam"`) {
		t.Error("an unreachable location is listed as failing the check")
	}

	// One location: none of it.
	f.engine.set(baseView())
	if _, page := f.get(t, "/"); strings.Contains(page, "Probed from") || strings.Contains(page, `id="degraded"`) {
		t.Error("one exporter shows locations")
	}
}
