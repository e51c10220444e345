// Package telegramtest is a strict in-process fake of the Telegram Bot API
// for tests: sendMessage, getMe, getUpdates (offsets, long polling, 409
// when two pollers compete), answerCallbackQuery, editMessageText and
// editMessageReplyMarkup, written to the documented contract
// (https://core.telegram.org/bots/api). It checks the token, the chat, the
// text length and the HTML entities like Telegram does, records what it
// accepted, and can be told to fail the way Telegram fails: server errors,
// flood control (429 with retry_after), a group upgraded to a supergroup
// (migrate_to_chat_id), a blocked bot, a revoked token. Tests play the
// people in the chat with PressButton and UserSays, and read every call
// the bot made with Calls and Transcript.
//
//	srv := telegramtest.Start(t, "123:secret")
//	srv.AddChat(telegramtest.Chat{ID: -1001234567890, Type: "supergroup"})
//	// point api_url at srv.URL, send, then inspect srv.Messages()
package telegramtest

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"
)

// MaxMessageLength is Telegram's limit on a text message, in UTF-16 code
// units after entity parsing.
const MaxMessageLength = 4096

// Chat is a chat the bot can write to.
type Chat struct {
	ID       int64
	Username string // "@name" for public groups and channels (optional)
	Type     string // private, group, supergroup or channel
	// IsForum enables topics: only then may message_thread_id be set.
	IsForum bool
	// MigratedTo makes the chat a group upgraded to a supergroup: every
	// message is refused with parameters.migrate_to_chat_id.
	MigratedTo int64
	// Forbidden makes every message fail with 403 and this description,
	// e.g. "Forbidden: bot was blocked by the user".
	Forbidden string
}

// Message is a message the fake accepted.
type Message struct {
	MessageID           int64
	ChatID              int64  // the chat it went to
	ChatRef             string // the chat_id as sent (number or @username)
	MessageThreadID     int64
	Text                string // as sent
	PlainText           string // what users see, after entity parsing
	ParseMode           string
	DisableNotification bool
	LinkPreviewDisabled bool
	// ReplyMarkup is the message's inline keyboard now (nil: none).
	ReplyMarkup *InlineKeyboard
	// Edits counts the edits of the message (editMessageText and
	// editMessageReplyMarkup).
	Edits int
}

// Failure is an error answer to send instead of handling a request.
type Failure struct {
	Status          int // HTTP status and error_code
	Description     string
	RetryAfter      int   // parameters.retry_after, seconds
	MigrateToChatID int64 // parameters.migrate_to_chat_id
}

// ServerError is a 500 as Telegram's front end returns it.
func ServerError() Failure {
	return Failure{Status: http.StatusInternalServerError, Description: "Internal Server Error"}
}

// TooManyRequests is flood control asking to wait seconds.
func TooManyRequests(seconds int) Failure {
	return Failure{Status: http.StatusTooManyRequests, Description: fmt.Sprintf("Too Many Requests: retry after %d", seconds), RetryAfter: seconds}
}

// Migrated is the answer for a group upgraded to a supergroup.
func Migrated(newChatID int64) Failure {
	return Failure{Status: http.StatusBadRequest, Description: "Bad Request: group chat was upgraded to a supergroup chat", MigrateToChatID: newChatID}
}

// Unauthorized is the answer for a revoked or wrong token.
func Unauthorized() Failure {
	return Failure{Status: http.StatusUnauthorized, Description: "Unauthorized"}
}

// Forbidden is a 403 with the given description, e.g. "Forbidden: bot was
// blocked by the user".
func Forbidden(description string) Failure {
	return Failure{Status: http.StatusForbidden, Description: description}
}

// Server is the fake Bot API. Its methods are safe for concurrent use.
type Server struct {
	// URL is the api_url to configure (the bot token goes after it:
	// URL/bot<token>/sendMessage).
	URL   string
	token string
	srv   *httptest.Server

	mu       sync.Mutex
	chats    []Chat
	messages []Message
	failures []Failure
	requests int
	nextID   int64
	updates  []update
	// nextUpdate numbers updates; Telegram's ids increase by one.
	nextUpdate int64
	// arrived is closed (and replaced) when an update arrives: long polls
	// wait on it.
	arrived chan struct{}
	// polling is the getUpdates request waiting now, if any.
	polling   *poll
	conflicts int
	queries   map[string]*callbackQuery
	answers   []Answer
	calls     []Call
}

// update is what getUpdates returns: a message someone posted where the
// bot can see it, or a button pressed.
type update struct {
	ID            int64          `json:"update_id"`
	Message       map[string]any `json:"message,omitempty"`
	CallbackQuery map[string]any `json:"callback_query,omitempty"`
}

// New starts a fake for the bot with this token. Close it when done.
func New(token string) *Server {
	s := &Server{token: token, nextID: 1, nextUpdate: 1, arrived: make(chan struct{}), queries: map[string]*callbackQuery{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	s.URL = s.srv.URL
	return s
}

// Start is New with Close registered as a test cleanup.
func Start(t testing.TB, token string) *Server {
	t.Helper()
	s := New(token)
	t.Cleanup(s.Close)
	return s
}

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// AddChat makes a chat known to the bot.
func (s *Server) AddChat(c Chat) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.Type == "" {
		c.Type = "private"
		if c.ID < 0 {
			c.Type = "supergroup"
		}
	}
	s.chats = append(s.chats, c)
}

// UserPosts records a message a person posted in a chat the bot is in
// (added with AddChat), as Telegram keeps it for getUpdates: how people
// find the chat id of a new bot's chat.
func (s *Server) UserPosts(chatID int64, from, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var chat map[string]any
	for _, c := range s.chats {
		if c.ID == chatID {
			chat = map[string]any{"id": c.ID, "type": c.Type}
			if c.Type == "private" {
				chat["first_name"] = from
			} else {
				chat["title"] = "vigie test " + c.Type
			}
			if c.Username != "" {
				chat["username"] = strings.TrimPrefix(c.Username, "@")
			}
		}
	}
	if chat == nil {
		panic(fmt.Sprintf("telegramtest: UserPosts to chat %d, which was not added", chatID))
	}
	s.addUpdateLocked(update{Message: map[string]any{
		"message_id": s.nextID, "date": time.Now().Unix(), "chat": chat, "text": text,
		"from": map[string]any{"id": 1000 + s.nextUpdate, "is_bot": false, "first_name": from},
	}})
	s.nextID++
}

// FailNext makes the next n requests fail with f (after the token check).
func (s *Server) FailNext(n int, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, f)
	}
}

// Messages returns the messages accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Requests returns how many requests reached the server.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// apiError is the shape of every Bot API error.
type apiError struct {
	OK          bool            `json:"ok"`
	ErrorCode   int             `json:"error_code"`
	Description string          `json:"description"`
	Parameters  *responseParams `json:"parameters,omitempty"`
}

type responseParams struct {
	MigrateToChatID int64 `json:"migrate_to_chat_id,omitempty"`
	RetryAfter      int   `json:"retry_after,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeFailure(w http.ResponseWriter, f Failure) {
	e := apiError{ErrorCode: f.Status, Description: f.Description}
	if f.RetryAfter > 0 || f.MigrateToChatID != 0 {
		e.Parameters = &responseParams{RetryAfter: f.RetryAfter, MigrateToChatID: f.MigrateToChatID}
	}
	if f.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
	}
	writeJSON(w, f.Status, e)
}

func badRequest(w http.ResponseWriter, description string) {
	writeFailure(w, Failure{Status: http.StatusBadRequest, Description: "Bad Request: " + description})
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	s.mu.Unlock()

	// /bot<token>/<method>
	rest, ok := strings.CutPrefix(r.URL.Path, "/bot")
	token, method, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 {
		writeFailure(w, Failure{Status: http.StatusNotFound, Description: "Not Found"})
		return
	}
	if token != s.token {
		writeFailure(w, Unauthorized())
		return
	}
	rec := s.record(w, method, r)
	defer rec.done()
	w = rec
	s.mu.Lock()
	var failure *Failure
	if len(s.failures) > 0 {
		failure = &s.failures[0]
		s.failures = s.failures[1:]
	}
	s.mu.Unlock()
	if failure != nil {
		writeFailure(w, *failure)
		return
	}
	switch strings.ToLower(method) {
	case "getme":
		id, _, _ := strings.Cut(s.token, ":")
		botID, _ := strconv.ParseInt(id, 10, 64)
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "result": map[string]any{
			"id": botID, "is_bot": true, "first_name": "vigie test bot", "username": "vigie_test_bot",
		}})
	case "sendmessage":
		s.sendMessage(w, r)
	case "getupdates":
		s.getUpdates(w, r)
	case "answercallbackquery":
		s.answerCallbackQuery(w, r)
	case "editmessagetext":
		s.editMessageText(w, r)
	case "editmessagereplymarkup":
		s.editMessageReplyMarkup(w, r)
	default:
		writeFailure(w, Failure{Status: http.StatusNotFound, Description: "Not Found"})
	}
}

// sendMessageParams are sendMessage's parameters, from JSON, a form or the
// query string.
type sendMessageParams struct {
	ChatID                json.RawMessage `json:"chat_id"`
	MessageThreadID       int64           `json:"message_thread_id"`
	Text                  string          `json:"text"`
	ParseMode             string          `json:"parse_mode"`
	DisableNotification   bool            `json:"disable_notification"`
	DisableWebPagePreview bool            `json:"disable_web_page_preview"`
	LinkPreviewOptions    *struct {
		IsDisabled bool `json:"is_disabled"`
	} `json:"link_preview_options"`
	ReplyMarkup json.RawMessage `json:"reply_markup"`
}

func readParams(r *http.Request) (*sendMessageParams, string) {
	p := &sendMessageParams{}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		if err := json.NewDecoder(r.Body).Decode(p); err != nil {
			return nil, "can't parse JSON object"
		}
		return p, ""
	}
	if err := r.ParseForm(); err != nil {
		return nil, "can't parse request"
	}
	if v := r.Form.Get("chat_id"); v != "" {
		p.ChatID, _ = json.Marshal(v)
	}
	p.Text = r.Form.Get("text")
	p.ParseMode = r.Form.Get("parse_mode")
	if v := r.Form.Get("message_thread_id"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, "field \"message_thread_id\" must be of type Integer"
		}
		p.MessageThreadID = id
	}
	p.DisableNotification = r.Form.Get("disable_notification") == "true"
	p.DisableWebPagePreview = r.Form.Get("disable_web_page_preview") == "true"
	if v := r.Form.Get("reply_markup"); v != "" {
		p.ReplyMarkup = json.RawMessage(v) // serialized JSON in a form
	}
	return p, ""
}

// chatRef decodes chat_id: Integer or String (a number or @username).
func chatRef(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", false
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		if _, err := n.Int64(); err == nil {
			return n.String(), true
		}
		return "", false
	}
	var str string
	if err := json.Unmarshal(raw, &str); err != nil {
		return "", false
	}
	return strings.TrimSpace(str), true
}

func (s *Server) findChat(ref string) (Chat, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.findChatLocked(ref)
}

func (s *Server) findChatLocked(ref string) (Chat, bool) {
	for _, c := range s.chats {
		if strconv.FormatInt(c.ID, 10) == ref || (c.Username != "" && strings.EqualFold(c.Username, ref)) {
			return c, true
		}
	}
	return Chat{}, false
}

// plainText is what people read of a message in a parse mode, or
// Telegram's description of what is wrong with it.
func plainText(text, parseMode string) (plain, problem string) {
	plain = text
	switch strings.ToLower(parseMode) {
	case "":
	case "html":
		var err error
		if plain, err = ParseHTML(text); err != nil {
			return "", "can't parse entities: " + err.Error()
		}
	default:
		return "", "unsupported parse_mode"
	}
	if strings.TrimSpace(plain) == "" {
		return "", "message text is empty"
	}
	if len(utf16.Encode([]rune(plain))) > MaxMessageLength {
		return "", "message is too long"
	}
	return plain, ""
}

func (s *Server) sendMessage(w http.ResponseWriter, r *http.Request) {
	p, problem := readParams(r)
	if problem != "" {
		badRequest(w, problem)
		return
	}
	ref, ok := chatRef(p.ChatID)
	if !ok {
		badRequest(w, "chat_id is empty")
		return
	}
	if strings.TrimSpace(p.Text) == "" {
		badRequest(w, "message text is empty")
		return
	}
	chat, ok := s.findChat(ref)
	if !ok {
		badRequest(w, "chat not found")
		return
	}
	if chat.MigratedTo != 0 {
		writeFailure(w, Migrated(chat.MigratedTo))
		return
	}
	if chat.Forbidden != "" {
		writeFailure(w, Forbidden(chat.Forbidden))
		return
	}
	if p.MessageThreadID != 0 && !chat.IsForum {
		badRequest(w, "message thread not found")
		return
	}
	plain, problem := plainText(p.Text, p.ParseMode)
	if problem != "" {
		badRequest(w, problem)
		return
	}
	markup, problem := parseMarkup(p.ReplyMarkup)
	if problem != "" {
		badRequest(w, problem)
		return
	}
	s.mu.Lock()
	m := Message{
		ReplyMarkup:         markup,
		MessageID:           s.nextID,
		ChatID:              chat.ID,
		ChatRef:             ref,
		MessageThreadID:     p.MessageThreadID,
		Text:                p.Text,
		PlainText:           plain,
		ParseMode:           p.ParseMode,
		DisableNotification: p.DisableNotification,
		LinkPreviewDisabled: p.DisableWebPagePreview || (p.LinkPreviewOptions != nil && p.LinkPreviewOptions.IsDisabled),
	}
	s.nextID++
	s.messages = append(s.messages, m)
	s.mu.Unlock()

	result := map[string]any{
		"message_id": m.MessageID,
		"date":       time.Now().Unix(),
		"chat":       map[string]any{"id": chat.ID, "type": chat.Type},
		"text":       plain,
	}
	if m.MessageThreadID != 0 {
		result["message_thread_id"] = m.MessageThreadID
		result["is_topic_message"] = true
	}
	if markup != nil {
		result["reply_markup"] = markup
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "result": result})
}
