//go:build linux

package residency

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Executable turns fault-around off on the read-only mappings of the
// running program's executable (its code and read-only data) and drops the
// pages mapped so far, which the program maps again as it reads them: from
// then on the process keeps resident the pages of its executable it uses,
// and not their neighbours. The pages stay in the page cache (a later read
// is a minor fault, no I/O), and their content cannot differ: the mappings
// are private and read-only, and a mapping with a page of its own (a
// debugger's breakpoint) is registered but not dropped.
//
// Call it as early as possible (package atstart calls it from an init),
// once: closing the result gives fault-around back, and a second call
// registers nothing (a range is registered with one userfaultfd at most).
// Where the kernel cannot turn fault-around off (before Linux 6.7,
// userfaultfd filtered), it does nothing and Exe.Ranges is 0.
func Executable() *Exe {
	nfa := NewNoFaultAround()
	if nfa == nil {
		return &Exe{}
	}
	e := &Exe{nfa: nfa}
	for _, m := range executableMappings("/proc/self") {
		if !nfa.Register(m.start, m.end-m.start) {
			continue
		}
		e.Ranges++
		e.Bytes += m.end - m.start
		if m.anonymous == 0 {
			_, _, _ = unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, unix.MADV_DONTNEED)
		}
	}
	if e.Ranges == 0 {
		nfa.Close()
		e.nfa = nil
	}
	return e
}

// DropExecutable drops the pages mapped so far in the executable's
// mappings where fault-around is off (registered by Executable), as
// Executable does when it registers them:
// called when the program's initialisation is over, it takes out of the
// resident set the pages only the initialisation read (flags, tables,
// registries built once), and the pages the program reads again come back
// one by one. Where nothing is registered it does nothing: with
// fault-around, dropping would map most of it back.
func DropExecutable() {
	for _, m := range executableMappings("/proc/self") {
		if m.registered && m.anonymous == 0 {
			_, _, _ = unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, unix.MADV_DONTNEED)
		}
	}
}

// Exe is what Executable registered.
type Exe struct {
	nfa *NoFaultAround
	// Ranges and Bytes are the mappings registered and their size.
	Ranges int
	Bytes  uintptr
}

// Close gives fault-around back.
func (e *Exe) Close() {
	if e.nfa != nil {
		e.nfa.Close()
		e.nfa = nil
	}
}

// Resident is the state of the read-only mappings of a process's
// executable.
type Resident struct {
	// Mappings and Size are the mappings and their size in bytes; RSS is
	// how much of them is resident.
	Mappings  int
	Size, RSS int64
	// Registered: fault-around is off in all of them.
	Registered bool
}

// ExecutableOf reads the state of the read-only mappings of process pid's
// executable from /proc/<pid>/smaps.
func ExecutableOf(pid int) (Resident, error) {
	proc := "/proc/" + strconv.Itoa(pid)
	ms := executableMappings(proc)
	if len(ms) == 0 {
		return Resident{}, fmt.Errorf("residency: no read-only mapping of the executable in %s/smaps", proc)
	}
	r := Resident{Mappings: len(ms), Registered: true}
	for _, m := range ms {
		r.Size += int64(m.end - m.start)
		r.RSS += int64(m.rss) << 10
		r.Registered = r.Registered && m.registered
	}
	return r, nil
}

// mapping is one mapping of /proc/<pid>/smaps.
type mapping struct {
	start, end uintptr
	// rss is its Rss field (kB).
	rss int
	// anonymous is the mapping's Anonymous field (kB): copies of its pages
	// made for this process.
	anonymous int
	// registered: VmFlags has uw, registered with a userfaultfd for
	// write-protection (fault-around off).
	registered bool
}

// executableMappings returns the mappings of the executable's file that
// are not writable, from <proc>/smaps: they are told by the file's device
// and inode, which stay right when the file was renamed or replaced since
// the start.
func executableMappings(proc string) []mapping {
	var st unix.Stat_t
	if err := unix.Stat(proc+"/exe", &st); err != nil {
		return nil
	}
	f, err := os.Open(proc + "/smaps")
	if err != nil {
		return nil
	}
	defer f.Close()
	var (
		out []mapping
		cur *mapping
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		if m, ok := parseMapsLine(line, st); ok {
			out = append(out, m)
			cur = &out[len(out)-1]
			continue
		} else if isMapsLine(line) {
			cur = nil
			continue
		}
		if cur == nil {
			continue
		}
		if v, ok := bytes.CutPrefix(line, []byte("Anonymous:")); ok {
			cur.anonymous = kB(v)
		} else if v, ok := bytes.CutPrefix(line, []byte("Rss:")); ok {
			cur.rss = kB(v)
		} else if v, ok := bytes.CutPrefix(line, []byte("VmFlags:")); ok {
			for _, fl := range bytes.Fields(v) {
				if string(fl) == "uw" {
					cur.registered = true
				}
			}
		}
	}
	if sc.Err() != nil {
		return nil
	}
	return out
}

// kB reads a field's value, "    124 kB".
func kB(v []byte) int {
	fields := bytes.Fields(v)
	if len(fields) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(string(fields[0]))
	return n
}

// isMapsLine tells a mapping's first line ("7f39f0000000-7f3a00000000 r--p
// …") from its fields ("Rss:  4 kB").
func isMapsLine(line []byte) bool {
	dash := bytes.IndexByte(line, '-')
	sp := bytes.IndexByte(line, ' ')
	return dash > 0 && sp > dash
}

// parseMapsLine returns the mapping of a first line when it maps the file
// st, read-only.
//
//	00400000-00c23000 r-xp 00000000 fd:00 1234  /usr/bin/vigie_router
func parseMapsLine(line []byte, st unix.Stat_t) (mapping, bool) {
	f := bytes.Fields(line)
	if len(f) < 6 || !isMapsLine(line) {
		return mapping{}, false
	}
	addrs, perms, dev, inode := f[0], f[1], f[3], f[4]
	if len(perms) < 4 || perms[0] != 'r' || perms[1] != '-' || perms[3] != 'p' {
		return mapping{}, false
	}
	ino, err := strconv.ParseUint(string(inode), 10, 64)
	if err != nil || ino != st.Ino {
		return mapping{}, false
	}
	maj, minor, ok := bytes.Cut(dev, []byte(":"))
	if !ok {
		return mapping{}, false
	}
	ma, err1 := strconv.ParseUint(string(maj), 16, 32)
	mi, err2 := strconv.ParseUint(string(minor), 16, 32)
	if err1 != nil || err2 != nil || uint32(ma) != unix.Major(st.Dev) || uint32(mi) != unix.Minor(st.Dev) {
		return mapping{}, false
	}
	lo, hi, _ := bytes.Cut(addrs, []byte("-"))
	start, err1 := strconv.ParseUint(string(lo), 16, 64)
	end, err2 := strconv.ParseUint(string(hi), 16, 64)
	if err1 != nil || err2 != nil || end <= start {
		return mapping{}, false
	}
	return mapping{start: uintptr(start), end: uintptr(end)}, true
}

// MappingRSS returns how much of this process's mapping that starts at
// base is resident, in bytes, from /proc/self/smaps.
func MappingRSS(base uintptr) (int64, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, fmt.Errorf("residency: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		line := sc.Bytes()
		if isMapsLine(line) {
			lo, _, _ := bytes.Cut(line, []byte("-"))
			start, err := strconv.ParseUint(string(lo), 16, 64)
			in = err == nil && uintptr(start) == base
			continue
		}
		if v, ok := bytes.CutPrefix(line, []byte("Rss:")); ok && in {
			return int64(kB(v)) << 10, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("residency: /proc/self/smaps: %w", err)
	}
	return 0, fmt.Errorf("residency: no mapping at %#x in /proc/self/smaps", base)
}
