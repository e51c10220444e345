package benchcompare

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Exporter is one side of the comparison: a blackbox_exporter-compatible
// program taking --config.file and --web.listen-address.
type Exporter struct {
	Name string // Blackbox or Vigie
	Path string
	// Args are passed after --config.file and --web.listen-address.
	Args []string
	// PprofArgs are added when a CPU profile is wanted (nil when the
	// exporter always serves /debug/pprof/, as blackbox_exporter does).
	PprofArgs []string
	// Prefix comes before every flag (a sub-command).
	Prefix []string
}

// process is a running exporter.
type process struct {
	cmd    *exec.Cmd
	addr   string
	log    *os.File
	exited chan struct{} // closed when the process has ended
	err    error         // how it ended, once exited is closed
}

// startExporter starts e on a free loopback port with the configuration
// file config, its output going to logPath.
func startExporter(e Exporter, config, logPath string, pprof bool) (*process, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := append(append(slices.Clone(e.Prefix), "--config.file="+config, "--web.listen-address="+addr), e.Args...)
	if pprof {
		args = append(args, e.PprofArgs...)
	}
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(e.Path, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start %s: %w", e.Name, err)
	}
	p := &process{cmd: cmd, addr: addr, log: log, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		log.Close()
		close(p.exited)
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// waitReady waits until the exporter answers /-/healthy, or fails early
// when it exits.
func (p *process) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: time.Second}
	url := "http://" + p.addr + "/-/healthy"
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("exited before it was ready (%v); see %s", p.err, p.log.Name())
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s; see %s", timeout, p.log.Name())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop asks the exporter to end (SIGTERM) and kills it after a grace period.
func (p *process) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// freeAddr returns a loopback address with a port free at the time of the call.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Version returns the first line of `path --version` (kingpin prints it on
// standard error in older versions, on standard output in newer ones).
func Version(ctx context.Context, path string, prefix ...string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, append(slices.Clone(prefix), "--version")...).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if err != nil && line == "" {
		return "unknown (" + err.Error() + ")"
	}
	return line
}

// BuildVigie builds vigie_exporter from the module in repoDir into out, as
// `make build` does (minus the version stamps).
func BuildVigie(ctx context.Context, repoDir, out string) error {
	return BuildCommand(ctx, repoDir, "vigie_exporter", out)
}

// BuildCommand builds one of vigie's programs (cmd/<name>) from repoDir
// with the version stamps of `make build`, without cgo as the release
// builds are (.promu.yml): a static binary, which maps no C library (the
// dynamic one keeps some 1.7 MiB more resident).
func BuildCommand(ctx context.Context, repoDir, name, out string) error {
	if _, err := os.Stat(filepath.Join(repoDir, "cmd", name, "main.go")); err != nil {
		return fmt.Errorf("%s is not vigie's repository (run from its root, or pass the binary's path): %w", repoDir, err)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-ldflags", versionLDFlags(ctx, repoDir), "-o", out, "./cmd/"+name)
	cmd.Dir = repoDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/%s: %w\n%s", name, err, b)
	}
	return nil
}

// versionLDFlags stamps the version and revision into the build, so that
// the report says which vigie it measured.
func versionLDFlags(ctx context.Context, repoDir string) string {
	const pkg = "github.com/prometheus/common/version"
	v, _ := os.ReadFile(filepath.Join(repoDir, "VERSION"))
	rev := "unknown"
	cmd := exec.CommandContext(ctx, "git", "describe", "--always", "--dirty")
	cmd.Dir = repoDir
	if out, err := cmd.Output(); err == nil {
		rev = strings.TrimSpace(string(out))
	}
	branch := "unknown"
	cmd = exec.CommandContext(ctx, "git", "rev-parse", "--abbrev-ref", "HEAD")
	cmd.Dir = repoDir
	if out, err := cmd.Output(); err == nil {
		branch = strings.TrimSpace(string(out))
	}
	return fmt.Sprintf("-X %s.Version=%s -X %s.Revision=%s -X %s.Branch=%s",
		pkg, strings.TrimSpace(string(v)), pkg, rev, pkg, branch)
}

var errNoProc = errors.New("/proc is not available: the harness measures CPU and memory from /proc (Linux only)")

// checkProc makes sure /proc/<pid>/stat can be read, here.
func checkProc() error {
	if _, err := cpuTicks(os.Getpid()); err != nil {
		return fmt.Errorf("%w: %v", errNoProc, err)
	}
	return nil
}
