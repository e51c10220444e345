package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/internal/testenv"
)

func post(t *testing.T, url string, header map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestCrossSiteReloadRefused: a web page cannot make the browser reload the
// exporter's configuration; curl can.
func TestCrossSiteReloadRefused(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "vigie.yml")
	if err := os.WriteFile(cfg, []byte("modules:\n  first:\n    prober: tcp\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := start(t, dir, "--config.file="+cfg)
	base := "http://" + p.addr
	if err := os.WriteFile(cfg, []byte("modules:\n  second:\n    prober: tcp\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, browser := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site", "Origin": "http://127.0.0.2:8000", "Content-Type": "application/x-www-form-urlencoded"},
		{"Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1:1"},
		{"Origin": "https://evil.example"},
	} {
		if code, body := post(t, base+"/-/reload", browser); code != http.StatusForbidden || !strings.Contains(body, "cross-site POST refused") {
			t.Errorf("POST /-/reload from %v: %d %s", browser, code, body)
		}
	}
	if _, body := httpGet(t, base+"/config"); !strings.Contains(body, "first:") {
		t.Fatalf("the configuration was reloaded:\n%s", body)
	}
	if _, m := httpGet(t, base+"/metrics"); !strings.Contains(m, "vigie_exporter_http_cross_origin_refused_total 3") {
		t.Error("refusals not counted")
	}
	// Reads stay open to other sites (a probe is not a change).
	req, _ := http.NewRequest("GET", base+"/probe?module=first&target=127.0.0.1:1", nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("cross-site GET /probe: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	curl := testenv.Binary(t, "curl", "/usr/bin/curl")
	if out, err := exec.Command(curl, "-sS", "-f", "-X", "POST", base+"/-/reload").CombinedOutput(); err != nil {
		t.Fatalf("curl -X POST /-/reload: %v %s", err, out)
	}
	if _, body := httpGet(t, base+"/config"); !strings.Contains(body, "second:") {
		t.Errorf("curl did not reload:\n%s", body)
	}
}

// TestServerTimeouts: a slow request body and an idle kept-alive connection
// are cut after --web.read-timeout and --web.idle-timeout; a probe lasting
// longer than --web.write-timeout still answers.
func TestServerTimeouts(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
		io.WriteString(w, "finally")
	}))
	defer slow.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "vigie.yml")
	if err := os.WriteFile(cfg, []byte("modules:\n  http_2xx:\n    prober: http\n    timeout: 20s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := start(t, dir, "--config.file="+cfg, "--web.read-timeout=1s", "--web.write-timeout=1s", "--web.idle-timeout=1s")

	// A body sent a byte every 100 ms: cut, whereas without a read timeout
	// the server would wait for it forever after answering.
	c, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /-/reload HTTP/1.1\r\nHost: %s\r\nContent-Length: 100000\r\n\r\n", p.addr)
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				_, _ = c.Write([]byte("x"))
			}
		}
	}()
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err = io.Copy(io.Discard, c)
	close(stop)
	// Closed either way: a close with the client's bytes still unread
	// in the exporter's socket is sent as a reset, not a FIN.
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("slow body: the exporter did not close the connection: %v", err)
	}

	// An idle kept-alive connection.
	c2, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	fmt.Fprintf(c2, "GET /-/healthy HTTP/1.1\r\nHost: %s\r\n\r\n", p.addr)
	br := bufio.NewReader(c2)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.ReadAll(resp.Body)
	_ = c2.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("idle connection: %v, want EOF (closed by the exporter)", err)
	}

	// A probe of 3 s, with a write timeout of 1 s.
	req, _ := http.NewRequest("GET", "http://"+p.addr+"/probe?module=http_2xx&target="+slow.URL, nil)
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "20")
	presp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("slow probe: %v", err)
	}
	body, _ := io.ReadAll(presp.Body)
	presp.Body.Close()
	if !strings.Contains(string(body), "probe_success 1") {
		t.Errorf("slow probe answered:\n%s", body)
	}
}
