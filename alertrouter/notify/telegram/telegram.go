// Package telegram delivers notifications to a Telegram chat through the Bot
// API's sendMessage method, with net/http only.
//
// Messages use the HTML parse mode: every piece of dynamic text is escaped
// by the templates (escapeHTML), a message too long for Telegram is
// summarised ("… and 37 more") rather than cut, and a message Telegram
// cannot parse is sent again as plain text. A group upgraded to a
// supergroup is followed to its new id. The bot token is a credential that
// is part of every request URL: it never appears in errors or logs.
package telegram

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	pconfig "github.com/prometheus/common/config"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

// DefaultAPIURL is the Bot API server.
const DefaultAPIURL = "https://api.telegram.org"

// MaxMessageLength is Telegram's limit on a message's text, counted after
// entity parsing.
const MaxMessageLength = 4096

// messageBudget is what this package allows itself: it counts the UTF-16
// code units of the text before entity parsing (tags and entities only
// shrink when parsed, and UTF-16 counts at least as many units as there are
// characters), and keeps a margin on top.
const messageBudget = MaxMessageLength - 96

//go:embed default.tmpl
var defaultTemplate string

// Notifier sends notifications for one telegram_configs entry.
type Notifier struct {
	cfg          config.TelegramConfig
	apiURL       string
	client       *http.Client
	tmpl         *notify.Template
	logger       *slog.Logger
	plain        bool
	sendResolved bool
	botID        string // the public part of the token, for rate-limit keys
	now          func() time.Time

	messages MessageLog // with actions: messages with buttons

	mu     sync.Mutex
	chatID config.ChatID // the configured chat, or where it migrated to
}

// New validates cfg and returns its notifier. A bot_token_file is read here
// (to fail early) and again at every send (so a rotated token needs no
// reload).
func New(cfg config.TelegramConfig, logger *slog.Logger, opts ...Option) (*Notifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	n := &Notifier{
		cfg:          cfg,
		apiURL:       strings.TrimSuffix(cfg.APIURL, "/"),
		logger:       logger,
		plain:        cfg.ParseMode == config.TelegramParseModePlain,
		sendResolved: cfg.SendResolved == nil || *cfg.SendResolved,
		now:          time.Now,
		chatID:       cfg.ChatID,
	}
	if n.apiURL == "" {
		n.apiURL = DefaultAPIURL
	}
	for _, o := range opts {
		o(n)
	}
	token, err := n.token()
	if err != nil {
		return nil, err
	}
	n.botID, _, _ = strings.Cut(token, ":")
	httpCfg := pconfig.DefaultHTTPClientConfig
	if cfg.HTTPConfig != nil {
		httpCfg = *cfg.HTTPConfig
	}
	if n.client, err = pconfig.NewClientFromConfig(httpCfg, "telegram", pconfig.WithUserAgent("vigie")); err != nil {
		return nil, fmt.Errorf("http_config: %w", err)
	}
	// A safety net: the dispatcher's context bounds each attempt (at
	// least AttemptTimeout), but a caller without a deadline must not
	// hold a connection forever.
	n.client.Timeout = 2 * AttemptTimeout
	if n.tmpl, err = notify.NewTextTemplate("message", cfg.Message, defaultTemplate, logger); err != nil {
		return nil, err
	}
	return n, nil
}

// token returns the bot token, read from bot_token_file when configured.
func (n *Notifier) token() (string, error) {
	token, err := notify.ReadSecret(n.cfg.BotToken, n.cfg.BotTokenFile)
	if err != nil {
		return "", fmt.Errorf("bot_token_file: %w", err)
	}
	if !config.ValidBotToken(token) {
		return "", errors.New("bot_token_file: the file does not contain a bot token (<bot id>:<secret>)")
	}
	return token, nil
}

// ChatID returns the chat messages go to: the configured one, or the
// supergroup it was upgraded to.
func (n *Notifier) ChatID() config.ChatID {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.chatID
}

// AttemptTimeout is the least time one sendMessage is given. Telegram
// documents no deadline of its own for sendMessage, and a request it is
// still processing may well be delivered: cutting it short makes the
// retry post a copy. api.telegram.org answers from behind an nginx front
// end that gives up on a slow Bot API server with "504 Gateway Time-out",
// after nginx's default 60 s: waiting longer than that means an attempt
// ends with Telegram's verdict rather than ours whenever Telegram answers
// at all.
const AttemptTimeout = 75 * time.Second

// MinAttemptTimeout implements notify.SlowProvider.
func (n *Notifier) MinAttemptTimeout() time.Duration { return AttemptTimeout }

// RateLimits implements notify.RateLimited with Telegram's documented
// limits: about one message a second per chat, 20 a minute in a group or
// channel, 30 a second per bot overall.
func (n *Notifier) RateLimits() []notify.Rate {
	chat := n.ChatID()
	key := "telegram:" + n.botID + ":" + chat.String()
	rates := []notify.Rate{
		{Key: key, Limit: 1, Per: time.Second},
		{Key: "telegram:" + n.botID, Limit: 30, Per: time.Second},
	}
	if chat.IsGroup() {
		rates = append(rates, notify.Rate{Key: key + ":group", Limit: 20, Per: time.Minute})
	}
	return rates
}

// Notify implements notify.Notifier.
func (n *Notifier) Notify(ctx context.Context, msg *notify.Notification) (bool, error) {
	if !n.sendResolved && msg.Status == notify.StatusResolved && msg.Kind != notify.KindTest {
		n.logger.Debug("Not sending a resolved notification (send_resolved: false)", "key", msg.Key)
		if n.cfg.Actions {
			n.removeButtons(ctx, msg)
		}
		return false, nil
	}
	text, html, err := n.render(msg)
	if err != nil {
		return false, fmt.Errorf("telegram: %w", err)
	}
	token, err := n.token()
	if err != nil {
		return false, fmt.Errorf("telegram: %w", err)
	}
	parseMode := "HTML"
	if !html {
		parseMode = ""
	}
	var buttons *Keyboard
	if n.cfg.Actions {
		buttons = keyboard(msg)
	}
	// At most one migration and one plain-text resend: each changes the
	// request, and neither can recur for the new one.
	migrated, downgraded := false, false
	for {
		chat := n.ChatID()
		res, err := n.send(ctx, token, chat, text, parseMode, buttons)
		if err != nil {
			return true, fmt.Errorf("telegram: chat %s: %w", chat, notify.RedactError(err, token))
		}
		switch {
		case res.OK:
			if buttons != nil {
				n.sentWithButtons(msg, res, text, parseMode, buttons)
			}
			if n.cfg.Actions {
				n.removeButtons(ctx, msg)
			}
			return false, nil
		case res.Parameters.MigrateToChatID != 0 && !migrated:
			migrated = true
			n.migrate(chat, res.Parameters.MigrateToChatID)
			continue
		case parseMode != "" && res.StatusCode == http.StatusBadRequest &&
			strings.Contains(res.Description, "can't parse entities") && !downgraded:
			downgraded = true
			n.logger.Warn("Telegram could not parse the HTML message, sending it as plain text; check the message template",
				"chat", chat, "err", res.Description)
			text, parseMode = fitPlain(htmlToPlain(text)), ""
			continue
		}
		return res.classify(chat)
	}
}

// render builds the message text, summarised to fit, and says whether it
// is HTML.
func (n *Notifier) render(msg *notify.Notification) (string, bool, error) {
	data := notify.NewData(msg, n.now())
	render := func(d *notify.Data) (string, error) {
		text, custom, err := n.tmpl.Render(d)
		if !custom && n.plain {
			// The default template is HTML; plain mode shows its text.
			text = htmlToPlain(text)
		}
		// Telegram trims messages; trimming here keeps the length honest.
		return strings.TrimSpace(text), err
	}
	text, fit, err := notify.Summarise(data, render, fits)
	if err != nil {
		return "", false, err
	}
	if strings.TrimSpace(text) == "" {
		return "", false, errors.New("the message template rendered an empty message")
	}
	switch {
	case n.plain:
		return fitPlain(text), false, nil
	case !fit:
		// Even one alert is too long (a huge label or reason in a custom
		// template): HTML cannot be cut safely, plain text can.
		n.logger.Warn("Telegram message too long even with a single alert; sending it shortened, as plain text")
		return fitPlain(htmlToPlain(text)), false, nil
	}
	return text, true, nil
}

func fits(s string) bool { return utf16Len(s) <= messageBudget }

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// fitPlain cuts plain text to the budget at a character boundary.
func fitPlain(s string) string {
	if fits(s) {
		return s
	}
	units := 0
	for i, r := range s {
		units += utf16.RuneLen(r)
		if units > messageBudget-1 {
			return s[:i] + "…"
		}
	}
	return s
}

// htmlToPlain renders Telegram HTML as plain text: tags removed, entities
// decoded. It is a fallback for a message Telegram refused to parse, so it
// tolerates anything.
func htmlToPlain(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] == '<' && i+1 < len(s) && (s[i+1] == '/' || isASCIILetter(s[i+1])) {
			if end := strings.IndexByte(s[i:], '>'); end > 0 {
				i += end + 1
				continue
			}
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r)
		i += size
	}
	return html.UnescapeString(b.String())
}

func isASCIILetter(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

func (n *Notifier) migrate(from config.ChatID, to int64) {
	n.mu.Lock()
	n.chatID = config.ChatID(fmt.Sprint(to))
	n.mu.Unlock()
	n.logger.Error("Telegram chat was upgraded to a supergroup: sending to the new chat id; update chat_id in the configuration",
		"old_chat_id", from.String(), "new_chat_id", to)
}

// sendMessageRequest is the body of sendMessage.
type sendMessageRequest struct {
	ChatID              any                 `json:"chat_id"` // int64 or "@channel"
	MessageThreadID     int64               `json:"message_thread_id,omitempty"`
	Text                string              `json:"text"`
	ParseMode           string              `json:"parse_mode,omitempty"`
	DisableNotification bool                `json:"disable_notification,omitempty"`
	LinkPreviewOptions  *linkPreviewOptions `json:"link_preview_options,omitempty"`
	ReplyMarkup         *Keyboard           `json:"reply_markup,omitempty"`
}

type linkPreviewOptions struct {
	IsDisabled bool `json:"is_disabled"`
}

// apiResponse is every Bot API answer.
type apiResponse struct {
	OK          bool   `json:"ok"`
	ErrorCode   int    `json:"error_code"`
	Description string `json:"description"`
	Parameters  struct {
		MigrateToChatID int64 `json:"migrate_to_chat_id"`
		RetryAfter      int   `json:"retry_after"`
	} `json:"parameters"`
	Result json.RawMessage `json:"result"`

	StatusCode int         `json:"-"`
	Header     http.Header `json:"-"`
	raw        []byte
}

// result decodes the answer's result.
func (r *apiResponse) result(v any) error { return json.Unmarshal(r.Result, v) }

func (n *Notifier) send(ctx context.Context, token string, chat config.ChatID, text, parseMode string, buttons *Keyboard) (*apiResponse, error) {
	req := sendMessageRequest{
		ReplyMarkup:         buttons,
		ChatID:              chat.String(),
		MessageThreadID:     n.cfg.MessageThreadID,
		Text:                text,
		ParseMode:           parseMode,
		DisableNotification: n.cfg.DisableNotification,
		// The status page link is not worth a preview card.
		LinkPreviewOptions: &linkPreviewOptions{IsDisabled: true},
	}
	if id, ok := chat.Int(); ok {
		req.ChatID = id
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, n.apiURL+"/bot"+token+"/sendMessage", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	httpReq.Header.Set("Content-Type", "application/json")
	resp, err := n.client.Do(httpReq)
	if err != nil {
		return nil, err
	}
	raw, err := notify.ReadBody(resp)
	if err != nil {
		return nil, err
	}
	res := &apiResponse{StatusCode: resp.StatusCode, Header: resp.Header, raw: raw}
	if err := json.Unmarshal(raw, res); err != nil {
		// A proxy's error page rather than the Bot API: judge by status.
		res.OK = false
		res.Description = fmt.Sprintf("unexpected response (HTTP %d): %s", resp.StatusCode, notify.BodyExcerpt(raw))
	}
	if res.OK && resp.StatusCode != http.StatusOK {
		res.OK = false
	}
	return res, nil
}

// classify turns a refusal into the retry decision and an error naming the
// provider's description (plus a hint for the usual setup mistakes).
func (r *apiResponse) classify(chat config.ChatID) (bool, error) {
	desc := r.Description
	if desc == "" {
		desc = http.StatusText(r.StatusCode)
	}
	err := fmt.Errorf("telegram: chat %s: %s (HTTP %d)%s", chat, desc, r.StatusCode, hint(r.StatusCode, desc))
	switch {
	case r.StatusCode == http.StatusTooManyRequests || r.Parameters.RetryAfter > 0:
		after := time.Duration(r.Parameters.RetryAfter) * time.Second
		if after == 0 {
			after, _ = notify.RetryAfterHeader(r.Header, time.Now())
		}
		return true, &notify.RetryAfterError{After: after, Err: err}
	case notify.RetryableStatus(r.StatusCode):
		return true, err
	}
	return false, err
}

func hint(status int, desc string) string {
	switch {
	case status == http.StatusUnauthorized:
		return ": check bot_token"
	case strings.Contains(desc, "chat not found"):
		return ": check chat_id, and that the bot was added to the chat"
	case strings.Contains(desc, "thread not found"):
		return ": check message_thread_id"
	case status == http.StatusForbidden:
		return ": the bot needs to be (re)added to the chat, or unblocked"
	}
	return ""
}
