package alertrouter

import (
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	pconfig "github.com/prometheus/common/config"

	"github.com/vigie-monitoring/vigie/alertrouter/cluster"
	"github.com/vigie-monitoring/vigie/alertrouter/config"
)

// authServer answers 200 to ann:s3cret, 401 to the rest; it redirects
// /moved to /api/v1/checks.
func authServer(t *testing.T, tls bool) *httptest.Server {
	t.Helper()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "ann" || p != "s3cret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="vigie"`)
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, "/api/v1/checks", http.StatusTemporaryRedirect)
			return
		}
		_, _ = io.WriteString(w, "ok "+r.URL.Path)
	})
	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(h)
	} else {
		srv = httptest.NewServer(h)
	}
	t.Cleanup(srv.Close)
	return srv
}

func httpConfig(t *testing.T, yaml string) pconfig.HTTPClientConfig {
	t.Helper()
	c, err := config.ParseRouter([]byte("cluster:\n  http_config:\n" + yaml))
	if err != nil {
		t.Fatal(err)
	}
	return c.Cluster.PeerHTTPConfig()
}

func getStatus(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestPeerClient: the client members ask each other with sends
// cluster.http_config's credentials; a reload's http_config applies to
// the next request; a member that answers 401 is logged once (not per
// request), counted while it refuses and while it is a member, and
// forgotten when it answers.
func TestPeerClient(t *testing.T) {
	srv := authServer(t, false)
	members := []cluster.Member{{Name: "r1", Address: "http://127.0.0.1:1"}, {Name: "r2", Address: srv.URL + "/"}}
	var mu sync.Mutex
	live := func() []cluster.Member { mu.Lock(); defer mu.Unlock(); return members }
	logs := &syncBuffer{}
	reg := prometheus.NewRegistry()
	p, err := newPeerClient(pconfig.DefaultHTTPClientConfig, slog.New(slog.NewTextHandler(logs, nil)), reg, live)
	if err != nil {
		t.Fatal(err)
	}
	refusing := func() float64 {
		t.Helper()
		v, err := testutil.GatherAndCount(reg, "vigie_router_cluster_peers_refusing")
		if err != nil || v != 1 {
			t.Fatalf("gauge: %d series, %v", v, err)
		}
		mfs, _ := reg.Gather()
		return mfs[0].GetMetric()[0].GetGauge().GetValue()
	}

	for range 3 {
		if code, _ := getStatus(t, p.client, srv.URL+"/api/v1/checks"); code != http.StatusUnauthorized {
			t.Fatalf("without credentials: %d", code)
		}
	}
	if n := strings.Count(logs.String(), "refuses this member's requests"); n != 1 || !strings.Contains(logs.String(), "member=r2") ||
		!strings.Contains(logs.String(), "cluster.http_config") || !strings.Contains(logs.String(), "status=401") {
		t.Fatalf("logged %d times, want once naming r2, its 401 and cluster.http_config:\n%s", n, logs)
	}
	if v := refusing(); v != 1 {
		t.Fatalf("vigie_router_cluster_peers_refusing %v, want 1", v)
	}

	// A reload with the credentials: the next request sends them.
	next, err := newPeerTransport(httpConfig(t, "    basic_auth: {username: ann, password: s3cret}\n"))
	if err != nil {
		t.Fatal(err)
	}
	p.set(next)
	if code, body := getStatus(t, p.client, srv.URL+"/api/v1/checks"); code != http.StatusOK {
		t.Fatalf("with credentials: %d %s", code, body)
	}
	if v := refusing(); v != 0 {
		t.Fatalf("vigie_router_cluster_peers_refusing %v after a 200, want 0", v)
	}
	if !strings.Contains(logs.String(), "accepts this member's requests again") {
		t.Errorf("the recovery is not logged:\n%s", logs)
	}
	// A redirect is followed with the credentials (they are the
	// transport's, not the first request's header).
	if code, body := getStatus(t, p.client, srv.URL+"/moved"); code != http.StatusOK || body != "ok /api/v1/checks" {
		t.Fatalf("redirect: %d %s", code, body)
	}
	// follow_redirects: false is honoured.
	next, err = newPeerTransport(httpConfig(t, "    basic_auth: {username: ann, password: s3cret}\n    follow_redirects: false\n"))
	if err != nil {
		t.Fatal(err)
	}
	p.set(next)
	if code, _ := getStatus(t, p.client, srv.URL+"/moved"); code != http.StatusTemporaryRedirect {
		t.Fatalf("follow_redirects false: %d", code)
	}

	// Wrong credentials again, then the member leaves: not counted.
	next, err = newPeerTransport(httpConfig(t, "    basic_auth: {username: ann, password: wrong}\n"))
	if err != nil {
		t.Fatal(err)
	}
	p.set(next)
	getStatus(t, p.client, srv.URL+"/api/v1/checks")
	if n := strings.Count(logs.String(), "refuses this member's requests"); n != 2 {
		t.Errorf("a member refusing again after it accepted: logged %d times in all, want 2", n)
	}
	if v := refusing(); v != 1 {
		t.Fatalf("vigie_router_cluster_peers_refusing %v, want 1", v)
	}
	mu.Lock()
	members = members[:1]
	mu.Unlock()
	if v := refusing(); v != 0 {
		t.Fatalf("vigie_router_cluster_peers_refusing %v once r2 left, want 0", v)
	}
}

// TestPeerClientTLS: an https advertise_url is verified with
// tls_config.ca_file, not with the system's CAs alone; a CA file that
// is not PEM is an error (a reload with it is refused).
func TestPeerClientTLS(t *testing.T) {
	srv := authServer(t, true)
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	live := func() []cluster.Member { return []cluster.Member{{Name: "r2", Address: srv.URL}} }
	p, err := newPeerClient(pconfig.DefaultHTTPClientConfig, discard(), nil, live)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := getStatus(t, p.client, srv.URL+"/api/v1/checks"); code != 0 || !strings.Contains(body, "certificate") {
		t.Fatalf("without ca_file: %d %s, want a certificate error", code, body)
	}
	next, err := newPeerTransport(httpConfig(t, "    basic_auth: {username: ann, password: s3cret}\n    tls_config: {ca_file: "+ca+"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	p.set(next)
	if code, body := getStatus(t, p.client, srv.URL+"/api/v1/checks"); code != http.StatusOK {
		t.Fatalf("with ca_file: %d %s", code, body)
	}

	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := newPeerTransport(httpConfig(t, "    tls_config: {ca_file: "+bad+"}\n")); err == nil {
		t.Fatal("a CA file that is not PEM was accepted")
	}
}
