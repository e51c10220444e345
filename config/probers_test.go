package config

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// TestProberTableComplete: every row of the prober table has what the
// configuration, the probe, the target policy and discovery need, and a
// block in Module under its name.
func TestProberTableComplete(t *testing.T) {
	blocks := map[string]bool{}
	mt := reflect.TypeFor[Module]()
	for i := range mt.NumField() {
		key, _, _ := strings.Cut(mt.Field(i).Tag.Get("yaml"), ",")
		blocks[key] = true
	}
	seen := map[string]bool{}
	for _, p := range Probers() {
		switch {
		case p.Name == "" || seen[p.Name]:
			t.Errorf("prober %q: empty or listed twice", p.Name)
		case p.validate == nil:
			t.Errorf("prober %s has no validator", p.Name)
		case p.parse == nil:
			t.Errorf("prober %s has no target parser", p.Name)
		case p.format == nil:
			t.Errorf("prober %s has no target formatter", p.Name)
		case !blocks[p.Name]:
			t.Errorf("prober %s has no block in Module", p.Name)
		}
		seen[p.Name] = true
		if got, ok := LookupProber(p.Name); !ok || got.Name != p.Name {
			t.Errorf("LookupProber(%q) = %v, %v", p.Name, got.Name, ok)
		}
		// A module of the prober loads (with whatever it requires).
		yaml := "modules:\n  m:\n    prober: " + p.Name + "\n"
		if p.Name == "dns" {
			yaml += "    dns: {query_name: example.org}\n"
		}
		if _, err := Parse([]byte(yaml)); err != nil {
			t.Errorf("a module of prober %s does not load: %v", p.Name, err)
		}
	}
	// Every block of Module but the module's own keys is a prober's.
	for key := range blocks {
		if key != "prober" && key != "timeout" && !seen[key] {
			t.Errorf("Module block %q belongs to no prober", key)
		}
	}
	if _, err := Parse([]byte("modules:\n  m:\n    prober: smtp\n")); err == nil ||
		!strings.Contains(err.Error(), "(valid: http, tcp, icmp, dns, grpc, unix, websocket, tls, ftp, ssh)") {
		t.Errorf("unknown prober: %v", err)
	}
}

// TestDiscoveredTargetsParseBack: the target discovery writes for a service
// instance, read back by the prober it is written for, connects to that
// instance: same host, and the service's port (or the prober's default
// when the service has none).
func TestDiscoveredTargetsParseBack(t *testing.T) {
	// defaultPort is what each prober connects to when the target has no
	// port ("" for none; "-" when a port is required).
	defaultPort := map[string]func(scheme string, useTLS bool) string{
		"http":      func(s string, _ bool) string { return map[bool]string{false: "80", true: "443"}[s == "https"] },
		"websocket": func(s string, _ bool) string { return map[bool]string{false: "80", true: "443"}[s == "https"] },
		"grpc":      func(_ string, tls bool) string { return map[bool]string{false: "80", true: "443"}[tls] },
		"dns":       func(_ string, tls bool) string { return map[bool]string{false: "53", true: "853"}[tls] },
		"ftp":       func(_ string, tls bool) string { return map[bool]string{false: "21", true: "990"}[tls] },
		"tls":       func(string, bool) string { return "443" },
		"ssh":       func(string, bool) string { return "22" },
		"tcp":       func(string, bool) string { return "-" },
		"icmp":      func(string, bool) string { return "" },
		"unix":      func(string, bool) string { return "" },
	}
	hosts := []string{"db.example.org", "192.0.2.10", "2001:db8::1", "fe80::1"}
	ports := []int{0, 22, 443, 8080}
	for _, p := range Probers() {
		def, ok := defaultPort[p.Name]
		if !ok {
			t.Errorf("prober %s: add its default port to this test", p.Name)
			continue
		}
		for _, host := range hosts {
			for _, port := range ports {
				for _, scheme := range []string{"http", "https"} {
					for _, useTLS := range []bool{false, true} {
						a := ServiceAddress{Host: host, Port: port, Scheme: scheme, Path: "/health"}
						target := FormatTarget(p.Name, a)
						got, err := p.ParseTarget(target, useTLS)
						want := Target{Host: host, Port: def(scheme, useTLS)}
						switch {
						case !p.Network:
							// A socket path: discovery has none to give,
							// the address is taken as one.
							want.Host = target
						case port > 0 && want.Port != "":
							want.Port = strconv.Itoa(port)
						}
						if want.Port == "-" {
							if err == nil {
								t.Errorf("%s: %q (from %+v) parsed without the port it needs: %+v", p.Name, target, a, got)
							}
							continue
						}
						if err != nil || got.Host != want.Host || got.Port != want.Port {
							t.Errorf("%s (tls %v): %+v → %q → %q, %q, %v; want %q, %q", p.Name, useTLS, a, target, got.Host, got.Port, err, want.Host, want.Port)
						}
						if got.URL != nil && got.URL.Path != "/health" {
							t.Errorf("%s: %q lost the service's path: %q", p.Name, target, got.URL.Path)
						}
					}
				}
			}
		}
	}
}

// TestFormatTargetUnknownProber: a module the exporter does not know gets
// <host>:<port>, as the README says.
func TestFormatTargetUnknownProber(t *testing.T) {
	for _, tc := range []struct {
		a    ServiceAddress
		want string
	}{
		{ServiceAddress{Host: "db.example.org", Port: 5432}, "db.example.org:5432"},
		{ServiceAddress{Host: "2001:db8::1", Port: 53}, "[2001:db8::1]:53"},
		{ServiceAddress{Host: "db.example.org"}, "db.example.org"},
	} {
		if got := FormatTarget("no-such-prober", tc.a); got != tc.want {
			t.Errorf("FormatTarget(%+v) = %q, want %q", tc.a, got, tc.want)
		}
	}
}

// TestApplyHostname: /probe's hostname sets the Host header of http
// modules and the TLS server name of tcp, tls and ftp ones (unless the
// module has one); a Host header that says otherwise is an error.
func TestApplyHostname(t *testing.T) {
	apply := func(m Module) (Module, error) {
		p, _ := LookupProber(m.Prober)
		err := p.ApplyHostname(&m, "www.example.org")
		return m, err
	}
	if m, err := apply(Module{Prober: "http", HTTP: HTTPProbe{Headers: Headers{"X": "y"}}}); err != nil || m.HTTP.Headers["Host"] != "www.example.org" || m.HTTP.Headers["X"] != "y" {
		t.Errorf("http: %v %v", m.HTTP.Headers, err)
	}
	if _, err := apply(Module{Prober: "http", HTTP: HTTPProbe{Headers: Headers{"host": "other.example.org"}}}); err == nil {
		t.Error("http: a conflicting Host header was accepted")
	}
	if m, _ := apply(Module{Prober: "tcp"}); m.TCP.TLSConfig.ServerName != "www.example.org" {
		t.Errorf("tcp: server name %q", m.TCP.TLSConfig.ServerName)
	}
	m := Module{Prober: "tls"}
	m.TLS.TLSConfig.ServerName = "set.example.org"
	if m, _ := apply(m); m.TLS.TLSConfig.ServerName != "set.example.org" {
		t.Errorf("tls: configured server name replaced by %q", m.TLS.TLSConfig.ServerName)
	}
	if m, _ := apply(Module{Prober: "ftp"}); m.FTP.TLSConfig.ServerName != "www.example.org" {
		t.Errorf("ftp: server name %q", m.FTP.TLSConfig.ServerName)
	}
	if m, err := apply(Module{Prober: "ssh"}); err != nil || !reflect.DeepEqual(m, Module{Prober: "ssh"}) {
		t.Errorf("ssh: changed by hostname: %+v %v", m, err)
	}
}
