package config

import (
	"os"
	"strings"
	"testing"
)

func TestLoadGoodConfigs(t *testing.T) {
	for _, f := range []string{"testdata/good.yml", "testdata/blackbox-upstream-v0.28.yml", "testdata/blackbox-debian-0.23.yml", "default.yml"} {
		t.Run(f, func(t *testing.T) {
			c, err := Load(f)
			if err != nil {
				t.Fatalf("Load(%s): %v", f, err)
			}
			if len(c.Modules) == 0 {
				t.Fatal("no modules loaded")
			}
		})
	}
}

func TestUpstreamDefaultsApplied(t *testing.T) {
	c, err := Load("testdata/blackbox-upstream-v0.28.yml")
	if err != nil {
		t.Fatal(err)
	}
	m := c.Modules["http_post_2xx"]
	if !m.HTTP.IPProtocolFallback || !m.HTTP.HTTPClientConfig.FollowRedirects || !m.HTTP.HTTPClientConfig.EnableHTTP2 {
		t.Errorf("http defaults not applied: %+v", m.HTTP)
	}
	if m.ICMP.TTL != DefaultICMPTTL || !m.DNS.Recursion {
		t.Errorf("icmp/dns defaults not applied")
	}
	// Upstream quirk: a grpc module without a grpc: block has no fallback.
	c2, err := Parse([]byte("modules:\n  g:\n    prober: grpc\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c2.Modules["g"].GRPC.IPProtocolFallback {
		t.Error("grpc module without grpc block must not get ip_protocol_fallback")
	}
	if !c.Modules["grpc"].GRPC.IPProtocolFallback {
		t.Error("grpc block must default ip_protocol_fallback to true")
	}
	if got := c.Modules["ssh_banner_extract"].TCP.QueryResponse[0].Labels[1].Value; got != "${2}" {
		t.Errorf("labels value = %q", got)
	}
}

func TestBadConfigs(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string // substrings of the error
	}{
		{"unknown field", "modules:\n  m:\n    prober: http\n    http:\n      foo: 1\n", []string{"line 5", "field foo not found"}},
		{"unknown top-level", "modulez: {}\n", []string{"line 1", "field modulez not found"}},
		{"bad prober", "modules:\n  m:\n    prober: invalid\n", []string{"line 3", "prober 'invalid' is not valid"}},
		{"missing prober", "modules:\n  m:\n    timeout: 5s\n", []string{"prober must be set"}},
		{"bearer token twice", "modules:\n  m:\n    prober: http\n    http:\n      bearer_token: a\n      bearer_token_file: b\n", []string{"at most one of bearer_token & bearer_token_file must be configured"}},
		{"dns without query name", "modules:\n  m:\n    prober: dns\n    dns:\n      query_type: A\n", []string{"line 4", "query name must be set for DNS module"}},
		{"dns bad class", "modules:\n  m:\n    prober: dns\n    dns:\n      query_name: x\n      query_class: X\n", []string{"line 6", "query class 'X' is not valid"}},
		{"dns bad type", "modules:\n  m:\n    prober: dns\n    dns:\n      query_name: x\n      query_type: X\n", []string{"query type 'X' is not valid"}},
		{"dns bad rcode", "modules:\n  m:\n    prober: dns\n    dns:\n      query_name: x\n      valid_rcodes: [NOPE]\n", []string{"rcode 'NOPE' is not valid"}},
		{"header matcher without regexp", "modules:\n  m:\n    prober: http\n    http:\n      fail_if_header_matches:\n        - header: X\n", []string{"regexp must be set for HTTP header matchers"}},
		{"header matcher without header", "modules:\n  m:\n    prober: http\n    http:\n      fail_if_header_matches:\n        - regexp: x\n", []string{"header name must be set for HTTP header matchers"}},
		{"bad body regexp", "modules:\n  m:\n    prober: http\n    http:\n      fail_if_body_matches_regexp: [':[']\n", []string{"line 5", "could not compile regular expression", `":["`}},
		{"bad tcp regexp", "modules:\n  m:\n    prober: tcp\n    tcp:\n      query_response:\n        - expect: ':['\n", []string{"line 6", "could not compile regular expression"}},
		{"bad CEL", "modules:\n  m:\n    prober: http\n    http:\n      fail_if_body_json_matches_cel: 'foo.bar'\n", []string{"line 5", "could not compile CEL program", "foo.bar"}},
		{"compression mismatch", "modules:\n  m:\n    prober: http\n    http:\n      compression: gzip\n      headers:\n        Accept-Encoding: deflate\n", []string{`invalid configuration "Accept-Encoding: deflate", "compression: gzip"`}},
		{"compression reject all", "modules:\n  m:\n    prober: http\n    http:\n      compression: gzip\n      headers:\n        Accept-Encoding: '*;q=0.0'\n", []string{`invalid configuration "Accept-Encoding: *;q=0.0", "compression: gzip"`}},
		{"body and body_file", "modules:\n  m:\n    prober: http\n    http:\n      body: x\n      body_file: y\n", []string{"setting body and body_file both are not allowed"}},
		{"body_size_limit without unit", "modules:\n  m:\n    prober: http\n    http:\n      body_size_limit: 100\n", []string{"line 5", "invalid size \"100\""}},
		{"http3 with http2", "modules:\n  m:\n    prober: http\n    http:\n      enable_http3: true\n", []string{"when enable_http3 is true, enable_http2 must be set to false"}},
		{"http3 with other versions", "modules:\n  m:\n    prober: http\n    http:\n      enable_http3: true\n      enable_http2: false\n      valid_http_versions: [\"HTTP/1.1\", \"HTTP/3.0\"]\n", []string{"HTTP/3 and HTTP/2.0/1.1 cannot be used together"}},
		{"icmp ttl negative", "modules:\n  m:\n    prober: icmp\n    icmp:\n      ttl: -1\n", []string{"line 5", `"ttl" cannot be negative`}},
		{"icmp ttl overflow", "modules:\n  m:\n    prober: icmp\n    icmp:\n      ttl: 256\n", []string{`"ttl" cannot exceed 255`}},
		{"expect and expect_bytes", "modules:\n  m:\n    prober: unix\n    unix:\n      query_response:\n        - expect: '^PONG'\n          expect_bytes: PONG\n", []string{"expect and expect_bytes"}},
		{"websocket basic auth", "modules:\n  m:\n    prober: websocket\n    websocket:\n      http_config:\n        basic_auth:\n          username: u\n", []string{"both username and password must be set for websocket basic_auth"}},
		{"websocket bearer whitespace", "modules:\n  m:\n    prober: websocket\n    websocket:\n      http_config:\n        bearer_token: '   '\n", []string{"bearer_token cannot be empty or whitespace only"}},
		{"websocket header newline", "modules:\n  m:\n    prober: websocket\n    websocket:\n      http_config:\n        headers:\n          X-Test-Header: \"a\\nb\"\n", []string{`websocket header value contains illegal characters (newline) in header "X-Test-Header"`}},
		{"ssh bad fingerprint", "modules:\n  m:\n    prober: ssh\n    ssh:\n      expected_host_key_fingerprints: [md5]\n", []string{"line 5", "not in OpenSSH SHA256 form"}},
		{"ftp tls and starttls", "modules:\n  m:\n    prober: ftp\n    ftp:\n      tls: true\n      starttls: true\n", []string{"cannot both be set"}},
		{"policy bad cidr", "modules: {}\nsecurity:\n  targets:\n    deny: ['10.0.0.0/33']\n", []string{"line 4", "invalid CIDR"}},
		{"negative timeout", "modules:\n  m:\n    prober: tcp\n    timeout: -5s\n", []string{"line 4", "timeout must not be negative"}},
		{"not yaml", "modules: [\n", []string{"yaml"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil {
				t.Fatalf("Parse accepted:\n%s", tc.yaml)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadErrorPrefix(t *testing.T) {
	f := t.TempDir() + "/bad.yml"
	if err := os.WriteFile(f, []byte("modules:\n  m:\n    prober: invalid\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(f)
	if err == nil || !strings.HasPrefix(err.Error(), "error parsing config file: ") {
		t.Fatalf("got %v", err)
	}
	if _, err := Load(t.TempDir() + "/missing.yml"); err == nil || !strings.HasPrefix(err.Error(), "error reading config file: ") {
		t.Fatalf("got %v", err)
	}
}

func TestSecretsMasked(t *testing.T) {
	c, err := Load("testdata/good.yml")
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"mysecret", "sekret-token", "sshsecret", "hdrsecret", "hdrtoken", "wssecret"} {
		if strings.Contains(string(out), secret) {
			t.Errorf("marshalled config reveals %q:\n%s", secret, out)
		}
	}
	// Header values are secrets unless the header is public.
	for _, public := range []string{"User-Agent: vigie-test", "Sec-WebSocket-Protocol: chat", "Accept-Encoding: br;q=1.0, gzip;q=0.9"} {
		if !strings.Contains(string(out), public) {
			t.Errorf("public header %q hidden:\n%s", public, out)
		}
	}
	if got := c.Modules["http_post_2xx"].HTTP.Headers["X-Api-Key"]; got != "hdrsecret" {
		t.Errorf("masking changed the value probes use: %q", got)
	}
	if !strings.Contains(string(out), "<secret>") {
		t.Errorf("no <secret> placeholder in:\n%s", out)
	}
	// The masked output must itself load (what /config shows is a valid config).
	if _, err := Parse(out); err != nil {
		t.Errorf("marshalled config does not parse again: %v\n%s", err, out)
	}
}

func TestRoundTripKeepsExpressions(t *testing.T) {
	c, err := Load("testdata/good.yml")
	if err != nil {
		t.Fatal(err)
	}
	out, _ := c.Marshal()
	for _, want := range []string{"fail_if_body_json_not_matches_cel: body.foo == 'bar'", "body_size_limit: 1KiB", "- test"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("marshalled config lacks %q:\n%s", want, out)
		}
	}
}

func TestIsCompressionAcceptEncodingValid(t *testing.T) {
	cases := []struct {
		enc, ae string
		want    bool
	}{
		{"", "gzip", true},
		{"gzip", "gzip", true},
		{"gzip", "gzip;q=1.0", true},
		{"gzip", "compress, gzip", true},
		{"br", "gzip, compress", false},
		{"br", "gzip, compress, *", true},
		{"br", "gzip, compress, *;q=0.1", true},
		{"br", "gzip, compress, br;q=0.0", false},
		{"br", "gzip, compress, *;q=0.0", false},
		{"br", "gzip;q=1.0, compress;q=0.5, br;q=0.1, *;q=0.0", true},
		{"br", "*;q=0.0, compress;q=0.5, br;q=0.1, gzip;q=1.0", true},
		{"br", " gzip;q=1.0, compress; q=0.5, br;q=0.1, *; q=0.0 ", true},
	}
	for _, c := range cases {
		if got := isCompressionAcceptEncodingValid(c.enc, c.ae); got != c.want {
			t.Errorf("isCompressionAcceptEncodingValid(%q, %q) = %v, want %v", c.enc, c.ae, got, c.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, file := range []string{"testdata/good.yml", "testdata/blackbox-upstream-v0.28.yml", "default.yml"} {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("modules:\n  m:\n    prober: dns\n    dns:\n      query_name: x\n      valid_rcodes: [NOPE]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		// A config that loads must render and load again.
		out, err := c.Marshal()
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		if _, err := Parse(out); err != nil {
			t.Fatalf("re-Parse of marshalled config failed: %v\n%s", err, out)
		}
	})
}

func TestYAMLSyntaxErrorLines(t *testing.T) {
	for in, want := range map[string]string{
		"modules:\n  m:\n    prober: [tcp\n": "line 3: did not find expected",
		"modules: [\"a\" \"b\"]\n":           "line 1: did not find expected",
	} {
		_, err := Parse([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want %q", in, err, want)
		}
	}
}

func TestDNSBlockWithoutQueryNameOnlyMattersForDNSModules(t *testing.T) {
	if _, err := Parse([]byte("modules:\n  h:\n    prober: http\n    dns:\n      query_type: A\n")); err != nil {
		t.Errorf("a dns block in an http module must load: %v", err)
	}
	if _, err := Parse([]byte("modules:\n  d:\n    prober: dns\n")); err == nil || !strings.Contains(err.Error(), "query name must be set for DNS module") {
		t.Errorf("a dns module without query_name: %v", err)
	}
}
