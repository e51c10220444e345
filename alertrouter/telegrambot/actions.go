package telegrambot

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/notify/telegram"
	"github.com/vigie-monitoring/vigie/alertrouter/silence"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

// callTimeout bounds each Bot API call the bot makes besides getUpdates.
const callTimeout = 30 * time.Second

// maxListed bounds the lines of /status and /silences (a message has at
// most 4096 characters).
const maxListed = 20

// callback acts on a pressed button, and always answers the query.
func (b *bot) callback(ctx context.Context, q *callbackQuery) {
	answer, action, result := b.act(ctx, q)
	b.o.Metrics.actions.WithLabelValues(action, result).Inc()
	actx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	params := map[string]any{"callback_query_id": q.ID, "text": answer}
	if result == "refused" {
		params["show_alert"] = true
	}
	if err := b.api.Call(actx, "answerCallbackQuery", params, nil); err != nil {
		b.logger.Warn("Could not answer a button press", "action", action, "err", err)
	}
}

// act does what a button says and returns the answer for the person who
// pressed it, the action and its result (for the metric).
func (b *bot) act(ctx context.Context, q *callbackQuery) (answer, action, result string) {
	cb, err := telegram.ParseCallback(q.Data)
	if err != nil {
		b.logger.Warn("Ignoring a button press that is not vigie's", "err", err, "user", q.From.name())
		return "This button is not vigie's.", "unknown", "refused"
	}
	action = cb.Action
	if q.Message == nil {
		return "The message is too old to act on.", action, "stale"
	}
	ch, ok := b.chatOf(q.Message.Chat)
	if !ok {
		b.logger.Warn("Refused a button press from a chat without actions", "chat", q.Message.Chat.ID, "user", q.From.name(), "action", action)
		return "Refused: this chat may not act on vigie alerts.", action, "refused"
	}
	if !ch.allows(&q.From) {
		b.logger.Warn("Refused a button press from a user not in allowed_user_ids", "chat", q.Message.Chat.ID, "user", q.From.name(), "action", action)
		return fmt.Sprintf("Refused: you are not allowed to act on these alerts (your user id is %d).", q.From.ID), action, "refused"
	}
	rec, err := b.o.Store.TelegramMessage(b.id, q.Message.Chat.ID, q.Message.MessageID)
	if err != nil {
		b.logger.Warn("Cannot read the message record", "err", err)
	}
	now := b.o.Clock.Now()
	who := q.From.name()
	switch cb.Action {
	case telegram.ActionAck:
		res, err := b.o.Pipeline.Acknowledge(ctx, cb.Fingerprint, cb.Incident, who, true)
		switch {
		case err != nil:
			b.logger.Error("Could not acknowledge an incident", "err", err)
			return "Failed, try again: " + err.Error(), action, "failed"
		case !res.Found || !res.Current:
			b.stale(ctx, q, rec)
			return "This incident is over.", action, "stale"
		case !res.Done:
			return fmt.Sprintf("Already acknowledged by %s at %s.", strings.TrimPrefix(res.AckedBy, "telegram:"), clockTime(res.AckedAt)), action, "done"
		}
		b.logger.Info("Incident acknowledged from Telegram", "target", res.Target, "module", res.Module, "by", who)
		b.note(ctx, q, rec, fmt.Sprintf("✅ Acknowledged by %s at %s: no more reminders for this incident", q.From.short(), clockTime(now)), telegram.ActionAck, "")
		return "Acknowledged: no more reminders for this incident.", action, "done"
	case telegram.ActionMute1, telegram.ActionMute2:
		res, err := b.o.Pipeline.Acknowledge(ctx, cb.Fingerprint, cb.Incident, who, false)
		switch {
		case err != nil:
			b.logger.Error("Could not look up the check to silence", "err", err)
			return "Failed, try again: " + err.Error(), action, "failed"
		case !res.Found || !res.Current:
			b.stale(ctx, q, rec)
			return "This incident is over.", action, "stale"
		}
		length, _ := telegram.SilenceFor(cb.Action) // one of the silence buttons: this case's
		id, until, err := b.silence(res.Labels, res.Target, res.Module, who, now.Add(length))
		if err != nil {
			b.logger.Error("Could not create a silence from Telegram", "err", err)
			return "Failed: " + err.Error(), action, "failed"
		}
		b.logger.Info("Check silenced from Telegram", "target", res.Target, "module", res.Module, "by", who, "until", until, "silence", id)
		b.note(ctx, q, rec, fmt.Sprintf("🔕 Silenced by %s until %s", q.From.short(), clockTime(until)), "", id)
		return fmt.Sprintf("Silenced until %s.", clockTime(until)), action, "done"
	}
	return "Unknown action.", action, "refused"
}

// silence creates the silence of a button, or extends the active one
// with the same matchers (24h after 1h), or keeps it if it lasts longer.
func (b *bot) silence(labels map[string]string, target, module, who string, until time.Time) (string, time.Time, error) {
	instance := labels["instance"]
	if instance == "" {
		instance = target
	}
	sil := silence.Silence{
		Matchers: []silence.Matcher{
			{Name: "instance", Value: instance, IsEqual: true},
			{Name: "module", Value: module, IsEqual: true},
		},
		EndsAt:    until,
		CreatedBy: who,
		Comment:   fmt.Sprintf("Silenced from Telegram: %s (%s) is DOWN", target, module),
	}
	now := b.o.Clock.Now()
	for _, prev := range b.o.Silences.List() {
		if prev.State(now) != silence.Active || !slices.Equal(prev.Matchers, sil.Matchers) {
			continue
		}
		if !prev.EndsAt.Before(until) {
			return prev.ID, prev.EndsAt, nil
		}
		sil.ID, sil.StartsAt = prev.ID, prev.StartsAt
		break
	}
	id, err := b.o.Silences.Set(sil)
	return id, until, err
}

// note edits the message: its text with one more line, its keyboard
// without the buttons of drop. A message the store does not know (sent
// before actions were on, or by a router without this store) is edited
// from what Telegram sent with the query, as plain text.
func (b *bot) note(ctx context.Context, q *callbackQuery, rec *store.TelegramMessageRecord, line, drop, silenceID string) {
	text, parseMode := q.Message.Text, ""
	kb := q.Message.ReplyMarkup
	var notes []string
	if rec != nil {
		text, parseMode = rec.Text, rec.ParseMode
		var saved telegram.Keyboard
		if json.Unmarshal(rec.Keyboard, &saved) == nil && len(saved.InlineKeyboard) > 0 {
			kb = &saved
		}
		notes = rec.Notes
	}
	if parseMode == "HTML" {
		line = html.EscapeString(line)
	}
	notes = append(notes, line)
	if drop != "" {
		kb = kb.Without(drop)
	}
	full, parseMode := telegram.WithNotes(text, parseMode, notes)
	params := map[string]any{"chat_id": q.Message.Chat.ID, "message_id": q.Message.MessageID, "text": full,
		"link_preview_options": map[string]any{"is_disabled": true}}
	if parseMode != "" {
		params["parse_mode"] = parseMode
	}
	if kb != nil {
		params["reply_markup"] = kb
	}
	actx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	if err := b.api.Call(actx, "editMessageText", params, nil); err != nil {
		b.logger.Warn("Could not edit the message after a button press", "message_id", q.Message.MessageID, "err", err)
	}
	if rec == nil {
		return
	}
	rec.Notes = notes
	if raw, err := json.Marshal(kb); err == nil {
		rec.Keyboard = raw
	}
	if silenceID != "" {
		rec.SilenceID = silenceID
	}
	if err := b.o.Store.SaveTelegramMessage(rec); err != nil {
		b.logger.Warn("Could not save the message record", "err", err)
	}
}

// stale removes the buttons of a message about an incident that is over.
func (b *bot) stale(ctx context.Context, q *callbackQuery, rec *store.TelegramMessageRecord) {
	actx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	if err := telegram.RemoveButtons(actx, b.api, q.Message.Chat.ID, q.Message.MessageID); err != nil {
		b.logger.Warn("Could not remove the buttons of a message about an incident that is over", "err", err)
	}
	if rec != nil {
		if err := b.o.Store.DeleteTelegramMessages(rec); err != nil {
			b.logger.Warn("Could not forget a message", "err", err)
		}
	}
}

func clockTime(t time.Time) string { return t.UTC().Format("Jan 2 15:04 MST") }

// helpText lists the commands.
const helpText = `vigie answers:
/status – how many checks are up and down, and the DOWN checks with their reasons
/silences – the active silences
Buttons on DOWN messages: Ack stops the reminders of that incident; 1h and 24h silence the check.`

// command answers a command in a chat with actions.
func (b *bot) command(ctx context.Context, m *message) {
	ch, ok := b.chatOf(m.Chat)
	if !ok {
		b.logger.Debug("Ignoring a command from a chat without actions", "chat", m.Chat.ID)
		return
	}
	word, _, _ := strings.Cut(strings.TrimSpace(m.Text), " ")
	name, to, addressed := strings.Cut(word, "@")
	if addressed && !strings.EqualFold(to, b.username) {
		return // for another bot in the same group
	}
	name = strings.ToLower(strings.TrimPrefix(name, "/"))
	var reply, result string
	switch {
	case !ch.allows(m.From):
		reply, result = "Refused: you are not allowed to ask vigie here.", "refused"
		if m.From != nil {
			reply = fmt.Sprintf("Refused: you are not allowed to ask vigie here (your user id is %d).", m.From.ID)
		}
	case name == "status":
		reply, result = b.statusText(), "done"
	case name == "silences":
		reply, result = b.silencesText(), "done"
	case name == "help" || name == "start":
		reply, result = helpText, "done"
	default:
		reply, result = "Unknown command /"+name+".\n"+helpText, "done"
		name = "unknown"
	}
	b.o.Metrics.actions.WithLabelValues(name, result).Inc()
	params := map[string]any{"chat_id": m.Chat.ID, "text": reply, "link_preview_options": map[string]any{"is_disabled": true}}
	if m.IsTopicMessage && m.MessageThreadID != 0 {
		params["message_thread_id"] = m.MessageThreadID
	}
	actx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	if err := b.api.Call(actx, "sendMessage", params, nil); err != nil {
		b.logger.Warn("Could not answer a command", "command", name, "err", err)
	}
}

// statusText is /status: counts, then the DOWN checks with reasons.
func (b *bot) statusText() string {
	v := b.o.Pipeline.View()
	if v == nil {
		return "vigie is starting; ask again in a moment."
	}
	now := b.o.Clock.Now()
	total := v.Counts["up"] + v.Counts["down"] + v.Counts["unknown"]
	var sb strings.Builder
	noun := "checks"
	if total == 1 {
		noun = "check"
	}
	fmt.Fprintf(&sb, "%d %s: %d up, %d down, %d unknown", total, noun, v.Counts["up"], v.Counts["down"], v.Counts["unknown"])
	if f := v.Counts["flapping"]; f > 0 {
		fmt.Fprintf(&sb, " (%d flapping)", f)
	}
	if !v.Exporter.Reachable && !v.Exporter.Since.IsZero() {
		fmt.Fprintf(&sb, "\n⚠️ the exporter is unreachable since %s: %s", notify.FormatWhen(v.Exporter.Since, now), v.Exporter.LastError)
	}
	listed := 0
	for _, p := range v.Problems {
		if p.State != "down" {
			continue
		}
		if listed == maxListed {
			fmt.Fprintf(&sb, "\n… and %d more", v.Counts["down"]-listed)
			break
		}
		listed++
		fmt.Fprintf(&sb, "\n🔴 %s (%s) down since %s", p.Target, p.Module, notify.FormatWhen(p.Since, now))
		if p.Reason != "" {
			fmt.Fprintf(&sb, ": %s", truncate(p.Reason, 200))
		}
		if len(p.MutedBy) > 0 {
			sb.WriteString(" [silenced]")
		}
	}
	if listed == 0 && v.Counts["down"] == 0 {
		sb.WriteString("\n✅ nothing is down")
	}
	return sb.String()
}

// silencesText is /silences: the active silences, those ending first
// first.
func (b *bot) silencesText() string {
	now := b.o.Clock.Now()
	var active []silence.Silence
	for _, s := range b.o.Silences.List() {
		if s.State(now) == silence.Active {
			active = append(active, s)
		}
	}
	if len(active) == 0 {
		return "No active silences."
	}
	sort.Slice(active, func(i, j int) bool { return active[i].EndsAt.Before(active[j].EndsAt) })
	var sb strings.Builder
	if len(active) == 1 {
		sb.WriteString("1 active silence:")
	} else {
		fmt.Fprintf(&sb, "%d active silences:", len(active))
	}
	for i, s := range active {
		if i == maxListed {
			fmt.Fprintf(&sb, "\n… and %d more", len(active)-i)
			break
		}
		fmt.Fprintf(&sb, "\n🔕 %s until %s by %s", truncate(s.MatchersString(), 200), clockTime(s.EndsAt), truncate(s.CreatedBy, 60))
		if s.Comment != "" {
			fmt.Fprintf(&sb, ": %s", truncate(s.Comment, 120))
		}
	}
	return sb.String()
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
