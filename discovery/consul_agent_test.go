package discovery

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	consul "github.com/hashicorp/consul/api"
	pconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"

	"github.com/vigie-monitoring/vigie/config"
	"github.com/vigie-monitoring/vigie/internal/testenv"
)

// consulBinary finds a Consul binary: $VIGIE_CONSUL_BIN, then PATH, then the
// copy the tool cache holds on these machines.
func consulBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("VIGIE_CONSUL_BIN"); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			testenv.Unavailable(t, fmt.Sprintf("VIGIE_CONSUL_BIN=%s: %v", bin, err))
		}
		return bin
	}
	return testenv.Binary(t, "consul", "/root/.cache/vigie-tools/consul-v1.14.11/consul")
}

// consulAgent is a `consul agent -dev` on loopback with non-default ports.
type consulAgent struct {
	t     *testing.T
	bin   string
	args  []string
	addr  string
	cmd   *exec.Cmd
	out   *testenv.Buffer
	waitc chan struct{}
}

func startConsulAgent(t *testing.T, extraArgs ...string) *consulAgent {
	t.Helper()
	a := &consulAgent{t: t, bin: consulBinary(t)}
	// Four different ports: a port freed by one FreePort may be the next
	// one's, and the agent refuses two uses of one port.
	var ports []int
	for len(ports) < 4 {
		if p := testenv.FreePort(t); !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	a.addr = fmt.Sprintf("127.0.0.1:%d", ports[0])
	a.args = []string{"agent", "-dev", "-bind=127.0.0.1", "-client=127.0.0.1", "-node=vigie-test",
		fmt.Sprintf("-http-port=%d", ports[0]), "-dns-port=-1", "-grpc-port=-1", "-grpc-tls-port=-1",
		fmt.Sprintf("-server-port=%d", ports[1]),
		fmt.Sprintf("-serf-lan-port=%d", ports[2]),
		fmt.Sprintf("-serf-wan-port=%d", ports[3]),
		"-log-level=warn"}
	a.args = append(a.args, extraArgs...)
	a.start()
	t.Cleanup(a.stop)
	return a
}

func (a *consulAgent) start() {
	a.t.Helper()
	a.out = &testenv.Buffer{}
	a.cmd = exec.Command(a.bin, a.args...)
	a.cmd.Stdout, a.cmd.Stderr = a.out, a.out
	if err := a.cmd.Start(); err != nil {
		a.t.Fatalf("start consul: %v", err)
	}
	a.waitc = make(chan struct{})
	go func() {
		_ = a.cmd.Wait()
		close(a.waitc)
	}()
	// Registrations need a leader.
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + a.addr + "/v1/status/leader")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && len(bytes.Trim(body, `"`+"\n")) > 0 {
				return
			}
		}
		select {
		case <-a.waitc:
			a.t.Fatalf("consul exited:\n%s", a.out)
		default:
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("consul has no leader after 20s:\n%s", a.out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (a *consulAgent) stop() {
	if a.cmd == nil || a.cmd.Process == nil {
		return
	}
	_ = a.cmd.Process.Kill()
	<-a.waitc
	a.cmd = nil
}

func (a *consulAgent) client() *consul.Client {
	a.t.Helper()
	c, err := consul.NewClient(&consul.Config{Address: a.addr})
	if err != nil {
		a.t.Fatal(err)
	}
	return c
}

func (a *consulAgent) register(reg *consul.AgentServiceRegistration) {
	a.t.Helper()
	if err := a.client().Agent().ServiceRegister(reg); err != nil {
		a.t.Fatalf("register %s: %v", reg.ID, err)
	}
}

// recordingProxy is a TLS reverse proxy in front of the agent: it lets the
// test check what the provider sends (token, datacenter, blocking index) and
// count its requests.
type recordingProxy struct {
	srv    *httptest.Server
	caFile string

	mu       sync.Mutex
	requests []*http.Request
	// refuse answers 403 to the requests it matches, as Consul does for a
	// token without access.
	refuse func(*http.Request) bool
}

func (p *recordingProxy) setRefuse(f func(*http.Request) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse = f
}

func newRecordingProxy(t *testing.T, backend string) *recordingProxy {
	t.Helper()
	target, _ := url.Parse("http://" + backend)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ErrorLog = log.New(io.Discard, "", 0) // Consul is stopped on purpose
	p := &recordingProxy{}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.requests = append(p.requests, r.Clone(r.Context()))
		refuse := p.refuse != nil && p.refuse(r)
		p.mu.Unlock()
		if refuse {
			http.Error(w, "Permission denied: token with AccessorID 'x' lacks permission 'service:read'", http.StatusForbidden)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	p.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	p.srv.StartTLS()
	t.Cleanup(p.srv.Close)
	p.caFile = filepath.Join(t.TempDir(), "ca.pem")
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw})
	if err := os.WriteFile(p.caFile, ca, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *recordingProxy) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.requests)
}

func (p *recordingProxy) all() []*http.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.requests)
}

// TestConsulAgent runs the Consul provider against a real agent: a
// registration is served within seconds, a deregistration disappears, a
// stopped Consul keeps the last known targets and raises the error metric,
// and a Consul back (restarted with a fresh catalog) is followed again.
func TestConsulAgent(t *testing.T) {
	agent := startConsulAgent(t)
	proxy := newRecordingProxy(t, agent.addr)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("test-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.ConsulSDConfig{
		Server:          strings.TrimPrefix(proxy.srv.URL, "https://"),
		Scheme:          "https",
		Datacenter:      "dc1",
		TokenFile:       tokenFile,
		TLSConfig:       pconfig.TLSConfig{CAFile: proxy.caFile},
		Tags:            []string{"vigie"},
		AllowStale:      true,
		RefreshInterval: model.Duration(50 * time.Millisecond),
		Wait:            model.Duration(20 * time.Second),
		MetaPrefix:      "vigie_",
	}
	logger, logs := testLogger(t)
	metrics := NewMetrics(nil)
	p, err := NewConsulProvider(cfg, testModules, logger, metrics)
	if err != nil {
		t.Fatal(err)
	}
	p.backoffMin, p.backoffMax = 50*time.Millisecond, 300*time.Millisecond
	m := startManager(t, ManagerOptions{Metrics: metrics, ReadyTimeout: time.Hour})
	m.SetProviders([]NamedProvider{{Name: "consul[0]", Kind: "consul", Key: "k", Provider: p}})
	// The catalog holds only the untagged "consul" service: ready and empty.
	waitPairs(t, m, "")

	agent.register(&consul.AgentServiceRegistration{ID: "web-1", Name: "web", Tags: []string{"vigie"}, Port: 8080, Address: "127.0.0.1",
		Meta: map[string]string{"vigie_modules": "http_2xx,tls_expiry", "vigie_path": "/health"}})
	agent.register(&consul.AgentServiceRegistration{ID: "web-2", Name: "web", Tags: []string{"vigie", "vigie_modules=tcp_connect"}, Port: 8081,
		Check: &consul.AgentServiceCheck{TTL: "10m", Status: consul.HealthCritical}})
	agent.register(&consul.AgentServiceRegistration{ID: "untagged", Name: "other", Port: 9, Meta: map[string]string{"vigie_modules": "tcp_connect"}})
	groups := waitPairs(t, m, "", "http://127.0.0.1:8080/health http_2xx", "127.0.0.1:8080 tls_expiry", "127.0.0.1:8081 tcp_connect")
	l := labelsOf(groups, "http://127.0.0.1:8080/health", "http_2xx")
	for k, want := range map[string]string{"__meta_consul_service": "web", "__meta_consul_service_id": "web-1", "__meta_consul_dc": "dc1",
		"__meta_consul_node": "vigie-test", "__meta_consul_health": "passing", "__meta_consul_tags": ",vigie,", SourceLabel: "consul:web"} {
		if l[k] != want {
			t.Errorf("%s = %q, want %q (labels %v)", k, l[k], want, l)
		}
	}
	if h := labelsOf(groups, "127.0.0.1:8081", "tcp_connect")["__meta_consul_health"]; h != "critical" {
		t.Errorf("a critical instance is still probed (passing_only is off) and says so: health = %q", h)
	}

	// No polling: with nothing changing, the watchers wait in Consul.
	before := proxy.count()
	time.Sleep(time.Second)
	if n := proxy.count() - before; n > 4 {
		t.Errorf("%d requests in a quiet second with a 50ms refresh interval: the watchers poll instead of blocking", n)
	}
	// What went over the wire: the token and datacenter on every request,
	// blocking queries on the catalog and on the service.
	blocking := map[string]bool{}
	for _, req := range proxy.all() {
		if got := req.Header.Get("X-Consul-Token"); got != "test-token" {
			t.Errorf("%s: X-Consul-Token = %q, want the token_file's content", req.URL.Path, got)
		}
		q := req.URL.Query()
		if q.Get("dc") != "dc1" {
			t.Errorf("%s?%s: want dc=dc1", req.URL.Path, req.URL.RawQuery)
		}
		if q.Get("index") != "" && q.Get("wait") == "20000ms" {
			blocking[req.URL.Path] = true
		}
	}
	if !blocking["/v1/catalog/services"] || !blocking["/v1/health/service/web"] {
		t.Errorf("blocking queries seen on %v, want the catalog and the web service", blocking)
	}
	if v := metricValue(t, metrics.consulUp.WithLabelValues(cfg.Server, "dc1")); v != 1 {
		t.Errorf("vigie_discovery_consul_up = %v, want 1", v)
	}
	if v := metricValue(t, metrics.consulServices.WithLabelValues(cfg.Server, "dc1")); v != 1 {
		t.Errorf("watched services = %v, want 1 (web)", v)
	}

	// Deregistration.
	if err := agent.client().Agent().ServiceDeregister("web-1"); err != nil {
		t.Fatal(err)
	}
	waitPairs(t, m, "", "127.0.0.1:8081 tcp_connect")

	// Consul stops: the targets stay, the error shows.
	agent.stop()
	eventually(t, 10*time.Second, "consul_up to drop", func() bool {
		return metricValue(t, metrics.consulUp.WithLabelValues(cfg.Server, "dc1")) == 0
	})
	if v := metricValue(t, metrics.consulErrors.WithLabelValues(cfg.Server, "dc1")); v < 1 {
		t.Errorf("consul errors = %v, want ≥ 1", v)
	}
	time.Sleep(300 * time.Millisecond) // several retries
	waitPairs(t, m, "", "127.0.0.1:8081 tcp_connect")
	if !strings.Contains(logs.String(), "Error querying Consul, keeping the last known targets") {
		t.Errorf("the outage must be logged:\n%s", logs)
	}

	// Consul is back, with a fresh (dev mode) catalog and lower indexes.
	agent.start()
	agent.register(&consul.AgentServiceRegistration{ID: "api-1", Name: "api", Tags: []string{"vigie"}, Port: 9090, Address: "127.0.0.2",
		Meta: map[string]string{"vigie_modules": "http_2xx", "vigie_scheme": "https"}})
	waitPairs(t, m, "", "https://127.0.0.2:9090 http_2xx")
	if v := metricValue(t, metrics.consulUp.WithLabelValues(cfg.Server, "dc1")); v != 1 {
		t.Errorf("vigie_discovery_consul_up = %v after recovery, want 1", v)
	}
	// And changes after the recovery are followed too.
	agent.register(&consul.AgentServiceRegistration{ID: "api-2", Name: "api", Tags: []string{"vigie"}, Port: 9091, Address: "127.0.0.2",
		Meta: map[string]string{"vigie_modules": "http_2xx"}})
	waitPairs(t, m, "", "https://127.0.0.2:9090 http_2xx", "http://127.0.0.2:9091 http_2xx")
}

// passing_only asks Consul for healthy instances only.
func TestConsulAgentPassingOnly(t *testing.T) {
	agent := startConsulAgent(t)
	agent.register(&consul.AgentServiceRegistration{ID: "ok", Name: "web", Tags: []string{"vigie"}, Port: 1, Address: "127.0.0.1",
		Meta: map[string]string{"vigie_modules": "tcp_connect"}})
	agent.register(&consul.AgentServiceRegistration{ID: "sick", Name: "web", Tags: []string{"vigie"}, Port: 2, Address: "127.0.0.1",
		Meta:  map[string]string{"vigie_modules": "tcp_connect"},
		Check: &consul.AgentServiceCheck{TTL: "10m", Status: consul.HealthCritical}})
	p, err := NewConsulProvider(config.ConsulSDConfig{
		Server: agent.addr, Scheme: "http", Tags: []string{"vigie"}, PassingOnly: true, MetaPrefix: "vigie_",
		RefreshInterval: model.Duration(50 * time.Millisecond), Wait: model.Duration(10 * time.Second),
	}, testModules, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := startManager(t, ManagerOptions{ReadyTimeout: time.Hour})
	m.SetProviders([]NamedProvider{{Name: "consul[0]", Kind: "consul", Key: "k", Provider: p}})
	waitPairs(t, m, "", "127.0.0.1:1 tcp_connect")
	if err := agent.client().Agent().UpdateTTL("service:sick", "", consul.HealthPassing); err != nil {
		t.Fatal(err)
	}
	waitPairs(t, m, "", "127.0.0.1:1 tcp_connect", "127.0.0.1:2 tcp_connect")
}

// The example registrations shipped in deploy/consul give the targets their
// docs/discovery.md promises.
func TestConsulDeployExamples(t *testing.T) {
	dir, err := filepath.Abs("../deploy/consul")
	if err != nil {
		t.Fatal(err)
	}
	agent := startConsulAgent(t, "-config-dir="+dir)
	defaults, err := config.Parse(config.DefaultYAML())
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewConsulProvider(config.ConsulSDConfig{
		Server: agent.addr, Scheme: "http", Tags: []string{"vigie"}, MetaPrefix: "vigie_", AllowStale: true,
		RefreshInterval: model.Duration(50 * time.Millisecond), Wait: model.Duration(10 * time.Second),
	}, moduleProbers(defaults), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := startManager(t, ManagerOptions{ReadyTimeout: time.Hour})
	m.SetProviders([]NamedProvider{{Name: "consul[0]", Kind: "consul", Key: "k", Provider: p}})
	waitPairs(t, m, "",
		"https://192.0.2.10:443/health http_2xx", "192.0.2.10:443 tls_expiry",
		"127.0.0.1:22 ssh_banner", "127.0.0.1 icmp")
}

// A service Consul refuses to show (ACL) is reported by name, does not hold
// back the other services' targets beyond the initial timeout, and is
// followed once allowed.
func TestConsulAgentServiceRefused(t *testing.T) {
	agent := startConsulAgent(t)
	proxy := newRecordingProxy(t, agent.addr)
	proxy.setRefuse(func(r *http.Request) bool { return r.URL.Path == "/v1/health/service/secret" })
	for _, name := range []string{"web", "secret"} {
		agent.register(&consul.AgentServiceRegistration{ID: name, Name: name, Tags: []string{"vigie"}, Port: 80, Address: "127.0.0.1",
			Meta: map[string]string{"vigie_modules": "tcp_connect", "vigie_path": name}})
	}
	logger, logs := testLogger(t)
	metrics := NewMetrics(nil)
	p, err := NewConsulProvider(config.ConsulSDConfig{
		Server: strings.TrimPrefix(proxy.srv.URL, "https://"), Scheme: "https", TLSConfig: pconfig.TLSConfig{CAFile: proxy.caFile},
		Tags: []string{"vigie"}, MetaPrefix: "vigie_",
		RefreshInterval: model.Duration(50 * time.Millisecond), Wait: model.Duration(10 * time.Second),
	}, map[string]string{"tcp_connect": "tcp"}, logger, metrics)
	if err != nil {
		t.Fatal(err)
	}
	p.backoffMin, p.backoffMax = 50*time.Millisecond, 200*time.Millisecond
	p.initialTimeout = 300 * time.Millisecond
	m := startManager(t, ManagerOptions{Metrics: metrics, ReadyTimeout: time.Hour})
	m.SetProviders([]NamedProvider{{Name: "consul[0]", Kind: "consul", Key: "k", Provider: p}})
	// A service that never answered is not a service without instances:
	// /sd stays unavailable, naming it, rather than serving it as gone.
	eventually(t, 5*time.Second, "a 503 naming the refused service", func() bool {
		code, body := getStatus(t, m, "")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "consul[0]: consul:secret: ") && strings.Contains(body, "403")
	})
	eventually(t, 5*time.Second, "the refusal in the log", func() bool {
		return strings.Contains(logs.String(), "Error querying Consul service, keeping its last known targets") &&
			strings.Contains(logs.String(), "service=secret") && strings.Contains(logs.String(), "403")
	})
	warnings := 0
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "level=WARN") && strings.Contains(line, "service=secret") {
			warnings++
		}
	}
	if n := warnings; n != 1 {
		t.Errorf("the refusal was logged %d times: once per streak is enough", n)
	}
	if !strings.Contains(logs.String(), "Some Consul services have not answered yet") {
		t.Errorf("the initial timeout must be logged:\n%s", logs)
	}
	if v := metricValue(t, metrics.consulErrors.WithLabelValues(p.cfg.Server, "")); v < 1 {
		t.Errorf("consul errors = %v, want ≥ 1", v)
	}

	// Allowed again: web and secret share the target, secret sorts after web.
	proxy.setRefuse(nil)
	waitPairs(t, m, "", "127.0.0.1:80 tcp_connect")
	eventually(t, 5*time.Second, "the secret service's targets", func() bool {
		return metricValue(t, metrics.duplicateTargets) == 1
	})
}
