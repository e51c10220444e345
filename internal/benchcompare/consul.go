package benchcompare

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// consulAgent is a `consul agent -dev` on 127.0.0.1 for a cluster of
// routers: its HTTP API on a free port, no DNS or gRPC.
type consulAgent struct {
	addr string
	proc *process
}

// ConsulBinary is the Consul agent the scale test's router cluster uses
// when none is named: $VIGIE_CONSUL_BIN (what the tests use), else
// consul from PATH.
func ConsulBinary() string {
	if bin := os.Getenv("VIGIE_CONSUL_BIN"); bin != "" {
		return bin
	}
	return "consul"
}

func startConsul(ctx context.Context, bin, workDir string) (*consulAgent, error) {
	ports := make([]int, 4) // http, server, serf lan, serf wan
	for i := range ports {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		_, p, _ := net.SplitHostPort(addr)
		ports[i], _ = strconv.Atoi(p)
	}
	logPath := filepath.Join(workDir, "consul.log")
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "agent", "-dev", "-bind=127.0.0.1", "-client=127.0.0.1", "-node=vigie-bench",
		fmt.Sprintf("-http-port=%d", ports[0]), "-dns-port=-1", "-grpc-port=-1", "-grpc-tls-port=-1",
		fmt.Sprintf("-server-port=%d", ports[1]), fmt.Sprintf("-serf-lan-port=%d", ports[2]), fmt.Sprintf("-serf-wan-port=%d", ports[3]),
		"-log-level=warn")
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start consul (%s; set -consul or VIGIE_CONSUL_BIN): %w", bin, err)
	}
	c := &consulAgent{addr: fmt.Sprintf("127.0.0.1:%d", ports[0]), proc: &process{cmd: cmd, log: log, exited: make(chan struct{})}}
	go func() {
		c.proc.err = cmd.Wait()
		log.Close()
		close(c.proc.exited)
	}()
	// Ready once it has a leader.
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if resp, err := client.Get("http://" + c.addr + "/v1/status/leader"); err == nil {
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK && len(bytes.Trim(body, "\"\n")) > 0 {
				return c, nil
			}
		}
		select {
		case <-c.proc.exited:
			return nil, fmt.Errorf("consul exited (%v); see %s", c.proc.err, logPath)
		case <-ctx.Done():
			c.proc.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.proc.stop()
			return nil, fmt.Errorf("consul has no leader after 60s; see %s", logPath)
		}
	}
}
