package telegramtest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestParseHTML(t *testing.T) {
	cases := []struct {
		in, want, err string
	}{
		{in: "plain text > still fine", want: "plain text > still fine"},
		{in: "<b>bold</b> <i>it</i> <u>u</u> <s>s</s> <strong><em>x</em></strong> <ins>a</ins><del>b</del><strike>c</strike>", want: "bold it u s x abc"},
		{in: `<a href="https://example.org/?a=1&amp;b=2">link</a>`, want: "link"},
		{in: `<a href='x'>q</a> <a href=y>u</a>`, want: "q u"},
		{in: `<a href="https://x/?q=a>b">gt</a>`, want: "gt"},
		{in: `<span class="tg-spoiler">s</span><tg-spoiler>t</tg-spoiler>`, want: "st"},
		{in: `<pre><code class="language-go">x := 1</code></pre><blockquote expandable>q</blockquote>`, want: "x := 1q"},
		{in: `<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>`, want: "👍"},
		{in: "&lt;&gt;&amp;&quot;&#39;&#x1F534;&#128994;", want: `<>&"'🔴🟢`},
		{in: "<B>upper</B>", want: "upper"},
		{in: "a < b", err: `Unsupported start tag "" at byte offset 2`},
		{in: "a & b", err: `Character "&" at byte offset 2 must be escaped`},
		{in: "AT&T;", err: `Unsupported HTML entity "&T;" at byte offset 2`},
		{in: "&nbsp;", err: `Unsupported HTML entity "&nbsp;"`},
		{in: "line<br>break", err: `Unsupported start tag "br" at byte offset 4`},
		{in: "<b>open", err: `Can't find end tag corresponding to start tag "b"`},
		{in: "<b><i>x</b></i>", err: `Unmatched end tag at byte offset 7, expected "</i>", found "</b>"`},
		{in: "x</b>", err: "Unexpected end tag at byte offset 1"},
		{in: "<b", err: "Unclosed start tag at byte offset 0"},
		{in: `<span>x</span>`, err: `Tag "span" must have class "tg-spoiler"`},
		{in: `<a>x</a>`, err: `Tag "a" must have attribute "href"`},
		{in: `<a href="x&y">x</a>`, err: `in attribute value`},
		{in: `<code><b>x</b></code>`, err: `Tag "b" can't be nested in "code"`},
		{in: "\xff", err: "UTF-8"},
	}
	for _, tc := range cases {
		got, err := ParseHTML(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseHTML(%q) error = %v, want %q", tc.in, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("ParseHTML(%q): %v", tc.in, err)
		case tc.err == "" && got != tc.want:
			t.Errorf("ParseHTML(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

type answer struct {
	OK          bool   `json:"ok"`
	ErrorCode   int    `json:"error_code"`
	Description string `json:"description"`
	Parameters  struct {
		MigrateToChatID int64 `json:"migrate_to_chat_id"`
		RetryAfter      int   `json:"retry_after"`
	} `json:"parameters"`
	Result json.RawMessage `json:"result"`
}

func post(t *testing.T, u, contentType, body string) (int, answer) {
	t.Helper()
	resp, err := http.Post(u, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var a answer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatal(err)
	}
	if a.ErrorCode != 0 && a.ErrorCode != resp.StatusCode {
		t.Errorf("error_code %d differs from HTTP status %d", a.ErrorCode, resp.StatusCode)
	}
	return resp.StatusCode, a
}

func TestServerContract(t *testing.T) {
	const token = "42:secret"
	s := Start(t, token)
	s.AddChat(Chat{ID: 100, Type: "private"})
	s.AddChat(Chat{ID: -1001, Username: "@team_alerts", Type: "supergroup", IsForum: true})
	s.AddChat(Chat{ID: -5, Type: "group", MigratedTo: -1001})
	send := s.URL + "/bot" + token + "/sendMessage"
	long := strings.Repeat("🔴", 2049) // 4098 UTF-16 code units

	cases := []struct {
		name, url, ct, body string
		status              int
		desc                string
	}{
		{"ok json", send, "application/json", `{"chat_id":100,"text":"<b>hi</b>","parse_mode":"HTML"}`, 200, ""},
		{"ok string chat id", send, "application/json", `{"chat_id":"100","text":"hi"}`, 200, ""},
		{"ok username and topic", send, "application/json", `{"chat_id":"@team_alerts","text":"hi","message_thread_id":7}`, 200, ""},
		{"ok form", send, "application/x-www-form-urlencoded", url.Values{"chat_id": {"100"}, "text": {"a &amp; b"}, "parse_mode": {"HTML"}}.Encode(), 200, ""},
		{"wrong token", s.URL + "/bot42:nope/sendMessage", "application/json", `{"chat_id":100,"text":"hi"}`, 401, "Unauthorized"},
		{"unknown method", s.URL + "/bot" + token + "/sendTelegram", "application/json", `{}`, 404, "Not Found"},
		{"no chat", send, "application/json", `{"text":"hi"}`, 400, "Bad Request: chat_id is empty"},
		{"unknown chat", send, "application/json", `{"chat_id":101,"text":"hi"}`, 400, "Bad Request: chat not found"},
		{"empty text", send, "application/json", `{"chat_id":100,"text":"  "}`, 400, "Bad Request: message text is empty"},
		{"empty after parsing", send, "application/json", `{"chat_id":100,"text":"<b> </b>","parse_mode":"HTML"}`, 400, "Bad Request: message text is empty"},
		{"too long", send, "application/json", `{"chat_id":100,"text":"` + long + `"}`, 400, "Bad Request: message is too long"},
		{"bad entities", send, "application/json", `{"chat_id":100,"text":"a < b","parse_mode":"HTML"}`, 400, "Bad Request: can't parse entities: Unsupported start tag"},
		{"thread in a plain chat", send, "application/json", `{"chat_id":100,"text":"x","message_thread_id":3}`, 400, "Bad Request: message thread not found"},
		{"migrated", send, "application/json", `{"chat_id":-5,"text":"x"}`, 400, "Bad Request: group chat was upgraded to a supergroup chat"},
		{"bad json", send, "application/json", `{"chat_id":`, 400, "Bad Request: can't parse JSON object"},
		{"unsupported parse mode", send, "application/json", `{"chat_id":100,"text":"x","parse_mode":"BBCode"}`, 400, "Bad Request: unsupported parse_mode"},
	}
	accepted := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, a := post(t, tc.url, tc.ct, tc.body)
			if status != tc.status || !strings.HasPrefix(a.Description, tc.desc) || a.OK != (status == 200) {
				t.Fatalf("got %d ok=%v %q, want %d %q", status, a.OK, a.Description, tc.status, tc.desc)
			}
			if status == 200 {
				accepted++
				var m struct {
					MessageID int64 `json:"message_id"`
					Chat      struct{ ID int64 }
				}
				if err := json.Unmarshal(a.Result, &m); err != nil || m.MessageID == 0 || m.Chat.ID == 0 {
					t.Errorf("result = %s", a.Result)
				}
			}
			if tc.name == "migrated" && a.Parameters.MigrateToChatID != -1001 {
				t.Errorf("migrate_to_chat_id = %d", a.Parameters.MigrateToChatID)
			}
		})
	}
	msgs := s.Messages()
	if len(msgs) != accepted {
		t.Fatalf("%d messages recorded, %d accepted", len(msgs), accepted)
	}
	if m := msgs[0]; m.PlainText != "hi" || m.Text != "<b>hi</b>" || m.ChatID != 100 || m.ParseMode != "HTML" {
		t.Errorf("first message = %+v", m)
	}
	if m := msgs[2]; m.ChatID != -1001 || m.ChatRef != "@team_alerts" || m.MessageThreadID != 7 {
		t.Errorf("topic message = %+v", m)
	}
	if m := msgs[3]; m.PlainText != "a & b" {
		t.Errorf("form message = %+v", m)
	}
	if s.Requests() != len(cases) {
		t.Errorf("Requests() = %d, want %d", s.Requests(), len(cases))
	}
}

func TestProgrammedFailures(t *testing.T) {
	const token = "42:secret"
	s := Start(t, token)
	s.AddChat(Chat{ID: 100})
	send := s.URL + "/bot" + token + "/sendMessage"
	s.FailNext(2, ServerError())
	s.FailNext(1, TooManyRequests(9))
	s.FailNext(1, Migrated(-1002))
	s.FailNext(1, Forbidden("Forbidden: bot was blocked by the user"))
	body := `{"chat_id":100,"text":"x"}`
	for _, want := range []struct {
		status int
		desc   string
	}{{500, "Internal Server Error"}, {500, "Internal Server Error"}, {429, "Too Many Requests: retry after 9"},
		{400, "Bad Request: group chat was upgraded"}, {403, "Forbidden: bot was blocked by the user"}, {200, ""}} {
		status, a := post(t, send, "application/json", body)
		if status != want.status || a.Description != want.desc && !strings.HasPrefix(a.Description, want.desc) {
			t.Fatalf("got %d %q, want %d %q", status, a.Description, want.status, want.desc)
		}
		if status == 429 && a.Parameters.RetryAfter != 9 {
			t.Errorf("retry_after = %d", a.Parameters.RetryAfter)
		}
		if status == 400 && a.Parameters.MigrateToChatID != -1002 {
			t.Errorf("migrate_to_chat_id = %d", a.Parameters.MigrateToChatID)
		}
	}
	if len(s.Messages()) != 1 {
		t.Errorf("messages = %d", len(s.Messages()))
	}
}

func TestGetMe(t *testing.T) {
	s := Start(t, "42:secret")
	resp, err := http.Get(s.URL + "/bot42:secret/getMe")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a struct {
		OK     bool
		Result struct {
			ID    int64 `json:"id"`
			IsBot bool  `json:"is_bot"`
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil || !a.OK || a.Result.ID != 42 || !a.Result.IsBot {
		t.Errorf("getMe = %+v, %v", a, err)
	}
}

// getUpdates shows what people posted where the bot is: how the chat id
// of a new bot's chat is found.
func TestGetUpdates(t *testing.T) {
	s := Start(t, "42:secret")
	s.AddChat(Chat{ID: -1001234567890})
	s.AddChat(Chat{ID: 777})
	s.UserPosts(-1001234567890, "Ann", "/start@vigie_bot")
	s.UserPosts(777, "Bob", "hello")
	get := func(query string) (ids []int64, chats []map[string]any) {
		resp, err := http.Get(s.URL + "/bot42:secret/getUpdates" + query)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var a struct {
			OK     bool
			Result []struct {
				UpdateID int64 `json:"update_id"`
				Message  struct {
					Chat map[string]any `json:"chat"`
				} `json:"message"`
			}
		}
		if err := json.NewDecoder(resp.Body).Decode(&a); err != nil || !a.OK {
			t.Fatalf("getUpdates%s = %+v, %v", query, a, err)
		}
		for _, u := range a.Result {
			ids = append(ids, u.UpdateID)
			chats = append(chats, u.Message.Chat)
		}
		return ids, chats
	}
	ids, chats := get("")
	if len(ids) != 2 || chats[0]["id"] != float64(-1001234567890) || chats[0]["type"] != "supergroup" || chats[1]["id"] != float64(777) || chats[1]["type"] != "private" {
		t.Errorf("updates %v, chats %v", ids, chats)
	}
	if ids, _ := get("?offset=2"); len(ids) != 1 || ids[0] != 2 {
		t.Errorf("updates from offset 2: %v", ids)
	}
	if code, _ := post(t, s.URL+"/botwrong/getUpdates", "application/json", "{}"); code != http.StatusUnauthorized {
		t.Errorf("wrong token: %d", code)
	}
}
