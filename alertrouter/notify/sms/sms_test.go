package sms

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pconfig "github.com/prometheus/common/config"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

const (
	twilioSID   = "AC0123456789abcdef0123456789abcdef"
	twilioToken = "TWILIO-TOKEN-SEKRIT"
	freeUser    = "12345678"
	freePass    = "FREE-PASS-SEKRIT"
	ovhAK       = "ovh-app-key"
	ovhAS       = "OVH-APP-SECRET-SEKRIT"
	ovhCK       = "OVH-CONSUMER-SEKRIT"
	ovhService  = "sms-ab12345-1"
	phone       = "+33612345678"
	statusPage  = "http://router.example:9116/"
)

var secrets = []string{twilioToken, freePass, ovhAS, ovhCK}

var started = time.Date(2026, 11, 21, 10, 2, 0, 0, time.UTC)

func check(instance, module, reason string) notify.Alert {
	return notify.Alert{
		Labels:   map[string]string{"instance": instance, "module": module},
		StartsAt: started,
		Status:   notify.StatusFiring,
		Reason:   reason,
	}
}

func notification(kind notify.Kind, alerts ...notify.Alert) *notify.Notification {
	return &notify.Notification{
		Key: "k", Receiver: "ops", Kind: kind, Status: notify.StatusFiring, Alerts: alerts,
		ExternalURL: statusPage, CreatedAt: started.Add(5 * time.Minute),
	}
}

var down = notification(notify.KindDown, func() notify.Alert {
	a := check("https://example.org", "http_2xx", "HTTP status 503 not in 2xx")
	a.FailedProbes = 3
	return a
}())

const downText = "DOWN https://example.org (http_2xx)\nsince 10:02 UTC, 3 failed probes over 5m: HTTP status 503 not in 2xx\n" + statusPage

type logBuffer struct{ bytes.Buffer }

func newNotifier(t *testing.T, cfg config.SMSConfig) *Notifier {
	t.Helper()
	logs := &logBuffer{}
	n, err := New(cfg, slog.New(slog.NewTextHandler(&logs.Buffer, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, s := range secrets {
			if strings.Contains(logs.String(), s) {
				t.Errorf("logs reveal a secret:\n%s", logs)
			}
		}
	})
	return n
}

func twilioConfig(f *fakeTwilio) config.SMSConfig {
	return config.SMSConfig{Provider: "twilio", APIURL: f.URL(), To: phone, From: "+15005550006", AccountSID: twilioSID, AuthToken: twilioToken}
}

func freeConfig(f *fakeFreeMobile) config.SMSConfig {
	return config.SMSConfig{Provider: "freemobile", APIURL: f.URL(), User: freeUser, Pass: freePass}
}

func ovhConfig(f *fakeOVH) config.SMSConfig {
	return config.SMSConfig{Provider: "ovh", APIURL: f.URL(), To: phone, ApplicationKey: ovhAK, ApplicationSecret: ovhAS,
		ConsumerKey: ovhCK, ServiceName: ovhService}
}

func mustNotify(t *testing.T, n *Notifier, msg *notify.Notification) {
	t.Helper()
	if retry, err := n.Notify(context.Background(), msg); err != nil {
		t.Fatalf("Notify: retry=%v err=%v", retry, err)
	}
}

func noSecret(t *testing.T, err error) {
	t.Helper()
	for _, s := range secrets {
		if err != nil && strings.Contains(err.Error(), s) {
			t.Errorf("error reveals a secret: %v", err)
		}
	}
}

func TestTwilio(t *testing.T) {
	f := startTwilio(t, twilioSID, twilioToken)
	mustNotify(t, newNotifier(t, twilioConfig(f)), down)
	cfg := twilioConfig(f)
	cfg.From = "MG0123456789abcdef0123456789abcdef"
	mustNotify(t, newNotifier(t, cfg), notification(notify.KindTest))
	got := f.received()
	if len(got) != 2 {
		t.Fatalf("received %d messages", len(got))
	}
	if got[0] != (twilioMessage{To: phone, From: "+15005550006", Body: downText}) {
		t.Errorf("message = %+v", got[0])
	}
	if got[1].MessagingServiceSid != cfg.From || got[1].From != "" || got[1].Body != "vigie TEST for ops: SMS notifications work.\n"+statusPage {
		t.Errorf("messaging service message = %+v", got[1])
	}
}

func TestFreeMobile(t *testing.T) {
	f := startFreeMobile(t, freeUser, freePass)
	mustNotify(t, newNotifier(t, freeConfig(f)), down)
	if got := f.received(); len(got) != 1 || got[0] != downText {
		t.Errorf("received %q", got)
	}
	if raw := f.rawQueries[0]; !strings.HasPrefix(raw, "user=12345678&pass=FREE-PASS-SEKRIT&msg=DOWN%20https%3A%2F%2Fexample.org%20%28http_2xx%29%0A") {
		t.Errorf("query %q: spaces must be %%20", raw)
	}
}

// The fake recomputes the signature, and its clock is an hour ahead: the
// notifier must learn the offset from /auth/time.
func TestOVH(t *testing.T) {
	f := startOVH(t, ovhAK, ovhAS, ovhCK, ovhService)
	mustNotify(t, newNotifier(t, ovhConfig(f)), down)
	cfg := ovhConfig(f)
	no := false
	cfg.From, cfg.Priority, cfg.NoStopClause, cfg.Unicode = "VIGIE", "high", &no, true
	mustNotify(t, newNotifier(t, cfg), down)
	got := f.received()
	if len(got) != 2 {
		t.Fatalf("received %d jobs", len(got))
	}
	want := ovhReceived{Message: downText, Receivers: []string{phone}, SenderForResponse: true, NoStopClause: true, Charset: "UTF-8", Coding: "7bit"}
	if fmt.Sprint(got[0]) != fmt.Sprint(want) {
		t.Errorf("job = %+v\nwant %+v", got[0], want)
	}
	if j := got[1]; j.Sender != "VIGIE" || j.SenderForResponse || j.NoStopClause || j.Priority != "high" || j.Coding != "8bit" {
		t.Errorf("job with sender = %+v", j)
	}
}

func TestGenericHTTP(t *testing.T) {
	f := startGeneric(t)
	// GET with the message in the query.
	mustNotify(t, newNotifier(t, config.SMSConfig{Provider: "http", Method: "GET", To: phone,
		URL: pconfig.Secret(f.URL() + "/send?to={{ .To | urlquery }}&text={{ .Message | urlquery }}&kind={{ .Kind }}")}), down)
	// POST with the default JSON body, headers and basic auth from http_config.
	mustNotify(t, newNotifier(t, config.SMSConfig{Provider: "http", URL: pconfig.Secret(f.URL() + "/api/sms"), To: phone, From: "vigie",
		Headers:    map[string]string{"X-Api-Version": "2"},
		HTTPConfig: &pconfig.HTTPClientConfig{BasicAuth: &pconfig.BasicAuth{Username: "u", Password: "p"}}}), down)
	// PUT with a custom body template.
	mustNotify(t, newNotifier(t, config.SMSConfig{Provider: "http", Method: "PUT", URL: pconfig.Secret(f.URL() + "/put"),
		Headers: map[string]string{"Content-Type": "text/plain"},
		Body:    "{{ .Headline }}|{{ len .Alerts }}|{{ .Message }}"}), down)

	got := f.received()
	if len(got) != 3 {
		t.Fatalf("received %d requests", len(got))
	}
	wantURI := "/send?to=%2B33612345678&text=DOWN+https%3A%2F%2Fexample.org+%28http_2xx%29%0Asince+10%3A02+UTC%2C+3+failed+probes+over+5m%3A+HTTP+status+503+not+in+2xx%0Ahttp%3A%2F%2Frouter.example%3A9116%2F&kind=down"
	if got[0].method != "GET" || got[0].uri != wantURI || got[0].body != "" {
		t.Errorf("GET request = %+v", got[0])
	}
	var body map[string]string
	if err := json.Unmarshal([]byte(got[1].body), &body); err != nil || body["to"] != phone || body["from"] != "vigie" || body["message"] != downText {
		t.Errorf("POST body %q (%v)", got[1].body, err)
	}
	if u, p, _ := (&http.Request{Header: got[1].header}).BasicAuth(); got[1].method != "POST" || u != "u" || p != "p" ||
		got[1].header.Get("Content-Type") != "application/json" || got[1].header.Get("X-Api-Version") != "2" {
		t.Errorf("POST request = %+v", got[1])
	}
	if got[2].method != "PUT" || got[2].body != "DOWN|1|"+downText || got[2].header.Get("Content-Type") != "text/plain" {
		t.Errorf("PUT request = %+v", got[2])
	}
}

// SMS text: ASCII, one segment, summarised, cut as a last resort.
func TestText(t *testing.T) {
	f := startFreeMobile(t, freeUser, freePass)
	send := func(cfg config.SMSConfig, msg *notify.Notification) string {
		t.Helper()
		before := len(f.received())
		mustNotify(t, newNotifier(t, cfg), msg)
		got := f.received()
		if len(got) != before+1 {
			t.Fatal("nothing received")
		}
		return got[before]
	}
	accents := notification(notify.KindDown, check("https://exemple.fr/café", "http_2xx", "Échec — délai dépassé 🔥 `x`"))
	if got := send(freeConfig(f), accents); got != "DOWN https://exemple.fr/cafe (http_2xx)\nsince 10:02 UTC (for 5m): Echec - delai depasse 'x'\n"+statusPage {
		t.Errorf("ascii text %q", got)
	}
	unicodeCfg := freeConfig(f)
	unicodeCfg.Unicode, unicodeCfg.MaxLength = true, 160
	if got := send(unicodeCfg, accents); !strings.Contains(got, "Échec — délai dépassé 🔥") {
		t.Errorf("unicode text %q", got)
	}

	var many []notify.Alert
	for i := range 30 {
		many = append(many, check(fmt.Sprintf("https://host-%02d.example.org", i), "http_2xx", "timeout"))
	}
	got := send(freeConfig(f), notification(notify.KindDown, many...))
	var more int
	if _, err := fmt.Sscanf(got[strings.Index(got, " +")+1:], "+%d more", &more); err != nil || len(got) > 160 || !strings.HasPrefix(got, "30 DOWN: https://host-00.example.org (http_2xx), ") {
		t.Errorf("summary (%d chars, +%d) %q", len(got), more, got)
	}
	if shown := strings.Count(got, "(http_2xx)"); shown+more != 30 {
		t.Errorf("shown %d + %d more != 30: %q", shown, more, got)
	}

	long := freeConfig(f)
	long.Message = "{{ range .Alerts }}{{ .Why }}{{ end }}"
	got = send(long, notification(notify.KindDown, check("x", "m", strings.Repeat("{x} ", 100))))
	if n := newNotifier(t, long); n.length(got) > 160 || !strings.HasSuffix(got, "...") {
		t.Errorf("cut text (%d septets) %q", n.length(got), got)
	}
	long.MaxLength = 400
	if got = send(long, notification(notify.KindDown, check("x", "m", strings.Repeat("y", 300)))); got != strings.Repeat("y", 300) {
		t.Errorf("max_length 400: %d chars", len(got))
	}
}

func TestEveryKindFitsOneSegment(t *testing.T) {
	f := startFreeMobile(t, freeUser, freePass)
	n := newNotifier(t, freeConfig(f))
	up := check("https://example.org", "http_2xx", "")
	up.Status, up.EndsAt = notify.StatusResolved, started.Add(12*time.Minute)
	exporter := notify.Alert{Labels: map[string]string{"instance": "http://127.0.0.1:9115"}, StartsAt: started, Reason: "connection refused"}
	store := notify.Alert{Labels: map[string]string{"alertname": "StoreDamaged", "instance": "/var/lib/vigie-router/vigie-router.db"}, StartsAt: started,
		Reason: "store: /var/lib/vigie-router/vigie-router.db is damaged: reading it panics: invalid freelist page: 0, page type is unknown<00>"}
	want := map[notify.Kind]string{
		notify.KindStoreDamaged: "STORE DAMAGED StoreDamaged /var/lib/vigie-router/vigie-router.db\nreplaced by an empty store at 10:02 UTC; states and silences lost\n" + statusPage,
		notify.KindUp:           "UP https://example.org (http_2xx)\nafter 12m down\n" + statusPage,
		notify.KindDown:         downText,
		notify.KindReminder:     "STILL DOWN https://example.org (http_2xx)\nsince 10:02 UTC (for 5m): HTTP status 503 not in 2xx\n" + statusPage,
		notify.KindFlapping:     "FLAPPING https://example.org (http_2xx)\nsince 10:02 UTC (for 5m): HTTP status 503 not in 2xx\n" + statusPage,
		notify.KindExporterErr:  "EXPORTER UNREACHABLE http://127.0.0.1:9115\nsince 10:02 UTC (for 5m): connection refused\n" + statusPage,
	}
	still := down.Alerts[0]
	still.FailedProbes = 0 // only the DOWN itself counts its probes
	for kind, text := range want {
		msg := notification(kind, still)
		if kind == notify.KindDown {
			msg = down
		}
		switch kind {
		case notify.KindUp:
			msg = notification(kind, up)
		case notify.KindExporterErr:
			msg = notification(kind, exporter)
		case notify.KindStoreDamaged:
			msg = notification(kind, store)
		}
		before := len(f.received())
		mustNotify(t, n, msg)
		if got := f.received()[before]; got != text || len(got) > 160 {
			t.Errorf("%s: %q, want %q", kind, got, text)
		}
	}
}

func TestFailures(t *testing.T) {
	type result struct {
		retry bool
		err   []string
		after time.Duration
	}
	cases := []struct {
		name   string
		notify func(t *testing.T) (bool, error)
		want   result
	}{
		{"twilio bad token", func(t *testing.T) (bool, error) {
			f := startTwilio(t, twilioSID, "another-token")
			return newNotifier(t, twilioConfig(f)).Notify(context.Background(), down)
		}, result{false, []string{"sms twilio: Authenticate (error 20003, HTTP 401, https://www.twilio.com/docs/errors/20003): check account_sid and auth_token"}, 0}},
		{"twilio invalid number", func(t *testing.T) (bool, error) {
			f := startTwilio(t, twilioSID, twilioToken)
			n := newNotifier(t, config.SMSConfig{Provider: "twilio", APIURL: f.URL(), To: "+15550000000", From: "Vigie", AccountSID: twilioSID, AuthToken: twilioToken})
			n.cfg.To = "+1555" // what only Twilio can judge
			return n.Notify(context.Background(), down)
		}, result{false, []string{"The 'To' number +1555 is not a valid phone number. (error 21211, HTTP 400"}, 0}},
		{"twilio rate limited", func(t *testing.T) (bool, error) {
			f := startTwilio(t, twilioSID, twilioToken)
			f.failNext(429, `{"code":20429,"message":"Too Many Requests","more_info":"https://www.twilio.com/docs/errors/20429","status":429}`, map[string]string{"Retry-After": "30"})
			return newNotifier(t, twilioConfig(f)).Notify(context.Background(), down)
		}, result{true, []string{"Too Many Requests (error 20429, HTTP 429"}, 30 * time.Second}},
		{"twilio server error", func(t *testing.T) (bool, error) {
			f := startTwilio(t, twilioSID, twilioToken)
			f.failNext(503, "upstream unavailable", nil)
			return newNotifier(t, twilioConfig(f)).Notify(context.Background(), down)
		}, result{true, []string{"HTTP 503: upstream unavailable"}, 0}},
		{"freemobile wrong pass", func(t *testing.T) (bool, error) {
			f := startFreeMobile(t, freeUser, "other")
			return newNotifier(t, freeConfig(f)).Notify(context.Background(), down)
		}, result{false, []string{"sms freemobile: the notification service is not enabled on the account, or user/pass is wrong (HTTP 403)"}, 0}},
		{"freemobile too many", func(t *testing.T) (bool, error) {
			f := startFreeMobile(t, freeUser, freePass)
			f.failNext(402, "", nil)
			return newNotifier(t, freeConfig(f)).Notify(context.Background(), down)
		}, result{true, []string{"too many SMS sent in too little time (HTTP 402)"}, 0}},
		{"freemobile missing parameter", func(t *testing.T) (bool, error) {
			f := startFreeMobile(t, freeUser, freePass)
			f.failNext(400, "", nil)
			return newNotifier(t, freeConfig(f)).Notify(context.Background(), down)
		}, result{false, []string{"a parameter is missing (HTTP 400)"}, 0}},
		{"freemobile server error", func(t *testing.T) (bool, error) {
			f := startFreeMobile(t, freeUser, freePass)
			f.failNext(500, "", nil)
			return newNotifier(t, freeConfig(f)).Notify(context.Background(), down)
		}, result{true, []string{"server error, try again later (HTTP 500)"}, 0}},
		{"freemobile unreachable", func(t *testing.T) (bool, error) {
			f := startFreeMobile(t, freeUser, freePass)
			n := newNotifier(t, freeConfig(f))
			f.srv.Close()
			return n.Notify(context.Background(), down)
		}, result{true, []string{"sms freemobile: Get ", "/…", "connection refused"}, 0}},
		{"ovh wrong secret", func(t *testing.T) (bool, error) {
			f := startOVH(t, ovhAK, "another-secret", ovhCK, ovhService)
			return newNotifier(t, ovhConfig(f)).Notify(context.Background(), down)
		}, result{false, []string{"sms ovh: Invalid signature (HTTP 400)"}, 0}},
		{"ovh wrong consumer key", func(t *testing.T) (bool, error) {
			f := startOVH(t, ovhAK, ovhAS, "another-ck", ovhService)
			return newNotifier(t, ovhConfig(f)).Notify(context.Background(), down)
		}, result{false, []string{"This credential does not exist (HTTP 403): check application_key"}, 0}},
		{"ovh unknown service", func(t *testing.T) (bool, error) {
			f := startOVH(t, ovhAK, ovhAS, ovhCK, "sms-other-1")
			return newNotifier(t, ovhConfig(f)).Notify(context.Background(), down)
		}, result{false, []string{"The requested object (serviceName = sms-ab12345-1) does not exist (HTTP 404): check service_name"}, 0}},
		{"ovh invalid receiver", func(t *testing.T) (bool, error) {
			f := startOVH(t, ovhAK, ovhAS, ovhCK, ovhService)
			n := newNotifier(t, ovhConfig(f))
			n.cfg.To = "0612"
			return n.Notify(context.Background(), down)
		}, result{false, []string{"receiver 0612 refused (invalid receivers: [0612])"}, 0}},
		{"ovh server error", func(t *testing.T) (bool, error) {
			f := startOVH(t, ovhAK, ovhAS, ovhCK, ovhService)
			f.failNext(502, `{"message":"Internal server error"}`, nil)
			return newNotifier(t, ovhConfig(f)).Notify(context.Background(), down)
		}, result{true, []string{"Internal server error (HTTP 502)"}, 0}},
		{"http rejected", func(t *testing.T) (bool, error) {
			f := startGeneric(t)
			f.failNext(422, `{"error":"bad number"}`, nil)
			return newNotifier(t, config.SMSConfig{Provider: "http", URL: pconfig.Secret(f.URL())}).Notify(context.Background(), down)
		}, result{false, []string{`sms http: HTTP 422: {"error":"bad number"}`}, 0}},
		{"http rate limited", func(t *testing.T) (bool, error) {
			f := startGeneric(t)
			f.failNext(429, "slow down", map[string]string{"Retry-After": "12"})
			return newNotifier(t, config.SMSConfig{Provider: "http", URL: pconfig.Secret(f.URL())}).Notify(context.Background(), down)
		}, result{true, []string{"HTTP 429: slow down"}, 12 * time.Second}},
		{"http unreachable hides the path and query", func(t *testing.T) (bool, error) {
			f := startGeneric(t)
			n := newNotifier(t, config.SMSConfig{Provider: "http", Method: "GET", URL: pconfig.Secret(f.URL() + "/send/" + freePass + "?key=" + freePass + "&msg={{ .Message | urlquery }}")})
			f.srv.Close()
			return n.Notify(context.Background(), down)
		}, result{true, []string{"sms http: Get \"http://127.0.0.1:", "/…\"", "connection refused"}, 0}},
		{"http template error", func(t *testing.T) (bool, error) {
			f := startGeneric(t)
			return newNotifier(t, config.SMSConfig{Provider: "http", URL: pconfig.Secret(f.URL()), Body: "{{ index .Alerts 3 }}"}).Notify(context.Background(), down)
		}, result{false, []string{"sms http: body template:", "index out of range"}, 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			retry, err := tc.notify(t)
			if err == nil {
				t.Fatal("Notify succeeded")
			}
			if retry != tc.want.retry {
				t.Errorf("retry = %v, want %v (%v)", retry, tc.want.retry, err)
			}
			for _, w := range tc.want.err {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			after, ok := notify.RetryAfter(err)
			if ok != (tc.want.after != 0) || after != tc.want.after {
				t.Errorf("RetryAfter = %v %v, want %v", after, ok, tc.want.after)
			}
			noSecret(t, err)
		})
	}
}

// Secret files are read at every send: a rotated credential needs no reload.
func TestSecretFilesReadAtSend(t *testing.T) {
	f := startFreeMobile(t, freeUser, freePass)
	file := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(file, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := newNotifier(t, config.SMSConfig{Provider: "freemobile", APIURL: f.URL(), User: freeUser, PassFile: file})
	if retry, err := n.Notify(context.Background(), down); err == nil || retry {
		t.Fatalf("old pass: retry=%v err=%v", retry, err)
	}
	if err := os.WriteFile(file, []byte(freePass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustNotify(t, n, down)
	if len(f.received()) != 1 {
		t.Error("not delivered after rotation")
	}
}

func TestRateLimits(t *testing.T) {
	n := newNotifier(t, config.SMSConfig{Provider: "twilio", To: phone, From: "+15005550006", AccountSID: twilioSID, AuthToken: twilioToken, MaxPerHour: 5})
	want := []notify.Rate{{Key: "sms:twilio:" + phone, Limit: 5, Per: time.Hour}, {Key: "sms:twilio:from:+15005550006", Limit: 1, Per: time.Second}}
	if got := n.RateLimits(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("RateLimits() = %v", got)
	}
	n = newNotifier(t, config.SMSConfig{Provider: "freemobile", User: freeUser, Pass: freePass})
	if got := n.RateLimits(); fmt.Sprint(got) != fmt.Sprint([]notify.Rate{{Key: "sms:freemobile:" + freeUser, Limit: config.DefaultSMSMaxPerHour, Per: time.Hour}}) {
		t.Errorf("RateLimits() = %v", got)
	}
}

func TestSendResolvedFalse(t *testing.T) {
	f := startFreeMobile(t, freeUser, freePass)
	cfg := freeConfig(f)
	no := false
	cfg.SendResolved = &no
	up := notification(notify.KindUp, check("h", "m", ""))
	up.Status = notify.StatusResolved
	mustNotify(t, newNotifier(t, cfg), up)
	if len(f.received()) != 0 {
		t.Error("resolved notification sent with send_resolved: false")
	}
}

func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  config.SMSConfig
		want string
	}{
		{config.SMSConfig{Provider: "freemobile", User: "u"}, "one of pass and pass_file must be set"},
		{config.SMSConfig{Provider: "freemobile", User: "u", Pass: "p", Message: "{{ .X"}, "message: invalid template"},
		{config.SMSConfig{Provider: "http", URL: "https://x/{{ .X"}, "url: invalid template"},
		{config.SMSConfig{Provider: "http", URL: "https://x/", Body: "{{ end }}"}, "body: invalid template"},
	} {
		if _, err := New(tc.cfg, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

var _ notify.Notifier = (*Notifier)(nil)
var _ notify.RateLimited = (*Notifier)(nil)
