package config

import (
	"strings"
	"testing"
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
			case tc.want != nil && (c.Cluster == nil || *c.Cluster != *tc.want):
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
