package locations

import (
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

// TestTemplateLocations: the fields docs/receivers/templates.md documents
// for each location reach a custom template.
func TestTemplateLocations(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	locs := Results(round(fail("connection refused"), ok(), gone()))
	n := &notify.Notification{Kind: notify.KindDown, Status: notify.StatusFiring, Alerts: []notify.Alert{{
		Labels: map[string]string{"alertname": "ProbeFailed", "instance": "https://shop.example", "module": "http_2xx"},
		Status: notify.StatusFiring, Check: true, StartsAt: now, Locations: locs,
	}}}
	tmpl, err := notify.NewTextTemplate("test", `{{ range .Alerts }}{{ range .Locations }}{{ .Location }}={{ if .Unreachable }}unreachable{{ else if .Failing }}failing{{ else }}ok{{ end }}{{ with .Reason }} ({{ . }}){{ end }};{{ end }}{{ end }}`, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tmpl.Execute(notify.NewData(n, now))
	if err != nil {
		t.Fatal(err)
	}
	want := "paris=failing (connection refused);berlin=ok;amsterdam=unreachable (exporter unreachable: connection refused);"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}
