// Package testenv lets tests find the real programs they run against
// (prometheus, promtool, sshd, vsftpd, consul, chromium…). Outside CI a
// missing program skips the test with a loud reason; in CI (CI=true) it
// fails it, so that a missing install step cannot hide behind a green run.
package testenv

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// InCI reports whether the tests run in CI.
func InCI() bool { return os.Getenv("CI") == "true" }

// Unavailable skips t (outside CI) or fails it (in CI) for reason.
func Unavailable(t testing.TB, reason string) {
	t.Helper()
	if InCI() {
		t.Fatalf("CI=true and %s: .ci/run must install it", reason)
	}
	t.Skipf("SKIPPING: %s (install it, or run .ci/run)", reason)
}

// Binary returns the path of the first program found among names (looked up
// in PATH, or taken as a path when it contains a slash).
func Binary(t testing.TB, names ...string) string {
	t.Helper()
	for _, n := range names {
		if strings.Contains(n, "/") {
			if st, err := os.Stat(n); err == nil && !st.IsDir() {
				return n
			}
			continue
		}
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	Unavailable(t, "none of "+strings.Join(names, ", ")+" is installed")
	return ""
}

// Promtool returns the path of promtool.
func Promtool(t testing.TB) string {
	t.Helper()
	return Binary(t, "promtool", "/usr/bin/promtool")
}

// CheckMetrics runs `promtool check metrics` on an exposition and fails the
// test with promtool's complaints.
func CheckMetrics(t testing.TB, exposition []byte) {
	t.Helper()
	cmd := exec.Command(Promtool(t), "check", "metrics")
	cmd.Stdin = bytes.NewReader(exposition)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check metrics failed: %v\n%s\n--- exposition:\n%s", err, out, exposition)
	}
}

// FreePort returns a TCP port free on 127.0.0.1 at the time of the call.
func FreePort(t testing.TB) int {
	t.Helper()
	return freeTCPAddr(t, "127.0.0.1").Port
}

// FreeAddr returns host:port with a TCP port free on host (a loopback
// address) at the time of the call.
func FreeAddr(t testing.TB, host string) string {
	t.Helper()
	return freeTCPAddr(t, host).String()
}

func freeTCPAddr(t testing.TB, host string) *net.TCPAddr {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr)
}

// WaitForPort waits until something accepts connections on addr.
func WaitForPort(t testing.TB, addr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s after %s", addr, timeout)
}

// Buffer is a bytes.Buffer safe for concurrent writers (a logger, a child
// process's output) and readers (the test).
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
