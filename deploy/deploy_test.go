// Package deploy holds the files shipped in deploy/ (Prometheus job and
// alert rules, Consul registrations…); its tests lint them with the real
// tools, so that a shipped file cannot rot.
package deploy

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/vigie-monitoring/vigie/internal/testenv"
)

func promtool(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(testenv.Promtool(t), args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %v: %v\n%s", args, err, out)
	}
}

func glob(t *testing.T, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no file matches %s", pattern)
	}
	return files
}

func TestPrometheusConfig(t *testing.T) {
	// Every shipped configuration (main job, static job, sharded setup);
	// promtool also checks the rule files each one names.
	for _, f := range []string{"prometheus/prometheus.yml", "prometheus/static.yml", "prometheus/sharded.yml"} {
		t.Run(filepath.Base(f), func(t *testing.T) {
			promtool(t, "check", "config", f)
		})
	}
}

func TestPrometheusRules(t *testing.T) {
	for _, f := range glob(t, "prometheus/*rules*.yml") {
		t.Run(filepath.Base(f), func(t *testing.T) {
			promtool(t, "check", "rules", f)
		})
	}
}

func TestPrometheusRuleUnitTests(t *testing.T) {
	promtool(t, append([]string{"test", "rules"}, glob(t, "prometheus/tests/*.yml")...)...)
}

// TestLocationsQuorumRules: the PromQL version of vigie_router's quorum
// over several locations (docs/locations.md) behaves like the router:
// one location failing never alerts, two of three do, an unreachable
// location is not counted and raises its own alert.
func TestLocationsQuorumRules(t *testing.T) {
	promtool(t, "check", "rules", "prometheus/vigie-locations-rules.yml")
	promtool(t, "test", "rules", "prometheus/tests/vigie-locations-rules.test.yml")
}
