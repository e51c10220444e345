package config

import (
	"strings"
	"testing"
)

// TestHeadersMasked: header values are secrets unless the header is
// public, whatever the case of its name.
func TestHeadersMasked(t *testing.T) {
	cfg, err := ParseRouter([]byte(`
exporter:
  headers: {authorization: Bearer T1, x-scope-orgid: tenant-T2, user-agent: vigie, ACCEPT: application/json, X-Empty: ""}
receivers:
  - name: r
    email_configs:
      - {to: a@example.org, from: b@example.org, smarthost: "127.0.0.1:25", headers: {X-Api-Key: T3, reply-to: c@example.org, Cc: d@example.org}}
    sms_configs:
      - {provider: http, url: "https://gw.example/T4/send?key=T5", headers: {Authorization: T6, Content-Type: application/json}}
`))
	if err != nil {
		t.Fatal(err)
	}
	out, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	text := string(out)
	for _, want := range []string{"authorization: <secret>", "x-scope-orgid: <secret>", "user-agent: vigie", "ACCEPT: application/json",
		`X-Empty: ""`, "X-Api-Key: <secret>", "reply-to: c@example.org", "Cc: d@example.org", "url: <secret>",
		"Authorization: <secret>", "Content-Type: application/json"} {
		if !strings.Contains(text, want) {
			t.Errorf("marshalled config lacks %q", want)
		}
	}
	for _, secret := range []string{"T1", "T2", "T3", "T4", "T5", "T6"} {
		if strings.Contains(text, secret) {
			t.Errorf("marshalled config shows %q:\n%s", secret, text)
		}
	}
	// The values are used as written.
	if cfg.Exporter.Headers["authorization"] != "Bearer T1" || string(cfg.Receivers[0].SMSConfigs[0].URL) != "https://gw.example/T4/send?key=T5" {
		t.Error("values changed by parsing")
	}
}

// TestSMSURLErrorsHideTheURL: a bad SMS gateway URL is refused without
// printing it (it is a secret).
func TestSMSURLErrorsHideTheURL(t *testing.T) {
	err := SMSConfig{Provider: "http", URL: "ftp://gw.example/SECRETKEY"}.Validate()
	if err == nil || strings.Contains(err.Error(), "SECRETKEY") || !strings.Contains(err.Error(), "URL must use http or https") {
		t.Errorf("err = %v", err)
	}
}
