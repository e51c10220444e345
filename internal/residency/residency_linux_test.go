//go:build linux

package residency

import (
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const page = 4096

// A read in a registered range maps the page read and not its neighbours,
// which a range not registered does (the kernel's fault-around).
func TestNoFaultAround(t *testing.T) {
	p := NewNoFaultAround()
	if p == nil {
		t.Skip("SKIPPING: this kernel (or a seccomp filter) refuses userfaultfd's asynchronous write-protect mode (Linux 6.7): fault-around stays on")
	}
	defer p.Close()
	// A file written through the page cache: all of it is there.
	path := t.TempDir() + "/data"
	if err := os.WriteFile(path, []byte(strings.Repeat("vigie", 256*page/5)), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mapFile := func() []byte {
		b, err := syscall.Mmap(int(f.Fd()), 0, 256*page, syscall.PROT_READ, syscall.MAP_PRIVATE)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = syscall.Munmap(b) })
		return b
	}
	control, registered := mapFile(), mapFile()
	if !p.Register(addr(registered), uintptr(len(registered))) {
		t.Fatal("the kernel refused the registration of a private file mapping")
	}
	var sum byte
	for _, off := range []int{0, 40 * page, 200 * page} {
		sum += control[off] + registered[off]
	}
	if sum == 0 {
		t.Fatal("read zeros")
	}
	if got := mappingRSS(t, addr(control)); got <= 3*page {
		t.Skipf("SKIPPING: no fault-around on this kernel (3 reads mapped %d KiB): nothing to compare", got>>10)
	}
	if got := mappingRSS(t, addr(registered)); got != 3*page {
		t.Fatalf("3 reads in a registered range mapped %d KiB, want 12 (the pages read)", got>>10)
	}
}

// Executable drops the pages of its code mapped before, and the process
// then maps only those it runs: a small part of the test binary's code.
func TestExecutable(t *testing.T) {
	pc := reflect.ValueOf(TestExecutable).Pointer()
	before := mappingRSS(t, mappingOf(t, pc))
	e := Executable()
	defer e.Close()
	if e.Ranges == 0 {
		t.Skip("SKIPPING: this kernel (or a seccomp filter) refuses userfaultfd's asynchronous write-protect mode (Linux 6.7): fault-around stays on")
	}
	if e.Ranges < 2 {
		t.Errorf("registered %d ranges, want the code and the read-only data at least", e.Ranges)
	}
	code := mappingOf(t, pc)
	after := mappingRSS(t, code)
	if after > before/2 {
		t.Fatalf("%d KiB of the code resident after Executable, %d before: the pages were not dropped, or fault-around maps them again", after>>10, before>>10)
	}
	t.Logf("code resident: %d KiB before, %d after; %d ranges (%d KiB) registered", before>>10, after>>10, e.Ranges, e.Bytes>>10)

	// Code run once (as by a program's initialisation) stays mapped until
	// DropExecutable, which finds the registered mappings by itself.
	re := regexp.MustCompile(`^(?P<host>[a-z0-9.-]+):(?P<port>[0-9]+)$`)
	b, err := json.Marshal(map[string]any{"match": re.FindStringSubmatch("example.org:443"), "at": time.Unix(0, 0).UTC().Format(time.RFC1123)})
	if err != nil {
		t.Fatal(err)
	}
	ran := mappingRSS(t, code)
	DropExecutable()
	dropped := mappingRSS(t, code)
	if dropped >= ran {
		t.Fatalf("%d KiB of the code resident after DropExecutable, %d before (%s): nothing was dropped", dropped>>10, ran>>10, b)
	}
	t.Logf("code resident: %d KiB after running more code, %d after DropExecutable", ran>>10, dropped>>10)
}

func TestParseMapsLine(t *testing.T) {
	st := unix.Stat_t{Ino: 1234, Dev: unix.Mkdev(0xfd, 1)}
	for _, tc := range []struct {
		line  string
		ok    bool
		start uintptr
	}{
		{"00400000-00c23000 r-xp 00000000 fd:01 1234                               /usr/bin/vigie_router", true, 0x400000},
		{"00c23000-01597000 r--p 00823000 fd:01 1234                               /usr/bin/vigie_router (deleted)", true, 0xc23000},
		{"01597000-0163a000 rw-p 01197000 fd:01 1234                               /usr/bin/vigie_router", false, 0},
		{"00400000-00c23000 r-xp 00000000 fd:02 1234                               /usr/bin/vigie_router", false, 0},
		{"00400000-00c23000 r-xp 00000000 fd:01 1235                               /usr/lib/other", false, 0},
		{"7f0008144000-7f000829a000 r--s 00000000 fd:01 1234                       /usr/bin/vigie_router", false, 0},
		{"0163a000-03680000 rw-p 00000000 00:00 0", false, 0},
		{"Rss:                 124 kB", false, 0},
	} {
		m, ok := parseMapsLine([]byte(tc.line), st)
		if ok != tc.ok || m.start != tc.start {
			t.Errorf("%q: got %#x, %v; want %#x, %v", tc.line, m.start, ok, tc.start, tc.ok)
		}
	}
}

func addr(b []byte) uintptr { return uintptr(reflect.ValueOf(b).Pointer()) }

// mappingOf returns the start of the mapping holding address a.
func mappingOf(t *testing.T, a uintptr) uintptr {
	t.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		lo, rest, _ := strings.Cut(line, "-")
		hi, _, _ := strings.Cut(rest, " ")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 == nil && err2 == nil && uintptr(start) <= a && a < uintptr(end) {
			return uintptr(start)
		}
	}
	t.Fatalf("no mapping holds %#x", a)
	return 0
}

// mappingRSS reads the resident size of the mapping at base.
func mappingRSS(t *testing.T, base uintptr) int64 {
	t.Helper()
	rss, err := MappingRSS(base)
	if err != nil {
		t.Fatal(err)
	}
	return rss
}
