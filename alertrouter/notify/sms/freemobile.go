package sms

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

// DefaultFreeMobileAPIURL is Free Mobile's SMS notification API.
const DefaultFreeMobileAPIURL = "https://smsapi.free-mobile.fr"

// freeMobileStatus explains the API's status codes (it answers with an
// empty body).
func freeMobileStatus(code int) (string, bool) {
	switch code {
	case http.StatusBadRequest:
		return "a parameter is missing", true
	case http.StatusPaymentRequired:
		return "too many SMS sent in too little time", true
	case http.StatusForbidden:
		return "the notification service is not enabled on the account, or user/pass is wrong", true
	case http.StatusInternalServerError:
		return "server error, try again later", true
	}
	return "", false
}

// escape percent-encodes a query value with spaces as %20, as Free
// Mobile's documentation shows ("msg=Hello%20World"): a "+" is not
// reliably read as a space.
func escape(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }

// sendFreeMobile sends to the subscriber's own line:
// GET /sendmsg?user=&pass=&msg=. The key is in the URL, so transport
// errors are redacted.
func (n *Notifier) sendFreeMobile(ctx context.Context, _ *notify.Data, text string) (bool, error) {
	secrets, err := n.secrets()
	if err != nil {
		return false, fmt.Errorf("sms freemobile: %w", err)
	}
	base := strings.TrimSuffix(n.cfg.APIURL, "/")
	if base == "" {
		base = DefaultFreeMobileAPIURL
	}
	query := "user=" + escape(n.cfg.User) + "&pass=" + escape(secrets[0]) + "&msg=" + escape(text)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/sendmsg?"+query, nil)
	if err != nil {
		return false, fmt.Errorf("sms freemobile: %w", notify.RedactError(err, secrets...))
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return n.transportError(err, secrets)
	}
	body, err := notify.ReadBody(resp)
	if err != nil {
		return n.transportError(err, secrets)
	}
	if resp.StatusCode == http.StatusOK {
		return false, nil
	}
	why, ok := freeMobileStatus(resp.StatusCode)
	if !ok {
		why = notify.BodyExcerpt(body)
	}
	retry, err := n.refused(resp.StatusCode, resp.Header, fmt.Sprintf("%s (HTTP %d)", why, resp.StatusCode))
	// 402 is Free Mobile's rate limit: worth retrying later.
	return retry || resp.StatusCode == http.StatusPaymentRequired, err
}
