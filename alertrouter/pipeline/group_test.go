package pipeline

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/checkstate"
	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/notify/telegram"
	"github.com/vigie-monitoring/vigie/alertrouter/notify/telegram/telegramtest"
)

const groupConfig = `
rules:
  - matchers: ['module="http_2xx"']
    failures: 1
    successes: 1
    group_by: [group]
    group_wait: 30s
    receivers: [ops]
  - matchers: ['module="tcp_connect"']
    failures: 1
    successes: 1
    receivers: [ops]
receivers:
  - name: ops
`

// instances lists the instance label of each alert of n.
func instances(n *notify.Notification) string {
	var out []string
	for _, a := range n.Alerts {
		out = append(out, a.Labels["instance"])
	}
	return strings.Join(out, ",")
}

func describe(ns []*notify.Notification) string {
	var out []string
	for _, n := range ns {
		out = append(out, fmt.Sprintf("%s %s [%s]", n.Receiver, n.Kind, instances(n)))
	}
	return strings.Join(out, "; ")
}

func TestGroupWaitBatchesDowns(t *testing.T) {
	h := newHarness(t, "", groupConfig)
	h.targets("a http_2xx web", "b http_2xx web", "c http_2xx web", "d http_2xx db", "x tcp_connect web")
	start := h.now
	if ns := h.probe("a", "http_2xx", 0, refused); len(ns) != 0 {
		t.Fatalf("sent before group_wait: %s", describe(ns))
	}
	if ns := h.probe("b", "http_2xx", 10*time.Second, refused); len(ns) != 0 {
		t.Fatalf("sent before group_wait: %s", describe(ns))
	}
	if ns := h.probe("d", "http_2xx", 2*time.Second, refused); len(ns) != 0 {
		t.Fatalf("sent before group_wait: %s", describe(ns))
	}
	// A rule without group_by sends at once.
	if ns := h.probe("x", "tcp_connect", 0, refused); len(ns) != 1 || instances(ns[0]) != "x" {
		t.Fatalf("ungrouped DOWN: %s", describe(ns))
	}
	if v := h.p.View(); v.Grouped != 3 {
		t.Errorf("view: %d grouped, want 3", v.Grouped)
	}
	if ns := h.wait(start.Add(30*time.Second - time.Millisecond).Sub(h.now)); len(ns) != 0 {
		t.Fatalf("sent before group_wait: %s", describe(ns))
	}
	ns := h.wait(time.Millisecond)
	if len(ns) != 1 || ns[0].Kind != notify.KindDown || instances(ns[0]) != "a,b" {
		t.Fatalf("at group_wait: %s", describe(ns))
	}
	n := ns[0]
	if n.GroupLabels["group"] != "web" || len(n.GroupLabels) != 1 || !strings.HasPrefix(n.Key, "group|") {
		t.Errorf("group labels %v key %s", n.GroupLabels, n.Key)
	}
	if n.CommonLabels["group"] != "web" || n.CommonLabels["module"] != "http_2xx" || n.CommonLabels["instance"] != "" {
		t.Errorf("common labels %v", n.CommonLabels)
	}
	if n.CommonAnnotations["description"] != "connection refused" || n.CommonAnnotations["summary"] != "" {
		t.Errorf("common annotations %v", n.CommonAnnotations)
	}
	// A DOWN after the batch was sent opens a new one.
	if ns := h.probe("c", "http_2xx", 3*time.Second, refused); len(ns) != 0 {
		t.Fatalf("c sent at once: %s", describe(ns))
	}
	// d's batch had one member: it is sent as it would be without
	// grouping (same key), with its group labels.
	ns = h.wait(start.Add(42 * time.Second).Sub(h.now))
	if len(ns) != 1 || instances(ns[0]) != "d" || !strings.HasPrefix(ns[0].Key, "check|http_2xx d|") || ns[0].GroupLabels["group"] != "db" {
		t.Fatalf("d: %s (key %s)", describe(ns), ns[0].Key)
	}
	ns = h.wait(30 * time.Second)
	if len(ns) != 1 || instances(ns[0]) != "c" {
		t.Fatalf("c: %s", describe(ns))
	}
	// Recoveries are batched too, apart from DOWNs.
	h.probe("a", "http_2xx", time.Minute, ok)
	h.probe("b", "http_2xx", time.Second, ok)
	h.probe("c", "http_2xx", time.Second, refused)
	ns = h.wait(30 * time.Second)
	if len(ns) != 1 || ns[0].Kind != notify.KindUp || ns[0].Status != notify.StatusResolved || instances(ns[0]) != "a,b" {
		t.Fatalf("UPs: %s", describe(ns))
	}
	if v := h.p.View(); v.Grouped != 0 {
		t.Errorf("view: %d grouped after release", v.Grouped)
	}
}

func TestGroupMixedKindsAreSeparateMessagesInOrder(t *testing.T) {
	h := newHarness(t, "", groupConfig)
	h.targets("a http_2xx web", "b http_2xx web", "c http_2xx web")
	h.probe("a", "http_2xx", 0, refused)
	h.wait(30 * time.Second)
	// One batch gets a recovery (a) and two DOWNs (b, c).
	h.probe("a", "http_2xx", time.Second, ok)
	h.probe("b", "http_2xx", time.Second, refused)
	h.probe("c", "http_2xx", time.Second, refused)
	ns := h.wait(30 * time.Second)
	if len(ns) != 2 || ns[0].Kind != notify.KindDown || instances(ns[0]) != "b,c" || ns[1].Kind != notify.KindUp || instances(ns[1]) != "a" {
		t.Fatalf("batch: %s", describe(ns))
	}
}

func TestGroupDownThenUpWithinGroupWaitSendsNothing(t *testing.T) {
	h := newHarness(t, "", groupConfig)
	h.targets("a http_2xx web", "b http_2xx web")
	h.probe("a", "http_2xx", 0, refused)
	h.probe("b", "http_2xx", time.Second, refused)
	h.probe("a", "http_2xx", 10*time.Second, ok) // a blip shorter than group_wait
	ns := h.wait(time.Minute)
	if len(ns) != 1 || instances(ns[0]) != "b" || ns[0].Kind != notify.KindDown {
		t.Fatalf("after the blip: %s", describe(ns))
	}
	if st := h.check("a", "http_2xx").State; st != checkstate.Up {
		t.Errorf("a is %s", st)
	}
	if ns := h.wait(time.Hour); len(ns) != 0 {
		t.Fatalf("later: %s", describe(ns))
	}
}

// TestGroupSurvivesRestart: a batch waiting for group_wait when the router
// stops is sent once after the restart, with the key it would have had.
func TestGroupSurvivesRestart(t *testing.T) {
	keyOf := func(dir string, restart bool) (string, []*notify.Notification) {
		h := newHarness(t, dir, groupConfig)
		h.targets("a http_2xx web", "b http_2xx web")
		h.probe("a", "http_2xx", 0, refused)
		h.probe("b", "http_2xx", 5*time.Second, refused)
		if restart {
			h.store.Close()
			h = newHarness(t, dir, groupConfig)
			h.now = t0.Add(10 * time.Second)
			if ns := h.targets("a http_2xx web", "b http_2xx web"); len(ns) != 0 {
				t.Fatalf("re-announced after restart: %s", describe(ns))
			}
		}
		ns := h.wait(t0.Add(30 * time.Second).Sub(h.now))
		if len(ns) != 1 || instances(ns[0]) != "a,b" {
			t.Fatalf("restart=%v: %s", restart, describe(ns))
		}
		more := h.probe("a", "http_2xx", time.Minute, refused)
		more = append(more, h.wait(time.Minute)...)
		return ns[0].Key, more
	}
	want, _ := keyOf(t.TempDir(), false)
	got, more := keyOf(t.TempDir(), true)
	if got != want {
		t.Errorf("key after restart %s, want %s", got, want)
	}
	if len(more) != 0 {
		t.Errorf("sent again: %s", describe(more))
	}
}

func TestGroupByEveryLabelIsNoGrouping(t *testing.T) {
	h := newHarness(t, "", strings.Replace(groupConfig, "group_by: [group]", "group_by: ['...']", 1))
	h.targets("a http_2xx web", "b http_2xx web")
	if ns := h.probe("a", "http_2xx", 0, refused); len(ns) != 1 {
		t.Fatalf("'...' grouped: %s", describe(ns))
	}
}

func TestGroupWaitZeroGroupsOneStep(t *testing.T) {
	h := newHarness(t, "", strings.Replace(groupConfig, "group_wait: 30s", "group_wait: 0s", 1))
	h.targets("a http_2xx web", "b http_2xx web", "c http_2xx web")
	for _, target := range []string{"a", "b", "c"} {
		h.probe(target, "http_2xx", 0, refused)
	}
	// Three checks removed from discovery together: one message.
	ns := h.confirmedTargets()
	if len(ns) != 1 || ns[0].Kind != notify.KindUp || instances(ns[0]) != "a,b,c" {
		t.Fatalf("removal: %s", describe(ns))
	}
}

// TestLargeGroupIsSummarised: 300 checks of one group going DOWN together
// are one Telegram message, kept under Telegram's limit by the
// integration's summary ("… and N more"), headed as checks.
func TestLargeGroupIsSummarised(t *testing.T) {
	h := newHarness(t, "", groupConfig)
	var entries []string
	for i := range 300 {
		entries = append(entries, fmt.Sprintf("https://site%03d.example http_2xx web", i))
	}
	h.targets(entries...)
	for i := range 300 {
		h.probe(fmt.Sprintf("https://site%03d.example", i), "http_2xx", 0, refused)
	}
	ns := h.wait(30 * time.Second)
	if len(ns) != 1 || len(ns[0].Alerts) != 300 {
		t.Fatalf("%d messages", len(ns))
	}
	const token = "123456:test-token"
	srv := telegramtest.Start(t, token)
	srv.AddChat(telegramtest.Chat{ID: -100123})
	n, err := telegram.New(config.TelegramConfig{APIURL: srv.URL, BotToken: token, ChatID: "-100123"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Notify(context.Background(), ns[0]); err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d Telegram messages", len(msgs))
	}
	text := msgs[0].PlainText
	if len(text) > telegramtest.MaxMessageLength || !strings.Contains(text, "300 DOWN") || !strings.Contains(text, "group=web") ||
		!strings.Contains(text, "https://site000.example (http_2xx)") || !regexp.MustCompile(`… and \d+ more`).MatchString(text) {
		t.Errorf("message (%d characters):\n%s", len(text), text)
	}
}
