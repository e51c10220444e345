package deploy

// The images of deploy/docker, built and run for real with Podman, the way
// `make docker` builds them: promu's binaries and the base root filesystem
// assembled from this host (scripts/docker-rootfs.sh), copied onto scratch
// by the Dockerfile, with the repository's .dockerignore. No registry is
// involved. The containers use the host's network namespace (--network
// host), so that everything stays on 127.0.0.1 and the fixtures run in the
// test process:
//
//   - the exporter container probes an HTTP target served by the test;
//   - it pings 127.0.0.1 over a raw socket (dont_fragment) with
//     --cap-drop ALL --cap-add NET_RAW, as nobody, and cannot without
//     NET_RAW;
//   - the router container takes its targets from the exporter
//     container's /sd, probes through it and delivers a DOWN notification
//     to a webhook served by the test.
//
// Podman and runc come from Debian (.ci/run installs them). Podman's own
// storage goes to a temporary directory, so that the test leaves no image
// behind and shares nothing with other users of the machine.

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/notify/webhook"
	"github.com/vigie-monitoring/vigie/internal/testenv"
)

// runcPath is where Debian's runc package installs runc; Podman is told to
// use it (its default, crun, is not installed).
const runcPath = "/usr/sbin/runc"

// podman runs podman with a private storage and Debian's runc.
type podman struct {
	bin  string
	base []string
}

func newPodman(t *testing.T) *podman {
	t.Helper()
	bin := testenv.Binary(t, "podman")
	if _, err := os.Stat(runcPath); err != nil {
		testenv.Unavailable(t, "runc is not installed ("+err.Error()+"; Debian package runc)")
	}
	dir := t.TempDir()
	p := &podman{bin: bin, base: []string{
		"--root", filepath.Join(dir, "storage"), "--runroot", filepath.Join(dir, "run"),
		"--runtime", runcPath, "--cgroup-manager", "cgroupfs", "--events-backend", "file",
	}}
	// Leave no container behind: they would keep the storage mounted.
	t.Cleanup(func() { _ = p.cmd("rm", "--force", "--all", "--volumes").Run() })
	return p
}

func (p *podman) cmd(args ...string) *exec.Cmd {
	return exec.Command(p.bin, append(append([]string{}, p.base...), args...)...)
}

// run runs a podman command and returns its standard output.
func (p *podman) run(t *testing.T, args ...string) string {
	t.Helper()
	cmd := p.cmd(args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("podman %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// container starts a detached container on the host's network. The limits
// are explicit and modest: Podman's defaults raise them to the maximum,
// which fails where the engine lacks CAP_SYS_RESOURCE (nested containers).
func (p *podman) container(t *testing.T, name string, args ...string) {
	t.Helper()
	p.run(t, append([]string{"run", "--detach", "--name", name, "--network", "host",
		"--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"}, args...)...)
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := p.cmd("logs", name).CombinedOutput()
			t.Logf("logs of container %s:\n%s", name, out)
		}
		_ = p.cmd("rm", "--force", "--volumes", name).Run()
	})
}

// listening waits until the container listens on addr, and fails at once
// when it stopped (its logs then say why).
func (p *podman) listening(t *testing.T, name, addr string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		if state := p.run(t, "inspect", "--format", "{{.State.Status}}", name); state != "running" && state != "created" {
			t.Fatalf("container %s is %s, not listening on %s", name, state, addr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("container %s does not listen on %s after 60s", name, addr)
}

// imageContext assembles the Dockerfile's build context as `make docker`
// does: promu's binaries in .build/linux-<arch>/, the base root filesystem
// in .build/docker-rootfs/, and the repository's .dockerignore.
func imageContext(t *testing.T) string {
	t.Helper()
	ctx := t.TempDir()
	arch := runtime.GOARCH
	promu := exec.Command("../scripts/promu.sh", "build", "--prefix", filepath.Join(ctx, ".build", "linux-"+arch))
	promu.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch)
	if out, err := promu.CombinedOutput(); err != nil {
		t.Fatalf("scripts/promu.sh build: %v\n%s", err, out)
	}
	if out, err := exec.Command("../scripts/docker-rootfs.sh", filepath.Join(ctx, ".build", "docker-rootfs")).CombinedOutput(); err != nil {
		t.Fatalf("scripts/docker-rootfs.sh: %v\n%s", err, out)
	}
	ignore, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	// Something the context must not carry, to check .dockerignore works.
	if err := os.MkdirAll(filepath.Join(ctx, ".build", "tools"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{".dockerignore": ignore, ".build/tools/not-in-the-context": nil} {
		if err := os.WriteFile(filepath.Join(ctx, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return ctx
}

// writeShared writes a file the containers' user (nobody) can read.
func writeShared(t *testing.T, dir, name, content string) string {
	t.Helper()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// probeResult asks an exporter for a probe's JSON rendition.
func probeResult(t *testing.T, exporter, module, target string) (success bool, reason string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, exporter+"/probe?module="+module+"&target="+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Success bool   `json:"success"`
		Reason  string `json:"reason"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("probe %s %s: %v", module, target, err)
	}
	return r.Success, r.Reason
}

func TestContainers(t *testing.T) {
	p := newPodman(t)
	ctx := imageContext(t)
	for _, target := range []string{"exporter", "router"} {
		p.run(t, "build", "--quiet", "--file", "docker/Dockerfile", "--build-arg", "OS=linux", "--build-arg", "ARCH="+runtime.GOARCH,
			"--target", target, "--tag", "vigie-"+target+":test", ctx)
	}
	for image, wantUser := range map[string]string{"vigie-exporter:test": "nobody", "vigie-router:test": "nobody"} {
		if user := p.run(t, "image", "inspect", "--format", "{{.Config.User}}", image); user != wantUser {
			t.Errorf("%s runs as %q, want %q", image, user, wantUser)
		}
	}
	if out := p.run(t, "image", "inspect", "--format", "{{.RootFS.Layers}}", "vigie-exporter:test"); strings.Count(out, "sha256:") != 2 {
		t.Errorf("vigie-exporter:test layers %s: want the base and the binary", out)
	}

	// A target the test takes down and brings back, served from here.
	var down atomic.Bool
	var probed atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		probed.Add(1)
		if down.Load() {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(target.Close)

	cfgDir := t.TempDir()
	cfg := writeShared(t, cfgDir, "vigie.yml", `
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
  icmp_raw:
    prober: icmp
    timeout: 5s
    icmp:
      preferred_ip_protocol: ip4
      dont_fragment: true # raw sockets only: needs CAP_NET_RAW
discovery:
  static:
    - files: ["targets.yml"]
      refresh_interval: 1s
security:
  targets:
    allow: ["127.0.0.0/8"]
`)
	targets := writeShared(t, cfgDir, "targets.yml", fmt.Sprintf("- targets: [%q]\n  modules: [http_2xx]\n  labels: {group: web}\n", target.URL))
	exporterAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	p.container(t, "vigie-exporter", "--cap-drop", "ALL", "--cap-add", "NET_RAW",
		"--volume", cfg+":/etc/vigie/vigie.yml:ro", "--volume", targets+":/etc/vigie/targets.yml:ro",
		"vigie-exporter:test", "--web.listen-address="+exporterAddr)
	p.listening(t, "vigie-exporter", exporterAddr)
	exporter := "http://" + exporterAddr

	t.Run("exporter runs as nobody with NET_RAW only", func(t *testing.T) {
		pid := p.run(t, "inspect", "--format", "{{.State.Pid}}", "vigie-exporter")
		status, err := os.ReadFile("/proc/" + pid + "/status")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"Uid:\t65534\t65534\t65534\t65534", "CapEff:\t0000000000002000"} {
			if !strings.Contains(string(status), want+"\n") {
				t.Errorf("the exporter's process status lacks %q:\n%s", want, status)
			}
		}
	})

	t.Run("http probe through the container", func(t *testing.T) {
		before := probed.Load()
		if ok, reason := probeResult(t, exporter, "http_2xx", target.URL); !ok {
			t.Fatalf("probe of %s failed: %s", target.URL, reason)
		}
		if probed.Load() == before {
			t.Error("the target saw no request")
		}
	})

	t.Run("raw ICMP with NET_RAW", func(t *testing.T) {
		if ok, reason := probeResult(t, exporter, "icmp_raw", "127.0.0.1"); !ok {
			t.Fatalf("ping 127.0.0.1 over a raw socket failed: %s", reason)
		}
	})

	t.Run("no raw ICMP without NET_RAW", func(t *testing.T) {
		addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		p.container(t, "vigie-exporter-nocaps", "--cap-drop", "ALL", "--volume", cfg+":/etc/vigie/vigie.yml:ro",
			"vigie-exporter:test", "--web.listen-address="+addr)
		p.listening(t, "vigie-exporter-nocaps", addr)
		ok, reason := probeResult(t, "http://"+addr, "icmp_raw", "127.0.0.1")
		if ok || !strings.Contains(reason, "operation not permitted") {
			t.Errorf("without NET_RAW: success %v, reason %q; want a permission failure", ok, reason)
		}
	})

	t.Run("router notifies a webhook", func(t *testing.T) {
		got := make(chan webhook.Message, 10)
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var m webhook.Message
			if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
				t.Errorf("webhook payload: %v", err)
			}
			got <- m
		}))
		t.Cleanup(hook.Close)
		routerCfg := writeShared(t, t.TempDir(), "vigie-router.yml", fmt.Sprintf(`
exporter:
  url: %s
  sd_refresh_interval: 1s
checks:
  interval: 1s
  retry_interval: 200ms
  timeout: 1s
rules:
  - matchers: ['module="http_2xx"']
    failures: 2
    successes: 2
    receivers: [hook]
receivers:
  - name: hook
    webhook_configs:
      - url: %s/hook
`, exporter, hook.URL))
		routerAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		// The image's default command (the state volume) and a listen
		// address on the host's loopback.
		p.container(t, "vigie-router", "--cap-drop", "ALL", "--volume", routerCfg+":/etc/vigie/vigie-router.yml:ro",
			"vigie-router:test", "--storage.path=/var/lib/vigie-router", "--web.listen-address="+routerAddr)
		p.listening(t, "vigie-router", routerAddr)

		down.Store(true)
		select {
		case m := <-got:
			if m.Status != "firing" || len(m.Alerts) != 1 {
				t.Fatalf("DOWN payload: %+v", m)
			}
			a := m.Alerts[0]
			if a.Labels["instance"] != target.URL || a.Labels["group"] != "web" || !strings.Contains(a.Annotations["summary"], "HTTP status 503") {
				t.Errorf("DOWN alert: labels %v, summary %q", a.Labels, a.Annotations["summary"])
			}
		case <-time.After(90 * time.Second):
			t.Fatal("no DOWN notification from the router container")
		}
		// The state went to the image's volume, owned by nobody.
		if out := p.run(t, "inspect", "--format", "{{range .Mounts}}{{.Destination}} {{end}}", "vigie-router"); !strings.Contains(out, "/var/lib/vigie-router") {
			t.Errorf("router mounts %q: no volume on /var/lib/vigie-router", out)
		}
	})
}
