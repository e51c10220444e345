package prober

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/config"
)

// countingListener accepts connections on addr ("127.0.0.3:0"), closes
// them and counts them: a target no probe may reach.
type countingListener struct {
	addr, port string
	n          atomic.Int32
}

func listenCounting(t *testing.T, addr string) *countingListener {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	c := &countingListener{}
	c.addr = serveListener(t, l, func(conn net.Conn) {
		c.n.Add(1)
		conn.Close()
	})
	_, c.port, _ = net.SplitHostPort(c.addr)
	return c
}

// allSecurityProbers is one module per prober, targets on loopback.
const allSecurityProbers = `
modules:
  http: {prober: http, timeout: 5s, http: {preferred_ip_protocol: ip4}}
  tcp: {prober: tcp, timeout: 5s, tcp: {preferred_ip_protocol: ip4}}
  tls: {prober: tls, timeout: 5s, tls: {preferred_ip_protocol: ip4}}
  ssh: {prober: ssh, timeout: 5s, ssh: {preferred_ip_protocol: ip4}}
  ftp: {prober: ftp, timeout: 5s, ftp: {preferred_ip_protocol: ip4}}
  grpc: {prober: grpc, timeout: 5s, grpc: {preferred_ip_protocol: ip4}}
  dns: {prober: dns, timeout: 5s, dns: {preferred_ip_protocol: ip4, query_name: example.org, transport_protocol: tcp}}
  websocket: {prober: websocket, timeout: 5s, websocket: {preferred_ip_protocol: ip4}}
  icmp: {prober: icmp, timeout: 5s, icmp: {preferred_ip_protocol: ip4}}
`

// TestPolicyRefusesUnspecifiedAddresses probes services listening on
// loopback through 0.0.0.0, :: and ::ffff:0.0.0.0, which connect to the
// exporter's own host, with loopback denied.
func TestPolicyRefusesUnspecifiedAddresses(t *testing.T) {
	v4 := listenCounting(t, "127.0.0.1:0")
	v6 := listenCounting(t, "[::1]:0")
	lh := newLiveHandler(t, allSecurityProbers+`
security:
  targets:
    deny: [127.0.0.0/8, "::1"]
`)
	cases := []struct{ module, target, reason string }{
		{"http", "http://0.0.0.0:" + v4.port + "/", "target 0.0.0.0 refused by policy: address is unspecified"},
		{"http", "0.0.0.0:" + v4.port, "target 0.0.0.0 refused by policy: address is unspecified"},
		{"http", "http://[::]:" + v6.port + "/", "target :: refused by policy: address is unspecified"},
		{"http", "http://[::]:" + v4.port + "/", "target :: refused by policy: address is unspecified"},
		{"http", "http://[::ffff:0.0.0.0]:" + v4.port + "/", "target 0.0.0.0 refused by policy: address is unspecified"},
		{"tcp", "0.0.0.0:" + v4.port, "target 0.0.0.0 refused by policy: address is unspecified"},
		{"tcp", "[::]:" + v6.port, "target :: refused by policy: address is unspecified"},
		{"tcp", "0.0.0.1:" + v4.port, "target 0.0.0.1 refused by policy: address is unspecified"},
		{"tls", "0.0.0.0:" + v4.port, "address is unspecified"},
		{"icmp", "0.0.0.0", "address is unspecified"},
	}
	for _, tc := range cases {
		t.Run(tc.module+" "+tc.target, func(t *testing.T) {
			w := lh.get(t, tc.module, tc.target, nil, nil)
			if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), tc.reason) {
				t.Errorf("got %d %q, want 403 %q", w.Code, w.Body, tc.reason)
			}
		})
	}
	if n := v4.n.Load() + v6.n.Load(); n != 0 {
		t.Errorf("%d connections reached the loopback services", n)
	}
}

// TestPolicyJudgesWhatEachProberDials gives every prober a target whose
// text matches an allowed host glob while the prober would connect to
// 127.0.0.3: the policy judges the host the prober parses and dials.
func TestPolicyJudgesWhatEachProberDials(t *testing.T) {
	hidden := listenCounting(t, "127.0.0.3:0")
	p := hidden.port
	lh := newLiveHandler(t, allSecurityProbers+`
security:
  targets:
    allow: ["*.allowed.test", localhost]
`)
	cases := []struct{ module, target string }{
		{"grpc", "a:b@127.0.0.3:" + p + "?x.allowed.test"},
		{"grpc", "http://x.allowed.test@127.0.0.3:" + p + "/"},
		{"http", "http://x.allowed.test@127.0.0.3:" + p + "/"},
		{"http", "127.0.0.3:" + p + "/x.allowed.test"},
		{"websocket", "ws://127.0.0.3:" + p + "/x.allowed.test"},
		{"tcp", "127.0.0.3:" + p},
		{"tls", "127.0.0.3:" + p},
		{"ssh", "127.0.0.3:" + p},
		{"ftp", "127.0.0.3:" + p},
		{"dns", "127.0.0.3:" + p},
		{"icmp", "127.0.0.3"},
	}
	for _, tc := range cases {
		t.Run(tc.module+" "+tc.target, func(t *testing.T) {
			w := lh.get(t, tc.module, tc.target, nil, nil)
			want := "target 127.0.0.3 refused by policy: address is in no allowed network"
			if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), want) {
				t.Errorf("got %d %q, want 403 %q", w.Code, w.Body, want)
			}
		})
	}

	// A name allowed by a glob lets the probe connect to that name, and
	// to nothing else it is redirected to.
	origin := newHTTPTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/to-address":
			http.Redirect(w, r, "http://127.0.0.3:"+p+"/", http.StatusFound)
		case "/to-name":
			http.Redirect(w, r, "http://elsewhere.test:"+p+"/", http.StatusFound)
		}
	}))
	port := strings.TrimPrefix(origin.URL, "http://127.0.0.1:")
	for _, tc := range []struct{ target, code, body string }{
		{"http://localhost:" + port + "/", "200", "probe_success 1\n"},
		{"http://localhost:" + port + "/to-address", "403", "target 127.0.0.3 refused by policy: address is in no allowed network"},
		{"http://localhost:" + port + "/to-name", "403", "target elsewhere.test refused by policy: host matches no allow pattern"},
	} {
		t.Run("http redirect "+tc.target, func(t *testing.T) {
			w := lh.get(t, "http", tc.target, nil, nil)
			if strconv.Itoa(w.Code) != tc.code || !strings.Contains(w.Body.String(), tc.body) {
				t.Errorf("got %d %q, want %s %q", w.Code, w.Body, tc.code, tc.body)
			}
		})
	}
	if n := hidden.n.Load(); n != 0 {
		t.Errorf("%d connections reached 127.0.0.3", n)
	}
}

// TestHTTPProxyPolicy probes through a forward proxy on 127.0.0.2: every
// URL sent through it is judged (the first request, each redirect, with
// and without skip_resolve_phase_with_proxy, the Host header it forwards
// to), and the proxy itself, configuration, is outside the policy.
func TestHTTPProxyPolicy(t *testing.T) {
	hidden := listenCounting(t, "127.0.0.3:0")
	origin := newHTTPTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "http://127.0.0.3:"+hidden.port+"/", http.StatusFound)
		}
	}))
	originPort := strings.TrimPrefix(origin.URL, "http://127.0.0.1:")
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatalf("listen on 127.0.0.2: %v", err)
	}
	fp := &forwardProxy{}
	proxy := httptest.NewUnstartedServer(fp)
	proxy.Listener.Close()
	proxy.Listener = l
	proxy.Start()
	t.Cleanup(proxy.Close)

	modules := func(deny string) string {
		return `
modules:
  proxied: {prober: http, timeout: 5s, http: {preferred_ip_protocol: ip4, proxy_url: "` + proxy.URL + `"}}
  proxied_skip: {prober: http, timeout: 5s, http: {preferred_ip_protocol: ip4, proxy_url: "` + proxy.URL + `", skip_resolve_phase_with_proxy: true}}
security:
  targets:
    deny: ` + deny + `
`
	}
	cases := []struct {
		name, deny, module, target string
		extra                      url.Values
		code                       int
		body                       string
		proxied                    []string // what the proxy was asked for
	}{
		{"redirect through the proxy", "[127.0.0.3/32]", "proxied", "http://localhost:" + originPort + "/redirect", nil,
			403, "target 127.0.0.3 refused by policy: address is in denied network 127.0.0.3/32",
			[]string{"GET http://localhost:" + originPort + "/redirect"}},
		{"skip_resolve_phase_with_proxy", `[127.0.0.1/32, "::1"]`, "proxied_skip", "http://localhost:" + originPort + "/", nil,
			403, "refused by policy: address is in denied network", nil},
		{"skip_resolve_phase_with_proxy, redirect", "[127.0.0.3/32]", "proxied_skip", "http://localhost:" + originPort + "/redirect", nil,
			403, "target 127.0.0.3 refused by policy",
			[]string{"GET http://localhost:" + originPort + "/redirect"}},
		// net/http writes the Host header in the request line: the proxy
		// connects there.
		{"Host header", "[127.0.0.3/32]", "proxied", "http://localhost:" + originPort + "/", url.Values{"hostname": {"127.0.0.3:" + hidden.port}},
			403, "target 127.0.0.3 refused by policy", nil},
		// The proxy's own address may be denied: it is configuration.
		{"proxy in a denied network", "[127.0.0.2/32]", "proxied", "http://localhost:" + originPort + "/", nil,
			200, "probe_success 1\n", []string{"GET http://localhost:" + originPort + "/"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fp.mu.Lock()
			fp.requests = nil
			fp.mu.Unlock()
			lh := newLiveHandler(t, modules(tc.deny))
			w := lh.get(t, tc.module, tc.target, tc.extra, nil)
			if w.Code != tc.code || !strings.Contains(w.Body.String(), tc.body) {
				t.Errorf("got %d %q, want %d %q", w.Code, w.Body, tc.code, tc.body)
			}
			fp.mu.Lock()
			got := fp.requests
			fp.mu.Unlock()
			if fmt.Sprint(got) != fmt.Sprint(tc.proxied) {
				t.Errorf("the proxy was asked for %q, want %q", got, tc.proxied)
			}
		})
	}
	if n := hidden.n.Load(); n != 0 {
		t.Errorf("%d connections reached 127.0.0.3", n)
	}
}

// blackHole returns a loopback address whose listener never completes a
// handshake: its accept queue is full, so the kernel drops every new SYN
// and a client stays in SYN-SENT, retrying for about two minutes.
func blackHole(t *testing.T) (addr string, port int) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	port = sa.(*syscall.SockaddrInet4).Port
	addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	// Fill the accept queue until a connection attempt hangs.
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
		if err != nil {
			break
		}
		t.Cleanup(func() { c.Close() })
		if i == 16 {
			t.Fatal("the listener keeps accepting connections")
		}
	}
	waitNoSynSent(t, port)
	return addr, port
}

// synSent counts the sockets in SYN-SENT towards port on loopback, from
// /proc/net/tcp.
func synSent(t *testing.T, port int) int {
	t.Helper()
	n := 0
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(file)
		if err != nil {
			if file == "/proc/net/tcp" {
				t.Fatal(err)
			}
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			// sl local_address rem_address st …
			if len(fields) < 4 || fields[3] != "02" {
				continue
			}
			_, remPort, ok := strings.Cut(fields[2], ":")
			if p, err := strconv.ParseUint(remPort, 16, 16); ok && err == nil && int(p) == port {
				n++
			}
		}
		f.Close()
	}
	return n
}

// waitNoSynSent waits until no socket is connecting to port, for far less
// than the two minutes the kernel would keep retrying.
func waitNoSynSent(t *testing.T, port int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for synSent(t, port) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d sockets still in SYN-SENT to port %d long after the probe ended", synSent(t, port), port)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestProbeSocketsEndWithTheProbe probes a black-holed port with every
// prober that connects over TCP: once the probe has timed out, none of its
// sockets may still be connecting.
func TestProbeSocketsEndWithTheProbe(t *testing.T) {
	cases := []struct{ module, target string }{
		{"http", "http://%s/"},
		{"http", "https://%s/"},
		{"tcp", "%s"},
		{"tls", "%s"},
		{"ssh", "%s"},
		{"ftp", "%s"},
		{"grpc", "%s"},
		{"dns", "%s"},
		{"websocket", "ws://%s/"},
		// The OAuth2 token endpoint is black-holed, not the target.
		{"oauth2", ""},
	}
	target := newHTTPTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for _, tc := range cases {
		t.Run(tc.module+" "+strings.ReplaceAll(tc.target, "%s", "black-hole"), func(t *testing.T) {
			addr, port := blackHole(t)
			cfg, err := config.Parse([]byte(allSecurityProbers + `
  oauth2:
    prober: http
    http:
      preferred_ip_protocol: ip4
      oauth2: {client_id: probe, client_secret: s3cret, token_url: "http://` + addr + `/token"}
`))
			if err != nil {
				t.Fatal(err)
			}
			module := cfg.Modules[tc.module]
			fn, _ := Lookup(module.Prober)
			probeTarget := target.URL
			if tc.target != "" {
				probeTarget = fmt.Sprintf(tc.target, addr)
			}
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- fn(ctx, probeTarget, &module, NewRegistry(), testLogger(t)) }()
			select {
			case err := <-done:
				if err == nil {
					t.Error("probe of a black hole succeeded")
				}
			case <-time.After(20 * time.Second):
				t.Fatal("the probe outlived its timeout by far")
			}
			cancel()
			waitNoSynSent(t, port)
		})
	}
}

// TestSecretsNotShown probes with secrets in headers, metadata and URLs,
// and looks for them in everything the exporter shows: debug output (the
// probe's logs and module), the history behind /logs and the landing
// page, the exporter's own log, failure reasons.
func TestSecretsNotShown(t *testing.T) {
	ts := newHTTPTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/login" {
			http.Redirect(w, r, "/next?code=c0de-s3cret&state=st4te", http.StatusFound)
		}
	}))
	cfgYAML := `
modules:
  http:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      headers: {X-Api-Key: h34der-s3cret, Accept: text/plain}
  websocket:
    prober: websocket
    timeout: 5s
    websocket:
      http_config: {headers: {X-Ws-Token: ws-s3cret, User-Agent: probe/1}}
  grpc:
    prober: grpc
    timeout: 5s
    grpc: {metadata: {x-tenant: md-s3cret, authorization: Bearer md-t0ken}}
`
	var exporterLog bytes.Buffer
	var mu sync.Mutex
	lh := newLiveHandler(t, cfgYAML)
	lh.h.Logger = slog.New(slog.NewTextHandler(lockedWriter{&mu, &exporterLog}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	secrets := []string{"h34der-s3cret", "ws-s3cret", "md-s3cret", "md-t0ken", "us3r", "p4ss", "qu3ry-t0ken", "c0de-s3cret", "st4te"}
	cases := []struct{ module, target string }{
		{"http", strings.Replace(ts.URL, "http://", "http://us3r:p4ss@", 1) + "/login?token=qu3ry-t0ken"},
		{"http", "http://us3r:p4ss@[::1:/?token=qu3ry-t0ken"}, // unparsable
		{"websocket", "ws://us3r:p4ss@127.0.0.1:1/?token=qu3ry-t0ken"},
		{"websocket", "http://127.0.0.1:1/?token=qu3ry-t0ken"},
		{"grpc", "us3r:p4ss@127.0.0.1:1?token=qu3ry-t0ken"},
		{"grpc", "http://us3r:p4ss@%zz/?token=qu3ry-t0ken"},
		{"grpc", closedLoopbackAddr(t, "tcp")},
	}
	type output struct{ where, text string }
	var shown []output
	for i, tc := range cases {
		for _, extra := range []url.Values{nil, {"debug": {"true"}}, {"format": {"json"}}} {
			w := lh.get(t, tc.module, tc.target, extra, nil)
			// The JSON result names the target as the client gave it.
			body := strings.ReplaceAll(w.Body.String(), strconv.Quote(tc.target), "")
			body = strings.ReplaceAll(body, strings.ReplaceAll(strconv.Quote(tc.target), "&", `\u0026`), "")
			shown = append(shown, output{fmt.Sprintf("case %d (%s) %s", i, tc.module, extra.Encode()), body})
		}
	}
	for _, r := range lh.h.History.List() {
		// The history keeps the target as given, to look it up; pages
		// show DisplayTarget.
		shown = append(shown, output{fmt.Sprintf("history %d", r.ID), r.DisplayTarget() + "\n" + r.Reason + "\n" + string(r.DebugOutput())})
	}
	mu.Lock()
	shown = append(shown, output{"exporter log", exporterLog.String()})
	mu.Unlock()
	masked := false
	for _, o := range shown {
		for _, s := range secrets {
			if strings.Contains(o.text, s) {
				t.Errorf("secret %q shown in %s:\n%s", s, o.where, o.text)
			}
		}
		masked = masked || strings.Contains(o.text, "<secret>")
	}
	if !masked {
		t.Error("no <secret> placeholder shown anywhere")
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestRedactTarget(t *testing.T) {
	cases := map[string]string{
		"https://www.example.org/health":                 "https://www.example.org/health",
		"https://u:p@www.example.org/x?token=t&a=1#frag": "https://<secret>@www.example.org/x?token=<secret>&a=<secret>#frag",
		"http://u@h/":                  "http://<secret>@h/",
		"a:b@127.0.0.3:50051?x.test":   "<secret>@127.0.0.3:50051?<secret>",
		"ws://h/p@q":                   "ws://h/p@q",
		"h:80?":                        "h:80?",
		"https://h/?a&&b=":             "https://h/?<secret>&&b=<secret>",
		"http://a@b@h/?x=1?y=2":        "http://<secret>@h/?x=<secret>",
		"example.org:22":               "example.org:22",
		"mailto:someone@example.org?x": "<secret>@example.org?<secret>",
		"h:80?x=a://u@b":               "h:80?x=<secret>",
		"//u@h/":                       "//<secret>@h/",
	}
	for in, want := range cases {
		if got := redactTarget(in); got != want {
			t.Errorf("redactTarget(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzRedactTarget checks that redaction is stable and leaves no user
// information and no query value in what it returns.
func FuzzRedactTarget(f *testing.F) {
	for _, seed := range []string{"https://u:p@h/x?token=t&a=1#f", "a:b@127.0.0.3:50051?x", "h:80", "http://a@b@h/?x=1?y=2", "ws://h/p@q"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := redactTarget(s)
		if again := redactTarget(r); again != r {
			t.Fatalf("redactTarget(%q) = %q, then %q", s, r, again)
		}
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return
		}
		ru, err := url.Parse(strings.ReplaceAll(r, secretMask, "x"))
		if err != nil {
			return
		}
		if u.User != nil && (ru.User == nil || ru.User.String() != "x") {
			t.Errorf("redactTarget(%q) = %q: user information left", s, r)
		}
		for key, values := range ru.Query() {
			for _, v := range values {
				if v != "x" && v != "" {
					t.Errorf("redactTarget(%q) = %q: value %q of %q left", s, r, v, key)
				}
			}
		}
	})
}
