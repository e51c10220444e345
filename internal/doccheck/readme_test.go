package doccheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestREADMEStartsWithTheTwoCommands: a newcomer's first two commands.
func TestREADMEStartsWithTheTwoCommands(t *testing.T) {
	lines := strings.Split(readme(t), "\n")
	var cmds []string
	for _, l := range lines[:10] {
		if strings.HasPrefix(l, "make ") {
			cmds = append(cmds, strings.Fields(l)[1])
		}
	}
	if strings.Join(cmds, ",") != "run,test" {
		t.Errorf("README's first commands are %v, want make run and make test", cmds)
	}
	ci, err := os.ReadFile("../../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ci), "\nmake test\n") {
		t.Error(".ci/run does not run README's test command (make test)")
	}
}

var flagRE = regexp.MustCompile(`--(?:\[no-\])?([a-z][a-z0-9.-]*[a-z0-9])`)

// TestREADMEDocumentsEveryFlag runs each binary's --help-long and checks
// that README mentions every flag.
func TestREADMEDocumentsEveryFlag(t *testing.T) {
	doc := readme(t)
	dir := t.TempDir()
	for _, name := range []string{"vigie_exporter", "vigie_router"} {
		bin := filepath.Join(dir, name)
		if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/"+name).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", name, err, out)
		}
		out, err := exec.Command(bin, "--help-long").CombinedOutput()
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
			if !regexp.MustCompile(`--` + regexp.QuoteMeta(flag) + `\b`).MatchString(doc) {
				t.Errorf("%s: flag --%s is not documented in README.md", name, flag)
			}
		}
		if len(seen) < 5 {
			t.Fatalf("%s: only %d flags found in --help-long output:\n%s", name, len(seen), out)
		}
	}
}

var metricLiteral = regexp.MustCompile(`"((?:probe|vigie)_[a-z0-9_]+)"`)

// TestREADMEDocumentsEveryMetric scans the sources for the metric names the
// binaries register (probe_* gauges of the probers, vigie_* metrics of the
// exporter and the router) and checks README names each of them.
func TestREADMEDocumentsEveryMetric(t *testing.T) {
	doc := readme(t)
	names := map[string]string{}
	err := filepath.WalkDir("../..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata" || d.Name() == "tools" || d.Name() == ".build") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(src), "\n") {
			if !strings.Contains(line, "Name:") && !strings.Contains(line, "NewGauge") && !strings.Contains(line, "NewDesc") && !strings.Contains(line, "NewCounter") && !strings.Contains(line, "NewHistogram") {
				continue
			}
			for _, m := range metricLiteral.FindAllStringSubmatch(line, -1) {
				names[m[1]] = path
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 40 {
		t.Fatalf("only %d metric names found; the scan is broken", len(names))
	}
	var missing []string
	for n, file := range names {
		if !strings.Contains(doc, n) {
			missing = append(missing, n+" ("+file+")")
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("metric %s is not documented in README.md", m)
	}
}
