package discovery

import (
	"maps"
	"slices"
	"testing"

	consul "github.com/hashicorp/consul/api"

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
