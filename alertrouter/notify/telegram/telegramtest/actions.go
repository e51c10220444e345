package telegramtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxCallbackData is Telegram's limit on a button's callback_data, in
// bytes (1-64).
const MaxCallbackData = 64

// maxAnswerText is answerCallbackQuery's limit on text (0-200 characters).
const maxAnswerText = 200

// maxLongPoll is the longest timeout getUpdates accepts here; Telegram
// recommends long polling and tolerates at least 50 s.
const maxLongPoll = 50 * time.Second

// Telegram's descriptions, as the real API gives them.
const (
	conflictDescription = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
	queryDescription    = "query is too old and response timeout expired or query ID is invalid"
	notModified         = "message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message"
)

// InlineKeyboard is an InlineKeyboardMarkup.
type InlineKeyboard struct {
	InlineKeyboard [][]Button `json:"inline_keyboard"`
}

// Button is an InlineKeyboardButton (callback and URL buttons).
type Button struct {
	Text         string `json:"text"`
	CallbackData string `json:"callback_data,omitempty"`
	URL          string `json:"url,omitempty"`
}

// Texts returns the buttons' texts, row by row.
func (k *InlineKeyboard) Texts() []string {
	if k == nil {
		return nil
	}
	var out []string
	for _, row := range k.InlineKeyboard {
		for _, b := range row {
			out = append(out, b.Text)
		}
	}
	return out
}

// Find returns the first button whose text contains text.
func (k *InlineKeyboard) Find(text string) (Button, bool) {
	if k == nil {
		return Button{}, false
	}
	for _, row := range k.InlineKeyboard {
		for _, b := range row {
			if strings.Contains(b.Text, text) {
				return b, true
			}
		}
	}
	return Button{}, false
}

// parseMarkup checks reply_markup as Telegram does for an inline keyboard
// (the only markup bots editing messages may use). Empty raw means none.
func parseMarkup(raw json.RawMessage) (*InlineKeyboard, string) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, ""
	}
	// A form sends the markup as a JSON-serialized string; so may JSON.
	if raw[0] == '"' {
		var str string
		if err := json.Unmarshal(raw, &str); err != nil {
			return nil, "can't parse reply keyboard markup JSON object"
		}
		raw = json.RawMessage(str)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, "can't parse reply keyboard markup JSON object"
	}
	rowsRaw, ok := obj["inline_keyboard"]
	if !ok {
		return nil, "this fake supports only inline keyboards (inline_keyboard)"
	}
	var rows []json.RawMessage
	if err := json.Unmarshal(rowsRaw, &rows); err != nil {
		return nil, "field \"inline_keyboard\" of the InlineKeyboardMarkup must be an Array"
	}
	k := &InlineKeyboard{InlineKeyboard: [][]Button{}}
	total := 0
	for _, rowRaw := range rows {
		var buttons []map[string]json.RawMessage
		if err := json.Unmarshal(rowRaw, &buttons); err != nil {
			return nil, "field \"inline_keyboard\" of the InlineKeyboardMarkup must be an Array of Arrays"
		}
		var row []Button
		for _, b := range buttons {
			total++
			var btn Button
			if err := json.Unmarshal(b["text"], &btn.Text); err != nil || btn.Text == "" {
				return nil, "can't find field \"text\""
			}
			_, hasData := b["callback_data"]
			_, hasURL := b["url"]
			switch {
			case hasData && hasURL:
				return nil, "can't parse inline keyboard button: exactly one of the optional fields must be used"
			case hasData:
				if err := json.Unmarshal(b["callback_data"], &btn.CallbackData); err != nil {
					return nil, "field \"callback_data\" must be of type String"
				}
				if n := len(btn.CallbackData); n < 1 || n > MaxCallbackData {
					return nil, "BUTTON_DATA_INVALID"
				}
			case hasURL:
				if err := json.Unmarshal(b["url"], &btn.URL); err != nil || !strings.HasPrefix(btn.URL, "http") {
					return nil, "BUTTON_URL_INVALID"
				}
			default:
				return nil, "text buttons are unallowed in the inline keyboard"
			}
			row = append(row, btn)
		}
		k.InlineKeyboard = append(k.InlineKeyboard, row)
	}
	if total > 100 {
		return nil, "reply markup is too long"
	}
	return k, ""
}

// User is a person in a chat, who presses buttons and sends commands.
type User struct {
	ID        int64
	Username  string // without @, optional
	FirstName string
}

func (u User) json() map[string]any {
	m := map[string]any{"id": u.ID, "is_bot": false, "first_name": u.FirstName}
	if u.FirstName == "" {
		m["first_name"] = "User " + strconv.FormatInt(u.ID, 10)
	}
	if u.Username != "" {
		m["username"] = u.Username
	}
	return m
}

// callbackQuery is a pressed button waiting for answerCallbackQuery.
type callbackQuery struct {
	answered bool
}

// Answer is an answerCallbackQuery the fake accepted.
type Answer struct {
	QueryID   string
	Text      string
	ShowAlert bool
}

// Answers returns the callback queries answered so far.
func (s *Server) Answers() []Answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Answer(nil), s.answers...)
}

// Conflicts returns how many getUpdates requests were ended with 409
// because another one arrived.
func (s *Server) Conflicts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conflicts
}

// Polling reports whether a getUpdates request is waiting now (long
// polling).
func (s *Server) Polling() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.polling != nil
}

// Message returns a message as it is now (after edits).
func (s *Server) Message(chatID, messageID int64) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.messageLocked(chatID, messageID); m != nil {
		return *m, true
	}
	return Message{}, false
}

func (s *Server) messageLocked(chatID, messageID int64) *Message {
	for i := range s.messages {
		if s.messages[i].ChatID == chatID && s.messages[i].MessageID == messageID {
			return &s.messages[i]
		}
	}
	return nil
}

func (s *Server) chatJSONLocked(chatID int64) map[string]any {
	for _, c := range s.chats {
		if c.ID == chatID {
			chat := map[string]any{"id": c.ID, "type": c.Type}
			if c.Type != "private" {
				chat["title"] = "vigie test " + c.Type
			}
			if c.Username != "" {
				chat["username"] = strings.TrimPrefix(c.Username, "@")
			}
			return chat
		}
	}
	return nil
}

// addUpdateLocked numbers an update, keeps it for getUpdates and wakes
// the long poll.
func (s *Server) addUpdateLocked(u update) int64 {
	u.ID = s.nextUpdate
	s.nextUpdate++
	s.updates = append(s.updates, u)
	close(s.arrived)
	s.arrived = make(chan struct{})
	return u.ID
}

// PressButton is from pressing the button with callback data on a message
// the bot sent: Telegram sends the bot a callback_query (with the message
// as it is now) and waits for answerCallbackQuery. It returns the query's
// id, or an error if the message has no such button (people can only
// press what they see).
func (s *Server) PressButton(chatID, messageID int64, from User, data string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.messageLocked(chatID, messageID)
	if m == nil {
		return "", fmt.Errorf("telegramtest: no message %d in chat %d", messageID, chatID)
	}
	found := false
	if m.ReplyMarkup != nil {
		for _, row := range m.ReplyMarkup.InlineKeyboard {
			for _, b := range row {
				found = found || b.CallbackData == data
			}
		}
	}
	if !found {
		return "", fmt.Errorf("telegramtest: message %d has no button with data %q (buttons: %q)", messageID, data, m.ReplyMarkup.Texts())
	}
	id := strconv.FormatInt(int64(len(s.queries))+1, 10) + "7354"
	s.queries[id] = &callbackQuery{}
	msg := map[string]any{"message_id": m.MessageID, "date": time.Now().Unix(), "chat": s.chatJSONLocked(chatID), "text": m.PlainText}
	if m.ReplyMarkup != nil {
		msg["reply_markup"] = m.ReplyMarkup
	}
	if m.MessageThreadID != 0 {
		msg["message_thread_id"] = m.MessageThreadID
	}
	s.addUpdateLocked(update{CallbackQuery: map[string]any{
		"id": id, "from": from.json(), "message": msg, "chat_instance": "-" + strconv.FormatInt(chatID, 10) + "42", "data": data,
	}})
	s.calls = append(s.calls, Call{Method: "(user)", Summary: fmt.Sprintf("%s presses %q on message %d in chat %d", from.display(), buttonText(m.ReplyMarkup, data), messageID, chatID)})
	return id, nil
}

func buttonText(k *InlineKeyboard, data string) string {
	for _, row := range k.InlineKeyboard {
		for _, b := range row {
			if b.CallbackData == data {
				return b.Text
			}
		}
	}
	return data
}

func (u User) display() string {
	if u.Username != "" {
		return "@" + u.Username
	}
	return strconv.FormatInt(u.ID, 10)
}

// UserSays is a message from a user in a chat the bot is in (a command
// such as "/status" is marked as one, as Telegram does).
func (s *Server) UserSays(chatID int64, from User, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	chat := s.chatJSONLocked(chatID)
	if chat == nil {
		panic(fmt.Sprintf("telegramtest: UserSays in chat %d, which was not added", chatID))
	}
	msg := map[string]any{"message_id": s.nextID, "date": time.Now().Unix(), "chat": chat, "text": text, "from": from.json()}
	if strings.HasPrefix(text, "/") {
		cmd, _, _ := strings.Cut(text, " ")
		msg["entities"] = []map[string]any{{"type": "bot_command", "offset": 0, "length": utf8.RuneCountInString(cmd)}}
	}
	s.nextID++
	s.addUpdateLocked(update{Message: msg})
	s.calls = append(s.calls, Call{Method: "(user)", Summary: fmt.Sprintf("%s says %q in chat %d", from.display(), text, chatID)})
}

// poll is a getUpdates request waiting for updates.
type poll struct {
	conflict chan struct{}
}

// getUpdates returns the updates from offset on, waiting up to timeout
// seconds for one (long polling). An offset confirms the updates before
// it: Telegram forgets them. A getUpdates arriving while another waits
// ends the waiting one with 409 Conflict, as when two copies of a bot
// poll.
func (s *Server) getUpdates(w http.ResponseWriter, r *http.Request) {
	p, problem := readAny(r)
	if problem != "" {
		badRequest(w, problem)
		return
	}
	offset, ok := p.int("offset")
	if !ok {
		badRequest(w, "field \"offset\" must be of type Integer")
		return
	}
	limit, ok := p.int("limit")
	if !ok || limit < 0 {
		badRequest(w, "field \"limit\" must be of type Integer")
		return
	}
	if limit == 0 || limit > 100 {
		limit = 100
	}
	timeout, ok := p.int("timeout")
	if !ok || timeout < 0 {
		badRequest(w, "field \"timeout\" must be of type Integer")
		return
	}
	wait := min(time.Duration(timeout)*time.Second, maxLongPoll)
	me := &poll{conflict: make(chan struct{})}
	s.mu.Lock()
	if s.polling != nil {
		close(s.polling.conflict)
		s.conflicts++
	}
	s.polling = me
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.polling == me {
			s.polling = nil
		}
		s.mu.Unlock()
	}()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		s.forgetLocked(offset)
		out := []update{}
		for _, u := range s.updates {
			if u.ID >= offset && len(out) < int(limit) {
				out = append(out, u)
			}
		}
		arrived := s.arrived
		s.mu.Unlock()
		if len(out) > 0 || wait == 0 {
			writeJSON(w, http.StatusOK, map[string]any{"ok": true, "result": out})
			return
		}
		select {
		case <-arrived:
		case <-deadline.C:
			wait = 0
		case <-me.conflict:
			writeFailure(w, Failure{Status: http.StatusConflict, Description: conflictDescription})
			return
		case <-r.Context().Done():
			return
		}
	}
}

// forgetLocked drops the updates an offset confirms (a negative offset
// keeps only the last -offset ones).
func (s *Server) forgetLocked(offset int64) {
	switch {
	case offset > 0:
		i := 0
		for i < len(s.updates) && s.updates[i].ID < offset {
			i++
		}
		s.updates = s.updates[i:]
	case offset < 0 && int64(len(s.updates)) > -offset:
		s.updates = s.updates[int64(len(s.updates))+offset:]
	}
}

func (s *Server) answerCallbackQuery(w http.ResponseWriter, r *http.Request) {
	p, problem := readAny(r)
	if problem != "" {
		badRequest(w, problem)
		return
	}
	id := p.str("callback_query_id")
	if id == "" {
		badRequest(w, "query_id is empty") // sic: Telegram's words
		return
	}
	text := p.str("text")
	if utf8.RuneCountInString(text) > maxAnswerText {
		badRequest(w, "MESSAGE_TOO_LONG")
		return
	}
	s.mu.Lock()
	q := s.queries[id]
	if q == nil || q.answered {
		s.mu.Unlock()
		badRequest(w, queryDescription)
		return
	}
	q.answered = true
	s.answers = append(s.answers, Answer{QueryID: id, Text: text, ShowAlert: p.str("show_alert") == "true"})
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "result": true})
}

// editTarget finds the message an edit names (inline messages are not
// supported: the bot's messages are ordinary ones).
func (s *Server) editTarget(p anyParams) (*Message, string) {
	if p.str("inline_message_id") != "" {
		return nil, "this fake does not support inline messages"
	}
	ref, ok := chatRef(p["chat_id"])
	if !ok {
		return nil, "chat_id is empty"
	}
	chat, ok := s.findChatLocked(ref)
	if !ok {
		return nil, "chat not found"
	}
	id, ok := p.int("message_id")
	if !ok || id == 0 {
		return nil, "message identifier is not specified"
	}
	m := s.messageLocked(chat.ID, id)
	if m == nil {
		return nil, "message to edit not found"
	}
	return m, ""
}

func (s *Server) editMessageText(w http.ResponseWriter, r *http.Request) {
	p, problem := readAny(r)
	if problem != "" {
		badRequest(w, problem)
		return
	}
	text, parseMode := p.str("text"), p.str("parse_mode")
	if strings.TrimSpace(text) == "" {
		badRequest(w, "message text is empty")
		return
	}
	plain, problem := plainText(text, parseMode)
	if problem != "" {
		badRequest(w, problem)
		return
	}
	markup, problem := parseMarkup(p["reply_markup"])
	if problem != "" {
		badRequest(w, problem)
		return
	}
	s.mu.Lock()
	m, problem := s.editTarget(p)
	if problem == "" && m.Text == text && m.ParseMode == parseMode && sameMarkup(m.ReplyMarkup, markup) {
		problem = notModified
	}
	if problem != "" {
		s.mu.Unlock()
		badRequest(w, problem)
		return
	}
	// As in Telegram: an edit without reply_markup removes the keyboard.
	m.Text, m.PlainText, m.ParseMode, m.ReplyMarkup = text, plain, parseMode, markup
	m.Edits++
	res := s.messageResultLocked(m)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "result": res})
}

func (s *Server) editMessageReplyMarkup(w http.ResponseWriter, r *http.Request) {
	p, problem := readAny(r)
	if problem != "" {
		badRequest(w, problem)
		return
	}
	markup, problem := parseMarkup(p["reply_markup"])
	if problem != "" {
		badRequest(w, problem)
		return
	}
	s.mu.Lock()
	m, problem := s.editTarget(p)
	if problem == "" && sameMarkup(m.ReplyMarkup, markup) {
		problem = notModified
	}
	if problem != "" {
		s.mu.Unlock()
		badRequest(w, problem)
		return
	}
	m.ReplyMarkup = markup
	m.Edits++
	res := s.messageResultLocked(m)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "result": res})
}

func (s *Server) messageResultLocked(m *Message) map[string]any {
	res := map[string]any{"message_id": m.MessageID, "date": time.Now().Unix(), "edit_date": time.Now().Unix(),
		"chat": s.chatJSONLocked(m.ChatID), "text": m.PlainText}
	if m.ReplyMarkup != nil {
		res["reply_markup"] = m.ReplyMarkup
	}
	return res
}

func sameMarkup(a, b *InlineKeyboard) bool {
	empty := func(k *InlineKeyboard) bool { return k == nil || len(k.InlineKeyboard) == 0 }
	if empty(a) || empty(b) {
		return empty(a) == empty(b)
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// anyParams are a method's parameters, from JSON, a form or the query
// string, as raw JSON values (form values become JSON strings).
type anyParams map[string]json.RawMessage

func readAny(r *http.Request) (anyParams, string) {
	p := anyParams{}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, "can't read request"
		}
		if len(bytes.TrimSpace(body)) > 0 {
			if err := json.Unmarshal(body, &p); err != nil {
				return nil, "can't parse JSON object"
			}
		}
	} else if err := r.ParseForm(); err != nil {
		return nil, "can't parse request"
	}
	for k, v := range r.Form {
		if _, ok := p[k]; !ok && len(v) > 0 {
			p[k], _ = json.Marshal(v[0])
		}
	}
	for k, v := range r.URL.Query() {
		if _, ok := p[k]; !ok && len(v) > 0 {
			p[k], _ = json.Marshal(v[0])
		}
	}
	return p, ""
}

// int reads an Integer (a JSON number or a numeric string); absent is 0.
func (p anyParams) int(key string) (int64, bool) {
	raw, ok := p[key]
	if !ok || string(raw) == "null" {
		return 0, true
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		v, err := n.Int64()
		return v, err == nil
	}
	var str string
	if err := json.Unmarshal(raw, &str); err != nil {
		return 0, false
	}
	v, err := strconv.ParseInt(strings.TrimSpace(str), 10, 64)
	return v, err == nil
}

// str reads a String (or the text of any other JSON value).
func (p anyParams) str(key string) string {
	raw, ok := p[key]
	if !ok {
		return ""
	}
	var str string
	if err := json.Unmarshal(raw, &str); err == nil {
		return str
	}
	return string(raw)
}

// Call is one request the bot made, for transcripts.
type Call struct {
	Method string // "(user)" for what a test made people do
	// Summary is the request's parameters (the token never appears) and
	// the answer.
	Summary string
	// Empty is a getUpdates that returned nothing.
	Empty bool
}

// Note adds a line to the transcript, for what a test did elsewhere
// ("the router is killed").
func (s *Server) Note(text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, Call{Method: "(test)", Summary: text})
}

// Calls returns every request the bot made and what people did, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Transcript is Calls as text, one per line, without the long polls that
// returned nothing.
func (s *Server) Transcript() string {
	var b strings.Builder
	for _, c := range s.Calls() {
		if c.Empty {
			continue
		}
		fmt.Fprintf(&b, "%s %s\n", c.Method, c.Summary)
	}
	return b.String()
}

// recorder records one call with its answer.
type recorder struct {
	http.ResponseWriter
	s      *Server
	method string
	params string
	status int
	body   bytes.Buffer
}

func (s *Server) record(w http.ResponseWriter, method string, r *http.Request) *recorder {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	params := strings.TrimSpace(string(body))
	if q := r.URL.RawQuery; q != "" {
		params = strings.TrimSpace(params + " " + q)
	}
	return &recorder{ResponseWriter: w, s: s, method: method, params: summarizeParams(params), status: http.StatusOK}
}

func (rec *recorder) WriteHeader(status int) {
	rec.status = status
	rec.ResponseWriter.WriteHeader(status)
}

func (rec *recorder) Write(b []byte) (int, error) {
	rec.body.Write(b)
	return rec.ResponseWriter.Write(b)
}

func (rec *recorder) done() {
	var a struct {
		OK          bool            `json:"ok"`
		Description string          `json:"description"`
		Result      json.RawMessage `json:"result"`
	}
	answer := ""
	empty := false
	if err := json.Unmarshal(rec.body.Bytes(), &a); err == nil {
		switch {
		case !a.OK:
			answer = fmt.Sprintf("%d %s", rec.status, a.Description)
		case strings.EqualFold(rec.method, "getUpdates"):
			var us []update
			_ = json.Unmarshal(a.Result, &us)
			empty = len(us) == 0
			ids := make([]string, len(us))
			for i, u := range us {
				ids[i] = strconv.FormatInt(u.ID, 10)
			}
			answer = "200 updates [" + strings.Join(ids, " ") + "]"
		default:
			var m struct {
				MessageID int64 `json:"message_id"`
			}
			answer = "200"
			if json.Unmarshal(a.Result, &m) == nil && m.MessageID != 0 {
				answer += " message_id=" + strconv.FormatInt(m.MessageID, 10)
			}
		}
	} else {
		answer = strconv.Itoa(rec.status) + " (no answer: the client went away)"
		empty = strings.EqualFold(rec.method, "getUpdates")
	}
	rec.s.mu.Lock()
	rec.s.calls = append(rec.s.calls, Call{Method: rec.method, Summary: rec.params + " → " + answer, Empty: empty})
	rec.s.mu.Unlock()
}

// summarizeParams keeps a call's parameters readable: long texts cut,
// keys sorted.
func summarizeParams(body string) string {
	var m map[string]any
	if json.Unmarshal([]byte(body), &m) != nil {
		return body
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		v := m[k]
		var s string
		switch v := v.(type) {
		case string:
			// The start says what it is, the end what an edit added.
			if r := []rune(v); len(r) > 110 {
				v = string(r[:50]) + "…" + string(r[len(r)-60:])
			}
			s = strconv.Quote(v)
		case map[string]any:
			if kb, ok := v["inline_keyboard"]; ok {
				s = keyboardSummary(kb)
			} else {
				j, _ := json.Marshal(v)
				s = string(j)
			}
		default:
			j, _ := json.Marshal(v)
			s = string(j)
		}
		parts = append(parts, k+"="+s)
	}
	return strings.Join(parts, " ")
}

func keyboardSummary(kb any) string {
	rows, _ := kb.([]any)
	var out []string
	for _, row := range rows {
		buttons, _ := row.([]any)
		var bs []string
		for _, b := range buttons {
			bm, _ := b.(map[string]any)
			bs = append(bs, fmt.Sprintf("%v(%v)", bm["text"], bm["callback_data"]))
		}
		out = append(out, strings.Join(bs, " "))
	}
	return "[" + strings.Join(out, " | ") + "]"
}
