package telegram

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

// With actions: true, DOWN messages and reminders about the router's own
// checks carry buttons (Ack, 1h, 24h). Each button's callback_data says
// everything needed to act on it (the action, the check's fingerprint and
// the incident's start), so any router can act on a button whatever sent
// the message; the message log (the router's store) remembers which
// message speaks of which incident, to edit it later: when the incident
// ends, its buttons are removed.

// Button actions.
const (
	ActionAck   = "ack"
	ActionMute1 = "1h"
	ActionMute2 = "24h"
)

// SilenceFor is how long the silence button of action silences; false for
// an action that is not a silence button.
func SilenceFor(action string) (time.Duration, bool) {
	switch action {
	case ActionMute1:
		return time.Hour, true
	case ActionMute2:
		return 24 * time.Hour, true
	}
	return 0, false
}

// MaxCallbackData is Telegram's limit on callback_data, in bytes.
const MaxCallbackData = 64

// maxButtonRows bounds the keyboard of a grouped message: one row per
// check, for the first few.
const maxButtonRows = 5

// Keyboard is an InlineKeyboardMarkup.
type Keyboard struct {
	InlineKeyboard [][]Button `json:"inline_keyboard"`
}

// Button is an InlineKeyboardButton with callback data.
type Button struct {
	Text         string `json:"text"`
	CallbackData string `json:"callback_data"`
}

// Without returns the keyboard without the buttons of action (nil when
// none is left).
func (k *Keyboard) Without(action string) *Keyboard {
	if k == nil {
		return nil
	}
	out := &Keyboard{}
	for _, row := range k.InlineKeyboard {
		var r []Button
		for _, b := range row {
			if cb, err := ParseCallback(b.CallbackData); err == nil && cb.Action == action {
				continue
			}
			r = append(r, b)
		}
		if len(r) > 0 {
			out.InlineKeyboard = append(out.InlineKeyboard, r)
		}
	}
	if len(out.InlineKeyboard) == 0 {
		return nil
	}
	return out
}

// Callback is what a button says: an action on one check's incident.
type Callback struct {
	Action      string
	Fingerprint string    // the check's (its alert labels')
	Incident    time.Time // when the incident began (the DOWN's startsAt)
}

// Data encodes the callback: "ack:<fingerprint>:<start, base 36 ns>",
// at most 4+16+1+13 bytes.
func (c Callback) Data() string {
	return c.Action + ":" + c.Fingerprint + ":" + strconv.FormatInt(c.Incident.UnixNano(), 36)
}

// Incident names the incident as notify.Notification.Incidents does.
func (c Callback) IncidentID() string {
	return c.Fingerprint + "@" + strconv.FormatInt(c.Incident.UnixNano(), 10)
}

// ParseCallback decodes callback data; anything else (a button of another
// program using the same bot, a forged query) is an error.
func ParseCallback(data string) (Callback, error) {
	parts := strings.Split(data, ":")
	if len(parts) != 3 {
		return Callback{}, fmt.Errorf("callback data %q is not vigie's", data)
	}
	switch parts[0] {
	case ActionAck, ActionMute1, ActionMute2:
	default:
		return Callback{}, fmt.Errorf("unknown action %q", parts[0])
	}
	if len(parts[1]) != 16 || strings.Trim(parts[1], "0123456789abcdef") != "" {
		return Callback{}, fmt.Errorf("callback data %q has no check fingerprint", data)
	}
	ns, err := strconv.ParseInt(parts[2], 36, 64)
	if err != nil {
		return Callback{}, fmt.Errorf("callback data %q has no incident time", data)
	}
	return Callback{Action: parts[0], Fingerprint: parts[1], Incident: time.Unix(0, ns)}, nil
}

// keyboard returns the buttons for a notification: DOWN and reminders of
// checks (Prometheus alerts are silenced with their own labels, from
// amtool or the page), nil otherwise.
func keyboard(msg *notify.Notification) *Keyboard {
	if msg.Status != notify.StatusFiring || (msg.Kind != notify.KindDown && msg.Kind != notify.KindReminder) {
		return nil
	}
	var checks []notify.Alert
	for _, a := range msg.Alerts {
		if a.Check && a.Status == notify.StatusFiring && len(a.Fingerprint) == 16 {
			checks = append(checks, a)
		}
	}
	if len(checks) == 0 {
		return nil
	}
	k := &Keyboard{}
	for i, a := range checks {
		if i == maxButtonRows {
			break
		}
		suffix := ""
		if len(checks) > 1 {
			suffix = " " + shorten(a.Labels["instance"], 24)
		}
		row := make([]Button, 0, 3)
		for _, action := range []struct{ name, text string }{{ActionAck, "✅ Ack"}, {ActionMute1, "🔕 1h"}, {ActionMute2, "🔕 24h"}} {
			cb := Callback{Action: action.name, Fingerprint: a.Fingerprint, Incident: a.StartsAt}
			row = append(row, Button{Text: action.text + suffix, CallbackData: cb.Data()})
		}
		k.InlineKeyboard = append(k.InlineKeyboard, row)
	}
	return k
}

func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// SentMessage is a message with buttons, as the message log keeps it.
type SentMessage struct {
	Chat      int64
	MessageID int64
	// Incidents are those the buttons act on (Callback.IncidentID).
	Incidents []string
	// Text and ParseMode are as sent, so that an edit can add a line.
	Text      string
	ParseMode string
	Keyboard  *Keyboard
	SentAt    time.Time
}

// MessageLog remembers the messages that carry buttons (the router's
// store).
type MessageLog interface {
	// Sent records a message with buttons.
	Sent(bot string, m SentMessage) error
	// Ended returns (and forgets) the messages that speak of these
	// incidents.
	Ended(bot string, incidents []string) ([]SentMessage, error)
}

// Option configures a Notifier.
type Option func(*Notifier)

// WithMessageLog gives a notifier with actions where to remember its
// messages with buttons (to remove the buttons when the incident ends).
func WithMessageLog(l MessageLog) Option { return func(n *Notifier) { n.messages = l } }

// sentWithButtons records a message that carries buttons.
func (n *Notifier) sentWithButtons(msg *notify.Notification, res *apiResponse, text, parseMode string, k *Keyboard) {
	if n.messages == nil {
		return
	}
	var sent struct {
		MessageID int64 `json:"message_id"`
		Chat      struct {
			ID int64 `json:"id"`
		} `json:"chat"`
	}
	if err := res.result(&sent); err != nil || sent.MessageID == 0 {
		n.logger.Warn("Telegram accepted a message with buttons but its id could not be read; its buttons will stay after the incident ends", "err", err)
		return
	}
	var incidents []string
	for _, row := range k.InlineKeyboard {
		if cb, err := ParseCallback(row[0].CallbackData); err == nil {
			incidents = append(incidents, cb.IncidentID())
		}
	}
	m := SentMessage{Chat: sent.Chat.ID, MessageID: sent.MessageID, Incidents: incidents, Text: text, ParseMode: parseMode, Keyboard: k, SentAt: n.now()}
	if err := n.messages.Sent(n.botID, m); err != nil {
		n.logger.Warn("Could not record a message with buttons; its buttons will stay after the incident ends", "message_id", sent.MessageID, "err", err)
	}
}

// removeButtons takes the buttons off the messages about incidents that
// ended (after their UP, or a summary saying so, was delivered). A
// failure is logged: the UP went, and sending it again would be worse
// than a stale button (which answers that the incident is over).
func (n *Notifier) removeButtons(ctx context.Context, msg *notify.Notification) {
	if n.messages == nil {
		return
	}
	var ended []string
	for _, a := range msg.Alerts {
		if a.Status == notify.StatusResolved && a.Fingerprint != "" {
			ended = append(ended, a.Fingerprint+"@"+strconv.FormatInt(a.StartsAt.UnixNano(), 10))
		}
	}
	if len(ended) == 0 {
		return
	}
	msgs, err := n.messages.Ended(n.botID, ended)
	if err != nil {
		n.logger.Warn("Could not read which messages carry buttons for an incident that ended", "err", err)
		return
	}
	api := n.API()
	for _, m := range msgs {
		if err := RemoveButtons(ctx, api, m.Chat, m.MessageID); err != nil {
			n.logger.Warn("Could not remove the buttons of a message about an incident that ended", "chat", m.Chat, "message_id", m.MessageID, "err", err)
		}
	}
}

// RemoveButtons removes a message's inline keyboard. A message already
// without one, or deleted, is not an error.
func RemoveButtons(ctx context.Context, api *API, chat, messageID int64) error {
	err := api.Call(ctx, "editMessageReplyMarkup", map[string]any{"chat_id": chat, "message_id": messageID}, nil)
	var ae *APIError
	if errors.As(err, &ae) && ae.Code == 400 &&
		(strings.Contains(ae.Description, "message is not modified") || strings.Contains(ae.Description, "message to edit not found")) {
		return nil
	}
	return err
}

// WithNotes is a message's text with lines added at the end (what actions
// did), kept within Telegram's limit: a text too long for them is sent
// again shortened, as plain text (HTML cannot be cut safely). The lines
// are escaped by the caller for parseMode.
func WithNotes(text, parseMode string, notes []string) (string, string) {
	tail := "\n\n" + strings.Join(notes, "\n")
	if full := text + tail; fits(full) {
		return full, parseMode
	}
	if parseMode != "" {
		text = htmlToPlain(text)
		tail = htmlToPlain(tail)
	}
	budget := messageBudget - utf16Len(tail) - 1
	units := 0
	for i, r := range text {
		units += utf16.RuneLen(r)
		if units > budget {
			text = text[:i] + "…"
			break
		}
	}
	return fitPlain(text + tail), ""
}
