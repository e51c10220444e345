package api

import (
	"testing"
)

// FuzzAPIPayloads posts arbitrary bodies to the endpoints Prometheus and
// amtool write to: the answer is always JSON (checked by call), 200 or a 4xx
// naming the problem, never a 5xx or a panic.
func FuzzAPIPayloads(f *testing.F) {
	f.Add(uint8(0), `[{"labels":{"alertname":"HighLatency","instance":"a"},"annotations":{"summary":"x"},"startsAt":"0001-01-01T00:00:00Z","endsAt":"2026-11-21T10:00:00Z","generatorURL":"http://p/graph"}]`)
	f.Add(uint8(0), `[{"labels":{}}, {"labels":{"alertname":""}}, {"labels":{"alertname":"x","":"y"}}]`)
	f.Add(uint8(1), `{"matchers":[{"name":"alertname","value":"Foo","isRegex":false,"isEqual":true}],"startsAt":"2026-11-21T10:00:00Z","endsAt":"2099-01-01T00:00:00Z","createdBy":"ann","comment":"x"}`)
	f.Add(uint8(1), `{"matchers":[{"name":"job","value":".*","isRegex":true}],"endsAt":"2099-01-01T00:00:00Z","createdBy":"a","comment":"c"}`)
	f.Add(uint8(1), `{"id":"not-a-uuid","matchers":[{"name":"a","value":"(","isRegex":true}]}`)
	fx := setup(f)
	f.Fuzz(func(t *testing.T, endpoint uint8, body string) {
		path := "/api/v2/alerts"
		if endpoint%2 == 1 {
			path = "/api/v2/silences"
		}
		code, data := fx.call(t, "POST", path, body)
		if code >= 500 || (code != 200 && code/100 != 4) {
			t.Fatalf("POST %s %q: %d %s", path, body, code, data)
		}
	})
}
