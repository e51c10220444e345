package discovery

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/vigie-monitoring/vigie/config"
	"github.com/vigie-monitoring/vigie/internal/testenv"
)

var testModules = map[string]string{"http_2xx": "http", "tls_expiry": "tls", "icmp": "icmp", "tcp_connect": "tcp", "ws": "websocket"}

func TestParseTargetFile(t *testing.T) {
	groups, warnings, err := parseTargetFile([]byte(`# web sites
- targets: [https://example.org, https://framasoft.org]
  modules: [http_2xx, tls_expiry]
  labels: {group: web, team: ops}
- targets:
    - 10.0.0.1
  modules: [icmp]
`), nil, testModules)
	if err != nil || len(warnings) != 0 {
		t.Fatalf("parse: %v, warnings %v", err, warnings)
	}
	want := []TargetGroup{
		{Targets: []string{"https://example.org", "https://framasoft.org"}, Modules: []string{"http_2xx", "tls_expiry"}, Labels: map[string]string{"group": "web", "team": "ops"}},
		{Targets: []string{"10.0.0.1"}, Modules: []string{"icmp"}},
	}
	if !equalGroups(groups, want) {
		t.Errorf("groups = %+v\nwant %+v", groups, want)
	}

	for _, empty := range []string{"", "# nothing yet\n", "---\n", "[]\n"} {
		if g, _, err := parseTargetFile([]byte(empty), nil, testModules); err != nil || len(g) != 0 {
			t.Errorf("%q: %v, %v; want no targets and no error", empty, g, err)
		}
	}

	g, _, err := parseTargetFile([]byte("- targets: [a.example:22]\n"), []string{"tcp_connect"}, testModules)
	if err != nil || len(g) != 1 || !slices.Equal(g[0].Modules, []string{"tcp_connect"}) {
		t.Errorf("default_modules not applied: %+v, %v", g, err)
	}

	_, warnings, err = parseTargetFile([]byte("- targets: [a]\n  modules: [http_2xx, elsewhere]\n"), nil, testModules)
	if err != nil || len(warnings) != 1 || !strings.Contains(warnings[0], `line 2: module "elsewhere" is not configured`) {
		t.Errorf("unknown module: err %v, warnings %q", err, warnings)
	}
}

func TestParseTargetFileErrors(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown key", "- targets: [a]\n  modules: [icmp]\n  lables: {a: b}\n", "line 3: field lables not found"},
		{"not a list", "targets: [a]\nmodules: [icmp]\n", "line 1: a target file must be a list of target groups"},
		// The list is still open where the file ends, on line 2.
		{"unterminated list", "- targets: [a\n", "line 2: did not find expected ',' or ']'"},
		{"bad yaml on the first line", "- targets: [\"a\" \"b\"]\n  modules: [icmp]\n", "line 1: did not find expected ',' or ']'"},
		{"bad yaml further down", "- targets: [a]\n  modules: [icmp]\n- targets: [\"a\" \"b\"]\n", "line 3: did not find expected ',' or ']'"},
		{"bad indentation", "- targets: [a]\n  modules: [icmp]\n   labels: {}\n", "line 3: did not find expected key"},
		{"targets not a list", "- targets: a\n  modules: [icmp]\n", "line 1: cannot unmarshal !!str `a` into []string"},
		{"empty target", "- targets: [a, '']\n  modules: [icmp]\n", `line 1: target "" is not valid`},
		{"target with space", "- targets:\n    - a\n    - 'b c'\n  modules: [icmp]\n", `line 3: target "b c" is not valid`},
		{"no modules", "- targets: [a]\n  labels: {x: y}\n", "line 1: no modules for these targets"},
		{"bad module name", "- targets: [a]\n  modules: [icmp, 'a,b']\n", `line 2: module name "a,b" is not valid`},
		{"bad label name", "- targets: [a]\n  modules: [icmp]\n  labels:\n    ok: x\n    bad-name: y\n", `line 5: label name "bad-name" is not valid`},
		{"reserved module label", "- targets: [a]\n  modules: [icmp]\n  labels: {module: x}\n", `line 3: label "module" is reserved`},
		{"reserved source label", "- targets: [a]\n  modules: [icmp]\n  labels: {__meta_vigie_source: x}\n", `label "__meta_vigie_source" is reserved`},
		// Of several bad names, always the first in order.
		{"several bad label names", "- targets: [a]\n  modules: [icmp]\n  labels:\n    zz-bad: x\n    module: y\n    ok: z\n    0bad: w\n    a-b: v\n", `line 7: label name "0bad" is not valid`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := parseTargetFile([]byte(c.yaml), nil, testModules)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v, want it to contain %q", err, c.want)
			}
			for range 20 { // maps are iterated in random order
				if _, _, again := parseTargetFile([]byte(c.yaml), nil, testModules); again.Error() != err.Error() {
					t.Fatalf("error = %v, then %v", err, again)
				}
			}
			if strings.Contains(err.Error(), "discovery.") || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q shows Go type names or spans lines", err)
			}
		})
	}
}

// staticHarness runs a static provider over a temporary directory.
type staticHarness struct {
	t       *testing.T
	dir     string
	ch      chan []Update
	metrics *Metrics
	logs    *testenv.Buffer
	stop    func()
}

func startStatic(t *testing.T, globs ...string) *staticHarness {
	t.Helper()
	h := &staticHarness{t: t, dir: t.TempDir(), ch: make(chan []Update), metrics: NewMetrics(nil)}
	log, logs := testLogger(t)
	h.logs = logs
	for i, g := range globs {
		globs[i] = filepath.Join(h.dir, g)
	}
	p := NewStaticProvider(config.StaticSDConfig{Files: globs, RefreshInterval: model.Duration(20 * time.Millisecond)}, testModules, log, h.metrics)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Run(ctx, h.ch)
	}()
	h.stop = func() {
		cancel()
		<-done
	}
	t.Cleanup(h.stop)
	return h
}

func (h *staticHarness) path(name string) string { return filepath.Join(h.dir, name) }

func (h *staticHarness) write(name, content string) {
	h.t.Helper()
	// Write-then-rename, as configuration management tools do, so that the
	// provider never reads a half-written file.
	tmp := h.path("." + name + ".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		h.t.Fatal(err)
	}
	if err := os.Rename(tmp, h.path(name)); err != nil {
		h.t.Fatal(err)
	}
}

// next returns the next batch as source → targets (as "target module").
func (h *staticHarness) next() map[string][]string {
	h.t.Helper()
	out := map[string][]string{}
	for _, u := range recvUpdates(h.t, h.ch, 5*time.Second) {
		src := strings.TrimPrefix(u.Source, "static:"+h.dir+"/")
		out[src] = []string{}
		if u.Err != nil {
			out[src] = []string{"ERR " + u.Err.Error()}
			continue
		}
		for _, g := range u.Groups {
			for _, m := range g.Modules {
				for _, tg := range g.Targets {
					out[src] = append(out[src], tg+" "+m)
				}
			}
		}
		slices.Sort(out[src])
	}
	return out
}

func (h *staticHarness) expectNothing() {
	h.t.Helper()
	select {
	case b := <-h.ch:
		h.t.Fatalf("unexpected update %+v", b)
	case <-time.After(150 * time.Millisecond): // several polls
	}
}

func TestStaticProviderLifecycle(t *testing.T) {
	h := startStatic(t, "*.yml")
	h.write("web.yml", "- targets: [https://a.example]\n  modules: [http_2xx]\n")
	// The first batch is the initial state, even if the file arrived
	// just after the start.
	got := h.next()
	if len(got) == 0 {
		got = h.next()
	}
	if !slices.Equal(got["web.yml"], []string{"https://a.example http_2xx"}) {
		t.Fatalf("initial: %v", got)
	}

	h.write("web.yml", "- targets: [https://a.example, https://b.example]\n  modules: [http_2xx]\n")
	if got := h.next(); !slices.Equal(got["web.yml"], []string{"https://a.example http_2xx", "https://b.example http_2xx"}) {
		t.Fatalf("after edit: %v", got)
	}

	// A new file matching the glob is picked up.
	h.write("db.yml", "- targets: ['db:5432']\n  modules: [tcp_connect]\n")
	if got := h.next(); !slices.Equal(got["db.yml"], []string{"db:5432 tcp_connect"}) || len(got) != 1 {
		t.Fatalf("new file: %v", got)
	}

	// A change that leaves the targets alone (a comment) sends nothing.
	h.write("db.yml", "# the database\n- targets: ['db:5432']\n  modules: [tcp_connect]\n")
	h.expectNothing()

	// Broken: the last good targets stay, the error names file and line,
	// the metrics say so.
	h.write("web.yml", "- targets: [https://a.example]\n  modules: [http_2xx]\n  lables: {}\n")
	h.expectNothing()
	failing := h.metrics.staticFileFailing.WithLabelValues(h.path("web.yml"))
	if metricValue(t, failing) != 1 || metricValue(t, h.metrics.staticFileErrors) != 1 {
		t.Errorf("failing = %v, errors = %v; want 1, 1", metricValue(t, failing), metricValue(t, h.metrics.staticFileErrors))
	}
	logs := h.logs.String()
	if !strings.Contains(logs, "file="+h.path("web.yml")) || !strings.Contains(logs, "line 3: field lables not found") || !strings.Contains(logs, "keeping its last good targets") {
		t.Errorf("the log must name the file and the line:\n%s", logs)
	}
	// Reported once, not at every poll.
	time.Sleep(100 * time.Millisecond)
	if n := strings.Count(h.logs.String(), "field lables not found"); n != 1 {
		t.Errorf("the error was logged %d times, want once", n)
	}

	// Fixed: back to normal, with the new content.
	h.write("web.yml", "- targets: [https://c.example]\n  modules: [http_2xx]\n")
	if got := h.next(); !slices.Equal(got["web.yml"], []string{"https://c.example http_2xx"}) {
		t.Fatalf("after fix: %v", got)
	}
	if metricValue(t, failing) != 0 {
		t.Error("the failing gauge must drop to 0 once the file is good")
	}

	// Deleted: its targets go, and so does its metric series.
	if err := os.Remove(h.path("web.yml")); err != nil {
		t.Fatal(err)
	}
	got = h.next()
	if g, ok := got["web.yml"]; !ok || len(g) != 0 {
		t.Fatalf("after delete: %v, want web.yml removed", got)
	}
	if n := seriesCount(h.metrics.staticFileFailing); n != 1 {
		t.Errorf("%d file series, want 1 (db.yml only)", n)
	}
	h.stop()
	if n := seriesCount(h.metrics.staticFileFailing); n != 0 {
		t.Errorf("%d file series left after the provider stopped", n)
	}
}

func TestStaticProviderBrokenFromTheStart(t *testing.T) {
	h := startStatic(t, "*.yml", "missing.yml")
	h.write("good.yml", "- targets: [a]\n  modules: [icmp]\n")
	h.write("bad.yml", "- targets: [b]\n  modules: icmp\n")
	// The two files may be read in one poll or in two (a poll can fall
	// between the writes): wait for both.
	got := map[string][]string{}
	for len(got["good.yml"]) == 0 || len(got["bad.yml"]) == 0 {
		maps.Copy(got, h.next())
	}
	// A broken file without a good past has no targets to send: it is
	// sent as failed, so that the manager does not take it for empty.
	if g := got["bad.yml"]; len(g) != 1 || !strings.HasPrefix(g[0], "ERR line 2: cannot unmarshal") {
		t.Errorf("bad.yml must be reported as failed: %v", got)
	}
	// Fixed: its targets clear the error. Deleted while broken: the error
	// is withdrawn.
	h.write("bad.yml", "- targets: [b]\n  modules: [icmp]\n")
	if got := h.next(); !slices.Equal(got["bad.yml"], []string{"b icmp"}) {
		t.Errorf("after fix: %v", got)
	}
	h.write("worse.yml", "nope")
	if got := h.next(); len(got["worse.yml"]) != 1 || !strings.HasPrefix(got["worse.yml"][0], "ERR ") {
		t.Errorf("a new broken file: %v", got)
	}
	if err := os.Remove(h.path("worse.yml")); err != nil {
		t.Fatal(err)
	}
	if got, ok := h.next()["worse.yml"]; !ok || len(got) != 0 {
		t.Errorf("deleting a broken file must withdraw its error: %v", got)
	}
	eventually(t, 5*time.Second, "the error in the log", func() bool {
		return strings.Contains(h.logs.String(), "bad.yml") && strings.Contains(h.logs.String(), "line 2: cannot unmarshal")
	})
	if !strings.Contains(h.logs.String(), "Target file does not exist") || !strings.Contains(h.logs.String(), "missing.yml") {
		t.Errorf("a missing file named without wildcards must be reported:\n%s", h.logs)
	}
}

// A rewrite with the same size within the same mtime tick (coarse
// timestamps) must still be noticed.
func TestStaticProviderSameSizeSameMtimeRewrite(t *testing.T) {
	h := startStatic(t, "t.yml")
	h.write("t.yml", "- targets: [aaaa]\n  modules: [icmp]\n")
	got := h.next()
	for len(got["t.yml"]) == 0 {
		got = h.next()
	}
	st, err := os.Stat(h.path("t.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(h.path("t.yml"), []byte("- targets: [bbbb]\n  modules: [icmp]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(h.path("t.yml"), st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	if got := h.next(); !slices.Equal(got["t.yml"], []string{"bbbb icmp"}) {
		t.Fatalf("rewrite: %v", got)
	}
}

// TestTargetFileNullItems: the decoder leaves out a null item of the list,
// so that the groups after it are not the items of the same index; a
// message still names the line of the group it is about, whichever way the
// file is read.
func TestTargetFileNullItems(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"-\n- targets: [0 0]", `line 2: target "0 0" is not valid (empty or containing spaces)`},
		{"- ~\n- null\n-\n- targets: [a]\n- targets: [b c]\n", `line 5: target "b c" is not valid (empty or containing spaces)`},
		{"- &n ~\n- *n\n- targets: [a]\n  labels: {0bad: x}\n", `line 4: label name "0bad" is not valid (letters, digits and underscores, not starting with a digit)`},
	} {
		_, _, err := parseTargetFile([]byte(tc.file), []string{"http_2xx"}, testModules)
		_, _, errNodes := parseTargetFileNodesFirst([]byte(tc.file), []string{"http_2xx"}, testModules)
		_, _, _, errRead := readTargetFile([]byte(tc.file), Shard{Index: 0, Count: 2}, []string{"http_2xx"}, testModules)
		for what, err := range map[string]error{"read once": err, "node tree first": errNodes, "in pieces": errRead} {
			if err == nil || err.Error() != tc.want {
				t.Errorf("%q, %s: %v, want %s", tc.file, what, err, tc.want)
			}
		}
	}
}
