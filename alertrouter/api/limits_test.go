package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigie-monitoring/vigie/alertrouter/alerts"
	"github.com/vigie-monitoring/vigie/alertrouter/silence"
)

// TestWritesMustBeJSON: the API takes JSON only, so that a web page cannot
// post to it as a "simple" cross-site form (text/plain,
// application/x-www-form-urlencoded, multipart/form-data), whose body
// can be made to look like JSON.
func TestWritesMustBeJSON(t *testing.T) {
	f := setup(t)
	silenceBody := `{"matchers":[{"name":"alertname","value":".+","isRegex":true}],"endsAt":"2099-01-01T00:00:00Z","createdBy":"evil","comment":"x","z":"="}`
	alertBody := `[{"labels":{"alertname":"Injected"}}]`
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonp", "text/json"} {
		for path, body := range map[string]string{"/api/v2/silences": silenceBody, "/api/v2/alerts": alertBody} {
			code, data := f.callWith(t, "POST", path, body, map[string]string{"Content-Type": ct})
			if code != 415 || !strings.Contains(string(data), "Content-Type must be application/json") {
				t.Errorf("POST %s as %q: %d %s, want 415", path, ct, code, data)
			}
		}
	}
	if n := len(f.silences.List()); n != 0 {
		t.Errorf("%d silences created", n)
	}
	if n := len(f.engine.got()); n != 0 {
		t.Errorf("%d alerts taken", n)
	}
	// Parameters are fine (some clients send a charset).
	if code, data := f.callWith(t, "POST", "/api/v2/alerts", alertBody, map[string]string{"Content-Type": "application/json; charset=utf-8"}); code != 200 {
		t.Errorf("application/json with a charset: %d %s", code, data)
	}
}

func alertsJSON(n int, label string) string {
	var b strings.Builder
	b.WriteString("[")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"labels":{"alertname":"A%d","big":%q}}`, i, label)
	}
	b.WriteString("]")
	return b.String()
}

// TestAlertLimits: each limit refuses with a 4xx that names it (and what
// it refused), keeps what is within the limits, and counts the refusals.
func TestAlertLimits(t *testing.T) {
	f := setupWith(t, Limits{MaxRequestBytes: 64 << 10, MaxAlertsPerRequest: 10, MaxAlertSizeBytes: 1024}, silence.Limits{})
	f.engine.maxAlerts = 12

	// The body: refused whole, 413.
	code, data := f.call(t, "POST", "/api/v2/alerts", alertsJSON(2, strings.Repeat("x", 40<<10)))
	if code != 413 || !strings.Contains(string(data), "request body larger than 65536 bytes (--web.max-request-bytes)") {
		t.Errorf("large body: %d %s", code, data)
	}
	// Too many alerts in one request: 413, none taken.
	code, data = f.call(t, "POST", "/api/v2/alerts", alertsJSON(11, "x"))
	if code != 413 || !strings.Contains(string(data), "more than 10 alerts in one request (--alerts.max-alerts-per-request=10)") {
		t.Errorf("11 alerts: %d %s", code, data)
	}
	if n := len(f.engine.got()); n != 0 {
		t.Fatalf("%d alerts taken from refused requests", n)
	}
	// Ten fit.
	if code, data := f.call(t, "POST", "/api/v2/alerts", alertsJSON(10, "x")); code != 200 {
		t.Fatalf("10 alerts: %d %s", code, data)
	}
	// One alert too large among good ones: 400 naming it (shortened), the
	// others are taken.
	body := `[{"labels":{"alertname":"Big","v":"` + strings.Repeat("y", 2000) + `"}},{"labels":{"alertname":"A10"}}]`
	code, data = f.call(t, "POST", "/api/v2/alerts", body)
	msg := decodeAs[string](t, data)
	if code != 400 || !strings.Contains(msg, `alert 0 {alertname="Big", v="yyyy`) ||
		!strings.Contains(msg, "alert is 2013 bytes (label and annotation names and values, generatorURL), over --alerts.max-alert-size-bytes=1024") ||
		len(msg) > 600 {
		t.Errorf("large alert: %d %s", code, msg)
	}
	// The engine's limit (12 alerts kept): A10 took the 11th place, A11
	// the 12th, A12 is refused; a known alert still refreshes.
	code, data = f.call(t, "POST", "/api/v2/alerts", `[{"labels":{"alertname":"A11"}},{"labels":{"alertname":"A12"}},{"labels":{"alertname":"A0","big":"x"}}]`)
	msg = decodeAs[string](t, data)
	if code != 400 || !strings.Contains(msg, `alert 1 {alertname="A12"}: the router already keeps 12 firing alerts (--alerts.max-alerts=12)`) ||
		strings.Contains(msg, "alert 0") || strings.Contains(msg, "alert 2") {
		t.Errorf("over the engine's limit: %d %s", code, msg)
	}
	if n := len(f.engine.got()); n != 13 { // 10 + A10 + A11 + A0 again
		t.Errorf("%d alerts taken, want 13", n)
	}

	for limit, want := range map[string]float64{LimitRequestBytes: 1, LimitAlertsPerRequest: 1, LimitAlertSize: 1, alerts.LimitAlerts: 1} {
		if got := testutil.ToFloat64(f.refused.WithLabelValues(limit)); got != want {
			t.Errorf("refused{limit=%q} = %v, want %v", limit, got, want)
		}
	}
}

// TestInvalidAlertsAnswerIsBounded: thousands of invalid alerts, each with
// a large bad value, make a short answer.
func TestInvalidAlertsAnswerIsBounded(t *testing.T) {
	f := setupWith(t, Limits{MaxAlertsPerRequest: 5000}, silence.Limits{})
	var b strings.Builder
	b.WriteString("[")
	for i := range 3000 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"labels":{"noalertname":"%s"}}`, strings.Repeat("z", 300))
	}
	b.WriteString("]")
	code, data := f.call(t, "POST", "/api/v2/alerts", b.String())
	msg := decodeAs[string](t, data)
	if code != 400 || !strings.HasSuffix(msg, "; and 2980 more") || len(msg) > 20*600 {
		t.Errorf("%d, %d bytes: %.300s", code, len(msg), msg)
	}
}

func TestSilenceLimitsAPI(t *testing.T) {
	f := setupWith(t, Limits{MaxRequestBytes: 1 << 20}, silence.Limits{MaxSilences: 2, MaxSilenceSizeBytes: 2048, MaxCommentBytes: 1024})
	post := func(comment string) (int, string) {
		t.Helper()
		body, _ := json.Marshal(PostableSilence{Matchers: []Matcher{{Name: "job", Value: "x"}}, EndsAt: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), CreatedBy: "a", Comment: comment})
		code, data := f.call(t, "POST", "/api/v2/silences", string(body))
		return code, string(data)
	}
	cases := []struct {
		comment string
		code    int
		want    string
	}{
		{strings.Repeat("c", 30<<20), 413, "request body larger than 1048576 bytes (--web.max-request-bytes)"},
		{strings.Repeat("c", 1025), 400, "Failed to create silence: comment is 1025 bytes, over --silences.max-comment-bytes=1024"},
		{"one", 200, "silenceID"},
		{"two", 200, "silenceID"},
		{"three", 400, "Failed to create silence: exceeded maximum number of silences: 2 active or pending (limit: --silences.max-silences=2)"},
	}
	for _, c := range cases {
		code, data := post(c.comment)
		if code != c.code || !strings.Contains(data, c.want) || len(data) > 1000 {
			t.Errorf("comment of %d bytes: %d %.300s, want %d %q", len(c.comment), code, data, c.code, c.want)
		}
	}
	for limit, want := range map[string]float64{LimitRequestBytes: 1, silence.LimitComment: 1, silence.LimitSilences: 1} {
		if got := testutil.ToFloat64(f.refused.WithLabelValues(limit)); got != want {
			t.Errorf("refused{limit=%q} = %v, want %v", limit, got, want)
		}
	}
}

// TestWriteJSONArray: the list is streamed element by element, with the
// bytes json.Encoder would write for the whole.
func TestWriteJSONArray(t *testing.T) {
	for _, items := range [][]GettableSilence{nil, {}, {{ID: "a", Comment: "<b>&"}}, {{ID: "a"}, {ID: "b", Matchers: []Matcher{{Name: "x", Value: "y"}}}}} {
		rec := httptest.NewRecorder()
		writeJSONArray(rec, items)
		var want strings.Builder
		_ = json.NewEncoder(&want).Encode(items)
		if items == nil {
			want.Reset()
			want.WriteString("[]\n") // the API never answers null
		}
		if rec.Body.String() != want.String() || rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("writeJSONArray(%v) = %q, want %q", items, rec.Body.String(), want.String())
		}
	}
}

func TestWithout(t *testing.T) {
	le := &alerts.LimitError{Limit: 1}
	other := errors.New("store: disk full")
	for _, c := range []struct {
		err  error
		want string
	}{
		{le, ""},
		{errors.Join(nil, errors.Join(nil, le)), ""},
		{errors.Join(other, errors.Join(nil, le)), "store: disk full"},
		{other, "store: disk full"},
	} {
		got := without(c.err, le)
		if (got == nil) != (c.want == "") || got != nil && got.Error() != c.want {
			t.Errorf("without(%v) = %v, want %q", c.err, got, c.want)
		}
	}
}
