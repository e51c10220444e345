package discovery

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	consul "github.com/hashicorp/consul/api"
	"github.com/prometheus/common/model"

	"github.com/vigie-monitoring/vigie/config"
)

func testConsulProvider(t *testing.T, cfg config.ConsulSDConfig) *ConsulProvider {
	t.Helper()
	if cfg.Server == "" {
		cfg.Server = "127.0.0.1:1"
	}
	if cfg.Scheme == "" {
		cfg.Scheme = "http"
	}
	if cfg.MetaPrefix == "" {
		cfg.MetaPrefix = config.DefaultConsulMetaPrefix
	}
	p, err := NewConsulProvider(cfg, testModules, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func entry(node, nodeAddr, id, svcAddr string, port int, tags []string, meta map[string]string, status string) *consul.ServiceEntry {
	return &consul.ServiceEntry{
		Node: &consul.Node{
			Node: node, Address: nodeAddr, Datacenter: "dc1",
			TaggedAddresses: map[string]string{"lan": nodeAddr, "wan": "203.0.113.1"},
			Meta:            map[string]string{"rack": "r1", "consul-network-segment": ""},
		},
		Service: &consul.AgentService{ID: id, Service: "web", Address: svcAddr, Port: port, Tags: tags, Meta: meta},
		Checks:  consul.HealthChecks{{Status: status}},
	}
}

// targetsOf flattens groups to "target module" pairs.
func targetsOf(groups []TargetGroup) []string {
	var out []string
	for _, g := range groups {
		for _, m := range g.Modules {
			for _, tg := range g.Targets {
				out = append(out, tg+" "+m)
			}
		}
	}
	slices.Sort(out)
	return out
}

func TestConsulTargetMapping(t *testing.T) {
	cases := []struct {
		name   string
		cfg    config.ConsulSDConfig
		entry  *consul.ServiceEntry
		want   []string
		reason string
	}{
		{
			name:  "meta modules, scheme and path",
			entry: entry("n1", "10.0.0.1", "web-1", "10.0.0.5", 8443, []string{"vigie"}, map[string]string{"vigie_modules": "http_2xx, tls_expiry", "vigie_scheme": "HTTPS", "vigie_path": "healthz"}, "passing"),
			want:  []string{"10.0.0.5:8443 tls_expiry", "https://10.0.0.5:8443/healthz http_2xx"},
		},
		{
			name:  "node address when the service has none; tags as settings",
			entry: entry("n1", "10.0.0.1", "ssh-1", "", 22, []string{"vigie", "vigie_modules=icmp,tcp_connect"}, nil, "passing"),
			want:  []string{"10.0.0.1 icmp", "10.0.0.1:22 tcp_connect"},
		},
		{
			name:  "meta wins over tags",
			entry: entry("n1", "10.0.0.1", "w", "", 80, []string{"vigie_modules=icmp"}, map[string]string{"vigie_modules": "http_2xx"}, "passing"),
			want:  []string{"http://10.0.0.1:80 http_2xx"},
		},
		{
			name:  "default modules",
			cfg:   config.ConsulSDConfig{DefaultModules: []string{"tcp_connect"}},
			entry: entry("n1", "10.0.0.1", "w", "", 5432, nil, nil, "passing"),
			want:  []string{"10.0.0.1:5432 tcp_connect"},
		},
		{
			name:   "no module at all",
			entry:  entry("n1", "10.0.0.1", "w", "", 5432, []string{"vigie"}, nil, "passing"),
			want:   nil,
			reason: "an instance naming no module, without default_modules, is not a target",
		},
		{
			name:  "IPv6 and websocket",
			entry: entry("n1", "2001:db8::1", "w", "", 443, nil, map[string]string{"vigie_modules": "http_2xx,ws,icmp", "vigie_scheme": "https"}, "passing"),
			want:  []string{"2001:db8::1 icmp", "https://[2001:db8::1]:443 http_2xx", "wss://[2001:db8::1]:443 ws"},
		},
		{
			name:   "module not configured here",
			entry:  entry("n1", "10.0.0.1", "w", "", 9000, nil, map[string]string{"vigie_modules": "elsewhere"}, "passing"),
			want:   []string{"10.0.0.1:9000 elsewhere"},
			reason: "a module unknown here may exist on another exporter: host:port",
		},
		{
			name:  "other meta prefix",
			cfg:   config.ConsulSDConfig{MetaPrefix: "probe_"},
			entry: entry("n1", "10.0.0.1", "w", "", 80, nil, map[string]string{"vigie_modules": "icmp", "probe_modules": "http_2xx", "probe_path": "/x"}, "passing"),
			want:  []string{"http://10.0.0.1:80/x http_2xx"},
		},
		{
			name:   "bad scheme",
			entry:  entry("n1", "10.0.0.1", "w", "", 80, nil, map[string]string{"vigie_modules": "http_2xx", "vigie_scheme": "ht tp"}, "passing"),
			want:   []string{"http://10.0.0.1:80 http_2xx"},
			reason: "an invalid scheme falls back to http",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := testConsulProvider(t, c.cfg)
			if got := targetsOf(p.groups([]*consul.ServiceEntry{c.entry})); !slices.Equal(got, c.want) {
				t.Errorf("targets = %v, want %v %s", got, c.want, c.reason)
			}
		})
	}
}

func TestConsulLabels(t *testing.T) {
	p := testConsulProvider(t, config.ConsulSDConfig{})
	e := entry("node-1", "10.0.0.1", "web-1", "10.0.0.5", 8080, []string{"vigie", "prod"},
		map[string]string{"vigie_modules": "http_2xx", "team.name": "ops"}, "warning")
	e.Checks = append(e.Checks, &consul.HealthCheck{Status: "passing"})
	e.Service.Namespace = "ns1"
	groups := p.groups([]*consul.ServiceEntry{e})
	if len(groups) != 1 {
		t.Fatalf("groups = %+v", groups)
	}
	want := map[string]string{
		"__meta_consul_address":                         "10.0.0.1",
		"__meta_consul_dc":                              "dc1",
		"__meta_consul_health":                          "warning",
		"__meta_consul_node":                            "node-1",
		"__meta_consul_service":                         "web",
		"__meta_consul_service_address":                 "10.0.0.5",
		"__meta_consul_service_id":                      "web-1",
		"__meta_consul_service_port":                    "8080",
		"__meta_consul_tags":                            ",vigie,prod,",
		"__meta_consul_namespace":                       "ns1",
		"__meta_consul_partition":                       "",
		"__meta_consul_metadata_rack":                   "r1",
		"__meta_consul_metadata_consul_network_segment": "",
		"__meta_consul_service_metadata_vigie_modules":  "http_2xx",
		"__meta_consul_service_metadata_team_name":      "ops",
		"__meta_consul_tagged_address_lan":              "10.0.0.1",
		"__meta_consul_tagged_address_wan":              "203.0.113.1",
	}
	if got := groups[0].Labels; !maps.Equal(got, want) {
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %q, want %q", k, got[k], v)
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("unexpected label %s", k)
			}
		}
	}
}

func TestConsulSelectServices(t *testing.T) {
	catalog := map[string][]string{
		"consul": nil,
		"web":    {"vigie", "prod"},
		"api":    {"vigie"},
		"db":     {"prod"},
	}
	cases := []struct {
		services, tags []string
		want           []string
	}{
		{nil, nil, []string{"api", "consul", "db", "web"}},
		{nil, []string{"vigie"}, []string{"api", "web"}},
		{nil, []string{"vigie", "prod"}, []string{"web"}},
		{[]string{"web", "db"}, nil, []string{"db", "web"}},
		{[]string{"web", "db"}, []string{"vigie"}, []string{"web"}},
	}
	for _, c := range cases {
		p := testConsulProvider(t, config.ConsulSDConfig{Services: c.services, Tags: c.tags})
		if got := slices.Sorted(maps.Keys(p.selectServices(catalog))); !slices.Equal(got, c.want) {
			t.Errorf("services %v tags %v: %v, want %v", c.services, c.tags, got, c.want)
		}
	}
}

func TestBackoffGrowsAndResets(t *testing.T) {
	p := testConsulProvider(t, config.ConsulSDConfig{})
	b := p.newBackoff()
	var last float64
	for range 10 {
		d := b.next()
		if d < b.min*3/4 || d > b.max*5/4 {
			t.Fatalf("backoff %s outside [%s, %s]", d, b.min*3/4, b.max*5/4)
		}
		last = d.Seconds()
	}
	if last < (consulBackoffMax * 3 / 4).Seconds() {
		t.Errorf("after 10 failures the backoff is %.1fs, want near the %s cap", last, consulBackoffMax)
	}
	b.reset()
	if d := b.next(); d > b.min*5/4 {
		t.Errorf("after a success the backoff starts over, got %s", d)
	}
}

// fakeConsul answers the two queries the provider makes, from a catalog the
// test changes; a service listed in refuse answers 403, and while down
// every query answers 500.
type fakeConsul struct {
	mu       sync.Mutex
	down     bool
	services map[string]int // service → port of its one instance
	refuse   map[string]bool
	index    int
}

func (f *fakeConsul) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		http.Error(w, "rpc error: No cluster leader", http.StatusInternalServerError)
		return
	}
	w.Header().Set("X-Consul-Index", strconv.Itoa(f.index))
	w.Header().Set("Content-Type", "application/json")
	switch name, isService := strings.CutPrefix(r.URL.Path, "/v1/health/service/"); {
	case r.URL.Path == "/v1/catalog/services":
		catalog := map[string][]string{}
		for name := range f.services {
			catalog[name] = []string{"vigie"}
		}
		_ = json.NewEncoder(w).Encode(catalog)
	case isService && f.refuse[name]:
		http.Error(w, "Permission denied", http.StatusForbidden)
	case isService:
		entries := []*consul.ServiceEntry{}
		if port, ok := f.services[name]; ok {
			entries = append(entries, &consul.ServiceEntry{
				Node:    &consul.Node{Node: "n1", Address: "127.0.0.1"},
				Service: &consul.AgentService{ID: name, Service: name, Address: "127.0.0.1", Port: port, Tags: []string{"vigie"}, Meta: map[string]string{"vigie_modules": "tcp_connect"}},
			})
		}
		_ = json.NewEncoder(w).Encode(entries)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeConsul) set(edit func(*fakeConsul)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	edit(f)
	f.index++
}

// TestConsulFailureIsNotEmpty: Consul failing when the exporter starts
// (no leader, a service refused) keeps /sd unavailable, naming the
// provider and the error, instead of serving its services as gone.
func TestConsulFailureIsNotEmpty(t *testing.T) {
	fake := &fakeConsul{down: true, services: map[string]int{"web": 80, "secret": 81}, refuse: map[string]bool{"secret": true}, index: 1}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	p := testConsulProvider(t, config.ConsulSDConfig{
		Server: strings.TrimPrefix(srv.URL, "http://"), Tags: []string{"vigie"},
		RefreshInterval: model.Duration(20 * time.Millisecond), Wait: model.Duration(time.Second),
	})
	p.backoffMin, p.backoffMax = 20*time.Millisecond, 50*time.Millisecond
	p.initialTimeout = 200 * time.Millisecond
	m := startManager(t, ManagerOptions{ReadyTimeout: time.Hour})
	m.SetProviders([]NamedProvider{{Name: "consul[0]", Kind: "consul", Key: "k", Provider: p}})

	unavailable := func(what string, want ...string) {
		t.Helper()
		eventually(t, 5*time.Second, what, func() bool {
			code, body := getStatus(t, m, "")
			if code != http.StatusServiceUnavailable {
				return false
			}
			for _, w := range want {
				if !strings.Contains(body, w) {
					return false
				}
			}
			return true
		})
	}
	unavailable("a 503 naming Consul's error", "consul[0]: Consul "+p.cfg.Server+": ", "No cluster leader")

	// Consul is back but refuses one service: still unavailable, naming it.
	fake.set(func(f *fakeConsul) { f.down = false })
	unavailable("a 503 naming the refused service", "consul[0]: consul:secret: ", "403")
	if _, body := getStatus(t, m, ""); strings.Contains(body, "No cluster leader") {
		t.Errorf("Consul's own error must be cleared once it answers: %q", body)
	}

	fake.set(func(f *fakeConsul) { delete(f.refuse, "secret") })
	waitPairs(t, m, "", "127.0.0.1:80 tcp_connect", "127.0.0.1:81 tcp_connect")

	// Once served, a failure keeps the last known targets.
	fake.set(func(f *fakeConsul) { f.down = true })
	time.Sleep(100 * time.Millisecond) // several failed queries
	if got := pairs(getSD(t, m, "")); !slices.Equal(got, []string{"127.0.0.1:80 tcp_connect", "127.0.0.1:81 tcp_connect"}) {
		t.Errorf("while Consul fails after start: /sd = %v", got)
	}
}

// TestConsulTargetsAreReadBackByTheirProber: for every prober of the
// exporter, the target Consul discovery writes for an instance is read by
// that prober as the instance's host and port (the prober's default port
// when the service has none; tcp needs one).
func TestConsulTargetsAreReadBackByTheirProber(t *testing.T) {
	modules := map[string]string{}
	for _, row := range config.Probers() {
		modules["m_"+row.Name] = row.Name
	}
	p, err := NewConsulProvider(config.ConsulSDConfig{Server: "127.0.0.1:1", Scheme: "http", MetaPrefix: config.DefaultConsulMetaPrefix}, modules, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range config.Probers() {
		for _, host := range []string{"web.example.org", "10.0.0.1", "2001:db8::1"} {
			for _, port := range []int{0, 8443} {
				meta := map[string]string{"vigie_modules": "m_" + row.Name, "vigie_scheme": "https", "vigie_path": "/health"}
				groups := p.groups([]*consul.ServiceEntry{entry("n1", "10.9.9.9", "id", host, port, nil, meta, "passing")})
				if len(groups) != 1 || len(groups[0].Targets) != 1 {
					t.Fatalf("%s: groups %+v", row.Name, groups)
				}
				target := groups[0].Targets[0]
				got, err := row.ParseTarget(target, false)
				switch {
				case !row.Network:
					// unix: a socket path; Consul has none to give.
				case row.Name == "tcp" && port == 0:
					if err == nil {
						t.Errorf("tcp: %q parsed without a port", target)
					}
				case row.Name == "icmp":
					if err != nil || got.Host != host || got.Port != "" {
						t.Errorf("icmp: %s → %q → %q %q (%v)", host, target, got.Host, got.Port, err)
					}
				case err != nil || got.Host != host || got.Port == "" || port > 0 && got.Port != strconv.Itoa(port):
					t.Errorf("%s: %s port %d → %q → %q %q (%v)", row.Name, host, port, target, got.Host, got.Port, err)
				}
			}
		}
	}
}
