package history

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigie-monitoring/vigie/alertrouter/checkstate"
	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
	"github.com/vigie-monitoring/vigie/alertrouter/internal/clock"
	"github.com/vigie-monitoring/vigie/alertrouter/targets"
)

func roundsIn(d *Detail, res Resolution) (rounds, ok uint32) {
	for _, b := range d.Buckets[res] {
		rounds += b.Rounds
		ok += b.Successes
	}
	return rounds, ok
}

// TestForgetKeepsRows: a check another cluster member now probes leaves
// this member's lists at once, but its record stays (what waited for the
// flush included) for its history, across a restart; a new check takes
// a free record first, then a kept one, and only then the record of a
// check this member probes; a check that comes back continues its rows;
// a check removed from discovery frees its kept record.
func TestForgetKeepsRows(t *testing.T) {
	f := newFixture(t, "")
	for _, tg := range []string{"https://x1.example", "https://x2.example", "https://x3.example"} {
		f.probe(tg, true, 0)
	}
	f.flush()
	f.probe("https://x2.example", false, 0) // not flushed yet
	slot := f.h.checks[id("https://x2.example")].slot
	f.h.Forget(id("https://x2.example"))
	if _, ok := f.h.Get(id("https://x2.example")); ok {
		t.Error("a forgotten check is still listed")
	}
	if _, total := f.h.List(Filter{}, 0, 10); total != 2 {
		t.Errorf("%d checks listed, want 2", total)
	}
	if gs := f.h.Groups("group", Filter{}); len(gs) != 1 || gs[0].Checks != 2 {
		t.Errorf("groups: %+v", gs)
	}
	f.flush()
	d, err := f.h.Detail(id("https://x2.example"), f.clk.Now())
	if r, ok := roundsIn(d, FiveMinutes); err != nil || !d.Kept || r != 2 || ok != 1 || d.Target != "https://x2.example" {
		t.Fatalf("the kept history of a forgotten check: %+v (%v)", d, err)
	}
	const keptMetric = `# HELP vigie_router_history_kept_checks Checks another router cluster member probes now whose history rows this member keeps for the cluster's view of their history.
# TYPE vigie_router_history_kept_checks gauge
vigie_router_history_kept_checks 1
`
	if err := testutil.CollectAndCompare(f.h.Collector(), strings.NewReader(keptMetric), "vigie_router_history_kept_checks"); err != nil {
		t.Error(err)
	}
	f.probe("https://x4.example", true, 0)
	if got := f.h.checks[id("https://x4.example")].slot; got == slot {
		t.Errorf("a new check took the kept record %d while others were free", got)
	}
	f.flush()

	// Kept across a restart, without an entry.
	f.restart()
	if _, ok := f.h.checks[id("https://x2.example")]; ok || len(f.h.kept) != 1 {
		t.Fatalf("after a restart: entry %v, %d kept", ok, len(f.h.kept))
	}
	d, err = f.h.Detail(id("https://x2.example"), f.clk.Now())
	if r, _ := roundsIn(d, FiveMinutes); err != nil || !d.Kept || r != 2 {
		t.Fatalf("after a restart: %+v (%v)", d, err)
	}

	// Back to this member: the same record, its rows continue.
	f.probe("https://x2.example", true, 0)
	f.flush()
	if got := f.h.checks[id("https://x2.example")].slot; got != slot {
		t.Errorf("a check that came back got record %d, want its own %d", got, slot)
	}
	d, err = f.h.Detail(id("https://x2.example"), f.clk.Now())
	if r, _ := roundsIn(d, FiveMinutes); err != nil || d.Kept || r != 3 {
		t.Errorf("a check that came back: %+v (%v), want 3 rounds", d, err)
	}

	// Removed from discovery while another member probes it: the kept
	// record is free again (and cleared for the next check).
	f.h.Forget(id("https://x3.example"))
	f.h.Removed(id("https://x3.example"), f.clk.Now())
	if _, err := f.h.Detail(id("https://x3.example"), f.clk.Now()); err != ErrUnknownCheck || len(f.h.kept) != 0 {
		t.Errorf("a removed kept check: %v, %d kept", err, len(f.h.kept))
	}
	f.flush()
	f.restart()
	if len(f.h.kept) != 0 {
		t.Errorf("a freed record is kept again after a restart")
	}
}

// TestKeptRecordsGoBeforeOwnChecks: when every record is taken, a new
// check takes a record kept for a check another member probes before
// the record of any check this member probes.
func TestKeptRecordsGoBeforeOwnChecks(t *testing.T) {
	clk := clock.NewFake(t0)
	h, err := Open(Options{Path: t.TempDir(), Clock: clk, MaxChecks: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	probe := func(target string) {
		h.Probed(targets.New(target, "http_2xx", nil), exporter.Result{Success: true}, checkstate.Change{}, clk.Now())
		clk.Advance(time.Second)
	}
	for _, tg := range []string{"https://a.example", "https://b.example", "https://c.example"} {
		probe(tg)
	}
	if err := h.Flush(); err != nil {
		t.Fatal(err)
	}
	h.Forget(id("https://c.example"))
	if len(h.kept) != 1 {
		t.Fatalf("%d records kept, want c's", len(h.kept))
	}
	probe("https://d.example") // the kept record of c, not a's (probed least recently)
	for _, tg := range []string{"https://a.example", "https://b.example", "https://d.example"} {
		if _, ok := h.Get(id(tg)); !ok {
			t.Errorf("%s lost its record", tg)
		}
	}
	if _, err := h.Detail(id("https://c.example"), clk.Now()); err != ErrUnknownCheck || len(h.kept) != 0 {
		t.Errorf("the kept record was not given up: %v, %d kept", err, len(h.kept))
	}
	probe("https://e.example") // now the check probed least recently: a
	if _, ok := h.Get(id("https://a.example")); ok {
		t.Error("a full history did not give up the record of the check probed least recently")
	}
}

// TestKeptRecordsAreSmall: a member that probed every check of the
// cluster for a moment (at its start, before it knew the membership)
// and then forgot them keeps no entry for them: at most 64 bytes of heap
// per kept record (its id's hash and slot), and its map of entries
// shrinks back.
func TestKeptRecordsAreSmall(t *testing.T) {
	const n = 20_000
	clk := clock.NewFake(t0)
	h, err := Open(Options{Path: t.TempDir(), Clock: clk, MaxChecks: n})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	base := heap()
	ids := make([]string, 0, n)
	for i := range n {
		tg := targets.New(fmt.Sprintf("https://host-%06d.example.org/health", i), "http_2xx", map[string]string{"group": "g"})
		h.Probed(tg, exporter.Result{Success: true}, checkstate.Change{}, clk.Now())
		ids = append(ids, tg.ID)
	}
	if err := h.Flush(); err != nil {
		t.Fatal(err)
	}
	owned := heap()
	for _, id := range ids {
		h.Forget(id)
	}
	if err := h.Flush(); err != nil {
		t.Fatal(err)
	}
	kept := heap()
	per := (float64(kept) - float64(base)) / n
	t.Logf("heap per check: %.0f B probed here, %.0f B kept for another member", (float64(owned)-float64(base))/n, per)
	if len(h.kept) != n || len(h.checks) != 0 {
		t.Fatalf("%d kept, %d entries", len(h.kept), len(h.checks))
	}
	if per > 64 {
		t.Errorf("%.0f bytes of heap per kept record, want at most 64", per)
	}
	runtime.KeepAlive(h)
}

// pair is two members' histories, each serving its API.
type pair struct {
	a, b   *fixture
	urlA   string
	urlB   string
	ga, gb *Gather
}

func newPair(t *testing.T, dead string) *pair {
	p := &pair{a: newFixture(t, ""), b: newFixture(t, "")}
	p.b.clk = p.a.clk
	p.b.restart() // on a's clock
	serve := func(f *fixture) string {
		mux := http.NewServeMux()
		f.h.RegisterAPI(mux, APIOptions{Now: f.clk.Now})
		s := httptest.NewServer(mux)
		t.Cleanup(s.Close)
		return s.URL
	}
	p.urlA, p.urlB = serve(p.a), serve(p.b)
	p.ga = &Gather{Local: p.a.h, Peers: func() []Peer { return []Peer{{"b", p.urlB}, {"c", dead}} }}
	p.gb = &Gather{Local: p.b.h, Peers: func() []Peer { return []Peer{{"a", p.urlA}, {"c", dead}} }}
	return p
}

func deadURL(t *testing.T) string {
	s := httptest.NewServer(http.NotFoundHandler())
	s.Close()
	return s.URL
}

// TestHistoryAcrossAMove: a check probed by member a, DOWN there, moves
// to member b (a forgets it), which continues its incident from the
// state record and sees it come back up. Its history asked of either
// member (and through the API) has a's rounds and b's, bucket by
// bucket, and one incident from a's start to b's end; a member that
// does not answer is named.
func TestHistoryAcrossAMove(t *testing.T) {
	p := newPair(t, deadURL(t))
	const tg = "https://moves.example"
	for i := range 6 { // 2 up, then 4 down: DOWN at the 4th
		p.a.probe(tg, i < 2, 10*time.Millisecond)
		p.a.clk.Advance(time.Minute)
	}
	p.a.flush()
	start := p.a.checks[tg].Since
	p.a.h.Forget(id(tg))
	// b continues from a's state record.
	p.b.checks[tg] = p.a.checks[tg]
	for i := range 3 { // 1 down, then 2 up: UP at the first success
		p.b.probe(tg, i > 0, 20*time.Millisecond)
		p.a.clk.Advance(time.Minute)
	}
	p.b.flush()
	end := p.a.clk.Now().Add(-2 * time.Minute)
	for name, g := range map[string]*Gather{"a": p.ga, "b": p.gb} {
		d, err := g.Detail(context.Background(), id(tg), p.a.clk.Now())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r, ok := roundsIn(d, FiveMinutes); r != 9 || ok != 4 {
			t.Errorf("%s: %d rounds, %d up in the 5-minute buckets, want 9 and 4", name, r, ok)
		}
		if r, ok := roundsIn(d, Day); r != 9 || ok != 4 || len(d.Buckets[Day]) != 1 {
			t.Errorf("%s: days %+v, want one day of 9 rounds", name, d.Buckets[Day])
		}
		if len(d.Incidents) != 1 || !d.Incidents[0].Start.Equal(start) || !d.Incidents[0].End.Equal(end) {
			t.Errorf("%s: incidents %+v, want one from %s to %s", name, d.Incidents, start, end)
		}
		if d.Kept || d.State != "up" || !slices.Equal(d.Unanswered, []string{"c"}) {
			t.Errorf("%s: check %+v kept %v, unanswered %v", name, d.Check, d.Kept, d.Unanswered)
		}
	}
	// Through a's API.
	mux := http.NewServeMux()
	p.a.h.RegisterAPI(mux, APIOptions{Gather: p.ga, Now: p.a.clk.Now})
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/checks/"+url.PathEscape(id(tg))+"/history", nil))
	var j historyJSON
	if err := json.NewDecoder(rec.Body).Decode(&j); err != nil || len(j.Incidents) != 1 || j.Check.State != "up" || len(j.Buckets["5m"]) == 0 {
		t.Errorf("API: %d %+v (%v)", rec.Code, j, err)
	}
	// Asked for its own part, a answers its kept rows.
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/checks/"+url.PathEscape(id(tg))+"/history?scope=member", nil))
	j = historyJSON{}
	if err := json.NewDecoder(rec.Body).Decode(&j); err != nil || !j.Kept || len(j.Incidents) != 1 || !j.Incidents[0].End.IsZero() {
		t.Errorf("scope=member: %d %+v (%v)", rec.Code, j, err)
	}
}

// TestGroupsAndStatusOfTheCluster: the groups and the public page's
// status are the members' added up: counts, window sums, days and DOWN
// checks; a member that does not answer is named; the API bounds what a
// client asks.
func TestGroupsAndStatusOfTheCluster(t *testing.T) {
	p := newPair(t, deadURL(t))
	for i := range 4 {
		p.a.probe("https://a1.example", true, 0)
		p.a.probe("https://api.example", i%2 == 0, 0)
		p.b.probe("https://b1.example", false, 0)
		p.b.probe("https://b2.example", true, 0)
		p.a.clk.Advance(time.Minute)
	}
	p.a.flush()
	p.b.flush()
	for name, g := range map[string]*Gather{"a": p.ga, "b": p.gb} {
		gs, omitted, unanswered := g.Groups(context.Background(), "group", Filter{})
		if len(gs) != 2 || omitted != 0 || !slices.Equal(unanswered, []string{"c"}) {
			t.Fatalf("%s: groups %+v omitted %d unanswered %v", name, gs, omitted, unanswered)
		}
		api, shop := gs[0], gs[1]
		if api.Value != "api" || api.Checks != 1 || api.Rounds[0] != 4 || api.Successes[0] != 2 {
			t.Errorf("%s: api %+v", name, api)
		}
		if shop.Value != "shop" || shop.Checks != 3 || shop.Up != 2 || shop.Down != 1 || shop.Rounds[2] != 12 || shop.Successes[2] != 8 || !near(shop.Availability[1], 8.0/12) {
			t.Errorf("%s: shop %+v", name, shop)
		}
		st, err := g.GroupsStatus(context.Background(), "group", []string{"shop", "none"}, 3, p.a.clk.Now())
		if err != nil || len(st.Groups) != 2 || !slices.Equal(st.Unanswered, []string{"c"}) {
			t.Fatalf("%s: status %+v (%v)", name, st, err)
		}
		s := st.Groups[0]
		if s.Checks != 3 || s.Down != 1 || len(s.Days) != 3 || s.Days[2].Rounds != 12 || s.Days[2].Successes != 8 || s.Days[1].Rounds != 0 ||
			len(s.DownChecks) != 1 || s.DownChecks[0].Target != "https://b1.example" || !s.DownChecks[0].Since.Equal(t0) || s.DownChecks[0].Reason != "connection refused" {
			t.Errorf("%s: shop's status %+v", name, s)
		}
		if n := st.Groups[1]; n.Value != "none" || n.Checks != 0 || n.Days[2].Availability != -1 {
			t.Errorf("%s: an empty group's status %+v", name, n)
		}
	}

	mux := http.NewServeMux()
	p.a.h.RegisterAPI(mux, APIOptions{Gather: p.ga, Now: p.a.clk.Now})
	get := func(path string, into any) int {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if into != nil && rec.Code == http.StatusOK {
			if err := json.NewDecoder(rec.Body).Decode(into); err != nil {
				t.Errorf("%s: %v", path, err)
			}
		}
		return rec.Code
	}
	var gj groupsJSON
	if code := get("/api/v1/groups?by=group", &gj); code != http.StatusOK || len(gj.Groups) != 2 || gj.Groups[1].Checks != 3 || *gj.Groups[1].Availability["24h"] != 8.0/12 || !slices.Equal(gj.Unanswered, []string{"c"}) {
		t.Errorf("/api/v1/groups: %d %+v", code, gj)
	}
	gj = groupsJSON{}
	if code := get("/api/v1/groups?by=group&scope=member", &gj); code != http.StatusOK || len(gj.Groups) != 2 || gj.Groups[1].Checks != 1 || gj.Unanswered != nil {
		t.Errorf("/api/v1/groups?scope=member: %d %+v", code, gj)
	}
	var sj statusJSON
	if code := get("/api/v1/groups/status?by=group&value=shop&days=2", &sj); code != http.StatusOK || len(sj.Groups) != 1 || sj.Groups[0].Checks != 3 || len(sj.Groups[0].Days) != 2 || len(sj.Groups[0].DownChecks) != 1 {
		t.Errorf("/api/v1/groups/status: %d %+v", code, sj)
	}
	many := url.Values{"value": make([]string, MaxStatusValues+1)}
	for path, want := range map[string]int{
		"/api/v1/groups?scope=all":                                http.StatusBadRequest,
		"/api/v1/groups?by=" + strings.Repeat("x", 300):           http.StatusBadRequest,
		"/api/v1/groups/status?by=group":                          http.StatusBadRequest, // no value
		"/api/v1/groups/status?" + many.Encode():                  http.StatusBadRequest,
		"/api/v1/groups/status?value=shop&days=0":                 http.StatusBadRequest,
		"/api/v1/groups/status?value=shop&days=32":                http.StatusBadRequest,
		"/api/v1/groups/status?value=shop&days=31":                http.StatusOK,
		"/api/v1/checks/x/history?scope=all":                      http.StatusBadRequest,
		"/api/v1/groups/status?value=" + strings.Repeat("x", 257): http.StatusBadRequest,
	} {
		if code := get(path, nil); code != want {
			t.Errorf("%.80s: %d, want %d", path, code, want)
		}
	}
}

// TestGatherBoundsAnswers: a member whose answer is beyond the bounds
// (more groups than MaxGroups, a status of too many days) is named as
// not answering, and its answer is not used.
func TestGatherBoundsAnswers(t *testing.T) {
	f := newFixture(t, "")
	f.probe("https://a1.example", true, 0)
	liar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/groups":
			out := groupsJSON{Label: "group"}
			for i := range MaxGroups + 1 {
				out.Groups = append(out.Groups, groupJSON{Value: fmt.Sprint(i), Checks: 1})
			}
			writeJSON(w, http.StatusOK, out)
		case "/api/v1/groups/status":
			writeJSON(w, http.StatusOK, statusJSON{Label: "group", Groups: []groupStatusJSON{{groupJSON: groupJSON{Value: "shop", Checks: 5}, Days: make([]Bucket, MaxStatusDays+1)}}})
		default:
			http.NotFound(w, r)
		}
	}))
	defer liar.Close()
	g := &Gather{Local: f.h, Peers: func() []Peer { return []Peer{{"liar", liar.URL}} }}
	gs, _, unanswered := g.Groups(context.Background(), "group", Filter{})
	if len(gs) != 1 || gs[0].Checks != 1 || !slices.Equal(unanswered, []string{"liar"}) {
		t.Errorf("groups: %+v, unanswered %v", gs, unanswered)
	}
	st, err := g.GroupsStatus(context.Background(), "group", []string{"shop"}, 3, f.clk.Now())
	if err != nil || st.Groups[0].Checks != 1 || !slices.Equal(st.Unanswered, []string{"liar"}) {
		t.Errorf("status: %+v (%v)", st, err)
	}
}

// TestStartUpMomentKeepsNothing: a member probes every check of the
// cluster once in the moment at its start (before it knows the
// membership) and forgets most of them before its first flush: it keeps
// nothing of them, neither entry nor record, and their records are free
// again. A check it probed more than once, or saw DOWN, in that time is
// kept.
func TestStartUpMomentKeepsNothing(t *testing.T) {
	clk := clock.NewFake(t0)
	dir := t.TempDir()
	h, err := Open(Options{Path: dir, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for i := range 100 {
		h.Probed(targets.New(fmt.Sprintf("https://h%03d.example", i), "http_2xx", nil), exporter.Result{Success: true}, checkstate.Change{}, clk.Now())
	}
	twice := targets.New("https://twice.example", "http_2xx", nil)
	down := targets.New("https://down.example", "http_2xx", nil)
	h.Probed(twice, exporter.Result{Success: true}, checkstate.Change{}, clk.Now())
	h.Probed(twice, exporter.Result{Success: true}, checkstate.Change{}, clk.Now())
	h.Probed(down, exporter.Result{}, checkstate.Change{Transition: checkstate.WentDown}, clk.Now())
	for i := range 100 {
		if i%2 == 1 {
			h.Forget(id(fmt.Sprintf("https://h%03d.example", i)))
		}
	}
	h.Forget(twice.ID)
	h.Forget(down.ID)
	if err := h.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(h.kept) != 2 || len(h.checks) != 50 || len(h.free) != 50 {
		t.Fatalf("%d kept, %d entries, %d free records", len(h.kept), len(h.checks), len(h.free))
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	h, err = Open(Options{Path: dir, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if len(h.kept) != 2 || len(h.checks) != 50 {
		t.Errorf("after a restart: %d kept, %d entries", len(h.kept), len(h.checks))
	}
	if d, err := h.Detail(down.ID, clk.Now()); err != nil || !d.Kept || len(d.Incidents) != 1 {
		t.Errorf("the check seen DOWN: %+v (%v)", d, err)
	}
}

// TestForgetShrinksChecks: a member holds every check until it knows the
// membership, then forgets the share another member probes (about half
// in a pair): the map of its entries is made again, sized for what is
// left, once it holds less than 3/4 of the most it held.
func TestForgetShrinksChecks(t *testing.T) {
	f := newFixture(t, "")
	const n = 1000
	for i := range n {
		f.probe(fmt.Sprintf("https://h%04d.example", i), true, 0)
	}
	f.flush()
	for i := range n * 45 / 100 {
		f.h.Forget(id(fmt.Sprintf("https://h%04d.example", i)))
	}
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	if left := len(f.h.checks); left != n-n*45/100 {
		t.Fatalf("%d entries left, want %d", left, n-n*45/100)
	}
	if f.h.grown >= n {
		t.Errorf("the entries' map still counts the %d it grew to after 45%% were forgotten: it was not made again", f.h.grown)
	}
}
