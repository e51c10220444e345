package alertrouter

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vigie-monitoring/vigie/internal/testenv"
)

// docBlocks returns the fenced YAML blocks of one documentation section (from its
// heading to the next heading of the same or a higher level) by the file
// name their first line names ("# vigie-router.yml").
func docBlocks(t *testing.T, path, heading string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The section's lines, up to the next heading of the same or a higher
	// level outside code blocks.
	level := len(strings.Fields(heading)[0])
	var section []string
	in, fence := false, false
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "```") {
			fence = !fence
		}
		if !fence && strings.HasPrefix(line, "#") {
			hashes := len(line) - len(strings.TrimLeft(line, "#"))
			if in && hashes <= level {
				break
			}
			if line == heading {
				in = true
			}
		}
		if in {
			section = append(section, line)
		}
	}
	if !in {
		t.Fatalf("%s has no %q section", path, heading)
	}
	out := map[string]string{}
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(strings.Join(section, "\n"), -1) {
		first, _, _ := strings.Cut(m[1], "\n")
		if name, ok := strings.CutPrefix(first, "# "); ok && strings.HasSuffix(name, ".yml") {
			out[name] = m[1]
		}
	}
	return out
}

// TestRoutingAlertsExample keeps docs/migrating.md's "Routing alerts" example
// honest: the router accepts its configuration (every receiver built), and
// promtool accepts its Prometheus configuration and rules.
func TestRoutingAlertsExample(t *testing.T) {
	blocks := docBlocks(t, "../docs/migrating.md", "### Routing alerts")
	for _, name := range []string{"vigie-router.yml", "prometheus.yml", "vigie-rules.yml"} {
		if blocks[name] == "" {
			t.Fatalf("docs/migrating.md's Routing alerts section has no %s block", name)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "telegram.token"), []byte("123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "smtp.password"), []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	routerCfg := filepath.Join(dir, "vigie-router.yml")
	if err := os.WriteFile(routerCfg, []byte(strings.ReplaceAll(blocks["vigie-router.yml"], "/etc/vigie/", dir+"/")), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := CheckConfig(routerCfg, discard())
	if err != nil {
		t.Fatalf("the router refuses the example: %v", err)
	}
	if len(cfg.Rules) != 3 || len(cfg.Receivers) != 2 {
		t.Errorf("example parsed to %d rules, %d receivers", len(cfg.Rules), len(cfg.Receivers))
	}

	promtool := testenv.Promtool(t)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(blocks["prometheus.yml"]), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "vigie-rules.yml"), []byte(blocks["vigie-rules.yml"]), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(promtool, "check", "config", "prometheus.yml")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check config: %v\n%s", err, out)
	}
}
