package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	pconfig "github.com/prometheus/common/config"
)

func TestClusterConfig(t *testing.T) {
	base := "receivers: [{name: ops, log_configs: [{}]}]\nrules: [{receivers: [ops]}]\n"
	for _, tc := range []struct {
		name string
		yaml string
		want *ClusterConfig
		err  string
	}{
		{name: "absent", yaml: ""},
		{name: "defaults", yaml: "cluster: {}\n", want: &ClusterConfig{Consul: DefaultConsulConfig()}},
		{name: "name only", yaml: "cluster: {name: r1}\n", want: &ClusterConfig{Name: "r1", Consul: DefaultConsulConfig()}},
		{
			name: "all",
			yaml: "cluster:\n  name: r1\n  advertise_url: http://10.0.0.5:9116\n  consul:\n    address: consul:8501\n    scheme: https\n    token: t\n    key_prefix: /ops/vigie/\n    service: routers\n",
			want: &ClusterConfig{Name: "r1", AdvertiseURL: "http://10.0.0.5:9116", Consul: ConsulConfig{
				Address: "consul:8501", Scheme: "https", Token: "t", KeyPrefix: "ops/vigie", Service: "routers"}},
		},
		{name: "partial consul keeps defaults", yaml: "cluster:\n  consul: {address: 127.0.0.1:18500}\n",
			want: &ClusterConfig{Consul: ConsulConfig{Address: "127.0.0.1:18500", Scheme: "http", KeyPrefix: DefaultConsulKeyPrefix, Service: DefaultConsulService}}},
		{name: "bad name", yaml: "cluster: {name: 'a b'}\n", err: "cluster.name"},
		{name: "bad url", yaml: "cluster: {advertise_url: 'ftp://x'}\n", err: "cluster.advertise_url"},
		{name: "address with scheme", yaml: "cluster: {consul: {address: 'http://x:8500'}}\n", err: "cluster.consul.address"},
		{name: "address without port", yaml: "cluster: {consul: {address: 'x'}}\n", err: "cluster.consul.address"},
		{name: "bad scheme", yaml: "cluster: {consul: {scheme: ftp}}\n", err: "cluster.consul.scheme"},
		{name: "both tokens", yaml: "cluster: {consul: {token: a, token_file: /etc/hostname}}\n", err: "cluster.consul.token"},
		{name: "missing token file", yaml: "cluster: {consul: {token_file: /nonexistent/token}}\n", err: "cluster.consul.token_file"},
		{name: "empty prefix", yaml: "cluster: {consul: {key_prefix: /}}\n", err: "cluster.consul.key_prefix"},
		{name: "bad service", yaml: "cluster: {consul: {service: 'a/b'}}\n", err: "cluster.consul.service"},
		{name: "unknown key", yaml: "cluster: {consul: {addr: x:1}}\n", err: "addr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseRouter([]byte(base + tc.yaml))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one naming %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.want == nil && c.Cluster != nil:
				t.Fatalf("cluster %+v, want none", c.Cluster)
			case tc.want != nil && (c.Cluster == nil || !reflect.DeepEqual(*c.Cluster, *tc.want)):
				t.Fatalf("cluster %+v, want %+v", c.Cluster, tc.want)
			}
		})
	}
}

func TestClusterTokenMasked(t *testing.T) {
	c, err := ParseRouter([]byte("cluster: {consul: {token: s3cret}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "s3cret") {
		t.Fatalf("the token is shown:\n%s", out)
	}
}

func TestClusterHTTPConfig(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "password")
	ca := filepath.Join(dir, "ca.pem")
	for _, f := range []string{pw, ca} {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	missing := filepath.Join(dir, "missing")
	for _, tc := range []struct {
		name string
		yaml string
		want func(h *pconfig.HTTPClientConfig) bool
		err  []string
	}{
		{name: "absent: no credentials", yaml: "cluster: {}\n", want: func(h *pconfig.HTTPClientConfig) bool { return h == nil }},
		{
			name: "basic_auth",
			yaml: "cluster:\n  http_config:\n    basic_auth: {username: vigie, password: s3cret}\n",
			want: func(h *pconfig.HTTPClientConfig) bool {
				return h != nil && h.BasicAuth.Username == "vigie" && h.BasicAuth.Password == "s3cret" && h.FollowRedirects && h.EnableHTTP2
			},
		},
		{
			name: "password_file and ca_file",
			yaml: "cluster:\n  http_config:\n    basic_auth: {username: vigie, password_file: " + pw + "}\n    tls_config: {ca_file: " + ca + "}\n",
			want: func(h *pconfig.HTTPClientConfig) bool {
				return h != nil && h.BasicAuth.PasswordFile == pw && h.TLSConfig.CAFile == ca
			},
		},
		{
			name: "authorization and proxy",
			yaml: "cluster:\n  http_config:\n    authorization: {credentials: tok}\n    proxy_url: http://127.0.0.1:3128\n",
			want: func(h *pconfig.HTTPClientConfig) bool {
				return h != nil && h.Authorization.Type == "Bearer" && string(h.Authorization.Credentials) == "tok" && h.ProxyURL.String() == "http://127.0.0.1:3128"
			},
		},
		{name: "two kinds of credentials", yaml: "cluster:\n  http_config:\n    basic_auth: {username: a, password: b}\n    authorization: {credentials: c}\n",
			err: []string{"cluster.http_config", "line 2", "at most one of basic_auth, oauth2 & authorization"}},
		{name: "password and password_file", yaml: "cluster:\n  http_config:\n    basic_auth: {username: a, password: b, password_file: " + pw + "}\n",
			err: []string{"cluster.http_config", "password"}},
		{name: "missing password_file", yaml: "cluster:\n  http_config:\n    basic_auth: {username: a, password_file: " + missing + "}\n",
			err: []string{"line 3", "cluster.http_config.basic_auth.password_file", "cannot read the file"}},
		{name: "missing ca_file", yaml: "cluster:\n  http_config:\n    tls_config: {ca_file: " + missing + "}\n",
			err: []string{"cluster.http_config.tls_config.ca_file", "cannot read the file"}},
		{name: "missing credentials_file", yaml: "cluster:\n  http_config:\n    authorization: {credentials_file: " + missing + "}\n",
			err: []string{"cluster.http_config.authorization.credentials_file"}},
		{name: "cert without key", yaml: "cluster:\n  http_config:\n    tls_config: {cert_file: " + pw + "}\n",
			err: []string{"cluster.http_config", "key_file"}},
		{name: "unknown key", yaml: "cluster:\n  http_config:\n    basic_auth: {user: a}\n", err: []string{"user"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseRouter([]byte(tc.yaml))
			if len(tc.err) > 0 {
				if err == nil {
					t.Fatalf("no error, want one naming %q", tc.err)
				}
				for _, want := range tc.err {
					if !strings.Contains(err.Error(), want) {
						t.Fatalf("error %q, want it to name %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.want(c.Cluster.HTTPConfig) {
				t.Fatalf("http_config %+v", c.Cluster.HTTPConfig)
			}
		})
	}
}

func TestClusterHTTPConfigSecretsMasked(t *testing.T) {
	for _, tc := range []struct{ yaml, shown string }{
		{"    basic_auth: {username: vigie, password: hunter2}\n    proxy_connect_header: {X-Proxy-Auth: [proxysecret]}\n    proxy_url: http://127.0.0.1:3128\n", "username: vigie"},
		{"    oauth2: {client_id: x, client_secret: hunter2, token_url: 'http://127.0.0.1/t'}\n", "client_id: x"},
		{"    authorization: {credentials: hunter2}\n", "type: Bearer"},
	} {
		c, err := ParseRouter([]byte("cluster:\n  http_config:\n" + tc.yaml))
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{"hunter2", "proxysecret"} {
			if strings.Contains(string(out), secret) {
				t.Errorf("%s is shown:\n%s", secret, out)
			}
		}
		if !strings.Contains(string(out), tc.shown) || !strings.Contains(string(out), "<secret>") {
			t.Errorf("the block is not shown, or not masked:\n%s", out)
		}
		// The shown configuration is read back as it was, but for the
		// masks.
		if _, err := ParseRouter(out); err != nil {
			t.Fatalf("the shown configuration does not parse: %v\n%s", err, out)
		}
	}
}

func TestClusterPeerHTTPConfigDefault(t *testing.T) {
	c, err := ParseRouter([]byte("cluster: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Cluster.PeerHTTPConfig(); !reflect.DeepEqual(got, pconfig.DefaultHTTPClientConfig) {
		t.Fatalf("PeerHTTPConfig without a block: %+v, want the defaults (no credentials)", got)
	}
}
