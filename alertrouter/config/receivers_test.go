package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigie-monitoring/vigie/internal/schema"
)

// receiversDoc stands in for the router configuration: it lets these tests
// check that Validate's errors carry a path the loader can turn into a line.
type receiversDoc struct {
	Telegram []TelegramConfig `yaml:"telegram_configs"`
	Email    []EmailConfig    `yaml:"email_configs"`
	SMS      []SMSConfig      `yaml:"sms_configs"`
}

func (d *receiversDoc) validate() error {
	for i, c := range d.Telegram {
		if err := c.Validate(); err != nil {
			return schema.AtIndex(err, "telegram_configs", i)
		}
	}
	for i, c := range d.Email {
		if err := c.Validate(); err != nil {
			return schema.AtIndex(err, "email_configs", i)
		}
	}
	for i, c := range d.SMS {
		if err := c.Validate(); err != nil {
			return schema.AtIndex(err, "sms_configs", i)
		}
	}
	return nil
}

func parseReceivers(t *testing.T, doc string) (*receiversDoc, error) {
	t.Helper()
	var d receiversDoc
	if err := schema.DecodeStrict([]byte(doc), &d); err != nil {
		return nil, err
	}
	return &d, schema.Locate([]byte(doc), d.validate())
}

const (
	testBotToken  = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
	testTwilioSID = "AC0123456789abcdef0123456789abcdef"
)

func TestReceiverConfigsValid(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("s3cr3t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	doc := `
telegram_configs:
  - bot_token: ` + testBotToken + `
    chat_id: -1001234567890
    message_thread_id: 42
    actions: true
    allowed_user_ids: [111, 222]
  - bot_token_file: ` + secretFile + `
    chat_id: "@vigie_alerts"
    parse_mode: plain
email_configs:
  - to: "ops@example.org, Oncall <oncall@example.org>"
    from: vigie@example.org
    smarthost: smtp.example.org:587
    auth_username: vigie
    auth_password_file: ` + secretFile + `
    headers: {X-Team: ops}
sms_configs:
  - provider: twilio
    to: "+33612345678"
    from: "+15005550006"
    account_sid: ` + testTwilioSID + `
    auth_token: t0k3n
  - provider: freemobile
    user: "12345678"
    pass_file: ` + secretFile + `
  - provider: ovh
    to: "+33612345678"
    application_key: ak
    application_secret: as
    consumer_key: ck
    service_name: sms-ab12345-1
  - provider: http
    url: "https://sms.example.org/send?to={{ .To | urlquery }}"
    method: GET
  - provider: http
    method: POST
    url: https://sms.example.org/api/send
    headers: {X-Api-Version: "2"}
    http_config:
      authorization: {credentials_file: ` + secretFile + `}
    body: '{"to": {{ json .To }}, "text": {{ json .Message }}}'
    to: "+33612345678"
`
	d, err := parseReceivers(t, doc)
	if err != nil {
		t.Fatal(err)
	}
	if tg := d.Telegram[0]; !tg.Actions || len(tg.AllowedUserIDs) != 2 || tg.AllowedUserIDs[1] != 222 || d.Telegram[1].Actions {
		t.Errorf("actions = %v, allowed_user_ids = %v", tg.Actions, tg.AllowedUserIDs)
	}
	if got := d.Telegram[0].ChatID; got != "-1001234567890" || !got.IsGroup() {
		t.Errorf("numeric chat_id = %q (group %v)", got, got.IsGroup())
	}
	if got := d.Telegram[1].ChatID; got != "@vigie_alerts" || !got.IsGroup() {
		t.Errorf("channel chat_id = %q", got)
	}
	if !d.Email[0].StartTLSRequired() {
		t.Error("require_tls must default to true")
	}
	if d.SMS[0].SMSMaxLength() != DefaultSMSMaxLength || d.SMS[0].SMSMaxPerHour() != DefaultSMSMaxPerHour {
		t.Error("sms defaults not applied")
	}
	if (SMSConfig{Unicode: true}).SMSMaxLength() != DefaultSMSUnicodeMaxLength || (SMSConfig{MaxLength: 300, Unicode: true}).SMSMaxLength() != 300 {
		t.Error("unicode max_length default")
	}
	if ChatID("12345").IsGroup() {
		t.Error("a positive chat id is a private chat")
	}
}

func TestReceiverConfigsInvalid(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"telegram no token", "telegram_configs:\n  - chat_id: 1\n", []string{"line 2", "telegram_configs.[0]: one of bot_token and bot_token_file must be set"}},
		{"telegram both tokens", "telegram_configs:\n  - chat_id: 1\n    bot_token: " + testBotToken + "\n    bot_token_file: /x\n", []string{"line 3", "at most one of bot_token and bot_token_file"}},
		{"telegram bad token", "telegram_configs:\n  - chat_id: 1\n    bot_token: nocolon-s3cr3t\n", []string{"line 3", "not a bot token"}},
		{"telegram token file missing", "telegram_configs:\n  - chat_id: 1\n    bot_token_file: " + missing + "\n", []string{"line 3", "bot_token_file: cannot read secret file"}},
		{"telegram no chat", "telegram_configs:\n  - bot_token: " + testBotToken + "\n", []string{"chat_id must be set"}},
		{"telegram bad chat", "telegram_configs:\n  - bot_token: " + testBotToken + "\n    chat_id: channel\n", []string{"line 3", `chat_id "channel" is neither a numeric chat id`}},
		{"telegram chat list", "telegram_configs:\n  - bot_token: " + testBotToken + "\n    chat_id: [1]\n", []string{"line 3", "chat_id must be a number or a string"}},
		{"telegram negative thread", "telegram_configs:\n  - bot_token: " + testBotToken + "\n    chat_id: 1\n    message_thread_id: -2\n", []string{"line 4", "message_thread_id must not be negative"}},
		{"telegram parse mode", "telegram_configs:\n  - bot_token: " + testBotToken + "\n    chat_id: 1\n    parse_mode: MarkdownV2\n", []string{"line 4", `parse_mode "MarkdownV2" is not supported`}},
		{"telegram allowed users without actions", "telegram_configs:\n  - bot_token: " + testBotToken + "\n    chat_id: 1\n    allowed_user_ids: [111]\n", []string{"line 4", "allowed_user_ids is only used with actions: true"}},
		{"telegram allowed user negative", "telegram_configs:\n  - bot_token: " + testBotToken + "\n    chat_id: 1\n    actions: true\n    allowed_user_ids: [111, -5]\n", []string{"line 5", "-5 is not a Telegram user id"}},
		{"telegram allowed user not a number", "telegram_configs:\n  - bot_token: " + testBotToken + "\n    chat_id: 1\n    actions: true\n    allowed_user_ids: [ann]\n", []string{"line 5", "cannot unmarshal !!str `ann` into int64"}},
		{"telegram actions not a bool", "telegram_configs:\n  - bot_token: " + testBotToken + "\n    chat_id: 1\n    actions: maybe\n", []string{"line 4", "cannot unmarshal !!str `maybe` into bool"}},
		{"telegram api url", "telegram_configs:\n  - bot_token: " + testBotToken + "\n    chat_id: 1\n    api_url: ftp://x\n", []string{"line 4", "want http:// or https://"}},
		{"telegram unknown key", "telegram_configs:\n  - bot_token: " + testBotToken + "\n    chat: 1\n", []string{"line 3", "field chat not found"}},

		{"email no to", "email_configs:\n  - from: a@b.c\n    smarthost: h:25\n", []string{"to must be set"}},
		{"email bad to", "email_configs:\n  - to: 'not an address'\n    from: a@b.c\n    smarthost: h:25\n", []string{"line 2", "invalid address list"}},
		{"email bad from", "email_configs:\n  - to: a@b.c\n    from: nope\n    smarthost: h:25\n", []string{"line 3", "invalid address"}},
		{"email no smarthost", "email_configs:\n  - to: a@b.c\n    from: a@b.c\n", []string{"smarthost must be set"}},
		{"email smarthost port", "email_configs:\n  - to: a@b.c\n    from: a@b.c\n    smarthost: h:smtp\n", []string{"line 4", `port "smtp" is not a number`}},
		{"email smarthost no port", "email_configs:\n  - to: a@b.c\n    from: a@b.c\n    smarthost: h\n", []string{"line 4", "want host:port"}},
		{"email password without user", "email_configs:\n  - to: a@b.c\n    from: a@b.c\n    smarthost: h:25\n    auth_password: pw\n", []string{"line 5", "auth_password is set but auth_username is not"}},
		{"email user without password", "email_configs:\n  - to: a@b.c\n    from: a@b.c\n    smarthost: h:25\n    auth_username: u\n", []string{"line 5", "auth_username is set but none of"}},
		{"email reserved header", "email_configs:\n  - to: a@b.c\n    from: a@b.c\n    smarthost: h:25\n    headers:\n      subject: x\n", []string{"line 6", `header "subject" cannot be set here: use the subject key`}},
		{"email header newline", "email_configs:\n  - to: a@b.c\n    from: a@b.c\n    smarthost: h:25\n    headers:\n      X-A: \"a\\r\\nBcc: evil@example.org\"\n", []string{"line 6", "value contains a newline"}},
		{"email tls config", "email_configs:\n  - to: a@b.c\n    from: a@b.c\n    smarthost: h:25\n    tls_config:\n      cert_file: c\n", []string{"exactly one of key or key_file"}},

		{"sms no provider", "sms_configs:\n  - to: '+33612345678'\n", []string{"provider must be set"}},
		{"sms unknown provider", "sms_configs:\n  - provider: pigeon\n", []string{"line 2", `unknown provider "pigeon"`}},
		{"twilio bad to", "sms_configs:\n  - provider: twilio\n    to: '0612345678'\n", []string{"line 3", "not in international format"}},
		{"twilio bad sid", "sms_configs:\n  - provider: twilio\n    to: '+33612345678'\n    from: '+15005550006'\n    account_sid: XX1\n    auth_token: t\n", []string{"line 5", "account_sid must be AC followed by 32 hexadecimal digits"}},
		{"twilio no token", "sms_configs:\n  - provider: twilio\n    to: '+33612345678'\n    from: Vigie\n    account_sid: " + testTwilioSID + "\n", []string{"one of auth_token and auth_token_file must be set"}},
		{"twilio bad from", "sms_configs:\n  - provider: twilio\n    to: '+33612345678'\n    from: 'way too long sender'\n    account_sid: " + testTwilioSID + "\n    auth_token: t\n", []string{"line 4", "alphanumeric sender id"}},
		{"twilio foreign key", "sms_configs:\n  - provider: twilio\n    to: '+33612345678'\n    from: Vigie\n    account_sid: " + testTwilioSID + "\n    auth_token: t\n    service_name: x\n", []string{"line 7", "service_name is not used by provider twilio"}},
		{"freemobile to", "sms_configs:\n  - provider: freemobile\n    user: u\n    pass: p\n    to: '+33612345678'\n", []string{"line 5", "to is not used by provider freemobile"}},
		{"freemobile pass file missing", "sms_configs:\n  - provider: freemobile\n    user: u\n    pass_file: " + missing + "\n", []string{"line 4", "pass_file: cannot read secret file"}},
		{"ovh no service", "sms_configs:\n  - provider: ovh\n    to: '+33612345678'\n    application_key: a\n", []string{"service_name must be set"}},
		{"ovh endpoint", "sms_configs:\n  - provider: ovh\n    to: '+33612345678'\n    endpoint: ovh-mars\n    application_key: a\n    application_secret: s\n    consumer_key: c\n    service_name: sms-x-1\n", []string{"line 4", "endpoint must be ovh-eu, ovh-ca, ovh-us or a URL"}},
		{"ovh priority", "sms_configs:\n  - provider: ovh\n    to: '+33612345678'\n    application_key: a\n    application_secret: s\n    consumer_key: c\n    service_name: sms-x-1\n    priority: urgent\n", []string{"line 8", `priority "urgent"`}},
		{"http no url", "sms_configs:\n  - provider: http\n", []string{"url must be set"}},
		{"http method", "sms_configs:\n  - provider: http\n    url: https://x\n    method: DELETE\n", []string{"line 4", `method "DELETE"`}},
		{"http get body", "sms_configs:\n  - provider: http\n    url: https://x\n    method: GET\n    body: x\n", []string{"line 5", "a GET request has no body"}},
		{"sms max length", "sms_configs:\n  - provider: http\n    url: https://x\n    max_length: 5000\n", []string{"line 4", "max_length must be between 20 and 1600"}},
		{"sms max per hour", "sms_configs:\n  - provider: http\n    url: https://x\n    max_per_hour: -1\n", []string{"line 4", "max_per_hour must not be negative"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseReceivers(t, tc.yaml)
			if err == nil {
				t.Fatalf("accepted:\n%s", tc.yaml)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// Validation errors must not reveal a secret, even a malformed one.
func TestReceiverConfigErrorsHideSecrets(t *testing.T) {
	for _, doc := range []string{
		"telegram_configs:\n  - chat_id: 1\n    bot_token: not-a-token-SEKRIT\n",
		"telegram_configs:\n  - chat_id: x\n    bot_token: 1:SEKRIT\n",
		"sms_configs:\n  - provider: twilio\n    to: '+33612345678'\n    from: Vigie\n    account_sid: SEKRIT\n    auth_token: SEKRIT\n",
	} {
		_, err := parseReceivers(t, doc)
		if err == nil {
			t.Fatalf("accepted:\n%s", doc)
		}
		if strings.Contains(err.Error(), "SEKRIT") {
			t.Errorf("error reveals a secret: %v", err)
		}
	}
}

func TestReceiverConfigsMarshalMasksSecrets(t *testing.T) {
	d, err := parseReceivers(t, `
telegram_configs:
  - bot_token: `+testBotToken+`
    chat_id: -100123
sms_configs:
  - provider: twilio
    to: "+33612345678"
    from: Vigie
    account_sid: `+testTwilioSID+`
    auth_token: TWILIO-SEKRIT
`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := schema.MarshalYAML(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", "TWILIO-SEKRIT"} {
		if strings.Contains(string(out), s) {
			t.Errorf("marshalled config reveals a secret:\n%s", out)
		}
	}
	// A numeric chat id stays a number, so the output loads again.
	if !strings.Contains(string(out), "chat_id: -100123\n") {
		t.Errorf("chat_id not marshalled as a number:\n%s", out)
	}
}
