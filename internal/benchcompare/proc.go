package benchcompare

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// defaultClockTicks is USER_HZ, the unit of the CPU times in /proc/<pid>/stat.
// It is part of Linux's user-space ABI and 100 on every architecture Go
// supports; getconf is asked first all the same, as POSIX wants.
const defaultClockTicks = 100

// ClockTicks returns the number of clock ticks per second (sysconf
// _SC_CLK_TCK), asking getconf, or 100 when getconf cannot say.
func ClockTicks(ctx context.Context) int {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "getconf", "CLK_TCK").Output()
	if err != nil {
		return defaultClockTicks
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil || n <= 0 {
		return defaultClockTicks
	}
	return n
}

// cpuTicks returns the user plus system CPU time of a process, in clock
// ticks, from /proc/<pid>/stat. It covers all the process's threads.
func cpuTicks(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	utime, stime, err := parseStat(b)
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return utime + stime, nil
}

// parseStat extracts utime and stime (fields 14 and 15, see proc(5)) from the
// contents of /proc/<pid>/stat. The command name (field 2) is in parentheses
// and may itself hold spaces and parentheses, so fields are counted from the
// last closing parenthesis.
func parseStat(b []byte) (utime, stime uint64, err error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, errors.New("no command name in parentheses")
	}
	// After the name: field 3 (state) onwards.
	fields := strings.Fields(string(b[i+1:]))
	const first = 3
	if len(fields) < 15-first+1 {
		return 0, 0, fmt.Errorf("%d fields after the command name, want at least %d", len(fields), 15-first+1)
	}
	if utime, err = strconv.ParseUint(fields[14-first], 10, 64); err != nil {
		return 0, 0, fmt.Errorf("utime: %w", err)
	}
	if stime, err = strconv.ParseUint(fields[15-first], 10, 64); err != nil {
		return 0, 0, fmt.Errorf("stime: %w", err)
	}
	return utime, stime, nil
}

// procStatus is what the harness reads from /proc/<pid>/status.
type procStatus struct {
	PeakRSS uint64 // VmHWM, bytes
	RSS     uint64 // VmRSS, bytes
	// RSSAnon and RSSFile split VmRSS: heap, stacks and the like, and the
	// pages of the binary (and libraries) mapped from the page cache.
	RSSAnon, RSSFile uint64
	Threads          int
}

func readStatus(pid int) (procStatus, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procStatus{}, err
	}
	st, err := parseStatus(b)
	if err != nil {
		return procStatus{}, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	return st, nil
}

// parseStatus reads VmHWM, VmRSS (in kB) and Threads from the contents of
// /proc/<pid>/status. VmHWM is required: it is the peak the harness reports.
func parseStatus(b []byte) (procStatus, error) {
	var st procStatus
	var sawHWM bool
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		var err error
		switch key {
		case "VmHWM":
			st.PeakRSS, err = parseKB(value)
			sawHWM = err == nil
		case "VmRSS":
			st.RSS, err = parseKB(value)
		case "RssAnon":
			st.RSSAnon, err = parseKB(value)
		case "RssFile":
			st.RSSFile, err = parseKB(value)
		case "Threads":
			st.Threads, err = strconv.Atoi(value)
		default:
			continue
		}
		if err != nil {
			return procStatus{}, fmt.Errorf("%s: %w", key, err)
		}
	}
	if !sawHWM {
		return procStatus{}, errors.New("no VmHWM line")
	}
	return st, nil
}

// parseKB parses "1234 kB" into bytes.
func parseKB(s string) (uint64, error) {
	num, unit, _ := strings.Cut(s, " ")
	if strings.TrimSpace(unit) != "kB" {
		return 0, fmt.Errorf("unexpected unit in %q", s)
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return 0, err
	}
	return n * 1024, nil
}

// icmpAllowed reports whether this process may open ICMP sockets: raw ones
// as root, datagram ones when its group is in net.ipv4.ping_group_range.
// It also returns the range, which decides the kind of socket both
// exporters use (each tries a datagram socket first).
func icmpAllowed() (bool, string) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ping_group_range")
	pingRange := strings.Join(strings.Fields(string(b)), " ")
	if err != nil {
		pingRange = "unknown"
	}
	if os.Geteuid() == 0 {
		return true, pingRange
	}
	lo, hi, ok := strings.Cut(pingRange, " ")
	if !ok {
		return false, pingRange
	}
	l, err1 := strconv.Atoi(lo)
	h, err2 := strconv.Atoi(hi)
	gid := os.Getegid()
	return err1 == nil && err2 == nil && l <= gid && gid <= h, pingRange
}
