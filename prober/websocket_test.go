package prober

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// wsTestServer serves websockets with upgrade-then-handle, after checking
// the handshake with check (nil: accept all). It returns the ws:// or
// wss:// URL.
func wsTestServer(t *testing.T, tlsOn bool, check func(*http.Request) int, handle func(*websocket.Conn)) string {
	t.Helper()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if check != nil {
			if code := check(r); code != 0 {
				http.Error(w, http.StatusText(code), code)
				return
			}
		}
		up := websocket.Upgrader{}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			t.Errorf("server: upgrade: %v", err)
			return
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		handle(c)
	})
	s := httptest.NewUnstartedServer(h)
	// Refused handshakes are part of the tests, not news.
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	if tlsOn {
		s.StartTLS()
	} else {
		s.Start()
	}
	t.Cleanup(s.Close)
	return "ws" + strings.TrimPrefix(s.URL, "http") + "/socket"
}

// wsEcho is upstream's test dialog: it sends incoming_test, wants
// outgoing_test back and answers passed.
func wsEcho(t *testing.T) func(*websocket.Conn) {
	return func(c *websocket.Conn) {
		_ = c.WriteMessage(websocket.TextMessage, []byte("incoming_test"))
		_, msg, err := c.ReadMessage()
		if err != nil {
			return
		}
		if string(msg) != "outgoing_test" {
			t.Errorf("server: got %q, want %q", msg, "outgoing_test")
			return
		}
		_ = c.WriteMessage(websocket.TextMessage, []byte("passed"))
		_, _, _ = c.ReadMessage() // until the probe goes away
	}
}

const wsEchoSteps = `
  query_response:
    - expect: "incoming_(.+)"
      send: "outgoing_${1}"
    - expect: "^passed"`

var wsFamilies = []string{
	"probe_websocket_status_code", "probe_websocket_connection_upgraded",
	"probe_websocket_failed_due_to_regex", "probe_websocket_duration_seconds",
	"probe_ip_protocol", "probe_ip_addr_hash", "probe_dns_lookup_time_seconds",
}

func TestWebsocketQueryResponse(t *testing.T) {
	url := wsTestServer(t, false, nil, wsEcho(t))
	module := parseModule(t, "prober: websocket\nwebsocket:\n  preferred_ip_protocol: ip4"+wsEchoSteps)

	registry, err := runTestProbe(t, ProbeWebsocket, url, module, 5*time.Second)
	expectSuccess(t, err)
	expectFamilies(t, registry, wsFamilies...)
	expectMetrics(t, registry, map[string]float64{
		"probe_websocket_status_code":         101,
		"probe_websocket_connection_upgraded": 1,
		"probe_websocket_failed_due_to_regex": 0,
		"probe_ip_protocol":                   4,
	})
	for _, phase := range []string{"resolve", "connect", "processing", "transfer"} {
		if v, ok := registry.Value("probe_websocket_duration_seconds", phase); !ok || v < 0 {
			t.Errorf("probe_websocket_duration_seconds{phase=%q} = %v, %v", phase, v, ok)
		}
	}
	promtoolCheck(t, registry)
}

func TestWebsocketFailures(t *testing.T) {
	echo := wsTestServer(t, false, nil, wsEcho(t))
	silent := wsTestServer(t, false, nil, func(c *websocket.Conn) { _, _, _ = c.ReadMessage() })
	closing := wsTestServer(t, false, nil, func(c *websocket.Conn) {
		_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "maintenance"), time.Now().Add(time.Second))
	})
	refusedAddr := closedLoopbackAddr(t, "tcp")
	refused := "ws://" + refusedAddr + "/"

	tests := []struct {
		name    string
		url     string
		steps   string
		timeout time.Duration
		reason  string
		metrics map[string]float64
		phases  []string
	}{
		{
			name:    "message does not match",
			url:     echo,
			steps:   "\n  query_response:\n    - expect: \"incoming_(.+)\"\n      send: \"outgoing_${1}\"\n    - expect: \"^someotherstring\"",
			reason:  `regexp "^someotherstring" did not match message "passed"`,
			metrics: map[string]float64{"probe_websocket_failed_due_to_regex": 1, "probe_websocket_connection_upgraded": 1, "probe_websocket_status_code": 101},
			phases:  []string{"resolve", "connect", "processing", "transfer"},
		},
		{
			name:    "timeout waiting for a message",
			url:     silent,
			steps:   "\n  query_response:\n    - expect: \"hello\"",
			timeout: 300 * time.Millisecond,
			reason:  `timed out waiting for message matching "hello"`,
			metrics: map[string]float64{"probe_websocket_failed_due_to_regex": 1, "probe_websocket_connection_upgraded": 1},
			phases:  []string{"resolve", "connect", "processing", "transfer"},
		},
		{
			name:    "server closes",
			url:     closing,
			steps:   "\n  query_response:\n    - expect: \"hello\"",
			reason:  `expected message matching "hello" but the server closed the websocket (websocket: close 1001 (going away): maintenance)`,
			metrics: map[string]float64{"probe_websocket_failed_due_to_regex": 1},
			phases:  []string{"resolve", "connect", "processing", "transfer"},
		},
		{
			name:    "connection refused",
			url:     refused,
			reason:  "connection refused by " + refusedAddr,
			metrics: map[string]float64{"probe_websocket_status_code": 0, "probe_websocket_connection_upgraded": 0, "probe_websocket_failed_due_to_regex": 0},
			phases:  []string{"resolve", "processing"},
		},
		{
			name:   "not a websocket URL",
			url:    strings.Replace(echo, "ws://", "http://", 1),
			reason: "want a ws:// or wss:// URL",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			module := parseModule(t, "prober: websocket\nwebsocket:\n  preferred_ip_protocol: ip4"+tc.steps)
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			registry, err := runTestProbe(t, ProbeWebsocket, tc.url, module, timeout)
			expectReason(t, err, tc.reason)
			expectMetrics(t, registry, tc.metrics)
			for _, phase := range tc.phases {
				if _, ok := registry.Value("probe_websocket_duration_seconds", phase); !ok {
					t.Errorf("phase %s missing:\n%s", phase, registry.Text())
				}
			}
			if got := strings.Count(registry.Text(), "probe_websocket_duration_seconds{"); got != len(tc.phases) {
				t.Errorf("want phases %v, exposition:\n%s", tc.phases, registry.Text())
			}
		})
	}
}

func TestWebsocketHandshakeHeaders(t *testing.T) {
	// The server checks what the probe sends in its handshake.
	check := func(r *http.Request) int {
		if r.Header.Get("X-Probe") != "vigie" {
			return http.StatusBadRequest
		}
		if user, pass, ok := r.BasicAuth(); ok {
			if user != "monitor" || pass != "s3cret" {
				return http.StatusUnauthorized
			}
			return 0
		}
		if r.Header.Get("Authorization") != "Bearer tok3n" {
			return http.StatusUnauthorized
		}
		return 0
	}
	url := wsTestServer(t, false, check, func(c *websocket.Conn) { _, _, _ = c.ReadMessage() })

	tests := []struct {
		name, httpConfig, reason string
		status                   float64
	}{
		{"basic auth", "basic_auth: {username: monitor, password: s3cret}\nheaders: {X-Probe: vigie}", "", 101},
		{"bearer token", "bearer_token: tok3n\nheaders: {X-Probe: vigie}", "", 101},
		{"wrong password", "basic_auth: {username: monitor, password: nope}\nheaders: {X-Probe: vigie}", "websocket upgrade refused: HTTP status 401 Unauthorized", 401},
		{"missing header", "bearer_token: tok3n", "websocket upgrade refused: HTTP status 400 Bad Request", 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			module := parseModule(t, "prober: websocket\nwebsocket:\n  http_config:\n"+indent(tc.httpConfig, "    "))
			registry, err := runTestProbe(t, ProbeWebsocket, url, module, 5*time.Second)
			expectOutcome(t, err, tc.reason)
			expectMetrics(t, registry, map[string]float64{"probe_websocket_status_code": tc.status})
			if tc.reason != "" {
				expectMetrics(t, registry, map[string]float64{"probe_websocket_connection_upgraded": 0})
			}
		})
	}
}

func TestWebsocketTLS(t *testing.T) {
	url := wsTestServer(t, true, nil, wsEcho(t))

	module := parseModule(t, "prober: websocket\nwebsocket:\n  http_config:\n    tls_config: {insecure_skip_verify: true}"+wsEchoSteps)
	registry, err := runTestProbe(t, ProbeWebsocket, url, module, 5*time.Second)
	expectSuccess(t, err)
	// As upstream master, the websocket prober exports no TLS metrics.
	expectFamilies(t, registry, wsFamilies...)

	registry, err = runTestProbe(t, ProbeWebsocket, url, parseModule(t, "prober: websocket"), 5*time.Second)
	expectReason(t, err, "TLS handshake failed: x509: certificate signed by unknown authority")
	expectMetrics(t, registry, map[string]float64{"probe_websocket_status_code": 0, "probe_websocket_connection_upgraded": 0})
}

func TestWebsocketExpectLabels(t *testing.T) {
	url := wsTestServer(t, false, nil, func(c *websocket.Conn) {
		_ = c.WriteMessage(websocket.TextMessage, []byte(`{"status":"ok","version":"2.4.1"}`))
		_, _, _ = c.ReadMessage()
	})
	module := parseModule(t, `
prober: websocket
websocket:
  query_response:
    - expect: '"version":"([^"]+)"'
      labels:
        - name: version
          value: "${1}"`)
	registry, err := runTestProbe(t, ProbeWebsocket, url, module, 5*time.Second)
	expectSuccess(t, err)
	expectSeries(t, registry, "probe_expect_info", 1, "2.4.1")
}

func TestWebsocketHeadersFromConfig(t *testing.T) {
	module := parseModule(t, `
prober: websocket
websocket:
  http_config:
    basic_auth: {username: u, password: p}
    bearer_token: ignored-when-basic-auth-is-set
    headers:
      x-custom: one
      Host: vhost.example`)
	h := wsHeaders(&module.Websocket.WSHTTPClientConfig)
	want := map[string]string{"Authorization": "Basic dTpw", "X-Custom": "one", "Host": "vhost.example"}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if len(h) != len(want) {
		t.Errorf("headers %v, want exactly %v", h, want)
	}
}
