package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/cluster"
	"github.com/vigie-monitoring/vigie/alertrouter/notify/telegram/telegramtest"
	"github.com/vigie-monitoring/vigie/internal/testenv"
)

// clusterExporters are fake exporters serving the same /sd, one per
// router: the probes each receives are the probes of one router, which
// proves who probes what.
type clusterExporters struct {
	srvs    []*httptest.Server
	targets []string

	mu     sync.Mutex
	down   map[string]bool
	probes []map[string]int // per exporter, per target
}

func newClusterExporters(t *testing.T, n int, targets []string) *clusterExporters {
	t.Helper()
	return newLabelledExporters(t, n, targets, "")
}

// newLabelledExporters is newClusterExporters with every target's
// labels as JSON members after "module" (e.g. `"group":"shop"`).
func newLabelledExporters(t *testing.T, n int, targets []string, labels string) *clusterExporters {
	t.Helper()
	x := &clusterExporters{targets: targets, down: map[string]bool{}}
	if labels != "" {
		labels = "," + labels
	}
	var groups []string
	for _, tg := range targets {
		groups = append(groups, fmt.Sprintf(`{"targets":[%q],"labels":{"module":"http_2xx"%s}}`, tg, labels))
	}
	sd := "[" + strings.Join(groups, ",") + "]"
	for i := 0; i < n; i++ {
		x.probes = append(x.probes, map[string]int{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			switch r.URL.Path {
			case "/sd":
				_, _ = io.WriteString(w, sd)
			case "/probe":
				target := r.URL.Query().Get("target")
				x.mu.Lock()
				x.probes[i][target]++
				down := x.down[target]
				x.mu.Unlock()
				if down {
					_, _ = io.WriteString(w, `{"success":false,"reason":"HTTP status 503 not in 2xx"}`)
				} else {
					_, _ = io.WriteString(w, `{"success":true}`)
				}
			default:
				http.NotFound(w, r)
			}
		}))
		t.Cleanup(srv.Close)
		x.srvs = append(x.srvs, srv)
	}
	return x
}

func (x *clusterExporters) setDown(down bool, targets ...string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, tg := range targets {
		x.down[tg] = down
	}
}

// counts returns the probes so far, per exporter and target.
func (x *clusterExporters) counts() []map[string]int {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make([]map[string]int, len(x.probes))
	for i, m := range x.probes {
		out[i] = map[string]int{}
		for k, v := range m {
			out[i][k] = v
		}
	}
	return out
}

// waitRounds waits until every target was probed n more times in all.
func (x *clusterExporters) waitRounds(t *testing.T, n int) {
	t.Helper()
	total := func() map[string]int {
		out := map[string]int{}
		for _, m := range x.counts() {
			for k, v := range m {
				out[k] += v
			}
		}
		return out
	}
	start := total()
	deadline := time.Now().Add(90 * time.Second)
	for {
		now, ok := total(), true
		for _, tg := range x.targets {
			if now[tg] < start[tg]+n {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("targets not probed %d more times: %v -> %v", n, start, now)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type clusterRouter struct {
	name string
	p    *process
	url  string
}

const clusterRouterConfig = `
exporter:
  url: %s
  sd_refresh_interval: 1s
` + fastChecks + `rules:
  - failures: 2
    successes: 2
    receivers: [oncall]
` + oncallReceiver + clusterBlock

// oncallReceiver is the members' receiver: the fake Telegram's URL and
// the bot token file are its two verbs.
const oncallReceiver = `receivers:
  - name: oncall
    telegram_configs:
      - api_url: %s
        bot_token_file: %s
        chat_id: 4242
`

// clusterBlock is a member's cluster block: its name, the Consul agent's
// address and the key prefix of the test's cluster.
const clusterBlock = `cluster:
  name: %s
  consul:
    address: %s
    key_prefix: %s
`

func startClusterRouter(t *testing.T, name, exporter, tgURL, tokenFile, consul, storage string) *clusterRouter {
	t.Helper()
	return startMember(t, name, fmt.Sprintf(clusterRouterConfig, exporter, tgURL, tokenFile, name, consul, "vigie-test/router"), storage)
}

// startPair starts members r1 and r2, config giving each its
// configuration text, and waits until both see the cluster and the
// checks (checks of them) are split between them.
func startPair(t *testing.T, targets []string, config func(i int, name string) string) []*clusterRouter {
	t.Helper()
	var rs []*clusterRouter
	for i, name := range []string{"r1", "r2"} {
		rs = append(rs, startMember(t, name, config(i, name), t.TempDir()))
	}
	for _, r := range rs {
		waitCond(t, r.name+" to see r1, r2", seesCluster(t, r, "r1", "r2"))
	}
	// Each member probes its share (a member counts the checks it
	// probes: the one that started first, alone, probed them all until
	// it saw the other).
	share := map[string]float64{}
	for _, tgt := range targets {
		share[cluster.OwnerOf([]string{"r1", "r2"}, "http_2xx "+tgt)]++
	}
	waitCond(t, "the checks to be split", func() bool {
		for _, r := range rs {
			if metric(t, r.url, "vigie_router_cluster_members") != 2 || metric(t, r.url, "vigie_router_checks_owned") != share[r.name] {
				return false
			}
		}
		return true
	})
	return rs
}

// startMember starts a router named name on the configuration text.
func startMember(t *testing.T, name, config, storage string) *clusterRouter {
	t.Helper()
	p, url := startRouter(t, writeConfig(t, config), storage)
	return &clusterRouter{name: name, p: p, url: url}
}

type statusAnswer struct {
	Cluster struct {
		Name   string `json:"name"`
		Status string `json:"status"`
		Peers  []struct {
			Name    string `json:"name"`
			Address string `json:"address"`
		} `json:"peers"`
	} `json:"cluster"`
}

func clusterStatus(t *testing.T, base string) statusAnswer {
	t.Helper()
	var st statusAnswer
	resp, err := http.Get(base + "/api/v2/status")
	if err != nil {
		return st
	}
	defer resp.Body.Close()
	_ = json.NewDecoder(resp.Body).Decode(&st)
	return st
}

func waitCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// seesCluster: the router reports ready with exactly these peers.
func seesCluster(t *testing.T, r *clusterRouter, names ...string) func() bool {
	return func() bool {
		st := clusterStatus(t, r.url)
		if st.Cluster.Status != "ready" || st.Cluster.Name != r.name || len(st.Cluster.Peers) != len(names) {
			return false
		}
		for i, p := range st.Cluster.Peers {
			if p.Name != names[i] || p.Address == "" {
				return false
			}
		}
		return true
	}
}

// owned sums vigie_router_checks_owned over routers, when every one of
// them sees want members.
func ownedSum(t *testing.T, want int, rs ...*clusterRouter) (int, bool) {
	t.Helper()
	sum := 0
	for _, r := range rs {
		if metric(t, r.url, "vigie_router_cluster_members") != float64(want) {
			return 0, false
		}
		sum += int(metric(t, r.url, "vigie_router_checks_owned"))
	}
	return sum, true
}

// tally counts the fake Telegram's messages by kind and target.
// oneDownEach: the messages are one DOWN per target and nothing else.
func oneDownEach(t *testing.T, ms []telegramtest.Message, targets []string) {
	t.Helper()
	down, up, other := tally(ms, targets)
	for _, tgt := range targets {
		if down[tgt] != 1 {
			t.Errorf("%s: %d DOWN messages, want 1", tgt, down[tgt])
		}
	}
	if len(up) > 0 || len(other) > 0 {
		t.Errorf("unexpected messages: up %v, other %q", up, other)
	}
}

func tally(ms []telegramtest.Message, targets []string) (down, up map[string]int, other []string) {
	down, up = map[string]int{}, map[string]int{}
	for _, m := range ms {
		matched := false
		for _, tg := range targets {
			if !strings.Contains(m.PlainText, tg+"\n") && !strings.Contains(m.PlainText, tg+" ") && !strings.HasSuffix(m.PlainText, tg) {
				continue
			}
			matched = true
			switch {
			case strings.Contains(m.PlainText, "DOWN"):
				down[tg]++
			case strings.Contains(m.PlainText, "UP"):
				up[tg]++
			default:
				other = append(other, m.PlainText)
			}
		}
		if !matched {
			other = append(other, m.PlainText)
		}
	}
	return down, up, other
}

// TestClusterEndToEnd runs three real routers as a cluster on a real
// Consul agent, each probing through its own fake exporter (same targets)
// and announcing to one fake Telegram: the cluster forms, each check is
// probed by exactly one router, targets down give one DOWN each; the
// owner of some checks is SIGKILLed: its checks move, no DOWN is repeated
// and the recoveries are announced once; a silence made on one member
// mutes on the others; a Prometheus alert posted to every member is one
// message; with Consul frozen for 20 s a new incident is still announced.
func TestClusterEndToEnd(t *testing.T) {
	consul := testenv.StartConsul(t)
	tg, tokenFile := startTelegram(t)
	var targets []string
	for i := 0; i < 12; i++ {
		targets = append(targets, fmt.Sprintf("https://t%02d.example", i))
	}
	x := newClusterExporters(t, 3, targets)
	var rs []*clusterRouter
	for i, name := range []string{"r1", "r2", "r3"} {
		rs = append(rs, startClusterRouter(t, name, x.srvs[i].URL, tg.URL, tokenFile, consul.Addr, t.TempDir()))
	}

	// The cluster forms.
	for _, r := range rs {
		waitCond(t, r.name+" to see r1, r2, r3", seesCluster(t, r, "r1", "r2", "r3"))
	}
	waitCond(t, "the checks to be split", func() bool { n, ok := ownedSum(t, 3, rs...); return ok && n == len(targets) })
	// The status page of any member shows the members and their shares.
	code, page := getBody(t, rs[1].url+"/")
	if code != http.StatusOK || !strings.Contains(page, `id="cluster"`) || !strings.Contains(page, "r2 (this router)") ||
		!strings.Contains(page, `data-member="r1"`) || !strings.Contains(page, `data-member="r3"`) {
		t.Errorf("the status page does not show the cluster:\n%s", page)
	}

	// Probe counts prove the split: from now on each target is probed
	// through one exporter, that is by one router.
	before := x.counts()
	x.waitRounds(t, 3)
	after := x.counts()
	owner := map[string]int{}
	perRouter := make([]int, len(rs))
	for _, tgt := range targets {
		owner[tgt] = -1
		for i := range rs {
			if after[i][tgt] > before[i][tgt] {
				if owner[tgt] >= 0 {
					t.Errorf("%s probed by %s and %s", tgt, rs[owner[tgt]].name, rs[i].name)
				}
				owner[tgt] = i
				perRouter[i]++
			}
		}
	}
	t.Logf("checks probed per router: %v", perRouter)
	if t.Failed() {
		t.FailNow()
	}

	// Every target down: one DOWN each.
	x.setDown(true, targets...)
	waitCond(t, "a DOWN per target", func() bool {
		down, _, _ := tally(tg.Messages(), targets)
		return len(down) == len(targets)
	})
	x.waitRounds(t, 3)
	oneDownEach(t, tg.Messages(), targets)
	// Every member shows the cluster's checks, not only its own: the
	// same counts, the same DOWN checks since the same times.
	sameView(t, rs, len(targets), targets...)
	writes := 0.0
	for _, r := range rs {
		writes += metric(t, r.url, "vigie_router_cluster_check_writes_total")
	}
	t.Logf("check records written to Consul so far: %v, for %d checks that went UP then DOWN", writes, len(targets))

	// SIGKILL the owner of the first target.
	victim := owner[targets[0]]
	var moved []string
	for _, tgt := range targets {
		if owner[tgt] == victim {
			moved = append(moved, tgt)
		}
	}
	var alive []*clusterRouter
	var aliveNames []string
	for i, r := range rs {
		if i != victim {
			alive = append(alive, r)
			aliveNames = append(aliveNames, r.name)
		}
	}
	if err := rs[victim].p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = rs[victim].p.cmd.Wait()
	// Half of its checks recover before anyone else probes them: the new
	// owner finds them UP straight away, and must still announce the end
	// of the incidents the dead member announced.
	recovered := moved[:(len(moved)+1)/2]
	x.setDown(false, recovered...)
	t.Logf("killed %s, owner of %v; %v recovered at once", rs[victim].name, moved, recovered)
	for _, r := range alive {
		waitCond(t, r.name+" to see the others without "+rs[victim].name, seesCluster(t, r, aliveNames...))
	}
	waitCond(t, "the dead member's checks to move", func() bool { n, ok := ownedSum(t, 2, alive...); return ok && n == len(targets) })
	// The moved checks still down are probed by the survivors and not
	// announced again; those that recovered meanwhile are announced UP.
	waitCond(t, "the recoveries of the moved checks", func() bool {
		_, up, _ := tally(tg.Messages(), targets)
		for _, tgt := range recovered {
			if up[tgt] == 0 {
				return false
			}
		}
		return true
	})
	x.waitRounds(t, 4)
	down, up, _ := tally(tg.Messages(), targets)
	for _, tgt := range targets {
		if down[tgt] != 1 {
			t.Errorf("after the failover %s has %d DOWN messages, want 1", tgt, down[tgt])
		}
	}
	for _, tgt := range recovered {
		if up[tgt] != 1 {
			t.Errorf("%s recovered during the failover: %d UP messages, want 1", tgt, up[tgt])
		}
	}
	var stillDown []string
	for _, tgt := range targets {
		if !slices.Contains(recovered, tgt) {
			stillDown = append(stillDown, tgt)
		}
	}
	sameView(t, alive, len(targets), stillDown...)

	// Recoveries: one UP each, the moved checks' included.
	x.setDown(false, targets...)
	waitCond(t, "an UP per target", func() bool {
		_, up, _ := tally(tg.Messages(), targets)
		return len(up) == len(targets)
	})
	x.waitRounds(t, 3)
	down, up, other := tally(tg.Messages(), targets)
	for _, tgt := range targets {
		if down[tgt] != 1 || up[tgt] != 1 {
			t.Errorf("%s: %d DOWN and %d UP, want one of each", tgt, down[tgt], up[tgt])
		}
	}
	if len(other) > 0 {
		t.Errorf("unexpected messages: %q", other)
	}
	sameView(t, alive, len(targets))

	// A silence made on one member mutes on the others.
	body := fmt.Sprintf(`{"matchers":[{"name":"instance","value":%q,"isRegex":false,"isEqual":true}],"startsAt":%q,"endsAt":%q,"createdBy":"e2e","comment":"cluster"}`,
		targets[1], time.Now().UTC().Format(time.RFC3339), time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	resp, err := http.Post(alive[0].url+"/api/v2/silences", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		SilenceID string `json:"silenceID"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || created.SilenceID == "" {
		t.Fatalf("creating the silence: %d %+v", resp.StatusCode, created)
	}
	waitCond(t, "the silence on "+alive[1].name, func() bool {
		code, text := getBody(t, alive[1].url+"/api/v2/silence/"+created.SilenceID)
		return code == http.StatusOK && strings.Contains(text, `"active"`)
	})
	// Muted on every member: the silenced target going down tells nobody.
	before2 := len(tg.Messages())
	x.setDown(true, targets[1])
	x.waitRounds(t, 4)
	if n := len(tg.Messages()); n != before2 {
		t.Errorf("a silenced target was announced: %d new messages", n-before2)
	}
	x.setDown(false, targets[1])

	// The same Prometheus alert posted to every member: one message.
	alert := `[{"labels":{"alertname":"ClusterE2E","severity":"page"},"annotations":{"summary":"posted to every member"}}]`
	for _, r := range alive {
		resp, err := http.Post(r.url+"/api/v2/alerts", "application/json", bytes.NewBufferString(alert))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("posting the alert to %s: %d", r.name, resp.StatusCode)
		}
	}
	countAlert := func() int {
		n := 0
		for _, m := range tg.Messages() {
			if strings.Contains(m.PlainText, "ClusterE2E") {
				n++
			}
		}
		return n
	}
	waitCond(t, "the alert's message", func() bool { return countAlert() >= 1 })
	x.waitRounds(t, 3)
	if n := countAlert(); n != 1 {
		t.Errorf("%d messages for one alert posted to %d members, want 1", n, len(alive))
	}

	// Consul frozen for 20 s: a new incident is announced anyway, and the
	// members are ready again afterwards.
	consul.Pause()
	waitCond(t, "the members to notice Consul is gone", func() bool {
		for _, r := range alive {
			if clusterStatus(t, r.url).Cluster.Status == "ready" {
				return false
			}
		}
		return true
	})
	frozen := time.Now()
	x.setDown(true, targets[2])
	waitCond(t, "the DOWN during Consul's outage", func() bool {
		down, _, _ := tally(tg.Messages(), targets)
		return down[targets[2]] >= 2
	})
	if wait := 20*time.Second - time.Since(frozen); wait > 0 {
		time.Sleep(wait) // the outage lasts 20 s, as the issue says
	}
	consul.Resume()
	for _, r := range alive {
		waitCond(t, r.name+" to be ready again", seesCluster(t, r, aliveNames...))
	}
	x.setDown(false, targets[2])
	waitCond(t, "the recovery after Consul's outage", func() bool {
		_, up, _ := tally(tg.Messages(), targets)
		return up[targets[2]] >= 2
	})
	down, up, _ = tally(tg.Messages(), targets)
	t.Logf("after Consul's outage: %d DOWN and %d UP for %s (one of each expected, a duplicate tolerated)", down[targets[2]], up[targets[2]], targets[2])
	if d := down[targets[2]] - 1; d < 1 || d > len(alive) {
		t.Errorf("%d DOWN for the incident during Consul's outage", d)
	}

	if t.Failed() {
		var texts []string
		for _, m := range tg.Messages() {
			texts = append(texts, m.PlainText)
		}
		sort.Strings(texts)
		t.Logf("messages:\n%s", strings.Join(texts, "\n---\n"))
	}
}

// switchableProvider is a proxy in front of the fake Telegram that the test
// turns off (502, as a provider outage) and on.
type switchableProvider struct {
	srv   *httptest.Server
	mu    sync.Mutex
	down  bool
	delay time.Duration // before each answer: a window for kills in the middle of a send
	// cut counts the sends the provider took whose answer never reached
	// the router (it was killed meanwhile): each may be delivered again.
	cut int
}

// cutWriter notices an answer that cannot be written back.
type cutWriter struct {
	http.ResponseWriter
	failed bool
}

func (w *cutWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	if err != nil {
		w.failed = true
	}
	return n, err
}

func (p *switchableProvider) cuts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cut
}

func newSwitchableProvider(t *testing.T, backend string) *switchableProvider {
	t.Helper()
	p := &switchableProvider{}
	target, err := url.Parse(backend)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		down, delay := p.down, p.delay
		p.mu.Unlock()
		time.Sleep(delay)
		if down {
			http.Error(w, `{"ok":false,"error_code":502,"description":"Bad Gateway"}`, http.StatusBadGateway)
			return
		}
		cw := &cutWriter{ResponseWriter: w}
		proxy.ServeHTTP(cw, r)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		// The router's connection is gone once its process is killed:
		// the answer, written into a closed socket, fails now or at the
		// next write; a request whose context ended tells the same.
		if !cw.failed {
			// A killed router's connection ends with its process; the
			// server notices it (and cancels the request) shortly.
			select {
			case <-r.Context().Done():
			case <-time.After(150 * time.Millisecond):
			}
		}
		if cw.failed || r.Context().Err() != nil {
			p.mu.Lock()
			p.cut++
			p.mu.Unlock()
		}
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *switchableProvider) set(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
}

// TestClusterProviderDownKillAllButOne: the provider is down while every
// target goes down, so each member holds the DOWNs of its checks; two of
// the three members are then SIGKILLed. The survivor takes their pending
// notifications over and, once the provider is back, every DOWN is
// delivered exactly once.
func TestClusterProviderDownKillAllButOne(t *testing.T) {
	consul := testenv.StartConsul(t)
	tg, tokenFile := startTelegram(t)
	provider := newSwitchableProvider(t, tg.URL)
	var targets []string
	for i := 0; i < 9; i++ {
		targets = append(targets, fmt.Sprintf("https://p%02d.example", i))
	}
	x := newClusterExporters(t, 3, targets)
	var rs []*clusterRouter
	for i, name := range []string{"r1", "r2", "r3"} {
		rs = append(rs, startClusterRouter(t, name, x.srvs[i].URL, provider.srv.URL, tokenFile, consul.Addr, t.TempDir()))
	}
	for _, r := range rs {
		waitCond(t, r.name+" to see r1, r2, r3", seesCluster(t, r, "r1", "r2", "r3"))
	}
	waitCond(t, "the checks to be split", func() bool { n, ok := ownedSum(t, 3, rs...); return ok && n == len(targets) })

	provider.set(true)
	x.setDown(true, targets...)
	pending := func(rs ...*clusterRouter) int {
		n := 0
		for _, r := range rs {
			n += int(metric(t, r.url, "vigie_router_outbox_depth"))
		}
		return n
	}
	waitCond(t, "every DOWN to wait for the provider", func() bool { return pending(rs...) == len(targets) })
	held := make([]int, len(rs))
	for i, r := range rs {
		held[i] = int(metric(t, r.url, "vigie_router_outbox_depth"))
	}
	t.Logf("notifications held per member: %v", held)

	survivor := rs[0]
	for _, r := range rs[1:] {
		if err := r.p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = r.p.cmd.Wait()
	}
	waitCond(t, "the survivor alone", seesCluster(t, survivor, survivor.name))
	waitCond(t, "the survivor to hold every DOWN", func() bool { return pending(survivor) == len(targets) })
	if n := len(tg.Messages()); n != 0 {
		t.Fatalf("%d messages while the provider was down", n)
	}

	provider.set(false)
	waitCond(t, "every DOWN delivered", func() bool {
		down, _, _ := tally(tg.Messages(), targets)
		return len(down) == len(targets)
	})
	x.waitRounds(t, 3)
	waitCond(t, "the outbox to empty", func() bool { return pending(survivor) == 0 })
	oneDownEach(t, tg.Messages(), targets)
	if adopted := metric(t, survivor.url, "vigie_router_cluster_notifications_adopted_total"); int(adopted) != held[1]+held[2] {
		t.Errorf("the survivor took over %v notifications, want the %d the dead members held", adopted, held[1]+held[2])
	}
}
