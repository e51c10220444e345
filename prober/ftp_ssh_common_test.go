package prober

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/vigie-monitoring/vigie/config"
	"github.com/vigie-monitoring/vigie/internal/testenv"
)

func TestFTPSSHCheckRegexps(t *testing.T) {
	re := config.MustNewRegexp
	cases := []struct {
		name                string
		mustMatch, mustNot  []config.Regexp
		content, wantReason string
	}{
		{name: "no regexps", content: "x"},
		{name: "matches", mustMatch: []config.Regexp{re("^ok"), re("vigie")}, content: "ok vigie"},
		{name: "one does not match", mustMatch: []config.Regexp{re("^ok"), re("nope")}, content: "ok vigie", wantReason: `output does not match regexp "nope"`},
		{name: "forbidden absent", mustNot: []config.Regexp{re("ERROR")}, content: "ok"},
		{name: "forbidden present", mustNot: []config.Regexp{re("ERROR")}, content: "an ERROR", wantReason: `output matches regexp "ERROR"`},
	}
	for _, tc := range cases {
		err := convCheckRegexps([]byte(tc.content), "output", tc.mustMatch, tc.mustNot)
		if tc.wantReason == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil || err.Error() != tc.wantReason {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.wantReason)
		}
	}
}

func TestFTPSSHBuffer(t *testing.T) {
	b := convBuffer{max: 4}
	_, _ = b.Write([]byte("ab"))
	_, _ = b.Write([]byte("cdef"))
	_, _ = b.Write([]byte("g"))
	if string(b.buf) != "abcd" || b.total != 7 || !b.Truncated() {
		t.Fatalf("buf %q total %d truncated %v", b.buf, b.total, b.Truncated())
	}
}

// convWorldDir makes a directory every user can read, for servers that
// read files after dropping privileges (t.TempDir's are private to root).
func convWorldDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "vigie-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// convSystemUser creates a throwaway local user with a random password and
// the given home for the test (real vsftpd and sshd authenticate against
// the system's users), and deletes it afterwards. It needs root.
func convSystemUser(t testing.TB, name, home string) (password string) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "creating a throwaway system user needs root")
	}
	useradd := testenv.Binary(t, "useradd", "/usr/sbin/useradd")
	userdel := testenv.Binary(t, "userdel", "/usr/sbin/userdel")
	chpasswd := testenv.Binary(t, "chpasswd", "/usr/sbin/chpasswd")
	_ = exec.Command(userdel, name).Run() // a leftover of an interrupted run
	if out, err := exec.Command(useradd, "--no-create-home", "--home-dir", home, "--shell", "/bin/sh", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(userdel, name).CombinedOutput(); err != nil {
			t.Errorf("userdel %s: %v\n%s", name, err, out)
		}
	})
	raw := make([]byte, 12)
	rand.Read(raw)
	password = hex.EncodeToString(raw)
	cmd := exec.Command(chpasswd)
	cmd.Stdin = strings.NewReader(name + ":" + password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chpasswd %s: %v\n%s", name, err, out)
	}
	return password
}

// convStartDaemon starts a server program in its own process group and
// kills that group (the daemon and the sessions it forked) when the test
// ends; on failure it prints what the daemon wrote.
func convStartDaemon(t testing.TB, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(name), out.String())
		}
	})
}

// convExpectPhases checks a probe_*_duration_seconds family: every phase has a
// series, those that ran took some time, the others none.
func convExpectPhases(t testing.TB, registry *Registry, family string, ran, notRun []string) {
	t.Helper()
	for _, phase := range ran {
		if v, ok := registry.Value(family, phase); !ok || v <= 0 {
			t.Errorf("%s{phase=%q} = %v (present %v), want > 0", family, phase, v, ok)
		}
	}
	for _, phase := range notRun {
		if v, ok := registry.Value(family, phase); !ok || v != 0 {
			t.Errorf("%s{phase=%q} = %v (present %v), want 0", family, phase, v, ok)
		}
	}
}
