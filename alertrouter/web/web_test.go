package web

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/silence"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
	"github.com/vigie-monitoring/vigie/alertrouter/view"
)

// fakePipeline serves a View the test sets; setting it announces a change.
type fakePipeline struct {
	mu   sync.Mutex
	view *view.View
	subs []chan struct{}
}

func (f *fakePipeline) View() *view.View {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.view
}

func (f *fakePipeline) Changes() (<-chan struct{}, func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan struct{}, 1)
	f.subs = append(f.subs, ch)
	return ch, func() {}
}

func (f *fakePipeline) set(v *view.View) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.view = v
	for _, ch := range f.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

var now = time.Now()

func baseView() *view.View {
	return &view.View{
		GeneratedAt: now,
		Counts:      map[string]int{"up": 40, "down": 2, "unknown": 1, "flapping": 1},
		Problems: []view.CheckView{
			{ID: "http_2xx https://shop.example", Target: "https://shop.example", Module: "http_2xx", State: "down",
				Since: now.Add(-90 * time.Minute), Reason: "HTTP status 503 not in 2xx",
				Labels: map[string]string{"instance": "https://shop.example"}},
			{ID: "icmp 10.0.0.1", Target: "10.0.0.1", Module: "icmp", State: "up", Flapping: true, FlappingSince: now.Add(-20 * time.Minute),
				Since: now.Add(-5 * time.Minute), Reason: "timeout", MutedBy: []string{"maintenance:nightly", "1d0a4c3e-5e6f-4a7b-8c9d-0e1f2a3b4c5d"}, Notified: []string{"ops", "chat"}},
			{ID: "tcp db:5432", Target: "db:5432", Module: "tcp", State: "down", Since: now.Add(-time.Minute),
				Reason: "connection refused", SuppressedBy: "icmp 10.0.0.1"},
		},
		Alerts: []view.AlertView{
			{Alert: notify.Alert{Labels: map[string]string{"alertname": "HighLatency", "job": "api"},
				Annotations: map[string]string{"summary": "p99 above 2s <b>"}, StartsAt: now.Add(-10 * time.Minute),
				EndsAt: now.Add(time.Hour)}, Receivers: []string{"ops"}, State: "active"},
			{Alert: notify.Alert{Labels: map[string]string{"alertname": "Gone"}, StartsAt: now.Add(-time.Hour),
				EndsAt: now.Add(-time.Minute)}, Receivers: []string{"ops"}, State: "active"},
			{Alert: notify.Alert{Labels: map[string]string{"alertname": "NightlyBackupSlow"}, StartsAt: now.Add(-time.Hour),
				EndsAt: now.Add(time.Hour)}, Receivers: []string{"ops"}, State: "suppressed", MutedBy: []string{"maintenance:nightly"}},
		},
		Exporter: view.ExporterView{URL: "http://127.0.0.1:9115", Reachable: true},
	}
}

type fixture struct {
	srv      *httptest.Server
	engine   *fakePipeline
	silences *silence.Silences
	page     *Page
	cancel   context.CancelFunc
}

func setup(t *testing.T, o Options) *fixture {
	t.Helper()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sils, err := silence.New(silence.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{engine: &fakePipeline{view: baseView()}, silences: sils}
	o.Pipeline, o.Silences, o.Version = f.engine, sils, "1.2.3"
	if o.Notifications == nil {
		o.Notifications = st.RecentNotifications
	}
	if o.UpdateInterval == 0 {
		o.UpdateInterval = 10 * time.Millisecond
	}
	f.page = New(o)
	mux := http.NewServeMux()
	f.page.Register(mux)
	f.srv = httptest.NewServer(mux)
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	done := make(chan error, 1)
	go func() { done <- f.page.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		f.srv.Close()
	})
	return f
}

func (f *fixture) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(f.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func contains(t *testing.T, what, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %q", what, w)
		}
	}
}

func TestPageRenders(t *testing.T) {
	notifs := []store.NotificationRecord{
		{Integration: "ops/telegram/0", Key: "check|http_2xx https://shop.example|1|down", At: now.Add(-time.Minute), Outcome: store.OutcomePending,
			Attempts: 2, LastError: "HTTP 502", NextAttempt: time.Now().Add(30*time.Second + 500*time.Millisecond),
			Notification: &notify.Notification{CommonAnnotations: map[string]string{"summary": "https://shop.example (http_2xx) is DOWN"}}},
		{Integration: "ops/webhook/0", Key: "check|http_2xx https://shop.example|1|down", At: now.Add(-50 * time.Second), Outcome: store.OutcomeDelivered},
		{Integration: "ops/email/0", Key: "exporter|1|down", At: now.Add(-2 * time.Hour), Outcome: store.OutcomeFailed},
	}
	f := setup(t, Options{Notifications: func(n int) ([]store.NotificationRecord, error) { return notifs, nil }})
	id, err := f.silences.Set(silence.Silence{Matchers: []silence.Matcher{{Name: "job", Value: "api", IsEqual: true}},
		EndsAt: now.Add(2 * time.Hour), CreatedBy: "ann", Comment: "deploy <script>"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(f.srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET /: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// Summary first, from the engine's counts.
	if i, j := strings.Index(page, `id="summary"`), strings.Index(page, `id="problems"`); i < 0 || j < i {
		t.Errorf("the summary does not come first")
	}
	contains(t, "summary", page,
		`<title>2 down · vigie router</title>`,
		`id="count-down">2<`, `id="count-up">40<`, `id="count-unknown">1<`, `id="count-flapping">1<`,
		`id="count-alerts">1<`, `id="count-silences">1<`, "43 checks", "version 1.2.3")
	// Problems: reason, since (relative and absolute), muting.
	contains(t, "problems", page,
		"<code>https://shop.example</code>", "HTTP status 503 not in 2xx", ">1h30m ago<",
		`datetime="`+now.Add(-90*time.Minute).UTC().Format(time.RFC3339)+`"`,
		`<span class="state flapping">flapping</span> <span class="small">since <time`, ">20m ago<", "told: ops, chat",
		"maintenance:nightly", `<a href="#silence-1d0a4c3e-5e6f-4a7b-8c9d-0e1f2a3b4c5d" title="1d0a4c3e-5e6f-4a7b-8c9d-0e1f2a3b4c5d">silence 1d0a4c3e</a>`,
		"parent icmp 10.0.0.1 is down",
		`href="?silence=instance%3d%22https%3a%2f%2fshop.example%22%2c%20module%3d%22http_2xx%22#new-silence"`)
	// Alerts: not ended, escaped, what mutes them.
	contains(t, "alerts", page, "HighLatency", `job=&#34;api&#34;`, "p99 above 2s &lt;b&gt;",
		"NightlyBackupSlow", `<span class="state muted">muted</span><br><span class="small">maintenance:nightly </span>`)
	if strings.Contains(page, "Gone") {
		t.Error("an ended alert is shown")
	}
	// Notifications with their delivery state.
	contains(t, "notifications", page,
		"https://shop.example (http_2xx) is DOWN", "2 attempts, next in 30s: HTTP 502", `<span class="state pending">pending</span>`,
		"https://shop.example (http_2xx): down", `<span class="state delivered">delivered</span>`,
		"exporter unreachable: down", "permanent error")
	// Silences, escaped, with an expire form carrying the token.
	contains(t, "silences", page, `{job=&#34;api&#34;}`, id, "ann", "deploy &lt;script&gt;",
		`action="silences/`+id+`/expire"`, `id="silence-`+id+`"`, `name="token" value="`+f.page.token+`"`)
	if strings.Contains(page, "<script>") && strings.Count(page, "<script>") != 1 {
		t.Error("unescaped script in the page")
	}
	if strings.Contains(page, "exporter-banner") {
		t.Error("exporter banner while it is reachable")
	}

	// The exporter being unreachable is said first.
	v := baseView()
	v.Exporter = view.ExporterView{URL: "http://127.0.0.1:9115", Since: now.Add(-3 * time.Minute), LastError: "connection refused"}
	f.engine.set(v)
	_, page = f.get(t, "/")
	contains(t, "exporter banner", page, `id="exporter-banner"`, "<code>http://127.0.0.1:9115</code> unreachable since", ">3m ago<", "connection refused")

	// Other paths are not the page.
	if code, _ := f.get(t, "/nothing"); code != 404 {
		t.Errorf("GET /nothing = %d", code)
	}
}

func TestEmptyPage(t *testing.T) {
	f := setup(t, Options{})
	f.engine.set(&view.View{Counts: map[string]int{}})
	code, page := f.get(t, "/")
	if code != 200 {
		t.Fatal(code)
	}
	contains(t, "empty page", page, "<title>vigie router</title>", "Every check is fine.", "No alert from Prometheus.", "Nothing sent yet.", "No silence.")
}

func TestPagination(t *testing.T) {
	f := setup(t, Options{PageSize: 2})
	_, page := f.get(t, "/")
	contains(t, "page 1", page, "shop.example", "10.0.0.1", "3 problems · page 1 of 2", `href="?page=2"`)
	if strings.Contains(page, "db:5432") {
		t.Error("page 1 shows the third problem")
	}
	_, page = f.get(t, "/?page=2")
	contains(t, "page 2", page, "db:5432", "page 2 of 2", `href="?page=1"`)
	_, page = f.get(t, "/?page=99")
	contains(t, "page past the end", page, "page 2 of 2")
	v := baseView()
	v.ProblemsOmitted = 1200
	f.engine.set(v)
	_, page = f.get(t, "/")
	contains(t, "omitted problems", page, `id="problems-omitted">and 1200 more, not listed`)
}

func (f *fixture) postForm(t *testing.T, path string, form url.Values, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", f.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestSilenceForms(t *testing.T) {
	f := setup(t, Options{})
	good := url.Values{"token": {f.page.token}, "matchers": {`instance="https://shop.example", module="http_2xx"`},
		"duration": {"90m"}, "author": {"ann"}, "comment": {"migrating the shop"}}
	sameOrigin := map[string]string{"Origin": f.srv.URL, "Sec-Fetch-Site": "same-origin"}

	resp, body := f.postForm(t, "/silences", good, sameOrigin)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	list := f.silences.List()
	if len(list) != 1 || list[0].CreatedBy != "ann" || list[0].Comment != "migrating the shop" ||
		list[0].MatchersString() != `{instance="https://shop.example", module="http_2xx"}` || (list[0].EndsAt.Sub(list[0].StartsAt)-90*time.Minute).Abs() > time.Second {
		t.Fatalf("silences after the form: %+v", list)
	}
	id := list[0].ID
	loc := resp.Header.Get("Location")
	if loc != "./?created="+id+"#silences-title" {
		t.Errorf("redirect to %q", loc)
	}
	_, page := f.get(t, "/?created="+id)
	contains(t, "flash", page, `id="flash">Silence `+id)
	if _, page := f.get(t, "/?created=<b>pwned</b>"); strings.Contains(page, "pwned") {
		t.Error("the flash repeats arbitrary text")
	}

	// Refusals: no token, another site, bad input (the form is kept).
	cases := []struct {
		name   string
		form   url.Values
		header map[string]string
		code   int
		want   string
	}{
		{"no token", with(good, "token", ""), sameOrigin, 403, "the form is stale or comes from another site"},
		{"wrong token", with(good, "token", "guess"), sameOrigin, 403, "the form is stale"},
		{"cross-site", good, map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, 403, ""},
		{"cross-origin without fetch metadata", good, map[string]string{"Origin": "https://evil.example"}, 403, ""},
		{"bad matcher", with(good, "matchers", `instance=~"("`), sameOrigin, 400, "Silence not created: bad matcher"},
		{"matches everything", with(good, "matchers", `instance=~".*"`), sameOrigin, 400, "must not match the empty string"},
		{"bad duration", with(good, "duration", "soon"), sameOrigin, 400, `bad duration &#34;soon&#34;`},
		{"no author", with(good, "author", " "), sameOrigin, 400, "author and comment are required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.postForm(t, "/silences", tc.form, tc.header)
			if resp.StatusCode != tc.code || !strings.Contains(body, tc.want) {
				t.Errorf("%d %q, want %d with %q", resp.StatusCode, body, tc.code, tc.want)
			}
			if tc.code == 400 && !strings.Contains(body, `value="`+attrEscape(tc.form.Get("matchers"))+`"`) {
				t.Errorf("the form lost what was typed:\n%s", body)
			}
		})
	}
	if n := len(f.silences.List()); n != 1 {
		t.Errorf("%d silences after refusals", n)
	}

	// Expire.
	if resp, body := f.postForm(t, "/silences/"+id+"/expire", url.Values{"token": {"guess"}}, sameOrigin); resp.StatusCode != 403 {
		t.Errorf("expire without token: %d %s", resp.StatusCode, body)
	}
	resp, body = f.postForm(t, "/silences/"+id+"/expire", url.Values{"token": {f.page.token}}, sameOrigin)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "../../?expired="+id+"#silences-title" {
		t.Fatalf("expire: %d %s %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	time.Sleep(2 * time.Millisecond)
	if s, _ := f.silences.Get(id); s.State(time.Now()) != silence.Expired {
		t.Errorf("not expired: %+v", s)
	}
	if resp, body := f.postForm(t, "/silences/"+id+"/expire", url.Values{"token": {f.page.token}}, sameOrigin); resp.StatusCode != 400 || !strings.Contains(body, "already expired") {
		t.Errorf("expire twice: %d %s", resp.StatusCode, body)
	}
	if resp, _ := f.postForm(t, "/silences/nope/expire", url.Values{"token": {f.page.token}}, sameOrigin); resp.StatusCode != 404 {
		t.Errorf("expire unknown: %d", resp.StatusCode)
	}
	_, page = f.get(t, "/")
	if strings.Contains(page, `action="silences/`+id+`/expire"`) {
		t.Error("an expired silence still has an expire button")
	}
}

func with(v url.Values, k, val string) url.Values {
	out := url.Values{}
	for kk, vv := range v {
		out[kk] = vv
	}
	out.Set(k, val)
	return out
}

// attrEscape escapes like html/template does in an attribute value.
func attrEscape(s string) string {
	return strings.NewReplacer(`"`, "&#34;", "<", "&lt;", ">", "&gt;", "&", "&amp;", "'", "&#39;").Replace(s)
}

// sseReader reads server-sent events: one goroutine reads the stream and
// hands over the data of each "update" event.
type sseReader struct {
	updates chan map[string]string
	ended   chan error
}

func (f *fixture) events(t *testing.T, query string) *sseReader {
	t.Helper()
	resp, err := http.Get(f.srv.URL + "/events" + query)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	r := &sseReader{updates: make(chan map[string]string, 100), ended: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		event := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && event == "update":
				var m map[string]string
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &m); err != nil {
					r.ended <- err
					return
				}
				r.updates <- m
			}
		}
		r.ended <- fmt.Errorf("stream ended: %v", sc.Err())
	}()
	return r
}

// next returns the next "update" event's data, or an error.
func (r *sseReader) next(timeout time.Duration) (map[string]string, error) {
	select {
	case m := <-r.updates:
		return m, nil
	case err := <-r.ended:
		return nil, err
	case <-time.After(timeout):
		return nil, errors.New("no update in time")
	}
}

func TestLiveUpdates(t *testing.T) {
	f := setup(t, Options{Refresh: time.Hour})
	ev := f.events(t, "")
	first, err := ev.next(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range fragmentNames {
		if _, ok := first[k]; !ok {
			t.Errorf("first update lacks %s", k)
		}
	}
	if first["title"] != "2 down · vigie router" || !strings.Contains(first["summary"], `id="count-down">2<`) {
		t.Errorf("first update: %q / %q", first["title"], first["summary"])
	}

	// A check goes down: the engine announces a change; the update carries
	// the changed parts only.
	v := baseView()
	v.Counts["down"] = 3
	v.Problems = append(v.Problems, view.CheckView{ID: "http_2xx https://blog.example", Target: "https://blog.example",
		Module: "http_2xx", State: "down", Since: now, Reason: "connection refused"})
	f.engine.set(v)
	upd, err := ev.next(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(upd["problems"], "https://blog.example") || !strings.Contains(upd["summary"], `id="count-down">3<`) ||
		upd["title"] != "3 down · vigie router" {
		t.Errorf("update after a DOWN: %v", upd)
	}
	if _, ok := upd["silences"]; ok {
		t.Error("unchanged silences were sent again")
	}

	// A silence created elsewhere (API, CLI) shows up too.
	if _, err := f.silences.Set(silence.Silence{Matchers: []silence.Matcher{{Name: "job", Value: "x", IsEqual: true}},
		EndsAt: time.Now().Add(time.Hour), CreatedBy: "bob", Comment: "c"}); err != nil {
		t.Fatal(err)
	}
	upd, err = ev.next(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(upd["silences"], "{job=&#34;x&#34;}") {
		t.Errorf("update after a silence: %v", upd)
	}

	// Changes in a burst are sent together.
	for i := range 20 {
		v := baseView()
		v.Counts["up"] = 100 + i
		f.engine.set(v)
	}
	var updates int
	deadline := time.After(500 * time.Millisecond)
	got := map[string]string{}
loop:
	for {
		select {
		case <-deadline:
			break loop
		default:
		}
		upd, err := ev.next(200 * time.Millisecond)
		if err != nil {
			break
		}
		updates++
		for k, v := range upd {
			got[k] = v
		}
	}
	if !strings.Contains(got["summary"], `id="count-up">119<`) {
		t.Errorf("the last state of a burst was not sent: %q", got["summary"])
	}
	if updates > 10 {
		t.Errorf("%d updates for a burst of 20 changes: not coalesced", updates)
	}

	// The stream ends when the router stops.
	f.cancel()
	if _, err := ev.next(5 * time.Second); err == nil || !strings.Contains(err.Error(), "stream ended") {
		t.Errorf("after stop: %v", err)
	}
}

func TestAgo(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "just now", 42 * time.Second: "42s ago", 5 * time.Minute: "5m ago", 3 * time.Hour: "3h ago",
		3*time.Hour + 12*time.Minute: "3h12m ago", 50 * time.Hour: "2d2h ago", 48 * time.Hour: "2d ago", -90 * time.Second: "in 1m",
	} {
		if got := ago(now.Add(-d), now); got != want {
			t.Errorf("ago(%v) = %q, want %q", d, got, want)
		}
	}
	if ago(time.Time{}, now) != "never" {
		t.Error("zero time")
	}
}

// TestNotificationDescriptions: a notification seen pending is still
// described by what it said once delivered (the log keeps keys only);
// otherwise its key is made readable.
func TestNotificationDescriptions(t *testing.T) {
	var mu sync.Mutex
	clock := now
	var recs []store.NotificationRecord
	f := setup(t, Options{
		Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return clock },
		Notifications: func(int) ([]store.NotificationRecord, error) {
			mu.Lock()
			defer mu.Unlock()
			return recs, nil
		},
	})
	step := func(rs ...store.NotificationRecord) string {
		mu.Lock()
		recs, clock = rs, clock.Add(2*time.Second) // past the page's 1 s cache
		mu.Unlock()
		_, page := f.get(t, "/")
		return page
	}
	group := &notify.Notification{Key: "group|0123abcd|down", Status: "firing", Alerts: []notify.Alert{
		{Labels: map[string]string{"alertname": "ProbeFailed", "instance": "https://a.example"}, Annotations: map[string]string{"summary": "https://a.example (http_2xx) is DOWN"}},
		{Labels: map[string]string{"alertname": "ProbeFailed", "instance": "https://b.example"}},
	}}
	page := step(store.NotificationRecord{Integration: "ops/telegram/0", Key: group.Key, Outcome: store.OutcomePending, At: now, Notification: group})
	contains(t, "pending group", page, "2 alerts FIRING: https://a.example (http_2xx) is DOWN, …")
	page = step(store.NotificationRecord{Integration: "ops/telegram/0", Key: group.Key, Outcome: store.OutcomeDelivered, At: now})
	contains(t, "delivered group", page, "2 alerts FIRING: https://a.example (http_2xx) is DOWN, …", `<span class="state delivered">delivered</span>`)

	v := baseView()
	v.Alerts[0].Fingerprint = "feedc0de"
	f.engine.set(v)
	page = step(
		store.NotificationRecord{Integration: "ops/webhook/0", Key: "group|99|up", Outcome: store.OutcomeDelivered, At: now},
		store.NotificationRecord{Integration: "ops/webhook/0", Key: "alert|feedc0de|1|down", Outcome: store.OutcomeDelivered, At: now},
		store.NotificationRecord{Integration: "ops/webhook/0", Key: "alert|0ld|1|up", Outcome: store.OutcomeDelivered, At: now},
		store.NotificationRecord{Integration: "ops/webhook/0", Key: "something|else", Outcome: store.OutcomeDelivered, At: now},
	)
	contains(t, "keys", page, "grouped notification: up", "HighLatency {job=&#34;api&#34;}: down", "alert 0ld: up", "something|else")
}

// TestLiveCluster: the cluster section is a live part of the page: a
// member joining, or the replica of the other members' states going
// stale, reaches open pages without a reload; problems say which member
// probes them.
func TestLiveCluster(t *testing.T) {
	var mu sync.Mutex
	cl := &Cluster{Name: "r1", Status: "ready", Members: []ClusterMember{{Name: "r1", Checks: 2}}}
	f := setup(t, Options{Refresh: time.Hour,
		Cluster: func() *Cluster {
			mu.Lock()
			defer mu.Unlock()
			c := *cl
			return &c
		},
		ProbedBy: func(id string) string { return "r9" },
	})
	ev := f.events(t, "")
	first, err := ev.next(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(first["cluster"], `data-member="r1"`) || strings.Contains(first["cluster"], `data-member="r2"`) {
		t.Fatalf("first cluster fragment: %q", first["cluster"])
	}
	if !strings.Contains(first["problems"], "probed by r9") {
		t.Errorf("problems do not say which member probes them: %q", first["problems"])
	}
	mu.Lock()
	cl = &Cluster{Name: "r1", Status: "ready", Members: []ClusterMember{{Name: "r1", Checks: 1}, {Name: "r2", Checks: 1}},
		StaleSince: now.Add(-time.Minute)}
	mu.Unlock()
	f.page.Changed()
	upd, err := ev.next(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(upd["cluster"], `data-member="r2"`) || !strings.Contains(upd["cluster"], `id="replica-stale"`) {
		t.Errorf("update after a member joined: %q", upd["cluster"])
	}
}
