package discovery

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigie-monitoring/vigie/config"
)

func parseConfig(t *testing.T, yaml string) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("%v\n%s", err, yaml)
	}
	return c
}

func (m *Manager) providerID(name string) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.slots[name]; s != nil {
		return s.current.id
	}
	return 0
}

func TestApplyConfigReload(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.yml"), []byte("- targets: [a]\n  modules: [icmp]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	modules := "modules:\n  icmp:\n    prober: icmp\n"
	static := func(refresh string) string {
		return fmt.Sprintf("discovery:\n  static:\n    - files: [%q]\n      refresh_interval: %s\n", filepath.Join(dir, "*.yml"), refresh)
	}
	m := startManager(t, ManagerOptions{})
	if err := m.ApplyConfig(parseConfig(t, modules+static("50ms"))); err != nil {
		t.Fatal(err)
	}
	waitPairs(t, m, "", "a icmp")
	id := m.providerID("static[0]")

	// A broken Consul block is reported and does not disturb the rest.
	err := m.ApplyConfig(parseConfig(t, modules+static("50ms")+"  consul:\n    - token_file: /nonexistent/token\n"))
	if err == nil || !strings.Contains(err.Error(), "discovery.consul[0]: consul: read token_file") {
		t.Errorf("ApplyConfig error = %v, want the token file named", err)
	}
	if m.providerID("static[0]") != id {
		t.Error("an unchanged static block was restarted")
	}
	if m.providerID("consul[0]") != 0 {
		t.Error("a Consul block that cannot start must not run")
	}

	// Changed settings restart the block; its targets stay served.
	if err := m.ApplyConfig(parseConfig(t, modules+static("60ms"))); err != nil {
		t.Fatal(err)
	}
	restarted := m.providerID("static[0]")
	if restarted == id {
		t.Error("a changed static block was not restarted")
	}
	waitPairs(t, m, "", "a icmp")

	// So does a change of the modules (the providers check names against them).
	if err := m.ApplyConfig(parseConfig(t, modules+"  tcp_connect:\n    prober: tcp\n"+static("60ms"))); err != nil {
		t.Fatal(err)
	}
	if m.providerID("static[0]") == restarted {
		t.Error("a change of modules did not restart the static block")
	}

	// Removing discovery removes the targets.
	if err := m.ApplyConfig(parseConfig(t, modules)); err != nil {
		t.Fatal(err)
	}
	waitPairs(t, m, "")
}

// A Consul block that fails to rebuild on reload keeps its running provider.
func TestApplyConfigKeepsConsulThatCannotRestart(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("t1"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("modules: {}\ndiscovery:\n  consul:\n    - server: 127.0.0.1:1\n      token_file: %q\n", tokenFile)
	m := startManager(t, ManagerOptions{})
	if err := m.ApplyConfig(parseConfig(t, cfg)); err != nil {
		t.Fatal(err)
	}
	id := m.providerID("consul[0]")
	if id == 0 {
		t.Fatal("consul block not started")
	}
	// A rotated token restarts the block.
	if err := os.WriteFile(tokenFile, []byte("t2"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := m.ApplyConfig(parseConfig(t, cfg)); err != nil {
		t.Fatal(err)
	}
	rotated := m.providerID("consul[0]")
	if rotated == id {
		t.Error("a rotated token file did not restart the Consul block")
	}
	// An unreadable token keeps the running provider.
	if err := os.Remove(tokenFile); err != nil {
		t.Fatal(err)
	}
	if err := m.ApplyConfig(parseConfig(t, cfg)); err == nil {
		t.Error("a missing token file must be reported")
	}
	if m.providerID("consul[0]") != rotated {
		t.Error("the running Consul provider must be kept when its new configuration cannot start")
	}
}
