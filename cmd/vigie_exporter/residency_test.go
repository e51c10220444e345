//go:build linux

package main

import (
	"testing"

	"github.com/vigie-monitoring/vigie/internal/testenv"
)

// TestExecutableResidency: the exporter turns fault-around off on its
// executable's code and read-only data and keeps resident only the pages
// it uses, a part of them.
func TestExecutableResidency(t *testing.T) {
	testenv.SkipWithoutNoFaultAround(t)
	p := start(t, t.TempDir()) // the embedded default
	httpGet(t, "http://"+p.addr+"/metrics")
	testenv.CheckExecutableResidency(t, p.cmd.Process.Pid)
}
