package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/cluster"
	"github.com/vigie-monitoring/vigie/internal/testenv"
)

// Members behind --web.config.file ask each other with
// cluster.http_config: basic auth, and TLS with the CA that signed the
// members' certificates.

// authTargets are six targets, three probed by each member of r1 and r2.
func authTargets() []string {
	var out []string
	per := map[string]int{}
	for i := 0; len(out) < 6; i++ {
		tgt := fmt.Sprintf("https://auth%02d.example", i)
		owner := cluster.OwnerOf([]string{"r1", "r2"}, "http_2xx "+tgt)
		if per[owner] < 3 {
			per[owner]++
			out = append(out, tgt)
		}
	}
	return out
}

// authMember is a member behind --web.config.file: the test's requests
// to it go through client, with basic auth.
type authMember struct {
	name, url, cfg string
	p              *process
	client         *http.Client
}

// get sends an authenticated GET and returns the status and the body (a
// transport error as the body, status 0).
func (m *authMember) get(t *testing.T, path string) (int, string) {
	t.Helper()
	return m.do(t, http.MethodGet, path)
}

// post sends an authenticated POST and returns the status and the body.
func (m *authMember) post(t *testing.T, path string) (int, string) {
	t.Helper()
	code, body := m.do(t, http.MethodPost, path)
	if code == 0 {
		t.Fatal(body)
	}
	return code, body
}

func (m *authMember) do(t *testing.T, method, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, m.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("ann", "s3cret")
	resp, err := m.client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (m *authMember) metric(t *testing.T, series string) (float64, bool) {
	t.Helper()
	code, body := m.get(t, "/metrics")
	if code != http.StatusOK {
		return 0, false
	}
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			var f float64
			_, err := fmt.Sscan(v, &f)
			return f, err == nil
		}
	}
	return 0, false
}

// checksAnswer is /api/v1/checks's answer.
type checksAnswer struct {
	Total  int `json:"total"`
	Checks []struct {
		ID    string `json:"id"`
		State string `json:"state"`
	} `json:"checks"`
	Unanswered        []string          `json:"unanswered"`
	UnansweredReasons map[string]string `json:"unanswered_reasons"`
}

func (m *authMember) checks(t *testing.T) (checksAnswer, bool) {
	t.Helper()
	var a checksAnswer
	code, body := m.get(t, "/api/v1/checks")
	if code != http.StatusOK {
		return a, false
	}
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		t.Fatalf("/api/v1/checks: %v\n%s", err, body)
	}
	return a, true
}

const clusterAuthConfig = `
exporter:
  url: %s
  sd_refresh_interval: 1s
` + fastChecks + `rules:
  - failures: 2
    successes: 2
    receivers: [ops]
receivers:
  - name: ops
    log_configs: [{}]
cluster:
  name: %s
  advertise_url: %s
  consul:
    address: %s
    key_prefix: %s
%s`

// startAuthPair starts r1 and r2 behind webCfg (scheme: http or https,
// client: how the test reaches them), each with its own fake exporter
// serving targets, and the cluster block's http_config (indented YAML
// under cluster, "" for none); it waits until both see each other and
// probe their share.
func startAuthPair(t *testing.T, scheme, webCfg string, client *http.Client, targets []string, httpConfig string) []*authMember {
	t.Helper()
	consul := testenv.StartConsul(t)
	x := newClusterExporters(t, 2, targets)
	prefix := fmt.Sprintf("vigie-test/auth-%d", time.Now().UnixNano())
	var ms []*authMember
	for i, name := range []string{"r1", "r2"} {
		addr := testenv.FreeAddr(t, "127.0.0.2")
		url := scheme + "://" + addr
		cfg := writeConfig(t, fmt.Sprintf(clusterAuthConfig, x.srvs[i].URL, name, url, consul.Addr, prefix, httpConfig))
		p := start(t, filepath.Join(binaries(t), "vigie_router"), "--config.file="+cfg, "--storage.path="+t.TempDir(),
			"--web.listen-address="+addr, "--web.config.file="+webCfg, "--log.level=debug")
		ms = append(ms, &authMember{name: name, url: url, cfg: cfg, p: p, client: client})
	}
	for _, m := range ms {
		waitCond(t, m.name+" to be ready and see both members", func() bool {
			if code, _ := m.get(t, "/-/ready"); code != http.StatusOK {
				return false
			}
			n, ok := m.metric(t, "vigie_router_cluster_members")
			owned, ok2 := m.metric(t, "vigie_router_checks_owned")
			return ok && ok2 && n == 2 && owned == float64(len(targets)/2)
		})
	}
	// Every check probed by its member: each member lists its own.
	for _, m := range ms {
		waitCond(t, m.name+"'s checks up", func() bool {
			code, body := m.get(t, "/api/v1/checks?scope=member&state=up")
			var a checksAnswer
			return code == http.StatusOK && json.Unmarshal([]byte(body), &a) == nil && a.Total == len(targets)/2
		})
	}
	return ms
}

// everyCheckListed: the member's /api/v1/checks is the cluster's, every
// check up, nothing unanswered.
func everyCheckListed(t *testing.T, m *authMember, targets []string) func() bool {
	return func() bool {
		a, ok := m.checks(t)
		if !ok || a.Total != len(targets) || len(a.Checks) != len(targets) || len(a.Unanswered) != 0 || len(a.UnansweredReasons) != 0 {
			return false
		}
		var ids []string
		for _, c := range a.Checks {
			if c.State != "up" {
				return false
			}
			ids = append(ids, strings.TrimPrefix(c.ID, "http_2xx "))
		}
		slices.Sort(ids)
		return slices.Equal(ids, slices.Sorted(slices.Values(targets)))
	}
}

// TestClusterBehindBasicAuth: both members behind --web.config.file basic
// auth (a bcrypt hash). Without cluster.http_config, each member's list
// of checks names the other as unanswered with its 401, says to set
// cluster.http_config, logs it once and counts it
// (vigie_router_cluster_peers_refusing); with the credentials in
// cluster.http_config.basic_auth (applied by a reload, no restart), the
// list on either member is the cluster's: both members' checks, nothing
// unanswered. vigie_router_checks counts the cluster's checks on both.
func TestClusterBehindBasicAuth(t *testing.T) {
	webCfg, _ := authSetup(t)
	targets := authTargets()
	ms := startAuthPair(t, "http", webCfg, http.DefaultClient, targets, "")

	for i, m := range ms {
		other := ms[1-i]
		var last checksAnswer
		waitCond(t, m.name+" to name "+other.name+" unanswered with its 401", func() bool {
			a, ok := m.checks(t)
			last = a
			return ok && slices.Equal(a.Unanswered, []string{other.name}) && a.Total == len(targets)/2 &&
				strings.Contains(a.UnansweredReasons[other.name], "401") && strings.Contains(a.UnansweredReasons[other.name], "cluster.http_config")
		})
		t.Logf("%s without cluster.http_config: unanswered %v %q", m.name, last.Unanswered, last.UnansweredReasons)
		if code, page := m.get(t, "/checks"); code != http.StatusOK || !strings.Contains(page, other.name+" (") || !strings.Contains(page, "401") {
			t.Errorf("%s's page of checks does not name %s with its 401 (%d):\n%s", m.name, other.name, code, page)
		}
		waitCond(t, m.name+" to count "+other.name+" refusing", func() bool {
			v, ok := m.metric(t, "vigie_router_cluster_peers_refusing")
			return ok && v == 1
		})
	}
	// Asked again: logged once, not per request.
	for _, m := range ms {
		for range 3 {
			m.checks(t)
		}
		if n := strings.Count(m.p.out.String(), "A cluster member refuses this member's requests"); n != 1 {
			t.Errorf("%s logged the refusal %d times, want once:\n%s", m.name, n, m.p.out)
		}
	}

	// vigie_router_checks is the cluster's on each member (from the
	// members' summaries, which go through Consul, not HTTP).
	for _, m := range ms {
		waitCond(t, m.name+"'s vigie_router_checks to count the cluster's checks", func() bool {
			v, ok := m.metric(t, `vigie_router_checks{state="up"}`)
			return ok && v == float64(len(targets))
		})
	}

	// The credentials, by a reload.
	for _, m := range ms {
		cfg, err := os.ReadFile(m.cfg)
		if err != nil {
			t.Fatal(err)
		}
		cfg = append(cfg, "  http_config:\n    basic_auth:\n      username: ann\n      password: s3cret\n"...)
		if err := os.WriteFile(m.cfg, cfg, 0o600); err != nil {
			t.Fatal(err)
		}
		if code, body := m.post(t, "/-/reload"); code != http.StatusOK {
			t.Fatalf("%s: reload: %d %s", m.name, code, body)
		}
	}
	for _, m := range ms {
		waitCond(t, m.name+" to list both members' checks", everyCheckListed(t, m, targets))
		waitCond(t, m.name+" to count nobody refusing", func() bool {
			v, ok := m.metric(t, "vigie_router_cluster_peers_refusing")
			return ok && v == 0
		})
		if code, page := m.get(t, "/checks"); code != http.StatusOK || strings.Contains(page, "checks-unanswered") {
			t.Errorf("%s's page of checks names a member unanswered (%d):\n%s", m.name, code, page)
		}
		if strings.Contains(m.p.out.String(), "The cluster block changed") {
			t.Errorf("%s: a change of cluster.http_config alone said the cluster block needs a restart", m.name)
		}
	}

	// A reload whose http_config does not load (a CA file that is not
	// PEM) is refused: the member keeps asking with the credentials it
	// has.
	bad := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(bad, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := ms[0]
	cfg, err := os.ReadFile(m.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg = append(cfg, "    tls_config: {ca_file: "+bad+"}\n"...)
	if err := os.WriteFile(m.cfg, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, body := m.post(t, "/-/reload"); code == http.StatusOK || !strings.Contains(body, "cluster.http_config") {
		t.Errorf("a reload with a CA file that is not PEM: %d %s", code, body)
	}
	if ok := everyCheckListed(t, m, targets)(); !ok {
		a, _ := m.checks(t)
		t.Errorf("after a refused reload, r1 lists %+v", a)
	}
}

// TestClusterBehindTLS: both members serve https (a CA made here signs
// their certificates), require a client certificate signed by that CA
// and basic auth, with https advertise URLs. With tls_config (ca_file,
// cert_file, key_file) and the credentials the cluster's list is whole
// on either member: the members verify each other with that CA and
// present their certificate.
func TestClusterBehindTLS(t *testing.T) {
	dir := t.TempDir()
	caFile, certFile, keyFile, pool := makeTestCA(t, dir, "127.0.0.2")
	webCfg, _ := authSetup(t)
	auth, err := os.ReadFile(webCfg)
	if err != nil {
		t.Fatal(err)
	}
	tlsWeb := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(tlsWeb, []byte(fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: %s\n",
		certFile, keyFile, caFile)+string(auth)), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}
	targets := authTargets()
	ms := startAuthPair(t, "https", tlsWeb, client, targets,
		"  http_config:\n    basic_auth: {username: ann, password: s3cret}\n    tls_config:\n      ca_file: "+caFile+"\n      cert_file: "+certFile+"\n      key_file: "+keyFile+"\n")
	for _, m := range ms {
		waitCond(t, m.name+" to list both members' checks over https", everyCheckListed(t, m, targets))
	}
}

// TestClusterTLSUnknownCA: without tls_config.ca_file a member does not
// trust the other's certificate, and says so.
func TestClusterTLSUnknownCA(t *testing.T) {
	dir := t.TempDir()
	_, certFile, keyFile, pool := makeTestCA(t, dir, "127.0.0.2")
	tlsWeb := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(tlsWeb, []byte(fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\n", certFile, keyFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	targets := authTargets()
	ms := startAuthPair(t, "https", tlsWeb, client, targets, "")
	waitCond(t, "r1 to name r2 unanswered: its certificate is not trusted", func() bool {
		a, ok := ms[0].checks(t)
		return ok && slices.Equal(a.Unanswered, []string{"r2"}) && strings.Contains(a.UnansweredReasons["r2"], "certificate")
	})
}

// makeTestCA writes a CA and a server (and client) certificate for ip signed by it,
// and returns the files and a pool with the CA.
func makeTestCA(t *testing.T, dir, ip string) (caFile, certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "vigie test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "vigie router"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP(ip)}, KeyUsage: x509.KeyUsageDigitalSignature,
		// Also a client certificate: the members present it to each
		// other (client_auth_type).
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	pool = x509.NewCertPool()
	pool.AddCert(ca)
	return write("ca.pem", "CERTIFICATE", caDER), write("server.pem", "CERTIFICATE", der), write("server-key.pem", "EC PRIVATE KEY", keyDER), pool
}
