package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/cluster"
	"github.com/vigie-monitoring/vigie/alertrouter/notify/telegram/telegramtest"
	"github.com/vigie-monitoring/vigie/internal/testenv"
)

const clusterStateConfig = `
exporter:
  url: %s
  sd_refresh_interval: 1s
` + fastChecks + `rules:
  - failures: 2
    successes: 2
    repeat_interval: 15s
    flap_detection: {changes: 4, window: 10m}
    receivers: [oncall]
` + oncallReceiver + clusterBlock

// memberView is what one member shows of the checks: its summary, the
// checks its API lists DOWN and the problems its page lists, with the
// time each began (the page's datetime).
type memberView struct {
	Summary map[string]int
	APIDown []string
	Page    map[string]string // check id → since
}

var problemRow = regexp.MustCompile(`<tr class="problem" data-check="([^"]+)">(?s:.*?)<time datetime="([^"]+)"`)

func viewOf(t *testing.T, r *clusterRouter) (memberView, bool) {
	t.Helper()
	v := memberView{Summary: map[string]int{}, Page: map[string]string{}}
	for _, get := range []struct {
		path string
		into any
	}{{"/api/v1/summary", &v.Summary}} {
		resp, err := http.Get(r.url + get.path)
		if err != nil {
			return v, false
		}
		err = json.NewDecoder(resp.Body).Decode(get.into)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return v, false
		}
	}
	resp, err := http.Get(r.url + "/api/v1/checks?state=down&limit=1000")
	if err != nil {
		return v, false
	}
	var list struct {
		Checks []struct {
			Target string `json:"target"`
		} `json:"checks"`
	}
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if err != nil {
		return v, false
	}
	for _, c := range list.Checks {
		v.APIDown = append(v.APIDown, c.Target)
	}
	sort.Strings(v.APIDown)
	code, page := getBody(t, r.url+"/")
	if code != http.StatusOK {
		return v, false
	}
	for _, m := range problemRow.FindAllStringSubmatch(page, -1) {
		v.Page[m[1]] = m[2]
	}
	return v, true
}

// sameView waits until every member shows the same summary, with down
// the targets DOWN (and total checks), the same DOWN checks in its API
// and the same problems, since the same time, on its page; it returns
// that view.
func sameView(t *testing.T, rs []*clusterRouter, total int, down ...string) memberView {
	t.Helper()
	want := slices.Sorted(slices.Values(down))
	var last []memberView
	deadline := time.Now().Add(90 * time.Second)
	for {
		last = last[:0]
		ok := true
		for _, r := range rs {
			v, answered := viewOf(t, r)
			last = append(last, v)
			ok = ok && answered && v.Summary["total"] == total && v.Summary["down"] == len(want) && slices.Equal(v.APIDown, want) && len(v.Page) == len(want)
			for _, tgt := range want {
				ok = ok && v.Page["http_2xx "+tgt] != ""
			}
			if len(last) > 1 {
				p := last[0]
				ok = ok && fmt.Sprint(p.Summary) == fmt.Sprint(v.Summary) && fmt.Sprint(p.Page) == fmt.Sprint(v.Page)
			}
		}
		if ok {
			return last[0]
		}
		if time.Now().After(deadline) {
			for i, v := range last {
				t.Logf("%s shows %+v", rs[i].name, v)
			}
			t.Fatalf("the members do not show the same checks (want %d checks, DOWN %v)", total, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// messagesAbout returns the texts of the messages about a target.
func messagesAbout(tg *telegramtest.Server, target string) []string {
	var out []string
	for _, m := range tg.Messages() {
		if strings.Contains(m.PlainText, target) {
			out = append(out, m.PlainText)
		}
	}
	return out
}

// countWith counts the texts with sub; "DOWN" counts the DOWN messages
// only (not the reminders, STILL DOWN, nor FLAPPING, nor STABLE).
func countWith(texts []string, sub string) int {
	n := 0
	for _, s := range texts {
		if sub == "DOWN" && (strings.Contains(s, "STILL DOWN") || strings.Contains(s, "FLAPPING") || strings.Contains(s, "stopped flapping")) {
			continue
		}
		if strings.Contains(s, sub) {
			n++
		}
	}
	return n
}

// TestClusterCheckStateMoves: a check's state moves with the check. On
// member r1, check "long" is DOWN and check "flappy" went DOWN, UP and
// DOWN again (three changes of the four that make it flapping); both
// members show the same. r1 is SIGKILLed; r2 takes both over and
// continues their state rather than starting again from its probes:
// the page shows the incidents' original start, the reminder of "long"
// comes on r1's schedule (after few probes of r2, not a whole
// repeat_interval of them), "flappy" coming back up is its fourth change
// (FLAPPING, not UP), and the UP of "long" gives the whole incident's
// duration.
func TestClusterCheckStateMoves(t *testing.T) {
	consul := testenv.StartConsul(t)
	tg, tokenFile := startTelegram(t)
	// Two targets r1 owns in a cluster of r1 and r2.
	var mine []string
	for i := 0; len(mine) < 2; i++ {
		tgt := fmt.Sprintf("https://s%02d.example", i)
		if cluster.OwnerOf([]string{"r1", "r2"}, "http_2xx "+tgt) == "r1" {
			mine = append(mine, tgt)
		}
	}
	long, flappy := mine[0], mine[1]
	all := []string{long, flappy, "https://other.example"}
	x := newClusterExporters(t, 2, all)
	rs := startPair(t, all, func(i int, name string) string {
		return fmt.Sprintf(clusterStateConfig, x.srvs[i].URL, tg.URL, tokenFile, name, consul.Addr, "vigie-test/state")
	})
	sameView(t, rs, len(all))

	x.setDown(true, long)
	waitCond(t, "the DOWN of "+long, func() bool { return countWith(messagesAbout(tg, long), "DOWN") == 1 })
	downTold := time.Now()
	x.setDown(true, flappy)
	waitCond(t, "the DOWN of "+flappy, func() bool { return countWith(messagesAbout(tg, flappy), "DOWN") == 1 })
	x.setDown(false, flappy)
	waitCond(t, "the UP of "+flappy, func() bool { return countWith(messagesAbout(tg, flappy), "back up after") == 1 })
	x.setDown(true, flappy)
	waitCond(t, "the second DOWN of "+flappy, func() bool { return countWith(messagesAbout(tg, flappy), "DOWN") == 2 })

	// Both members show r1's checks DOWN, since the same time.
	before := sameView(t, rs, len(all), long, flappy)
	if code, page := getBody(t, rs[1].url+"/"); code != http.StatusOK || strings.Count(page, "probed by r1") != 2 {
		t.Errorf("r2's page does not say r1 probes %s and %s:\n%s", long, flappy, page)
	}

	if err := rs[0].p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = rs[0].p.cmd.Wait()
	killed := time.Now()
	alive := rs[1:]
	waitCond(t, "r2 to see itself alone", seesCluster(t, rs[1], "r2"))
	waitCond(t, "r2 to own every check", func() bool { n, ok := ownedSum(t, 1, alive...); return ok && n == len(all) })
	probesAtMove := x.counts()[1][long]
	remindersAtKill := countWith(messagesAbout(tg, long), "STILL DOWN")
	t.Logf("r1 killed %s after the DOWN of %s was told; r2 owns everything", killed.Sub(downTold).Round(time.Millisecond), long)

	// r2 shows the incidents r1 started, since r1's time.
	after := sameView(t, alive, len(all), long, flappy)
	for _, tgt := range []string{long, flappy} {
		id := "http_2xx " + tgt
		if after.Page[id] != before.Page[id] {
			t.Errorf("%s: DOWN since %s on r2 after the move, since %s before", tgt, after.Page[id], before.Page[id])
		}
	}

	// The reminder of "long" follows r1's schedule: it comes after a few
	// probes of r2, not after a repeat_interval (15 probes) of them.
	waitCond(t, "a reminder of "+long+" from r2", func() bool {
		return countWith(messagesAbout(tg, long), "STILL DOWN") > remindersAtKill
	})
	if n := x.counts()[1][long] - probesAtMove; n >= 8 {
		t.Errorf("the reminder of %s came after %d probes of r2: its schedule restarted on the new owner", long, n)
	}

	// "flappy" coming back up is its fourth change in the window.
	start := x.counts()[1][flappy]
	waitCond(t, "r2 to probe "+flappy, func() bool { return x.counts()[1][flappy] >= start+3 })
	x.setDown(false, flappy)
	waitCond(t, flappy+" to be FLAPPING or UP", func() bool {
		ms := messagesAbout(tg, flappy)
		return countWith(ms, "FLAPPING") > 0 || countWith(ms, "back up after") > 1
	})
	if ms := messagesAbout(tg, flappy); countWith(ms, "FLAPPING") != 1 || countWith(ms, "back up after") != 1 {
		t.Errorf("%s: want FLAPPING at its fourth change on r2, got:\n%s", flappy, strings.Join(ms, "\n---\n"))
	}

	// The UP of "long" covers the whole incident, r1's part included.
	upSet := time.Now()
	x.setDown(false, long)
	var upText string
	waitCond(t, "the UP of "+long, func() bool {
		for _, m := range messagesAbout(tg, long) {
			// Alone, or in a summary when it queued behind another
			// message at the provider's rate limit.
			if strings.Contains(m, "back up after") || strings.Contains(m, long+" (http_2xx) was down from") {
				upText = m
				return true
			}
		}
		return false
	})
	m := regexp.MustCompile(`(?:back up after |` + regexp.QuoteMeta(long+" (http_2xx)") + ` was down from [^(]*\()(\d+)([sm])`).FindStringSubmatch(upText)
	if m == nil {
		t.Fatalf("no duration in %q", upText)
	}
	d, _ := strconv.Atoi(m[1])
	dur := time.Duration(d) * time.Second
	if m[2] == "m" {
		dur = time.Duration(d) * time.Minute
	}
	// The incident began before its DOWN was told, and ended after the
	// target came back: at least upSet - downTold (to the second).
	if least := upSet.Sub(downTold).Truncate(time.Second) - time.Second; dur < least {
		t.Errorf("%s: UP after %s, but it was DOWN for at least %s: the incident restarted on r2 (%q)", long, dur, least, upText)
	}
	if ms := messagesAbout(tg, long); countWith(ms, "DOWN") != 1 {
		t.Errorf("%s: %d DOWN messages, want 1:\n%s", long, countWith(ms, "DOWN"), strings.Join(ms, "\n---\n"))
	}
	if t.Failed() {
		for _, m := range tg.Messages() {
			t.Logf("message: %s", m.PlainText)
		}
	}
}
