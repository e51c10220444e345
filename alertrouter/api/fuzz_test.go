package api

import (
	"strings"
	"testing"

	"github.com/vigie-monitoring/vigie/alertrouter/silence"
)

// FuzzAPIPayloads posts arbitrary bodies to the endpoints Prometheus and
// amtool write to, with small limits: the answer is always JSON (checked
// by call), 200 or a 4xx naming the problem, never a 5xx or a panic; it
// stays short whatever was posted; and what the router keeps stays within
// the limits.
func FuzzAPIPayloads(f *testing.F) {
	f.Add(uint8(0), `[{"labels":{"alertname":"HighLatency","instance":"a"},"annotations":{"summary":"x"},"startsAt":"0001-01-01T00:00:00Z","endsAt":"2026-11-21T10:00:00Z","generatorURL":"http://p/graph"}]`)
	f.Add(uint8(0), `[{"labels":{}}, {"labels":{"alertname":""}}, {"labels":{"alertname":"x","":"y"}}]`)
	f.Add(uint8(0), `[{"labels":{"alertname":"a"}},{"labels":{"alertname":"b"}},{"labels":{"alertname":"c"}},{"labels":{"alertname":"d"}},{"labels":{"alertname":"e"}},{"labels":{"alertname":"f"}}]`)
	f.Add(uint8(0), `[{"labels":{"alertname":"big","v":"`+strings.Repeat("v", 600)+`"}}]`)
	f.Add(uint8(2), `null`)
	f.Add(uint8(1), `{"matchers":[{"name":"alertname","value":"Foo","isRegex":false,"isEqual":true}],"startsAt":"2026-11-21T10:00:00Z","endsAt":"2099-01-01T00:00:00Z","createdBy":"ann","comment":"x"}`)
	f.Add(uint8(1), `{"matchers":[{"name":"job","value":".*","isRegex":true}],"endsAt":"2099-01-01T00:00:00Z","createdBy":"a","comment":"c"}`)
	f.Add(uint8(1), `{"id":"not-a-uuid","matchers":[{"name":"a","value":"(","isRegex":true}]}`)
	f.Add(uint8(1), `{"matchers":[{"name":"job","value":"x"}],"endsAt":"2099-01-01T00:00:00Z","createdBy":"a","comment":"`+strings.Repeat("c", 300)+`"}`)
	f.Add(uint8(3), `{"matchers":[{"name":"job","value":"x"}],"endsAt":"2099-01-01T00:00:00Z","createdBy":"a","comment":"c","z":"="}`)
	const (
		maxAlerts, maxPerRequest, maxAlertSize  = 8, 5, 512
		maxSilences, maxSilenceSize, maxComment = 10, 1024, 256
	)
	fx := setupWith(f, Limits{MaxRequestBytes: 16 << 10, MaxAlertsPerRequest: maxPerRequest, MaxAlertSizeBytes: maxAlertSize},
		silence.Limits{MaxSilences: maxSilences, MaxSilenceSizeBytes: maxSilenceSize, MaxCommentBytes: maxComment})
	fx.engine.maxAlerts = maxAlerts
	f.Fuzz(func(t *testing.T, endpoint uint8, body string) {
		path := "/api/v2/alerts"
		if endpoint%2 == 1 {
			path = "/api/v2/silences"
		}
		// Half of the requests are not sent as JSON: always refused.
		contentType := "application/json"
		if endpoint&2 != 0 {
			contentType = "text/plain"
		}
		code, data := fx.callWith(t, "POST", path, body, map[string]string{"Content-Type": contentType})
		if code >= 500 || (code != 200 && code/100 != 4) {
			t.Fatalf("POST %s %q: %d %s", path, body, code, data)
		}
		if contentType != "application/json" && code != 415 {
			t.Fatalf("POST %s as %s: %d %s, want 415", path, contentType, code, data)
		}
		if len(data) > 32<<10 {
			t.Fatalf("POST %s: answer of %d bytes", path, len(data))
		}
		alerts := map[string]bool{}
		for _, a := range fx.engine.got() {
			alerts[a.Fingerprint] = true
			n := len(a.GeneratorURL)
			for k, v := range a.Labels {
				n += len(k) + len(v)
			}
			for k, v := range a.Annotations {
				n += len(k) + len(v)
			}
			if n > maxAlertSize {
				t.Fatalf("an alert of %d bytes was taken", n)
			}
		}
		if len(alerts) > maxAlerts {
			t.Fatalf("%d alerts kept", len(alerts))
		}
		sils := fx.silences.List()
		if len(sils) > maxSilences {
			t.Fatalf("%d silences kept", len(sils))
		}
		for _, s := range sils {
			if s.Size() > maxSilenceSize || len(s.Comment) > maxComment {
				t.Fatalf("a silence of %d bytes was kept", s.Size())
			}
		}
	})
}
