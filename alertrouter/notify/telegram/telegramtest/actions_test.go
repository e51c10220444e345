package telegramtest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

type apiAnswer struct {
	OK          bool            `json:"ok"`
	ErrorCode   int             `json:"error_code"`
	Description string          `json:"description"`
	Result      json.RawMessage `json:"result"`
}

func call(t *testing.T, s *Server, method string, params any) (int, apiAnswer) {
	t.Helper()
	body, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(s.URL+"/bot42:secret/"+method, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a apiAnswer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	return resp.StatusCode, a
}

func keyboard(data ...string) map[string]any {
	var row []map[string]any
	for _, d := range data {
		row = append(row, map[string]any{"text": "b " + d, "callback_data": d})
	}
	return map[string]any{"inline_keyboard": [][]map[string]any{row}}
}

func TestReplyMarkupStrict(t *testing.T) {
	s := Start(t, "42:secret")
	s.AddChat(Chat{ID: -100})
	cases := []struct {
		name   string
		markup any
		want   string // "" accepted
	}{
		{"ok", keyboard("ack:1", strings.Repeat("x", 64)), ""},
		{"serialized", `{"inline_keyboard":[[{"text":"a","callback_data":"a"}]]}`, ""},
		{"data too long", keyboard(strings.Repeat("x", 65)), "BUTTON_DATA_INVALID"},
		{"data empty", keyboard(""), "BUTTON_DATA_INVALID"},
		{"no action", map[string]any{"inline_keyboard": [][]map[string]any{{{"text": "a"}}}}, "text buttons are unallowed"},
		{"no text", map[string]any{"inline_keyboard": [][]map[string]any{{{"callback_data": "a"}}}}, `can't find field "text"`},
		{"rows not arrays", map[string]any{"inline_keyboard": []string{"a"}}, "must be an Array of Arrays"},
		{"not an object", "[1]", "can't parse reply keyboard markup JSON object"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, a := call(t, s, "sendMessage", map[string]any{"chat_id": -100, "text": "hi", "reply_markup": c.markup})
			if c.want == "" {
				if code != 200 || !a.OK {
					t.Fatalf("refused: %d %s", code, a.Description)
				}
				return
			}
			if code != 400 || !strings.Contains(a.Description, c.want) {
				t.Errorf("got %d %q, want 400 %q", code, a.Description, c.want)
			}
		})
	}
}

func TestButtonsAndCallbacks(t *testing.T) {
	s := Start(t, "42:secret")
	s.AddChat(Chat{ID: -100})
	ann := User{ID: 111, Username: "ann"}
	_, a := call(t, s, "sendMessage", map[string]any{"chat_id": -100, "text": "<b>down</b>", "parse_mode": "HTML", "reply_markup": keyboard("ack:1", "s1h:1")})
	var sent struct {
		MessageID int64 `json:"message_id"`
	}
	if err := json.Unmarshal(a.Result, &sent); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PressButton(-100, sent.MessageID, ann, "nope"); err == nil {
		t.Error("pressing a button the message does not have worked")
	}
	id, err := s.PressButton(-100, sent.MessageID, ann, "ack:1")
	if err != nil {
		t.Fatal(err)
	}
	_, a = call(t, s, "getUpdates", map[string]any{"timeout": 0})
	var ups []struct {
		UpdateID      int64 `json:"update_id"`
		CallbackQuery struct {
			ID      string         `json:"id"`
			Data    string         `json:"data"`
			From    map[string]any `json:"from"`
			Message struct {
				MessageID int64          `json:"message_id"`
				Chat      map[string]any `json:"chat"`
				Text      string         `json:"text"`
			} `json:"message"`
		} `json:"callback_query"`
	}
	if err := json.Unmarshal(a.Result, &ups); err != nil || len(ups) != 1 {
		t.Fatalf("updates %s, %v", a.Result, err)
	}
	q := ups[0].CallbackQuery
	if q.ID != id || q.Data != "ack:1" || q.From["username"] != "ann" || q.Message.MessageID != sent.MessageID || q.Message.Chat["id"] != float64(-100) || q.Message.Text != "down" {
		t.Errorf("callback query %+v", q)
	}
	if code, a := call(t, s, "answerCallbackQuery", map[string]any{"callback_query_id": "999"}); code != 400 || !strings.Contains(a.Description, "query ID is invalid") {
		t.Errorf("unknown query: %d %s", code, a.Description)
	}
	if code, a := call(t, s, "answerCallbackQuery", map[string]any{"callback_query_id": id, "text": "Acknowledged"}); code != 200 || !a.OK {
		t.Errorf("apiAnswer: %d %s", code, a.Description)
	}
	if code, a := call(t, s, "answerCallbackQuery", map[string]any{"callback_query_id": id}); code != 400 || !strings.Contains(a.Description, "query ID is invalid") {
		t.Errorf("answered twice: %d %s", code, a.Description)
	}
	if got := s.Answers(); len(got) != 1 || got[0].Text != "Acknowledged" {
		t.Errorf("answers %+v", got)
	}

	// Edits: text (without reply_markup, the keyboard goes), markup, not
	// modified, not found, invalid markup.
	edit := map[string]any{"chat_id": -100, "message_id": sent.MessageID, "text": "<b>down</b>\nacked", "parse_mode": "HTML", "reply_markup": keyboard("s1h:1")}
	if code, a := call(t, s, "editMessageText", edit); code != 200 {
		t.Fatalf("edit: %d %s", code, a.Description)
	}
	if code, a := call(t, s, "editMessageText", edit); code != 400 || !strings.Contains(a.Description, "message is not modified") {
		t.Errorf("same edit: %d %s", code, a.Description)
	}
	if m, _ := s.Message(-100, sent.MessageID); m.PlainText != "down\nacked" || len(m.ReplyMarkup.Texts()) != 1 || m.Edits != 1 {
		t.Errorf("after edit: %+v", m)
	}
	if code, a := call(t, s, "editMessageReplyMarkup", map[string]any{"chat_id": -100, "message_id": sent.MessageID, "reply_markup": keyboard(strings.Repeat("y", 65))}); code != 400 || !strings.Contains(a.Description, "BUTTON_DATA_INVALID") {
		t.Errorf("invalid markup: %d %s", code, a.Description)
	}
	if code, a := call(t, s, "editMessageReplyMarkup", map[string]any{"chat_id": -100, "message_id": 999}); code != 400 || !strings.Contains(a.Description, "message to edit not found") {
		t.Errorf("unknown message: %d %s", code, a.Description)
	}
	if code, a := call(t, s, "editMessageReplyMarkup", map[string]any{"chat_id": -100, "message_id": sent.MessageID}); code != 200 {
		t.Errorf("remove keyboard: %d %s", code, a.Description)
	}
	if code, a := call(t, s, "editMessageReplyMarkup", map[string]any{"chat_id": -100, "message_id": sent.MessageID}); code != 400 || !strings.Contains(a.Description, "not modified") {
		t.Errorf("remove twice: %d %s", code, a.Description)
	}
	if m, _ := s.Message(-100, sent.MessageID); m.ReplyMarkup != nil {
		t.Errorf("keyboard still there: %+v", m.ReplyMarkup)
	}
	if _, err := s.PressButton(-100, sent.MessageID, ann, "s1h:1"); err == nil {
		t.Error("pressed a removed button")
	}
	if tr := s.Transcript(); !strings.Contains(tr, `(user) @ann presses "b ack:1" on message 1`) || !strings.Contains(tr, "answerCallbackQuery callback_query_id=") {
		t.Errorf("transcript:\n%s", tr)
	}
}

// getUpdates long-polls, forgets what an offset confirms, and ends a
// waiting poll with 409 when another arrives.
func TestLongPollingAndConflict(t *testing.T) {
	s := Start(t, "42:secret")
	s.AddChat(Chat{ID: -100})
	type result struct {
		code int
		a    apiAnswer
	}
	poll := func(params map[string]any) chan result {
		ch := make(chan result, 1)
		go func() {
			code, a := call(t, s, "getUpdates", params)
			ch <- result{code, a}
		}()
		return ch
	}
	waiting := func() {
		deadline := time.Now().Add(30 * time.Second)
		for {
			s.mu.Lock()
			p := s.polling
			s.mu.Unlock()
			if p != nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("no poll waiting")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	first := poll(map[string]any{"timeout": 50})
	waiting()
	s.UserSays(-100, User{ID: 111, Username: "ann"}, "/status")
	r := <-first
	if r.code != 200 || !strings.Contains(string(r.a.Result), `"/status"`) || !strings.Contains(string(r.a.Result), "bot_command") {
		t.Fatalf("long poll: %d %s", r.code, r.a.Result)
	}
	// Confirming update 1 forgets it.
	if _, a := call(t, s, "getUpdates", map[string]any{"offset": 2}); string(a.Result) != "[]" {
		t.Errorf("after offset 2: %s", a.Result)
	}
	if _, a := call(t, s, "getUpdates", map[string]any{}); string(a.Result) != "[]" {
		t.Errorf("update 1 came back: %s", a.Result)
	}
	// Two pollers: the one waiting is ended with 409.
	first = poll(map[string]any{"timeout": 50, "offset": 2})
	waiting()
	second := poll(map[string]any{"timeout": 50, "offset": 2})
	r = <-first
	if r.code != http.StatusConflict || !strings.Contains(r.a.Description, "terminated by other getUpdates request") {
		t.Errorf("first poller: %d %s", r.code, r.a.Description)
	}
	if s.Conflicts() != 1 {
		t.Errorf("conflicts = %d", s.Conflicts())
	}
	waiting()
	s.UserSays(-100, User{ID: 111}, "hello")
	if r := <-second; r.code != 200 || !strings.Contains(string(r.a.Result), "hello") {
		t.Errorf("second poller: %d %s", r.code, r.a.Result)
	}
	if code, a := call(t, s, "getUpdates", map[string]any{"offset": "x"}); code != 400 {
		t.Errorf("bad offset: %d %s", code, a.Description)
	}
}
