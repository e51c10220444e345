package sms

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

// DefaultTwilioAPIURL is Twilio's REST API.
const DefaultTwilioAPIURL = "https://api.twilio.com"

// twilioError is the body of a Twilio API error.
type twilioError struct {
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
	Status   int    `json:"status"`
}

// sendTwilio creates a Message resource
// (POST /2010-04-01/Accounts/{AccountSid}/Messages.json, form-encoded,
// HTTP Basic auth with the account SID and auth token).
func (n *Notifier) sendTwilio(ctx context.Context, _ *notify.Data, text string) (bool, error) {
	secrets, err := n.secrets()
	if err != nil {
		return false, fmt.Errorf("sms twilio: %w", err)
	}
	form := url.Values{"To": {n.cfg.To}, "Body": {text}}
	if strings.HasPrefix(n.cfg.From, "MG") && !strings.HasPrefix(n.cfg.From, "+") && len(n.cfg.From) == 34 {
		form.Set("MessagingServiceSid", n.cfg.From)
	} else {
		form.Set("From", n.cfg.From)
	}
	base := strings.TrimSuffix(n.cfg.APIURL, "/")
	if base == "" {
		base = DefaultTwilioAPIURL
	}
	endpoint := base + "/2010-04-01/Accounts/" + url.PathEscape(n.cfg.AccountSID) + "/Messages.json"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return false, fmt.Errorf("sms twilio: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(n.cfg.AccountSID, secrets[0])
	resp, err := n.client.Do(req)
	if err != nil {
		return n.transportError(err, secrets)
	}
	body, err := notify.ReadBody(resp)
	if err != nil {
		return n.transportError(err, secrets)
	}
	if resp.StatusCode/100 == 2 {
		return false, nil
	}
	var e twilioError
	msg := fmt.Sprintf("HTTP %d: %s", resp.StatusCode, notify.BodyExcerpt(body))
	if json.Unmarshal(body, &e) == nil && e.Message != "" {
		msg = fmt.Sprintf("%s (error %d, HTTP %d", e.Message, e.Code, resp.StatusCode)
		if e.MoreInfo != "" {
			msg += ", " + e.MoreInfo
		}
		msg += ")"
	}
	if resp.StatusCode == http.StatusUnauthorized {
		msg += ": check account_sid and auth_token"
	}
	return n.refused(resp.StatusCode, resp.Header, msg)
}
