package deploy

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	routerconfig "github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/config"
	"github.com/vigie-monitoring/vigie/internal/testenv"
)

func TestQuickstartConfigsLoad(t *testing.T) {
	c, err := config.Load("quickstart/vigie.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Discovery.Static) == 0 {
		t.Fatal("quick start exporter config discovers nothing")
	}
	if _, err := routerconfig.LoadRouter("quickstart/vigie-router.yml"); err != nil {
		t.Fatal(err)
	}
}

// TestQuickstartRuns runs README's `make run` command (scripts/run.sh) for
// real: both binaries start on their default ports, the demo target that
// nothing listens on is announced DOWN in the router's log, and Ctrl-C
// stops both.
func TestQuickstartRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs both binaries")
	}
	for _, addr := range []string{"127.0.0.1:9115", "127.0.0.1:9116"} {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			testenv.Unavailable(t, addr+" is already in use; the quick start needs it")
		}
	}
	build := exec.Command("make", "-C", "..", "build")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	cmd := exec.Command("../scripts/run.sh")
	cmd.Env = append(os.Environ(), "VIGIE_RUN_STATE="+t.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }()

	lines := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var log strings.Builder
	deadline := time.After(60 * time.Second)
	for found := false; !found; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("run.sh ended early:\n%s", log.String())
			}
			log.WriteString(l + "\n")
			// The line README's quick start shows.
			found = strings.Contains(l, `msg=Notification integration=log/log/0 receiver=log kind=down`) && quickstartDown.MatchString(l)
		case <-deadline:
			t.Fatalf("no DOWN notification for the demo target within 60s:\n%s", log.String())
		}
	}
	// Ctrl-C (SIGINT to the process group, as a terminal does) stops both.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	done := make(chan error, 1)
	go func() {
		for l := range lines {
			log.WriteString(l + "\n")
		}
		done <- cmd.Wait()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("run.sh did not stop on Ctrl-C:\n%s", log.String())
	}
	for _, addr := range []string{"127.0.0.1:9115", "127.0.0.1:9116"} {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			t.Errorf("%s still listening after Ctrl-C", addr)
		}
	}
	if !strings.Contains(log.String(), ">> stopped") {
		t.Errorf("run.sh did not report stopping:\n%s", log.String())
	}
}

// quickstartDown is the summary README's quick start shows, up to the time
// and the seconds between the two failed probes.
var quickstartDown = regexp.MustCompile(`text="http://127\.0\.0\.1:9/ \(http_2xx\) is DOWN since \d\d:\d\d UTC, 2 failed probes over \d+s: connection refused by 127\.0\.0\.1:9"`)
