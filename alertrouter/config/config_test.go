package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const fullRouterYAML = `
external_url: https://vigie.example.org
exporter:
  url: http://127.0.0.1:9115
  sd_refresh_interval: 10s
  headers: {X-Tenant: ops}
  failures: 5
  receivers: [ops]
checks:
  interval: 30s
  retry_interval: 5s
  timeout: 5s
  max_concurrency: 10
delivery:
  max_age: 24h
rules:
  - matchers: ['module=~"http.*"', 'group="web"']
    failures: 4
    successes: 1
    repeat_interval: 0
    group_by: [group]
    group_wait: 10s
    send_resolved: false
    depends_on: ['instance="https://gateway.example"']
    receivers: [ops, hooks]
    continue: true
  - receivers: [ops]
receivers:
  - name: ops
    telegram_configs:
      - bot_token: "123:secret-token"
        chat_id: "-1001234567890"
  - name: hooks
    webhook_configs:
      - url: https://hooks.example.org/vigie?token=hunter2
        max_alerts: 10
    log_configs:
      - level: error
`

func TestParseRouterFull(t *testing.T) {
	c, err := ParseRouter([]byte(fullRouterYAML))
	if err != nil {
		t.Fatal(err)
	}
	if got := time.Duration(c.Checks.Interval); got != 30*time.Second {
		t.Errorf("interval = %s", got)
	}
	if got := time.Duration(c.Exporter.Timeout); got != 10*time.Second {
		t.Errorf("exporter timeout default = %s, want checks.timeout + 5s", got)
	}
	if got := c.Exporter.SDEndpoint(); got != "http://127.0.0.1:9115/sd" {
		t.Errorf("sd endpoint = %s", got)
	}
	if got := time.Duration(c.Delivery.MaxBackoff); got != DefaultDeliveryMaxBackoff {
		t.Errorf("max_backoff default = %s", got)
	}
	r0, r1 := c.Rules[0], c.Rules[1]
	if r0.Failures != 4 || r0.Successes != 1 || r0.RepeatInterval != 0 || r0.SendResolved || !r0.Continue {
		t.Errorf("rule 0 = %+v", r0)
	}
	if r1.Failures != DefaultFailures || r1.Successes != DefaultSuccesses ||
		time.Duration(r1.RepeatInterval) != DefaultRepeatInterval || !r1.SendResolved || len(r1.Matchers) != 0 {
		t.Errorf("rule 1 defaults not applied: %+v", r1)
	}
	if !r0.Matchers.Matches(map[string]string{"module": "http_2xx", "group": "web"}) ||
		r0.Matchers.Matches(map[string]string{"module": "tcp", "group": "web"}) {
		t.Error("rule 0 matchers do not work")
	}
	if got := c.ExporterReceivers(); len(got) != 1 || got[0] != "ops" {
		t.Errorf("exporter receivers = %v", got)
	}
	if rc, ok := c.Receiver("hooks"); !ok || rc.LogConfigs[0].Level != "error" {
		t.Errorf("receiver hooks = %+v", rc)
	}

	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"secret-token", "hunter2"} {
		if strings.Contains(string(out), secret) {
			t.Errorf("marshalled config leaks %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(string(out), "<secret>") {
		t.Errorf("marshalled config has no <secret>:\n%s", out)
	}
	if !strings.Contains(string(out), `module=~"http.*"`) {
		t.Errorf("matchers not rendered:\n%s", out)
	}
}

func TestRouterOnCallKeys(t *testing.T) {
	c, err := ParseRouter([]byte(`
global:
  resolve_timeout: 10m
receivers:
  - name: ops
rules:
  - group_by: [group]
    flap_detection: {}
    receivers: [ops]
  - group_by: [group]
    group_wait: 0s
    flap_detection: {changes: 6, window: 1h}
    receivers: [ops]
  - group_by: ['...']
    receivers: [ops]
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Global.ResolveTimeout.Std() != 10*time.Minute {
		t.Errorf("resolve_timeout = %s", c.Global.ResolveTimeout)
	}
	r0, r1, r2 := &c.Rules[0], &c.Rules[1], &c.Rules[2]
	if !r0.Grouped() || r0.GroupWaitOrDefault() != DefaultGroupWait || *r0.FlapDetection != (FlapDetection{Changes: 4, Window: Duration(30 * time.Minute)}) {
		t.Errorf("rule 0: grouped %v wait %s flap %+v", r0.Grouped(), r0.GroupWaitOrDefault(), r0.FlapDetection)
	}
	if !r1.Grouped() || r1.GroupWaitOrDefault() != 0 || *r1.FlapDetection != (FlapDetection{Changes: 6, Window: Duration(time.Hour)}) {
		t.Errorf("rule 1: grouped %v wait %s flap %+v", r1.Grouped(), r1.GroupWaitOrDefault(), r1.FlapDetection)
	}
	if r2.Grouped() || r2.FlapDetection != nil {
		t.Errorf("rule 2: group_by ['...'] groups: %+v", r2)
	}
	d, err := ParseRouter(nil)
	if err != nil || d.Global.ResolveTimeout.Std() != DefaultResolveTimeout {
		t.Errorf("default resolve_timeout: %v %v", d.Global.ResolveTimeout, err)
	}
}

func TestRouterDefaults(t *testing.T) {
	c, err := ParseRouter(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Exporter.URL != DefaultExporterURL || time.Duration(c.Checks.Interval) != DefaultCheckInterval ||
		time.Duration(c.Checks.RetryInterval) != DefaultRetryInterval || time.Duration(c.Delivery.MaxAge) != DefaultDeliveryMaxAge {
		t.Errorf("defaults not applied: %+v", c)
	}
	if got := c.ExporterReceivers(); len(got) != 0 {
		t.Errorf("exporter receivers without rules = %v", got)
	}
}

func TestRemovalGuardDefaults(t *testing.T) {
	for _, tc := range []struct {
		yaml          string
		ratio         float64
		confirmations int
	}{
		{"", DefaultSDMaxRemovedRatio, DefaultSDConfirmations},
		{"exporter:\n  url: http://127.0.0.1:9115\n", DefaultSDMaxRemovedRatio, DefaultSDConfirmations},
		{"exporter:\n  sd_removal_guard:\n    confirmations: 1\n", DefaultSDMaxRemovedRatio, 1},
		{"exporter:\n  sd_removal_guard:\n    max_removed_ratio: 0.2\n", 0.2, DefaultSDConfirmations},
	} {
		c, err := ParseRouter([]byte(tc.yaml))
		if err != nil {
			t.Fatalf("%q: %v", tc.yaml, err)
		}
		if g := c.Exporter.SDRemovalGuard; g.MaxRemovedRatio != tc.ratio || g.Confirmations != tc.confirmations {
			t.Errorf("%q: guard %+v, want %v/%d", tc.yaml, g, tc.ratio, tc.confirmations)
		}
	}
}

// TestCheckTimeoutDefaults follows Prometheus's scrape_timeout rule: an
// unset timeout (and retry_interval) is its default capped at the
// interval, so a short interval alone is a valid configuration.
func TestCheckTimeoutDefaults(t *testing.T) {
	cases := []struct {
		name, yaml     string
		retry, timeout time.Duration
	}{
		{"nothing set", "", DefaultRetryInterval, DefaultCheckTimeout},
		{"empty checks block", "checks: {}\n", DefaultRetryInterval, DefaultCheckTimeout},
		{"interval above the defaults", "checks:\n  interval: 2m\n", DefaultRetryInterval, DefaultCheckTimeout},
		{"interval 1s", "checks:\n  interval: 1s\n", time.Second, time.Second},
		{"interval between the defaults", "checks:\n  interval: 12s\n", 12 * time.Second, DefaultCheckTimeout},
		{"explicit values kept", "checks:\n  interval: 5s\n  retry_interval: 2s\n  timeout: 3s\n", 2 * time.Second, 3 * time.Second},
		{"explicit values equal to the interval", "checks:\n  interval: 5s\n  retry_interval: 5s\n  timeout: 5s\n", 5 * time.Second, 5 * time.Second},
		{"timeout set, retry_interval capped", "checks:\n  interval: 4s\n  timeout: 1s\n", 4 * time.Second, time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseRouter([]byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Checks.RetryInterval.Std(); got != tc.retry {
				t.Errorf("retry_interval = %s, want %s", got, tc.retry)
			}
			if got := c.Checks.Timeout.Std(); got != tc.timeout {
				t.Errorf("timeout = %s, want %s", got, tc.timeout)
			}
			if got, want := c.Exporter.Timeout.Std(), tc.timeout+5*time.Second; got != want {
				t.Errorf("exporter.timeout = %s, want %s", got, want)
			}
			// The effective values are what /config shows, and they parse
			// back to the same configuration.
			out, err := c.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			again, err := ParseRouter(out)
			if err != nil {
				t.Fatalf("re-parsing %s: %v", out, err)
			}
			if again.Checks != c.Checks {
				t.Errorf("round trip: %+v, want %+v", again.Checks, c.Checks)
			}
		})
	}
}

func TestRouterEmbeddedDefault(t *testing.T) {
	c, err := LoadRouter("")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Rules) != 1 || len(c.Rules[0].Receivers) != 1 {
		t.Fatalf("default rules = %+v", c.Rules)
	}
	r, ok := c.Receiver(c.Rules[0].Receivers[0])
	if !ok || len(r.LogConfigs) != 1 {
		t.Fatalf("default receiver = %+v", r)
	}
}

func TestLoadRouterFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vigie-router.yml")
	if err := os.WriteFile(path, []byte("checks:\n  interval: 10s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := LoadRouter(path)
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(c.Checks.Interval) != 10*time.Second {
		t.Errorf("interval = %s", c.Checks.Interval)
	}
	if _, err := LoadRouter(filepath.Join(t.TempDir(), "missing.yml")); err == nil || !strings.Contains(err.Error(), "error reading config file") {
		t.Errorf("missing file: %v", err)
	}
}

func TestBadRouterConfigs(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown top-level", "exporterz: {}\n", []string{"line 1", "field exporterz not found"}},
		{"unknown nested", "checks:\n  intervall: 5s\n", []string{"line 2", "field intervall not found"}},
		{"bad duration", "checks:\n  interval: 5 minutes\n", []string{"line 2", "unknown unit"}},
		{"zero interval", "checks:\n  interval: 0s\n", []string{"line 2", "checks.interval: must be positive"}},
		{"timeout above interval", "checks:\n  interval: 5s\n  timeout: 10s\n", []string{"line 3", "checks.timeout: timeout 10s is longer than interval 5s"}},
		{"timeout above interval, written first", "checks:\n  timeout: 3s\n  interval: 2s\n", []string{"line 2", "checks.timeout: timeout 3s is longer than interval 2s"}},
		{"zero timeout", "checks:\n  interval: 5s\n  timeout: 0s\n", []string{"line 3", "checks.timeout: must be positive"}},
		{"retry_interval above interval", "checks:\n  interval: 10s\n  retry_interval: 30s\n", []string{"line 3", "checks.retry_interval: retry_interval 30s is longer than interval 10s"}},
		{"zero retry_interval", "checks:\n  retry_interval: 0s\n", []string{"line 2", "checks.retry_interval: must be positive"}},
		{"bad exporter url", "exporter:\n  url: ftp://x\n", []string{"line 2", "exporter.url", "must use http or https"}},
		{"exporter url with password", "exporter:\n  url: http://u:hunter2@127.0.0.1:9115\n", []string{"line 2", "carries a password: use http_config.basic_auth"}},
		{"exporter url without host", "exporter:\n  url: http://\n", []string{"line 2", "has no host"}},
		{"exporter failures", "exporter:\n  failures: 0\n", []string{"line 2", "exporter.failures: must be at least 1"}},
		{"removal guard ratio", "exporter:\n  sd_removal_guard:\n    max_removed_ratio: 1.5\n", []string{"line 3", "exporter.sd_removal_guard.max_removed_ratio: 1.5 is not a ratio in (0, 1]"}},
		{"removal guard zero ratio", "exporter:\n  sd_removal_guard:\n    max_removed_ratio: 0\n", []string{"line 3", "is not a ratio"}},
		{"removal guard confirmations", "exporter:\n  sd_removal_guard:\n    confirmations: 0\n", []string{"line 3", "exporter.sd_removal_guard.confirmations: must be at least 1"}},
		{"exporter undefined receiver", "exporter:\n  receivers: [nope]\n", []string{"line 2", `undefined receiver "nope"`}},
		{"delivery backoff order", "delivery:\n  min_backoff: 10m\n  max_backoff: 1m\n", []string{"line 2", "delivery.min_backoff"}},
		{"rule undefined receiver", "receivers:\n  - name: ops\nrules:\n  - receivers: [ops, nope]\n", []string{"line 4", `rules.[0].receivers.[1]: undefined receiver "nope"`}},
		{"rule failures", "rules:\n  - failures: 0\n", []string{"line 2", "rules.[0].failures: must be at least 1"}},
		{"rule successes", "rules:\n  - matchers: []\n    successes: -1\n", []string{"line 3", "successes: must be at least 1"}},
		{"rule negative repeat", "rules:\n  - repeat_interval: -1h\n", []string{"line 2", "not a valid duration"}},
		{"rule bad group_by", "rules:\n  - group_by: ['bad-label']\n", []string{"line 2", `invalid label name "bad-label"`}},
		{"bad matcher operator", "rules:\n  - matchers: ['module==\"x\"']\n", []string{"line 2", "bad matcher"}},
		{"bad matcher regexp", "rules:\n  - matchers:\n      - 'a=\"b\"'\n      - 'module=~\"(\"'\n", []string{"line 4", "invalid regular expression"}},
		{"bad depends_on", "rules:\n  - depends_on: ['instance']\n", []string{"line 2", "bad matcher"}},
		{"receiver without name", "receivers:\n  - log_configs: [{}]\n", []string{"line 2", "receivers.[0].name: name must be set"}},
		{"receiver twice", "receivers:\n  - name: a\n  - name: a\n", []string{"line 3", `receiver "a" is defined twice`}},
		{"webhook without url", "receivers:\n  - name: a\n    webhook_configs:\n      - max_alerts: 1\n", []string{"line 4", "one of url or url_file must be configured"}},
		{"webhook both urls", "receivers:\n  - name: a\n    webhook_configs:\n      - url: http://x\n        url_file: /f\n", []string{"at most one of url & url_file"}},
		{"webhook bad url", "receivers:\n  - name: a\n    webhook_configs:\n      - url: 'mailto:x?token=hunter2'\n", []string{"line 4", "webhook_configs.[0].url: URL must use http or https"}},
		{"webhook negative max_alerts", "receivers:\n  - name: a\n    webhook_configs:\n      - url: http://x\n        max_alerts: -1\n", []string{"line 5", "max_alerts: must not be negative"}},
		{"webhook bad http_config", "receivers:\n  - name: a\n    webhook_configs:\n      - url: http://x\n        http_config:\n          bearer_token: a\n          bearer_token_file: b\n", []string{"at most one of bearer_token & bearer_token_file"}},
		{"log bad level", "receivers:\n  - name: a\n    log_configs:\n      - level: loud\n", []string{"line 4", `invalid level "loud"`}},
		{"external url", "external_url: vigie\n", []string{"line 1", "external_url"}},
		{"resolve timeout", "global:\n  resolve_timeout: 0s\n", []string{"line 2", "global.resolve_timeout: must be positive"}},
		{"negative group_wait", "rules:\n  - group_wait: -1s\n", []string{"line 2", "not a valid duration"}},
		{"group_by ... with others", "rules:\n  - group_by: [group, '...']\n", []string{"line 2", "group_by.[1]: '...' (every label) cannot be combined"}},
		{"undefined mute interval", "rules:\n  - mute_time_intervals: [nightly]\n", []string{"line 2", `rules.[0].mute_time_intervals.[0]: undefined time interval "nightly"`}},
		{"undefined active interval", "time_intervals:\n  - name: a\nrules:\n  - active_time_intervals: [a, b]\n", []string{"line 4", `active_time_intervals.[1]: undefined time interval "b"`}},
		{"time interval without name", "time_intervals:\n  - time_intervals: []\n", []string{"line 2", "time_intervals.[0].name: name must be set"}},
		{"time interval twice", "time_intervals:\n  - name: a\n  - name: a\n", []string{"line 3", `time interval "a" is defined twice`}},
		{"bad time interval", "time_intervals:\n  - name: a\n    time_intervals:\n      - weekdays: [caturday]\n", []string{"line 4", `"caturday" is not a day of the week`}},
		{"unknown time interval key", "time_intervals:\n  - name: a\n    time_intervals:\n      - weekday: [monday]\n", []string{"line 4", "field weekday not found"}},
		{"flap changes", "rules:\n  - flap_detection: {changes: 1}\n", []string{"line 2", "rules.[0].flap_detection.changes: must be at least 2"}},
		{"flap window", "rules:\n  - flap_detection:\n      window: 0s\n", []string{"line 3", "flap_detection.window: must be positive"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRouter([]byte(tc.yaml))
			if err == nil {
				t.Fatal("expected an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error leaks a secret: %v", err)
			}
		})
	}
}

func TestReceiverErrorLocated(t *testing.T) {
	c, err := ParseRouter([]byte(fullRouterYAML))
	if err != nil {
		t.Fatal(err)
	}
	got := c.Locate(ReceiverError(errors.New("chat_id must be set"), 0, "telegram_configs", 0))
	want := "line 31: receivers.[0].telegram_configs.[0]: chat_id must be set"
	if got.Error() != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
