//go:build linux

package main

import (
	"path/filepath"
	"testing"

	"github.com/vigie-monitoring/vigie/internal/residency"
)

// TestExecutableResidency: the router turns fault-around off on its
// executable's code and read-only data and keeps resident only the pages
// it uses, a part of them (with fault-around, 15.5 of 17.8 MiB for a
// router with ten checks).
func TestExecutableResidency(t *testing.T) {
	if p := residency.NewNoFaultAround(); p == nil {
		t.Skip("SKIPPING: this kernel (or a seccomp filter) refuses userfaultfd's asynchronous write-protect mode (Linux 6.7): fault-around stays on")
	} else {
		p.Close()
	}
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
	r, err := residency.ExecutableOf(p.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Registered {
		t.Errorf("fault-around is on in the executable's mappings (%+v)", r)
	}
	if r.RSS > r.Size/2 {
		t.Errorf("%d of the executable's %d KiB resident, want at most half", r.RSS>>10, r.Size>>10)
	}
	t.Logf("%d of the executable's %d KiB resident, in %d mappings", r.RSS>>10, r.Size>>10, r.Mappings)
}
