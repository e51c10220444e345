package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

// API calls Bot API methods other than the notifier's sendMessage: the
// actions' getUpdates, answerCallbackQuery and message edits. The token is
// read at every call (a rotated bot_token_file needs no reload) and never
// appears in errors.
type API struct {
	url    string
	token  func() (string, error)
	client *http.Client
}

// APIError is a refusal by the Bot API (ok: false).
type APIError struct {
	Method      string
	Code        int
	Description string
	RetryAfter  time.Duration
}

func (e *APIError) Error() string {
	return fmt.Sprintf("telegram: %s: %s (HTTP %d)", e.Method, e.Description, e.Code)
}

// API returns a client of the Bot API with the notifier's token, URL and
// HTTP settings, whose requests are bounded by their context only (long
// polls outlast the notifier's timeout).
func (n *Notifier) API() *API {
	c := *n.client
	c.Timeout = 0
	return &API{url: n.apiURL, token: n.token, client: &c}
}

// BotID is the public part of the token: it names the bot in logs and in
// the store.
func (n *Notifier) BotID() string { return n.botID }

// Config returns the notifier's configuration.
func (n *Notifier) Config() config.TelegramConfig { return n.cfg }

// Call calls method with params (marshalled as JSON) and decodes the
// result into result (when not nil).
func (a *API) Call(ctx context.Context, method string, params, result any) error {
	token, err := a.token()
	if err != nil {
		return fmt.Errorf("telegram: %w", err)
	}
	body, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("telegram: %s: %w", method, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.url+"/bot"+token+"/"+method, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("telegram: %s: %w", method, notify.RedactError(err, token))
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		return fmt.Errorf("telegram: %s: %w", method, notify.RedactError(err, token))
	}
	raw, err := notify.ReadBody(resp)
	if err != nil {
		return fmt.Errorf("telegram: %s: %w", method, notify.RedactError(err, token))
	}
	var res struct {
		OK          bool            `json:"ok"`
		Description string          `json:"description"`
		Result      json.RawMessage `json:"result"`
		Parameters  struct {
			RetryAfter int `json:"retry_after"`
		} `json:"parameters"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return &APIError{Method: method, Code: resp.StatusCode, Description: fmt.Sprintf("unexpected response: %s", notify.BodyExcerpt(raw))}
	}
	if !res.OK || resp.StatusCode != http.StatusOK {
		desc := strings.ReplaceAll(res.Description, token, "<secret>")
		return &APIError{Method: method, Code: resp.StatusCode, Description: desc, RetryAfter: time.Duration(res.Parameters.RetryAfter) * time.Second}
	}
	if result != nil {
		if err := json.Unmarshal(res.Result, result); err != nil {
			return fmt.Errorf("telegram: %s: decode the result: %w", method, err)
		}
	}
	return nil
}
