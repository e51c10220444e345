package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/dispatch"
)

// fakeTests answers receiver tests as the test says, one call at a time.
type fakeTests struct {
	mu      sync.Mutex
	calls   []string
	release chan struct{} // a test waits for it before answering
}

func (f *fakeTests) test(ctx context.Context, name string) ([]dispatch.TestResult, error) {
	f.mu.Lock()
	f.calls = append(f.calls, name)
	f.mu.Unlock()
	select {
	case <-f.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	switch name {
	case "ops":
		return []dispatch.TestResult{
			{Integration: "ops/telegram/0", Type: "telegram"},
			{Integration: "ops/email/0", Type: "email", Error: `email: 535 5.7.8 <b>bad</b> credentials`},
			{Integration: "ops/webhook/0", Type: "webhook", Error: `Post "https://hooks.example.org/…": 503`, Retry: true},
		}, nil
	case "chat":
		return []dispatch.TestResult{{Integration: "chat/telegram/0", Type: "telegram"}}, nil
	}
	return nil, errors.New("no such receiver")
}

func (f *fakeTests) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// waitPage waits until the page shows want.
func (f *fixture) waitPage(t *testing.T, want string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, page := f.get(t, "/")
		if strings.Contains(page, want) {
			return page
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page never showed %q:\n%s", want, page)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSendTestButton: each receiver has a "Send test" button, protected
// like the other forms; a test runs once however often it is clicked, and
// its result (what each provider said) shows on the page.
func TestSendTestButton(t *testing.T) {
	tests := &fakeTests{release: make(chan struct{})}
	receivers := []Receiver{
		{Name: "ops", Integrations: []string{"ops/telegram/0", "ops/email/0", "ops/webhook/0"}},
		{Name: "chat/night", Integrations: []string{"chat/night/telegram/0"}},
	}
	var mu sync.Mutex
	list := func() []Receiver {
		mu.Lock()
		defer mu.Unlock()
		return receivers
	}
	f := setup(t, Options{Receivers: list, TestReceiver: tests.test})
	_, page := f.get(t, "/")
	contains(t, "receivers section", page, `id="receivers-title"`, `data-receiver="ops"`, "<code>ops/email/0</code>",
		`action="receivers/ops/test"`, `action="receivers/chat%2Fnight/test"`, "not tested",
		`<button type="submit" class="send-test">Send test</button>`)

	sameOrigin := map[string]string{"Origin": f.srv.URL, "Sec-Fetch-Site": "same-origin"}
	good := url.Values{"token": {f.page.token}}
	for _, tc := range []struct {
		name, path string
		form       url.Values
		header     map[string]string
		code       int
		want       string
	}{
		{"no token", "/receivers/ops/test", url.Values{}, sameOrigin, 403, "the form is stale or comes from another site"},
		{"wrong token", "/receivers/ops/test", url.Values{"token": {"guess"}}, sameOrigin, 403, "the form is stale"},
		{"cross-site", "/receivers/ops/test", good, map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, 403, ""},
		{"cross-origin without fetch metadata", "/receivers/ops/test", good, map[string]string{"Origin": "https://evil.example"}, 403, ""},
		{"unknown receiver", "/receivers/nobody/test", good, sameOrigin, 404, `Unknown receiver &#34;nobody&#34;`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.postForm(t, tc.path, tc.form, tc.header)
			if resp.StatusCode != tc.code || !strings.Contains(body, strings.ReplaceAll(tc.want, "&#34;", `"`)) {
				t.Errorf("%d %q, want %d with %q", resp.StatusCode, body, tc.code, tc.want)
			}
		})
	}
	if n := tests.count(); n != 0 {
		t.Fatalf("%d tests run by refused requests", n)
	}

	// Clicked twice: one test; the page says it is being sent.
	for range 2 {
		resp, body := f.postForm(t, "/receivers/ops/test", good, sameOrigin)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "../../#receivers-title" {
			t.Fatalf("send test: %d %s %s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
	}
	f.waitPage(t, "sending…")
	close(tests.release)
	page = f.waitPage(t, "2 of 3 failed")
	contains(t, "test result", page, "<code>ops/telegram/0</code>: <span class=\"state delivered\">accepted</span>",
		"<code>ops/email/0</code>: <span class=\"state failed\">failed</span>: email: 535 5.7.8 &lt;b&gt;bad&lt;/b&gt; credentials",
		"<code>ops/webhook/0</code>: <span class=\"state failed\">failed</span> (temporary): Post &#34;https://hooks.example.org/…&#34;: 503")
	if n := tests.count(); n != 1 {
		t.Errorf("%d tests for two clicks while the first ran", n)
	}

	// The live stream carries the result too.
	ev := f.events(t, "")
	first, err := ev.next(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(first["receivers"], "2 of 3 failed") {
		t.Errorf("live receivers part: %q", first["receivers"])
	}

	// A receiver whose name needs escaping in the path.
	resp, body := f.postForm(t, "/receivers/chat%2Fnight/test", good, sameOrigin)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("send test to chat/night: %d %s", resp.StatusCode, body)
	}
	f.waitPage(t, `<span class="state failed">not sent</span> <span class="small">no such receiver</span>`)

	// Results of a receiver no longer configured are forgotten.
	mu.Lock()
	receivers = receivers[1:]
	mu.Unlock()
	resp, _ = f.postForm(t, "/receivers/chat%2Fnight/test", good, sameOrigin)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatal(resp.StatusCode)
	}
	f.page.testsMu.Lock()
	_, kept := f.page.tests["ops"]
	f.page.testsMu.Unlock()
	if kept {
		t.Error("the test of a receiver removed from the configuration is still kept")
	}
}

// Without TestReceiver (or receivers) the page has no button, and the
// endpoint says so.
func TestNoSendTestButtonWithoutTests(t *testing.T) {
	f := setup(t, Options{Receivers: func() []Receiver { return []Receiver{{Name: "ops"}} }})
	_, page := f.get(t, "/")
	if strings.Contains(page, `class="send-test"`) || !strings.Contains(page, `data-receiver="ops"`) {
		t.Errorf("page without tests:\n%s", page)
	}
	resp, _ := f.postForm(t, "/receivers/ops/test", url.Values{"token": {f.page.token}}, map[string]string{"Sec-Fetch-Site": "same-origin"})
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST without tests: %d", resp.StatusCode)
	}
}
