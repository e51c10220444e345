//go:build linux

package main

import (
	"path/filepath"
	"testing"

	"github.com/vigie-monitoring/vigie/internal/testenv"
)

// TestExecutableResidency: the router turns fault-around off on its
// executable's code and read-only data and keeps resident only the pages
// it uses, a part of them (with fault-around, 15.5 of 17.8 MiB for a
// router with ten checks).
func TestExecutableResidency(t *testing.T) {
	testenv.SkipWithoutNoFaultAround(t)
	cfg := writeConfig(t, `
exporter:
  url: http://127.0.0.1:1
receivers:
  - name: log
    log_configs: [{}]
rules:
  - matchers: []
    receivers: [log]
`)
	p, _ := startRouter(t, cfg, filepath.Join(t.TempDir(), "data"))
	testenv.CheckExecutableResidency(t, p.cmd.Process.Pid)
}
