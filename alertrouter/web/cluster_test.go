package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/checkstate"
	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
	"github.com/vigie-monitoring/vigie/alertrouter/history"
	"github.com/vigie-monitoring/vigie/alertrouter/internal/clock"
	"github.com/vigie-monitoring/vigie/alertrouter/targets"
)

// gathered is a member's history whose lists, groups, check histories
// and status are the cluster's (what the router gives the pages in a
// cluster).
type gathered struct {
	*history.History
	g *history.Gather
}

func (c gathered) GroupsCluster(label string, f history.Filter) ([]history.Group, int, []string) {
	return c.g.Groups(context.Background(), label, f)
}

func (c gathered) Detail(id string, now time.Time) (*history.Detail, error) {
	return c.g.Detail(context.Background(), id, now)
}

func (c gathered) GroupsStatus(label string, values []string, days int, now time.Time) (history.Status, error) {
	return c.g.GroupsStatus(context.Background(), label, values, days, now)
}

// clusterPair: member a probes one check of group shop (up), member b
// two (one down); member "r3" does not answer. It returns a's view of
// the cluster and how many requests b served.
func clusterPair(t *testing.T) (gathered, *clock.Fake, *atomic.Int64) {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC))
	open := func() *history.History {
		h, err := history.Open(history.Options{Path: t.TempDir(), Clock: clk})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = h.Close() })
		return h
	}
	a, b := open(), open()
	ta := targets.New("https://a.example", "http_2xx", map[string]string{"group": "shop"})
	tb1 := targets.New("https://b1.example", "http_2xx", map[string]string{"group": "shop", "name": "Checkout"})
	tb2 := targets.New("https://b2.example", "http_2xx", map[string]string{"group": "shop"})
	var st checkstate.Status
	for range 4 {
		before := st
		tr := st.Observe(false, "HTTP status 503", clk.Now(), 2, 1)
		a.Probed(ta, exporter.Result{Success: true}, checkstate.Change{}, clk.Now())
		b.Probed(tb1, exporter.Result{Reason: "HTTP status 503"}, checkstate.Change{Before: before, Transition: tr}, clk.Now())
		b.Probed(tb2, exporter.Result{Success: true}, checkstate.Change{}, clk.Now())
		clk.Advance(time.Minute)
	}
	for _, h := range []*history.History{a, b} {
		if err := h.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	var asked atomic.Int64
	mux := http.NewServeMux()
	b.RegisterAPI(mux, history.APIOptions{Now: clk.Now})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	peers := []history.Peer{{Name: "r2", URL: srv.URL}, {Name: "r3", URL: dead.URL}}
	return gathered{History: a, g: &history.Gather{Local: a, Peers: func() []history.Peer { return peers }}}, clk, &asked
}

// TestClusterPages: on one member, the grouped view counts the whole
// cluster's checks and rounds, a check another member probes has its
// history there, and the members that did not answer are named.
func TestClusterPages(t *testing.T) {
	h, clk, _ := clusterPair(t)
	p := New(Options{Pipeline: &fakePipeline{view: baseView()}, Version: "test", History: h, Clock: clk})
	mux := http.NewServeMux()
	p.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	code, body := get(t, srv.URL+"/groups?by=group")
	// 3 checks, 1 down, 8 successful rounds of 12.
	for _, want := range []string{`data-group="shop"`, `<td class="num">3</td>`, `<span class="state down">1</span>`, `66.66 %`, `id="groups-unanswered"`, "r3"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/groups: %d, missing %q", code, want)
		}
	}
	code, body = get(t, srv.URL+"/checks/"+url.PathEscape(targets.ID("https://b1.example", "http_2xx")))
	for _, want := range []string{"https://b1.example", `id="check-state">down`, `<td><time datetime="2026-11-20T10:00:00Z">`, `id="check-unanswered"`} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("the page of a check another member probes: %d, missing %q", code, want)
		}
	}
}

// TestPublicPageOfACluster: the public page shows the whole cluster's
// groups (counts, availability, incidents), asks the other members at
// most once per cached rendering whatever the visitors, and says that
// part is missing without naming the member.
func TestPublicPageOfACluster(t *testing.T) {
	h, clk, asked := clusterPair(t)
	p := NewPublic(PublicOptions{History: h, Groups: []string{"shop"}, Now: clk.Now})
	srv := httptest.NewServer(p)
	defer srv.Close()
	for range 5 {
		code, body := get(t, srv.URL+"/")
		for _, want := range []string{"1 check down", "3 checks", `<b class="poor">66.66 %</b>`, "<code>Checkout</code> <span class=\"down\">down</span> since", `id="partial"`} {
			if code != 200 || !strings.Contains(body, want) {
				t.Fatalf("missing %q:\n%s", want, body)
			}
		}
		if strings.Contains(body, "r3") || strings.Contains(body, "r2") {
			t.Error("the public page names members")
		}
	}
	if n := asked.Load(); n != 1 {
		t.Errorf("5 visits asked the other member %d times, want 1 (the cached rendering)", n)
	}
	clk.Advance(publicCacheFor + time.Second)
	get(t, srv.URL+"/")
	if n := asked.Load(); n != 2 {
		t.Errorf("a visit after the cache expired: %d requests in all, want 2", n)
	}
}
