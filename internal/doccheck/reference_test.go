package doccheck

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/internal/testenv"
)

// firstCommands are README's first two commands, byte for byte: what a
// newcomer types first.
const firstCommands = "```sh\n" +
	"make run    # build and start vigie_exporter (:9115) and vigie_router (:9116) on loopback, with the quick start configuration\n" +
	"make test   # run every test: unit, integration against real servers (Prometheus, sshd, vsftpd, Consul, Chromium), short fuzzing\n" +
	"```\n"

// TestREADMEStartsWithTheTwoCommands: the first code block of README is
// the run command and the test command, and CI runs the test command.
func TestREADMEStartsWithTheTwoCommands(t *testing.T) {
	readme := readPage(t, "README.md").text
	i := strings.Index(readme, "```")
	if i < 0 || !strings.HasPrefix(readme[i:], firstCommands) {
		t.Errorf("README's first code block is not\n%s", firstCommands)
	}
	if lines := strings.Split(readme[:max(i, 0)], "\n"); len(lines) > 4 {
		t.Errorf("README's first code block starts at line %d; it must open the page", len(lines))
	}
	ci, err := os.ReadFile(filepath.Join(root, ".ci/run"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ci), "\nmake test\n") {
		t.Error(".ci/run does not run README's test command (make test)")
	}
	if n := len(strings.Split(readme, "\n")); n > 300 {
		t.Errorf("README has %d lines: keep it a front page (under 300), details go to docs/", n)
	}
}

var flagRE = regexp.MustCompile(`--(?:\[no-\])?([a-z][a-z0-9.-]*[a-z0-9])`)

// TestDocsDocumentEveryFlag runs each binary's --help-long (every command
// and its flags) and checks that each flag has a row of a table of docs/:
// one whose first cell names it.
func TestDocsDocumentEveryFlag(t *testing.T) {
	var firstCells []string
	for _, p := range docPages(t) {
		if !strings.HasPrefix(p.path, "docs/") {
			continue
		}
		for _, r := range p.tableRows() {
			if cells := strings.Split(r, "|"); len(cells) > 2 {
				firstCells = append(firstCells, cells[1])
			}
		}
	}
	documented := strings.Join(firstCells, "\n")
	for _, name := range []string{"vigie_exporter", "vigie_router"} {
		out, err := exec.Command(binary(t, name), "--help-long").CombinedOutput()
		if err != nil {
			t.Fatalf("%s --help-long: %v\n%s", name, err, out)
		}
		seen := map[string]bool{}
		for _, m := range flagRE.FindAllStringSubmatch(string(out), -1) {
			flag := m[1]
			if seen[flag] || flag == "help" || flag == "help-long" || flag == "help-man" {
				continue
			}
			seen[flag] = true
			if !regexp.MustCompile(`--` + regexp.QuoteMeta(flag) + `\b`).MatchString(documented) {
				t.Errorf("%s: flag --%s has no row in a table of docs/ (a row whose first cell names it)", name, flag)
			}
		}
		if len(seen) < 5 {
			t.Fatalf("%s: only %d flags found in --help-long output:\n%s", name, len(seen), out)
		}
	}
}

var metricLiteral = regexp.MustCompile(`"((?:probe|vigie)_[a-z0-9_]+)"`)

// emittedMetrics returns the metric names the binaries emit, by binary:
// those the sources register (probe_* gauges of the probers, vigie_*
// metrics of the exporter and the router), and those the running binaries
// serve at /metrics (names built at run time, such as build_info).
func emittedMetrics(t *testing.T) (exporter, router map[string]string) {
	t.Helper()
	exporter, router = map[string]string{}, map[string]string{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata" || d.Name() == "tools" || d.Name() == ".build" || d.Name() == "benchcompare") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		for _, line := range strings.Split(string(src), "\n") {
			if !strings.Contains(line, "Name:") && !strings.Contains(line, "NewGauge") && !strings.Contains(line, "NewDesc") &&
				!strings.Contains(line, "NewCounter") && !strings.Contains(line, "NewHistogram") &&
				!strings.Contains(line, "gauge(") && !strings.Contains(line, "vec(") {
				continue
			}
			for _, m := range metricLiteral.FindAllStringSubmatch(line, -1) {
				if strings.HasPrefix(rel, "alertrouter/") || strings.HasPrefix(rel, "cmd/vigie_router/") {
					router[m[1]] = rel
				} else {
					exporter[m[1]] = rel
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name := range served(t, "vigie_exporter") {
		exporter[name] = "/metrics of vigie_exporter"
	}
	for name := range served(t, "vigie_router") {
		router[name] = "/metrics of vigie_router"
	}
	if len(exporter) < 40 || len(router) < 20 {
		t.Fatalf("only %d exporter and %d router metric names found; the scan is broken", len(exporter), len(router))
	}
	return exporter, router
}

var metricInRow = regexp.MustCompile("`((?:probe|vigie)_[a-z0-9_]+)`")

// TestDocsDocumentEveryMetric: every metric a binary emits is in that
// binary's table of docs/metrics.md (probe_* metrics in the probe metrics
// table and on a prober's page), and every metric those tables name is
// still emitted.
func TestDocsDocumentEveryMetric(t *testing.T) {
	exporter, router := emittedMetrics(t)
	metrics := readPage(t, "docs/metrics.md")
	inTable := func(section string) map[string]bool {
		out := map[string]bool{}
		rows := tableRows(metrics.section(section))
		if len(rows) == 0 {
			t.Fatalf("docs/metrics.md has no table under %q", section)
		}
		for _, r := range rows {
			cells := strings.Split(r, "|")
			if len(cells) < 2 {
				continue
			}
			for _, m := range metricInRow.FindAllStringSubmatch(cells[1], -1) {
				out[m[1]] = true
			}
		}
		return out
	}
	tables := map[string]map[string]bool{
		"vigie_exporter": inTable("vigie_exporter"),
		"vigie_router":   inTable("vigie_router"),
		"probe":          inTable("Probe metrics"),
	}
	proberPages := map[string]bool{}
	for _, p := range docPages(t) {
		if !strings.HasPrefix(p.path, "docs/probers/") {
			continue
		}
		for _, l := range p.section("Metrics") {
			for _, m := range metricInRow.FindAllStringSubmatch(l, -1) {
				proberPages[m[1]] = true
			}
		}
	}
	common := readPage(t, "docs/probers.md").section("Metrics of every probe")
	for _, l := range common {
		for _, m := range metricInRow.FindAllStringSubmatch(l, -1) {
			proberPages[m[1]] = true
		}
	}
	var missing []string
	check := func(emitted map[string]string, table string) {
		for name, file := range emitted {
			want := table
			if strings.HasPrefix(name, "probe_") {
				want = "probe"
				if !proberPages[name] {
					missing = append(missing, name+" ("+file+") is in the Metrics section of no prober page")
				}
			}
			if !tables[want][name] {
				missing = append(missing, name+" ("+file+") is not in the "+want+" table of docs/metrics.md")
			}
		}
	}
	check(exporter, "vigie_exporter")
	check(router, "vigie_router")
	for table, names := range tables {
		for name := range names {
			if exporter[name] == "" && router[name] == "" {
				missing = append(missing, "docs/metrics.md's "+table+" table names "+name+", which no source emits")
			}
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Error(m)
	}
}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binary builds both binaries once per run and returns the path of one.
func binary(t *testing.T, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "vigie-doccheck-")
		for _, n := range []string{"vigie_exporter", "vigie_router"} {
			if buildErr != nil {
				return
			}
			if out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, n), "../../cmd/"+n).CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", n, err, out)
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, name)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

var servedName = regexp.MustCompile(`(?m)^# TYPE (vigie_[a-z0-9_]+) `)

// served starts a binary on loopback and returns the vigie_* metric
// families its /metrics serves.
func served(t *testing.T, name string) map[string]bool {
	t.Helper()
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	args := []string{"--web.listen-address=" + addr}
	if name == "vigie_exporter" {
		cfg := filepath.Join(dir, "vigie.yml")
		if err := os.WriteFile(cfg, []byte("modules:\n  tcp_connect:\n    prober: tcp\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config.file="+cfg)
	} else {
		// An exporter where nothing listens: the router only has to start.
		cfg := filepath.Join(dir, "vigie-router.yml")
		if err := os.WriteFile(cfg, []byte(fmt.Sprintf("exporter:\n  url: http://127.0.0.1:%d\n", testenv.FreePort(t))), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config.file="+cfg, "--storage.path="+filepath.Join(dir, "data"))
	}
	cmd := exec.Command(binary(t, name), args...)
	var logs testenv.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				out := map[string]bool{}
				for _, m := range servedName.FindAllStringSubmatch(string(body), -1) {
					out[m[1]] = true
				}
				return out
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not serve /metrics in time (%v):\n%s", name, err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
