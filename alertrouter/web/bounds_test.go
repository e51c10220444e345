package web

import (
	"bufio"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/silence"
	"github.com/vigie-monitoring/vigie/alertrouter/view"
)

// hostileView is what the engine holds after clients posted thousands of
// alerts of 16 KB (twice what --alerts.max-alert-size-bytes allows by
// default).
func hostileView() *view.View {
	v := baseView()
	v.Alerts = nil
	for i := range 3000 {
		v.Alerts = append(v.Alerts, view.AlertView{
			Alert: notify.Alert{Labels: map[string]string{"alertname": fmt.Sprintf("Big%d", i), "big": strings.Repeat("L", 8000)},
				Annotations: map[string]string{"summary": strings.Repeat("S", 8000)}, StartsAt: now.Add(-time.Hour), EndsAt: now.Add(time.Hour)},
			Receivers: []string{"ops"}, State: "active",
		})
	}
	return v
}

// TestPageIsBounded: the page lists the first alerts and silences and says
// how many more there are, collapses expired silences, and cuts long
// texts, so that it stays small whatever clients posted.
func TestPageIsBounded(t *testing.T) {
	f := setup(t, Options{Refresh: time.Hour})
	f.engine.set(hostileView())
	comment := strings.Repeat("C", 4000)
	var expired []string
	for i := range 150 {
		id, err := f.silences.Set(silence.Silence{Matchers: []silence.Matcher{{Name: "job", Value: fmt.Sprintf("j%d-%s", i, strings.Repeat("m", 500)), IsEqual: true}},
			EndsAt: time.Now().Add(time.Hour + time.Duration(i)*time.Minute), CreatedBy: strings.Repeat("A", 1000), Comment: comment})
		if err != nil {
			t.Fatal(err)
		}
		if i >= 120 {
			expired = append(expired, id)
		}
	}
	for _, id := range expired {
		if err := f.silences.Expire(id); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(time.Millisecond) // expired: ended strictly before now

	code, page := f.get(t, "/")
	if code != 200 {
		t.Fatal(code)
	}
	contains(t, "bounded page", page,
		"3000 alerts, first 100 shown",
		`id="silences-omitted">and 20 more, not listed`,
		`<details id="expired-silences"><summary>30 expired silences, the last 20 listed</summary>`,
		strings.Repeat("C", 999)+"…", strings.Repeat("S", 299)+"…")
	if strings.Contains(page, comment) || strings.Contains(page, strings.Repeat("L", 301)) {
		t.Error("long texts are shown whole")
	}
	if n := strings.Count(page, `<tr class="alert">`); n != 100 {
		t.Errorf("%d alerts listed, want 100", n)
	}
	if n := strings.Count(page, `<tr class="silence"`); n != 120 {
		t.Errorf("%d silences listed, want 100 active and 20 expired", n)
	}
	// 120 silence rows and 100 alert rows of at most ~1.5 KB each.
	if len(page) > 400<<10 {
		t.Errorf("page of %d bytes", len(page))
	}
	t.Logf("page: %d bytes for 3000 alerts of 16 KB and 150 silences of 5.5 KB", len(page))
}

// TestLiveRenderingIsShared: whatever the number of clients, each update
// is rendered once, and every client gets the same bytes; a part that did
// not change keeps its rendering.
func TestLiveRenderingIsShared(t *testing.T) {
	f := setup(t, Options{Refresh: time.Hour})
	f.engine.set(hostileView())

	first, err := f.page.fragments(5, 1)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := f.page.fragments(5, 1)
	if f.page.renders() != 1 || again["alerts"] != first["alerts"] {
		t.Fatalf("the same update rendered %d times", f.page.renders())
	}
	v := hostileView()
	v.Counts["down"] = 7
	f.engine.set(v)
	next, _ := f.page.fragments(6, 1)
	if f.page.renders() != 2 || next["summary"] == first["summary"] || next["alerts"] != first["alerts"] {
		t.Errorf("new update: %d renders; summary changed: %v; unchanged alerts kept: %v",
			f.page.renders(), next["summary"] != first["summary"], next["alerts"] == first["alerts"])
	}

	// Streams: 8 clients, each first update is the same, and bounded.
	const clients = 8
	before := f.page.renders()
	_, genBefore := f.page.updates.wait()
	firsts := make([]string, clients)
	var wg sync.WaitGroup
	for i := range clients {
		resp, err := http.Get(f.srv.URL + "/events")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 4<<20), 4<<20)
			for sc.Scan() {
				if strings.HasPrefix(sc.Text(), "data: ") {
					firsts[i] = sc.Text()
					return
				}
			}
		}()
	}
	wg.Wait()
	for i := range firsts {
		if firsts[i] == "" || firsts[i] != firsts[0] {
			t.Fatalf("client %d got a different first update (%d bytes, client 0: %d)", i, len(firsts[i]), len(firsts[0]))
		}
	}
	if len(firsts[0]) > 400<<10 {
		t.Errorf("first update of %d bytes", len(firsts[0]))
	}
	_, genAfter := f.page.updates.wait()
	if renders := f.page.renders() - before; renders > int(genAfter-genBefore)+1 {
		t.Errorf("%d clients: %d renderings for %d updates", clients, renders, genAfter-genBefore)
	}
	t.Logf("first update: %d bytes", len(firsts[0]))
}
