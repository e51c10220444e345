// Package telegrambot is the two-way side of Telegram: for every bot of a
// telegram_configs entry with actions: true it long-polls getUpdates and
// acts on what people do in the chat. The buttons on DOWN messages
// (notify/telegram puts them there) acknowledge the incident (the
// incident stage stops its reminders) or silence the check for 1 h or
// 24 h (a real silence, as amtool would create); the commands /status and
// /silences answer from the pipeline's view and the silences.
//
// What must survive a restart is in the router's store: each bot's
// getUpdates offset, saved before an update is handled, so that no
// update is handled twice; and the messages that carry buttons, so that
// their buttons are removed when the incident ends or the silence
// expires. Only the leader polls (Telegram allows one poller per bot); a
// button names the check and the incident itself, so any router can act
// on it.
package telegrambot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/incident"
	"github.com/vigie-monitoring/vigie/alertrouter/internal/clock"
	"github.com/vigie-monitoring/vigie/alertrouter/notify/telegram"
	"github.com/vigie-monitoring/vigie/alertrouter/silence"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
	"github.com/vigie-monitoring/vigie/alertrouter/view"
)

// Leader says whether this router is the one that polls. In a cluster it
// is the cluster's leadership; alone, a router always is (AlwaysLeader).
type Leader interface{ IsLeader() bool }

// AlwaysLeader is the Leader of a router without a cluster.
type AlwaysLeader struct{}

// IsLeader implements Leader.
func (AlwaysLeader) IsLeader() bool { return true }

// Pipeline is what the bot asks of the pipeline.
type Pipeline interface {
	View() *view.View
	Acknowledge(ctx context.Context, fingerprint string, incidentStart time.Time, by string, ack bool) (incident.Ack, error)
}

// Silences is what the bot asks of the silences.
type Silences interface {
	Set(s silence.Silence) (string, error)
	Get(id string) (silence.Silence, error)
	List() []silence.Silence
	Changes() (<-chan struct{}, func())
}

// Options configure the bots.
type Options struct {
	Store    store.Telegram
	Pipeline Pipeline
	Silences Silences
	// Leader defaults to AlwaysLeader.
	Leader  Leader
	Clock   clock.Clock
	Logger  *slog.Logger
	Metrics *Metrics
	// PollTimeout is getUpdates' long-polling timeout (default 30 s).
	PollTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait after a failed poll
	// (default 1 s and 5 min; a 409 conflict waits at least 30 s).
	MinBackoff, MaxBackoff time.Duration
}

// Metrics of the bots.
type Metrics struct {
	conflicts  prometheus.Counter
	pollErrors prometheus.Counter
	updates    *prometheus.CounterVec
	actions    *prometheus.CounterVec
}

// NewMetrics registers the bots' metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigie_router_telegram_poll_conflicts_total",
			Help: "getUpdates answered 409 Conflict: another program polls the same bot (only one may).",
		}),
		pollErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigie_router_telegram_poll_errors_total",
			Help: "getUpdates that failed for another reason than a conflict (network, token, Telegram).",
		}),
		updates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigie_router_telegram_updates_total",
			Help: "Telegram updates received by the bots with actions, by kind (callback_query, command, other).",
		}, []string{"kind"}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigie_router_telegram_actions_total",
			Help: "Buttons pressed and commands sent in Telegram, by action and result (done, refused, stale, failed).",
		}, []string{"action", "result"}),
	}
	if reg != nil {
		reg.MustRegister(m.conflicts, m.pollErrors, m.updates, m.actions)
	}
	return m
}

// Bots runs one poller per bot with actions.
type Bots struct {
	o Options

	mu      sync.Mutex
	bots    map[string]*bot // by bot id and API URL
	ctx     context.Context // Run's, nil before
	wg      sync.WaitGroup
	pending []*bot // applied before Run
}

// New returns the bots, none configured yet (Apply).
func New(o Options) *Bots {
	if o.Leader == nil {
		o.Leader = AlwaysLeader{}
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	if o.PollTimeout <= 0 {
		o.PollTimeout = 30 * time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Minute
	}
	return &Bots{o: o, bots: map[string]*bot{}}
}

// chat is a chat where a bot acts, with who may act there.
type chat struct {
	ref     config.ChatID
	allowed map[int64]bool // empty: anyone in the chat
}

// plan groups the telegram_configs entries with actions by bot: one
// poller per bot token, acting in each of its chats. Two entries for the
// same bot and chat must agree on allowed_user_ids.
func plan(cfg *config.RouterConfig, logger *slog.Logger) (map[string]*bot, error) {
	out := map[string]*bot{}
	for _, rc := range cfg.Receivers {
		for j, c := range rc.TelegramConfigs {
			if !c.Actions {
				continue
			}
			n, err := telegram.New(c, logger)
			if err != nil {
				return nil, fmt.Errorf("receiver %q telegram_configs[%d]: %w", rc.Name, j, err)
			}
			key := n.BotID() + " " + c.APIURL
			b := out[key]
			if b == nil {
				b = &bot{id: n.BotID(), api: n.API(), where: fmt.Sprintf("receiver %q telegram_configs[%d]", rc.Name, j)}
				out[key] = b
			}
			allowed := map[int64]bool{}
			for _, id := range c.AllowedUserIDs {
				allowed[id] = true
			}
			merged := false
			for _, ch := range b.chats {
				if ch.ref == c.ChatID {
					if !sameSet(ch.allowed, allowed) {
						return nil, fmt.Errorf("receiver %q telegram_configs[%d]: chat %s has actions in another entry of the same bot with other allowed_user_ids; give them the same list", rc.Name, j, c.ChatID)
					}
					merged = true
				}
			}
			if !merged {
				b.chats = append(b.chats, chat{ref: c.ChatID, allowed: allowed})
			}
		}
	}
	return out, nil
}

func sameSet(a, b map[int64]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// Check reports what Apply would refuse in a configuration (for
// --config.check and before a reload is applied).
func Check(cfg *config.RouterConfig) error {
	_, err := plan(cfg, nil)
	return err
}

// Apply installs the bots of a configuration: pollers of bots no longer
// configured stop, new ones start, changed ones are replaced.
func (bs *Bots) Apply(cfg *config.RouterConfig) error {
	next, err := plan(cfg, bs.o.Logger)
	if err != nil {
		return err
	}
	bs.mu.Lock()
	defer bs.mu.Unlock()
	for key, old := range bs.bots {
		if nb, ok := next[key]; ok && sameChats(old.chats, nb.chats) {
			next[key] = old // unchanged: keep it polling
			continue
		}
		old.stop()
	}
	for key, b := range next {
		if b.cancel != nil {
			continue // kept
		}
		b.Bots = bs
		b.logger = bs.o.Logger.With("bot", b.id)
		bs.start(b)
		next[key] = b
	}
	bs.bots = next
	return nil
}

func sameChats(a, b []chat) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ref != b[i].ref || !sameSet(a[i].allowed, b[i].allowed) {
			return false
		}
	}
	return true
}

// start runs a bot's poller now, or when Run starts.
func (bs *Bots) start(b *bot) {
	if bs.ctx == nil {
		b.cancel = func() {}
		bs.pending = append(bs.pending, b)
		return
	}
	ctx, cancel := context.WithCancel(bs.ctx)
	b.cancel = cancel
	b.done = make(chan struct{})
	bs.wg.Add(1)
	go func() {
		defer bs.wg.Done()
		defer close(b.done)
		b.run(ctx)
	}()
}

// Run polls until ctx ends, and removes the buttons of messages whose
// silence expired.
func (bs *Bots) Run(ctx context.Context) error {
	bs.mu.Lock()
	bs.ctx = ctx
	for _, b := range bs.pending {
		for _, configured := range bs.bots {
			if configured == b {
				bs.start(b)
			}
		}
	}
	bs.pending = nil
	bs.mu.Unlock()
	bs.watchSilences(ctx)
	bs.wg.Wait()
	return nil
}

// active returns the running bots.
func (bs *Bots) active() []*bot {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	out := make([]*bot, 0, len(bs.bots))
	for _, b := range bs.bots {
		out = append(out, b)
	}
	return out
}

// sleep waits d on the clock, or until ctx ends (false).
func (bs *Bots) sleep(ctx context.Context, d time.Duration) bool {
	t := bs.o.Clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
		return true
	}
}

// MessageLog is where notifiers with actions record their messages with
// buttons (the router's store).
func MessageLog(s store.Telegram) telegram.MessageLog { return messageLog{s} }

type messageLog struct{ s store.Telegram }

func (l messageLog) Sent(bot string, m telegram.SentMessage) error {
	kb, err := json.Marshal(m.Keyboard)
	if err != nil {
		return err
	}
	return l.s.SaveTelegramMessage(&store.TelegramMessageRecord{
		Bot: bot, Chat: m.Chat, MessageID: m.MessageID, Incidents: m.Incidents,
		Text: m.Text, ParseMode: m.ParseMode, Keyboard: kb, SentAt: m.SentAt,
	})
}

func (l messageLog) Ended(bot string, incidents []string) ([]telegram.SentMessage, error) {
	recs, err := l.s.TelegramMessages(bot)
	if err != nil {
		return nil, err
	}
	var ended []*store.TelegramMessageRecord
	var out []telegram.SentMessage
	for _, r := range recs {
		if overlaps(r.Incidents, incidents) {
			ended = append(ended, r)
			out = append(out, telegram.SentMessage{Chat: r.Chat, MessageID: r.MessageID, Incidents: r.Incidents})
		}
	}
	return out, l.s.DeleteTelegramMessages(ended...)
}

func overlaps(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return true
			}
		}
	}
	return false
}

// watchSilences removes the buttons of messages whose silence expired
// (the leader only: one edit per message): when silences change (an
// expiry by time included), and every minute for edits that failed or
// were left to a leader that went away.
func (bs *Bots) watchSilences(ctx context.Context) {
	ch, stop := bs.o.Silences.Changes()
	defer stop()
	for {
		bs.expireSilenced(ctx)
		t := bs.o.Clock.NewTimer(time.Minute)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-ch:
		case <-t.C():
		}
		t.Stop()
	}
}

func (bs *Bots) expireSilenced(ctx context.Context) {
	if !bs.o.Leader.IsLeader() {
		return
	}
	now := bs.o.Clock.Now()
	for _, b := range bs.active() {
		recs, err := bs.o.Store.TelegramMessages(b.id)
		if err != nil {
			b.logger.Warn("Cannot read the messages with buttons", "err", err)
			continue
		}
		for _, r := range recs {
			if r.SilenceID == "" {
				continue
			}
			if s, err := bs.o.Silences.Get(r.SilenceID); err == nil && s.State(now) != silence.Expired {
				continue
			}
			if err := telegram.RemoveButtons(ctx, b.api, r.Chat, r.MessageID); err != nil {
				b.logger.Warn("Could not remove the buttons of a message whose silence expired", "chat", r.Chat, "message_id", r.MessageID, "err", err)
				continue
			}
			if err := bs.o.Store.DeleteTelegramMessages(r); err != nil {
				b.logger.Warn("Could not forget a message whose silence expired", "err", err)
			}
		}
	}
}

// bot is one bot's poller.
type bot struct {
	*Bots
	id       string
	api      *telegram.API
	chats    []chat
	where    string
	logger   *slog.Logger
	username string // from getMe, for "/status@name"

	cancel func()
	done   chan struct{}
}

func (b *bot) stop() {
	if b.cancel != nil {
		b.cancel()
	}
}

// run polls getUpdates while ctx lasts, when this router is the leader.
func (b *bot) run(ctx context.Context) {
	backoff := time.Duration(0)
	conflicting := false
	for ctx.Err() == nil {
		if backoff > 0 && !b.sleep(ctx, backoff) {
			return
		}
		if !b.o.Leader.IsLeader() {
			backoff = 5 * time.Second
			continue
		}
		err := b.pollOnce(ctx)
		var ae *telegram.APIError
		switch {
		case err == nil:
			if conflicting {
				b.logger.Info("Telegram polling resumed: no other program polls the bot now")
			}
			backoff, conflicting = 0, false
		case ctx.Err() != nil:
			return
		case errors.As(err, &ae) && ae.Code == 409:
			b.o.Metrics.conflicts.Inc()
			backoff = max(2*backoff, 30*time.Second)
			if !conflicting {
				b.logger.Error("Another program is polling this Telegram bot (getUpdates answered 409 Conflict): Telegram lets only one poll, so buttons and commands may be handled by the other one or not at all; stop it, or give vigie its own bot. Retrying with backoff",
					"config", b.where, "err", ae.Description, "backoff", backoff)
			} else {
				b.logger.Warn("Telegram bot still polled by another program", "backoff", backoff)
			}
			conflicting = true
		default:
			b.o.Metrics.pollErrors.Inc()
			backoff = max(b.o.MinBackoff, 2*backoff)
			if errors.As(err, &ae) && ae.RetryAfter > 0 {
				backoff = ae.RetryAfter
			}
			b.logger.Warn("Cannot poll Telegram for button presses and commands; retrying", "config", b.where, "err", err, "backoff", backoff)
		}
		backoff = min(backoff, b.o.MaxBackoff)
	}
}

// update is the part of a Telegram Update the bot reads.
type update struct {
	ID            int64          `json:"update_id"`
	Message       *message       `json:"message"`
	ChannelPost   *message       `json:"channel_post"`
	CallbackQuery *callbackQuery `json:"callback_query"`
}

type message struct {
	MessageID       int64              `json:"message_id"`
	MessageThreadID int64              `json:"message_thread_id"`
	IsTopicMessage  bool               `json:"is_topic_message"`
	From            *user              `json:"from"`
	Chat            tgChat             `json:"chat"`
	Text            string             `json:"text"`
	ReplyMarkup     *telegram.Keyboard `json:"reply_markup"`
}

type tgChat struct {
	ID       int64  `json:"id"`
	Type     string `json:"type"`
	Username string `json:"username"`
}

type user struct {
	ID        int64  `json:"id"`
	IsBot     bool   `json:"is_bot"`
	Username  string `json:"username"`
	FirstName string `json:"first_name"`
}

// name is how the router names a Telegram user in silences and logs:
// "telegram:@ann (111)".
func (u *user) name() string {
	if u.Username != "" {
		return "telegram:@" + u.Username + " (" + strconv.FormatInt(u.ID, 10) + ")"
	}
	return "telegram:" + u.FirstName + " (" + strconv.FormatInt(u.ID, 10) + ")"
}

// short is the user as the chat sees them: "@ann".
func (u *user) short() string {
	if u.Username != "" {
		return "@" + u.Username
	}
	if u.FirstName != "" {
		return u.FirstName
	}
	return strconv.FormatInt(u.ID, 10)
}

type callbackQuery struct {
	ID      string   `json:"id"`
	From    user     `json:"from"`
	Message *message `json:"message"`
	Data    string   `json:"data"`
}

// pollOnce takes the updates waiting (long polling) and handles each,
// saving the offset past it first: after a crash, an update is handled
// at most once.
func (b *bot) pollOnce(ctx context.Context) error {
	if b.username == "" {
		var me user
		if err := b.api.Call(ctx, "getMe", map[string]any{}, &me); err != nil {
			return err
		}
		b.username = me.Username
	}
	offset, err := b.o.Store.TelegramOffset(b.id)
	if err != nil {
		return err
	}
	var ups []update
	params := map[string]any{
		"timeout":         int(b.o.PollTimeout / time.Second),
		"allowed_updates": []string{"message", "channel_post", "callback_query"},
	}
	if offset > 0 {
		params["offset"] = offset
	}
	if err := b.api.Call(ctx, "getUpdates", params, &ups); err != nil {
		return err
	}
	for _, u := range ups {
		if u.ID < offset {
			continue // Telegram confirmed it already; never twice
		}
		if err := b.o.Store.SaveTelegramOffset(b.id, u.ID+1); err != nil {
			return fmt.Errorf("save the offset: %w", err)
		}
		offset = u.ID + 1
		b.handle(ctx, u)
	}
	return nil
}

func (b *bot) handle(ctx context.Context, u update) {
	switch {
	case u.CallbackQuery != nil:
		b.o.Metrics.updates.WithLabelValues("callback_query").Inc()
		b.callback(ctx, u.CallbackQuery)
	case u.Message != nil && strings.HasPrefix(u.Message.Text, "/"):
		b.o.Metrics.updates.WithLabelValues("command").Inc()
		b.command(ctx, u.Message)
	case u.ChannelPost != nil && strings.HasPrefix(u.ChannelPost.Text, "/"):
		b.o.Metrics.updates.WithLabelValues("command").Inc()
		b.command(ctx, u.ChannelPost)
	default:
		b.o.Metrics.updates.WithLabelValues("other").Inc()
	}
}

// chatOf returns the configured chat a Telegram chat is.
func (b *bot) chatOf(c tgChat) (chat, bool) {
	for _, ch := range b.chats {
		if id, ok := ch.ref.Int(); ok && id == c.ID {
			return ch, true
		}
		if c.Username != "" && strings.EqualFold(string(ch.ref), "@"+c.Username) {
			return ch, true
		}
	}
	return chat{}, false
}

// allowedIn reports whether u may act in ch.
func (ch chat) allows(u *user) bool {
	if len(ch.allowed) == 0 {
		return true
	}
	return u != nil && ch.allowed[u.ID]
}
