package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigie-monitoring/vigie/alertrouter/notify/telegram/telegramtest"
	"github.com/vigie-monitoring/vigie/internal/testenv"
)

const clusterActionsConfig = `
exporter:
  url: %s
  sd_refresh_interval: 1s
` + fastChecks + `rules:
  - failures: 2
    successes: 1
    repeat_interval: 3s
    receivers: [oncall]
receivers:
  - name: oncall
    telegram_configs:
      - api_url: %s
        bot_token_file: %s
        chat_id: -1004242
        actions: true
        allowed_user_ids: [111]
` + clusterBlock

// TestClusterTelegramActions: in a cluster of two routers, one polls the
// bot (the leader) while each probes and reminds its own checks. Ack
// pressed on every DOWN is answered "Acknowledged" — also for the checks
// the leader does not own — and no reminder follows for any of them.
func TestClusterTelegramActions(t *testing.T) {
	consul := testenv.StartConsul(t)
	tg := telegramtest.Start(t, telegramToken)
	tg.AddChat(telegramtest.Chat{ID: actionsChat, Type: "supergroup"})
	tokenFile := filepath.Join(t.TempDir(), "telegram.token")
	if err := os.WriteFile(tokenFile, []byte(telegramToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var targets []string
	for i := 0; i < 4; i++ {
		targets = append(targets, fmt.Sprintf("https://a%02d.example", i))
	}
	x := newClusterExporters(t, 2, targets)
	rs := startPair(t, targets, func(i int, name string) string {
		return fmt.Sprintf(clusterActionsConfig, x.srvs[i].URL, tg.URL, tokenFile, name, consul.Addr, "vigie-test/actions")
	})
	for _, r := range rs {
		if n := metric(t, r.url, "vigie_router_checks_owned"); n == 0 {
			t.Fatalf("%s owns no check: the test needs both to own some", r.name)
		}
	}

	// One target at a time: DOWNs queued together would be summarised
	// in one message, without buttons.
	downs := map[string]telegramtest.Message{}
	for _, tgt := range targets {
		x.setDown(true, tgt)
		waitCond(t, "the DOWN of "+tgt, func() bool {
			for _, m := range tg.Messages() {
				if strings.Contains(m.PlainText, "DOWN "+tgt+" ") {
					downs[tgt] = m
					return true
				}
			}
			return false
		})
	}
	for _, tgt := range targets {
		id := press(t, tg, downs[tgt], ann, "Ack")
		if a := waitAnswer(t, tg, id); !strings.Contains(a.Text, "Acknowledged") {
			t.Errorf("%s: Ack answered %q", tgt, a.Text)
		}
	}
	reminders := func() int {
		n := 0
		for _, m := range tg.Messages() {
			if strings.Contains(strings.ToLower(m.PlainText), "still down") {
				n++
			}
		}
		return n
	}
	// A reminder committed before its acknowledgement may still go out;
	// after one more repeat interval, none.
	x.waitRounds(t, 4)
	before := reminders()
	x.waitRounds(t, 8) // more than two repeat intervals
	if after := reminders(); after != before {
		t.Errorf("%d reminders after every incident was acknowledged", after-before)
	}
}
