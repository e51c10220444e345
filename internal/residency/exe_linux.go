//go:build linux

package residency

import (
	"bufio"
	"bytes"
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
// Call it first thing in main, and keep the result for the process's life:
// closing it gives fault-around back. Where the kernel cannot turn
// fault-around off (before Linux 6.7, userfaultfd filtered), it does
// nothing and Exe.Ranges is 0.
func Executable() *Exe {
	nfa := NewNoFaultAround()
	if nfa == nil {
		return &Exe{}
	}
	e := &Exe{nfa: nfa}
	for _, m := range executableMappings() {
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

// mapping is one line of /proc/self/smaps.
type mapping struct {
	start, end uintptr
	// anonymous is the mapping's Anonymous field (kB): copies of its pages
	// made for this process.
	anonymous int
}

// executableMappings returns the mappings of the executable's file that
// are not writable, from /proc/self/smaps: they are told by the file's
// device and inode, which stay right when the file was renamed or
// replaced since the start.
func executableMappings() []mapping {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &st); err != nil {
		return nil
	}
	f, err := os.Open("/proc/self/smaps")
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
		if cur != nil && bytes.HasPrefix(line, []byte("Anonymous:")) {
			fields := bytes.Fields(line[len("Anonymous:"):])
			if len(fields) > 0 {
				if n, err := strconv.Atoi(string(fields[0])); err == nil {
					cur.anonymous = n
				}
			}
		}
	}
	if sc.Err() != nil {
		return nil
	}
	return out
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
