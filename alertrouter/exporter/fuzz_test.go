package exporter

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// FuzzParseProbeAnswer: whatever an exporter answers (vigie's JSON, a stock
// blackbox_exporter's text exposition, or garbage from something else on
// that port), the router gets a result or an exporter error, never a panic,
// and never a failure without a reason.
func FuzzParseProbeAnswer(f *testing.F) {
	f.Add("application/json", []byte(`{"success":false,"reason":"connection refused by 127.0.0.1:80"}`))
	f.Add("application/json", []byte(`{"success":true,"metrics":[{"name":"probe_success","value":1}]}`))
	f.Add("text/plain; version=0.0.4; charset=utf-8", []byte("# HELP probe_success x\n# TYPE probe_success gauge\nprobe_success 0\n"))
	f.Add("text/plain", []byte("probe_success{} 1e0\n"))
	f.Add("text/html", []byte("<html>proxy error</html>"))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		res := parseProbeAnswer(contentType, body)
		if res.Err == nil && !res.Success && strings.TrimSpace(res.Reason) == "" {
			t.Fatalf("failure without a reason for %q %q", contentType, body)
		}
		if res.Err != nil && res.Success {
			t.Fatalf("both an error and a success for %q %q", contentType, body)
		}
	})
}

func TestBlankReasonIsNoReason(t *testing.T) {
	res := parseProbeAnswer("application/json", []byte(`{"success":false,"reason":"  "}`))
	if res.Reason != NoReason {
		t.Errorf("reason = %q, want %q", res.Reason, NoReason)
	}
}

// FuzzScanProbeJSON: when the hand-written reader of /probe JSON accepts a
// document, json.Unmarshal accepts it too and reads the same success and
// reason from it.
func FuzzScanProbeJSON(f *testing.F) {
	for _, seed := range scanProbeJSONCases {
		f.Add([]byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkScanProbeJSON(t, body)
	})
}

// scanProbeJSONCases are answers and near-answers; scanned says whether
// the hand-written reader reads them itself (the others go to
// encoding/json).
var scanProbeJSONCases = []struct {
	body    string
	scanned bool
}{
	{`{"success":true}`, true},
	{` {"success" : false , "reason":"connection refused"}` + "\n", true},
	{`{"target":"a","metrics":[{"name":"probe_success","labels":{"phase":"x\"y\u00e9"},"value":-1.5e-3},null,true,[]],"success":false,"reason":"é timeout"}`, true},
	{`{"reason":"late success","success":true}`, true},
	{`{}`, true},
	{`{"success":1}`, false},
	{`{"success":null}`, false},
	{`{"success":true,"success":false}`, false},
	{`{"Success":false}`, false},
	{`{"SUCCESS":true,"success":false}`, false},
	{`{"ſuccess":true}`, false},
	{`{"reason":"a\nb","success":false}`, false},
	{`{"reason":"","success":false}`, false},
	{`{"reason":"a","reason":"b"}`, false},
	{`{"success":true,}`, false},
	{`{"success":true} x`, false},
	{`{"a":01,"success":true}`, false},
	{`{"a":1.,"success":true}`, false},
	{`{"a":-,"success":true}`, false},
	{`{"a":"\x","success":true}`, false},
	{`{"a":"\u12g4","success":true}`, false},
	{"{\"a\":\"\x01\",\"success\":true}", false},
	{`{"a":[1,],"success":true}`, false},
	{`{"a":{"b":1,},"success":true}`, false},
	{`{"a":nul,"success":true}`, false},
	{`{"reason":"\xff","success":false}`, false},
	{`[{"success":true}]`, false},
	{``, false},
	{`{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],"success":true}`, false},
}

func TestScanProbeJSON(t *testing.T) {
	for _, c := range scanProbeJSONCases {
		if _, ok := scanProbeJSON([]byte(c.body)); ok != c.scanned {
			t.Errorf("scanProbeJSON(%q): read itself %v, want %v", c.body, ok, c.scanned)
		}
		checkScanProbeJSON(t, []byte(c.body))
	}
	// What vigie_exporter answers, with its metrics.
	body, err := os.ReadFile("testdata/probe-http.json")
	if err != nil {
		t.Fatal(err)
	}
	p, ok := scanProbeJSON(body)
	if !ok || p.Success == nil || !*p.Success || p.Reason != "" {
		t.Errorf("exporter's answer: %+v, read itself %v", p, ok)
	}
	checkScanProbeJSON(t, body)
}

func checkScanProbeJSON(t *testing.T, body []byte) {
	t.Helper()
	got, ok := scanProbeJSON(body)
	if !ok {
		return
	}
	var want probeJSON
	if err := json.Unmarshal(body, &want); err != nil {
		t.Fatalf("scanProbeJSON read %q, which json.Unmarshal refuses: %v", body, err)
	}
	if (got.Success == nil) != (want.Success == nil) || got.Success != nil && *got.Success != *want.Success || got.Reason != want.Reason {
		t.Fatalf("scanProbeJSON(%q) = %s, json.Unmarshal %s", body, show(got), show(want))
	}
}

func show(p probeJSON) string {
	b, _ := json.Marshal(p)
	return string(b)
}
