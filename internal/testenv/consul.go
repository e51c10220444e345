package testenv

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// ConsulBinary finds a Consul agent: $VIGIE_CONSUL_BIN (what .ci/run sets
// from ../shared/tools/install-consul), then PATH. Without one the test
// skips loudly, or fails in CI.
func ConsulBinary(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv("VIGIE_CONSUL_BIN"); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			Unavailable(t, fmt.Sprintf("VIGIE_CONSUL_BIN=%s: %v", bin, err))
		}
		return bin
	}
	return Binary(t, "consul")
}

// Consul is a `consul agent -dev` on 127.0.0.1 with free, non-default
// ports (no DNS, no gRPC), stopped when the test ends.
type Consul struct {
	// Addr is the HTTP API's host:port.
	Addr string

	t     testing.TB
	bin   string
	args  []string
	cmd   *exec.Cmd
	out   *Buffer
	waitc chan struct{}
}

// StartConsul starts an agent and waits until it has a leader.
func StartConsul(t testing.TB, extraArgs ...string) *Consul {
	t.Helper()
	c := &Consul{t: t, bin: ConsulBinary(t)}
	// A free port may be taken by another test before the agent binds
	// it (the machine is shared): then try other ports.
	for attempt := 0; ; attempt++ {
		// Four different ports: a port freed by one FreePort may be the
		// next one's, and the agent refuses two uses of one port.
		var ports []int
		for len(ports) < 4 {
			if p := FreePort(t); !slices.Contains(ports, p) {
				ports = append(ports, p)
			}
		}
		port := ports[0]
		c.Addr = fmt.Sprintf("127.0.0.1:%d", port)
		c.args = append([]string{"agent", "-dev", "-bind=127.0.0.1", "-client=127.0.0.1", "-node=vigie-test",
			fmt.Sprintf("-http-port=%d", port), "-dns-port=-1", "-grpc-port=-1", "-grpc-tls-port=-1",
			fmt.Sprintf("-server-port=%d", ports[1]),
			fmt.Sprintf("-serf-lan-port=%d", ports[2]),
			fmt.Sprintf("-serf-wan-port=%d", ports[3]),
			"-log-level=warn"}, extraArgs...)
		if c.start() || attempt == 4 {
			break
		}
	}
	if c.cmd == nil {
		t.Fatalf("consul could not bind its ports:\n%s", c.out)
	}
	t.Cleanup(func() {
		c.Stop()
		if t.Failed() {
			t.Logf("--- consul output:\n%s", c.out)
		}
	})
	return c
}

// Start starts the agent (again, after Stop: with an empty catalog and KV,
// as a dev agent keeps nothing) and waits for its leader.
func (c *Consul) Start() {
	c.t.Helper()
	if !c.start() {
		c.t.Fatalf("consul could not bind its ports:\n%s", c.out)
	}
}

// start starts the agent; false when a port was taken meanwhile.
func (c *Consul) start() bool {
	c.t.Helper()
	c.out = &Buffer{}
	c.cmd = exec.Command(c.bin, c.args...)
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	if err := c.cmd.Start(); err != nil {
		c.t.Fatalf("start consul: %v", err)
	}
	c.waitc = make(chan struct{})
	go func(cmd *exec.Cmd, waitc chan struct{}) {
		_ = cmd.Wait()
		close(waitc)
	}(c.cmd, c.waitc)
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + c.Addr + "/v1/status/leader")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK && len(bytes.Trim(body, "\"\n")) > 0 {
				return true
			}
		}
		select {
		case <-c.waitc:
			c.cmd = nil
			if strings.Contains(c.out.String(), "address already in use") {
				return false
			}
			c.t.Fatalf("consul exited:\n%s", c.out)
		default:
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("consul has no leader after 60s:\n%s", c.out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop kills the agent.
func (c *Consul) Stop() {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	_ = c.cmd.Process.Kill()
	<-c.waitc
	c.cmd = nil
}
