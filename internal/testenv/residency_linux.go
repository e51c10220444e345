//go:build linux

package testenv

import (
	"testing"

	"github.com/vigie-monitoring/vigie/internal/residency"
)

// SkipWithoutNoFaultAround skips the test, loudly, where the kernel (or a
// seccomp filter) refuses userfaultfd's asynchronous write-protect mode,
// without which fault-around cannot be turned off.
func SkipWithoutNoFaultAround(t testing.TB) {
	t.Helper()
	p := residency.NewNoFaultAround()
	if p == nil {
		t.Skip("SKIPPING: this kernel (or a seccomp filter) refuses userfaultfd's asynchronous write-protect mode (Linux 6.7): fault-around stays on")
	}
	p.Close()
}

// CheckExecutableResidency fails the test unless process pid turned
// fault-around off on its executable's read-only mappings and keeps at
// most half of them resident (with fault-around, nearly all: 15.5 of 17.8
// MiB for a router with ten checks).
func CheckExecutableResidency(t testing.TB, pid int) {
	t.Helper()
	r, err := residency.ExecutableOf(pid)
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
