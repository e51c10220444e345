package prober

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vigie-monitoring/vigie/config"
)

const handlerTestConfig = `
modules:
  http_2xx:
    prober: http
    timeout: 5s
  with_host:
    prober: http
    http:
      headers:
        Host: configured.example
  tcp_connect:
    prober: tcp
  tls_expiry:
    prober: tls
  no_timeout:
    prober: tcp
security:
  targets:
    allow: ["127.0.0.0/8", "*.allowed.example"]
    deny: ["127.0.0.2/32", "*.denied.example"]
`

// fakeProbers returns probers that do no network I/O except "dial", which
// dials its target through newDialer (to exercise the policy at dial time).
func fakeProbers(name string) (ProbeFn, bool) {
	switch name {
	case "http", "tcp", "tls":
		return func(ctx context.Context, target string, module *config.Module, registry *Registry, logger *slog.Logger) error {
			logger.Debug("fake probe", "host_header", module.HTTP.Headers["Host"], "server_name", module.TCP.TLSConfig.ServerName)
			registry.NewGauge("probe_fake", "A fake gauge").Set(42)
			switch {
			case strings.Contains(target, "fail"):
				return errors.New("HTTP status 503 not in 2xx")
			case strings.Contains(target, "panic"):
				panic("boom")
			case strings.HasPrefix(target, "dial:"):
				d, err := newDialer(ctx, "tcp", "")
				if err != nil {
					return err
				}
				c, err := d.DialContext(ctx, "tcp", strings.TrimPrefix(target, "dial:"))
				if err != nil {
					return err
				}
				c.Close()
			case strings.Contains(target, "big"):
				v := registry.NewGaugeVec("probe_big", "Big output", "n")
				for i := 0; i < 200; i++ {
					v.WithLabelValues(strings.Repeat("x", i)).Set(1)
				}
			case strings.Contains(target, "deadline"):
				dl, _ := ctx.Deadline()
				registry.NewGauge("probe_deadline_in", "x").Set(time.Until(dl).Seconds())
			}
			return nil
		}, true
	}
	return nil, false
}

type handlerFixture struct {
	h       *Handler
	unknown prometheus.Counter
	refused prometheus.Counter
	history *History
}

func newHandlerFixture(t testing.TB) *handlerFixture {
	t.Helper()
	cfg, err := config.Parse([]byte(handlerTestConfig))
	if err != nil {
		t.Fatal(err)
	}
	f := &handlerFixture{
		unknown: prometheus.NewCounter(prometheus.CounterOpts{Name: "u"}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{Name: "r"}),
		history: NewHistory(10),
	}
	f.h = &Handler{
		Config:         func() *config.Config { return cfg },
		Logger:         slog.New(slog.DiscardHandler),
		ProberLevel:    slog.LevelDebug,
		TimeoutOffset:  0.5,
		History:        f.history,
		UnknownModules: f.unknown,
		PolicyRefused:  f.refused,
		Probers:        fakeProbers,
	}
	return f
}

func (f *handlerFixture) get(t testing.TB, query string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/probe?"+query, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, req)
	return w
}

func TestHandlerErrors(t *testing.T) {
	f := newHandlerFixture(t)
	cases := []struct {
		name   string
		query  string
		header http.Header
		code   int
		body   string
	}{
		{"unknown module", "module=nope&target=x", nil, 400, `Unknown module "nope"`},
		{"unknown module checked before target", "module=nope", nil, 400, `Unknown module "nope"`},
		{"missing target", "module=tcp_connect", nil, 400, "Target parameter is missing"},
		{"bad timeout header", "module=tcp_connect&target=x", http.Header{"X-Prometheus-Scrape-Timeout-Seconds": {"abc"}}, 500, "Failed to parse timeout from Prometheus header: "},
		{"hostname conflicts with module Host header", "module=with_host&target=x&hostname=other.example", nil, 400, "host header defined both in module configuration (configured.example) and with URL-parameter 'hostname' (other.example)"},
		{"denied host", "module=tcp_connect&target=www.denied.example:80", nil, 403, `target www.denied.example refused by policy: host matches deny pattern "*.denied.example"`},
		{"denied address", "module=tcp_connect&target=127.0.0.2:80", nil, 403, "address is in denied network 127.0.0.2/32"},
		{"not allowed address", "module=tcp_connect&target=10.1.2.3:80", nil, 403, "address is in no allowed network"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := f.get(t, tc.query, tc.header)
			if w.Code != tc.code || !strings.Contains(w.Body.String(), tc.body) {
				t.Errorf("got %d %q, want %d containing %q", w.Code, w.Body.String(), tc.code, tc.body)
			}
		})
	}
	if got := testutil.ToFloat64(f.unknown); got != 2 {
		t.Errorf("unknown module counter = %v, want 2", got)
	}
	if got := testutil.ToFloat64(f.refused); got != 3 {
		t.Errorf("policy refused counter = %v, want 3", got)
	}
}

func TestHandlerPolicyAtDialTime(t *testing.T) {
	f := newHandlerFixture(t)
	// The fake prober dials whatever address follows "dial:": the policy is
	// enforced on the address actually connected to.
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skip("cannot listen on 127.0.0.2:", err)
	}
	defer l.Close()
	w := f.get(t, "module=tcp_connect&target=dial:"+l.Addr().String(), nil)
	if w.Code != http.StatusForbidden {
		t.Fatalf("dial to denied address: got %d %q", w.Code, w.Body.String())
	}
	l2, _ := net.Listen("tcp", "127.0.0.1:0")
	defer l2.Close()
	go func() {
		for {
			c, err := l2.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	w = f.get(t, "module=tcp_connect&target=dial:"+l2.Addr().String(), nil)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "probe_success 1") {
		t.Fatalf("dial to allowed address: got %d %q", w.Code, w.Body.String())
	}
}

func TestHandlerPolicyChecksHostGlobBeforeDialing(t *testing.T) {
	p := NewPolicy(config.TargetPolicy{Allow: []string{"*.allowed.example"}, Deny: []string{"10.0.0.0/8"}})
	ctx, err := p.CheckTarget(context.Background(), "tcp", "www.allowed.example:80")
	if err != nil {
		t.Fatal(err)
	}
	// Allowed by name, but the name resolves to a denied address.
	pc := policyOf(ctx)
	byName, err := pc.beforeResolve("www.allowed.example")
	if err != nil || !byName {
		t.Fatalf("beforeResolve = %v, %v", byName, err)
	}
	if err := pc.admit(net.ParseIP("10.1.1.1"), byName); err == nil || !IsPolicyError(err) {
		t.Errorf("denied address accepted: %v", err)
	}
	if err := pc.admit(net.ParseIP("192.0.2.1"), byName); err != nil {
		t.Errorf("address of an allowed name refused: %v", err)
	}
	if _, err := p.CheckTarget(context.Background(), "tcp", "www.other.example:80"); err == nil {
		t.Error("name matching no allow pattern accepted")
	}
	if _, err := p.CheckTarget(context.Background(), "tcp", "WWW.ALLOWED.EXAMPLE.:80"); err != nil {
		t.Errorf("glob must be case-insensitive and ignore the trailing dot: %v", err)
	}
	if NewPolicy(config.TargetPolicy{}) != nil {
		t.Error("empty policy must be off")
	}
}

func TestHandlerSuccessAndFailure(t *testing.T) {
	f := newHandlerFixture(t)
	w := f.get(t, "module=tcp_connect&target=127.0.0.1:1", nil)
	if w.Code != 200 {
		t.Fatalf("code %d: %s", w.Code, w.Body)
	}
	body := w.Body.String()
	for _, want := range []string{"probe_success 1", "probe_fake 42", "# TYPE probe_duration_seconds gauge", "probe_timeout_seconds 119.5"} {
		if !strings.Contains(body, want) {
			t.Errorf("output lacks %q:\n%s", want, body)
		}
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4; charset=utf-8") {
		t.Errorf("Content-Type = %q", ct)
	}
	w = f.get(t, "module=tcp_connect&target=fail.example:80", nil)
	if w.Code != 200 || !strings.Contains(w.Body.String(), "probe_success 0") {
		t.Errorf("failed probe must be HTTP 200 with probe_success 0: %d %s", w.Code, w.Body)
	}
	w = f.get(t, "module=tcp_connect&target=panic:80", nil)
	if w.Code != 200 || !strings.Contains(w.Body.String(), "probe_success 0") {
		t.Errorf("panicking prober must give a failed probe: %d %s", w.Code, w.Body)
	}
	if r := f.history.GetByTarget("panic:80", ""); r == nil || !strings.Contains(r.Reason, "internal error in tcp prober: boom") {
		t.Errorf("panic reason not recorded: %+v", r)
	}
}

func TestHandlerTimeout(t *testing.T) {
	cases := []struct {
		header, module string
		want           float64
	}{
		{"", "no_timeout", 119.5},
		{"10", "no_timeout", 9.5},
		{"10", "http_2xx", 5},
		{"3", "http_2xx", 2.5},
		{"0.2", "http_2xx", 5}, // header minus offset negative: module timeout wins
		{"0", "no_timeout", 119.5},
	}
	f := newHandlerFixture(t)
	for _, tc := range cases {
		h := http.Header{}
		if tc.header != "" {
			h.Set("X-Prometheus-Scrape-Timeout-Seconds", tc.header)
		}
		target := "127.0.0.1:1"
		if tc.module == "http_2xx" {
			target = "http://127.0.0.1:1/"
		}
		w := f.get(t, "module="+tc.module+"&target="+url.QueryEscape(target)+"deadline", h)
		samples := parseText(t, w.Body.Bytes())
		if got := samples["probe_timeout_seconds"]; got != tc.want {
			t.Errorf("header %q module %s: probe_timeout_seconds = %v, want %v", tc.header, tc.module, got, tc.want)
		}
		if got := samples["probe_deadline_in"]; got > tc.want || got < tc.want-1 {
			t.Errorf("header %q module %s: context deadline in %vs, want about %v", tc.header, tc.module, got, tc.want)
		}
	}
}

func parseText(t testing.TB, body []byte) map[string]float64 {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("unparsable exposition: %v\n%s", err, body)
	}
	out := map[string]float64{}
	for name, mf := range mfs {
		if len(mf.Metric) == 1 {
			out[name] = mf.Metric[0].GetGauge().GetValue()
		}
	}
	return out
}

func TestHandlerHostnameParam(t *testing.T) {
	f := newHandlerFixture(t)
	w := f.get(t, "module=http_2xx&target=http://127.0.0.1/&hostname=vhost.example&debug=true", nil)
	if !strings.Contains(w.Body.String(), "host_header=vhost.example") {
		t.Errorf("hostname not applied as Host header:\n%s", w.Body)
	}
	w = f.get(t, "module=tcp_connect&target=127.0.0.1:443&hostname=sni.example&debug=true", nil)
	if !strings.Contains(w.Body.String(), "server_name=sni.example") {
		t.Errorf("hostname not applied as TLS server name:\n%s", w.Body)
	}
	// The module in the configuration must not be modified.
	if h := f.h.Config().Modules["http_2xx"].HTTP.Headers; h["Host"] != "" {
		t.Errorf("configuration modified by a request: %v", h)
	}
	// Same Host in module and parameter is fine.
	w = f.get(t, "module=with_host&target=http://127.0.0.1/&hostname=configured.example", nil)
	if w.Code != 200 {
		t.Errorf("got %d", w.Code)
	}
}

func TestHandlerDebugOutput(t *testing.T) {
	f := newHandlerFixture(t)
	w := f.get(t, "module=tcp_connect&target=fail.example:80&debug=true", nil)
	if ct := w.Header().Get("Content-Type"); ct != "text/plain" {
		t.Errorf("Content-Type = %q", ct)
	}
	body := w.Body.String()
	sections := []string{"Logs for the probe:\n", "\n\n\nMetrics that would have been returned:\n", "\n\n\nModule configuration:\n"}
	last := -1
	for _, s := range sections {
		i := strings.Index(body, s)
		if i <= last {
			t.Fatalf("section %q missing or out of order:\n%s", s, body)
		}
		last = i
	}
	for _, want := range []string{`msg="Beginning probe"`, "module=tcp_connect", "target=fail.example:80", `level=ERROR msg="Probe failed"`, `reason="HTTP status 503 not in 2xx"`, "probe_success 0", "prober: tcp\n", "ip_protocol_fallback: true"} {
		if !strings.Contains(body, want) {
			t.Errorf("debug output lacks %q:\n%s", want, body)
		}
	}
}

func TestHandlerJSON(t *testing.T) {
	f := newHandlerFixture(t)
	for _, how := range []struct {
		query  string
		header http.Header
	}{
		{"format=json", nil},
		{"", http.Header{"Accept": {"application/json"}}},
		{"", http.Header{"Accept": {"text/plain;q=0.5, application/json"}}},
	} {
		w := f.get(t, "module=tcp_connect&target=fail.example:80&"+how.query, how.header)
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("%v: Content-Type = %q", how, ct)
		}
		var res ProbeResult
		if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
			t.Fatal(err)
		}
		if res.Success || res.Reason != "HTTP status 503 not in 2xx" || res.Module != "tcp_connect" || res.Prober != "tcp" || res.Target != "fail.example:80" || res.TimeoutSeconds != 119.5 {
			t.Errorf("%v: result = %+v", how, res)
		}
		found := false
		for _, m := range res.Metrics {
			if m.Name == "probe_fake" && m.Value == 42 {
				found = true
			}
		}
		if !found {
			t.Errorf("metrics lack probe_fake: %+v", res.Metrics)
		}
	}
	// Prometheus's own Accept header never selects JSON.
	w := f.get(t, "module=tcp_connect&target=x:1", http.Header{"Accept": {"application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"}})
	if !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
		t.Errorf("Prometheus Accept header: Content-Type = %q", w.Header().Get("Content-Type"))
	}
	w = f.get(t, "module=tcp_connect&target=x:1", http.Header{"Accept": {"application/json;q=0.1, text/plain"}})
	if !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
		t.Errorf("lower-q JSON: Content-Type = %q", w.Header().Get("Content-Type"))
	}
}

func TestHandlerCompressionAndFormats(t *testing.T) {
	f := newHandlerFixture(t)
	gz := http.Header{"Accept-Encoding": {"gzip"}}
	// Small outputs are not worth compressing.
	w := f.get(t, "module=tcp_connect&target=x:1", gz)
	if w.Header().Get("Content-Encoding") != "" {
		t.Error("small output compressed")
	}
	w = f.get(t, "module=tcp_connect&target=big:1", gz)
	if w.Header().Get("Content-Encoding") != "gzip" {
		t.Fatal("big output not compressed")
	}
	zr, err := gzip.NewReader(w.Body)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	if !strings.Contains(string(plain), `probe_big{n="x"} 1`) {
		t.Error("compressed output wrong")
	}
	w = f.get(t, "module=tcp_connect&target=big:1", http.Header{"Accept-Encoding": {"gzip;q=0, identity"}})
	if w.Header().Get("Content-Encoding") != "" {
		t.Error("gzip;q=0 honoured")
	}
	// Protobuf when asked for, as promhttp does.
	w = f.get(t, "module=tcp_connect&target=x:1", http.Header{"Accept": {"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"}})
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/vnd.google.protobuf") {
		t.Errorf("protobuf Content-Type = %q", ct)
	}
}

func TestHandlerHistory(t *testing.T) {
	f := newHandlerFixture(t)
	f.get(t, "module=tcp_connect&target=a:1", nil)
	f.get(t, "module=tcp_connect&target=fail:1", nil)
	r := f.history.GetByTarget("fail:1", "tcp_connect")
	if r == nil || r.Success || r.Reason == "" {
		t.Fatalf("history = %+v", r)
	}
	if !bytes.Contains(r.DebugOutput(), []byte("Metrics that would have been returned:")) {
		t.Error("history has no debug output")
	}
	if f.history.Get(r.ID) != r {
		t.Error("Get by id failed")
	}
}

func TestGetTimeoutUsesModuleWhenSmaller(t *testing.T) {
	req := httptest.NewRequest("GET", "/probe", nil)
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "10")
	got, err := getTimeout(req, 3*time.Second, 0.5)
	if err != nil || got != 3 {
		t.Errorf("getTimeout = %v, %v", got, err)
	}
}

// TestTargetHost checks that the host judged before probing is the one
// each prober's own parser finds in the target.
func TestTargetHost(t *testing.T) {
	cases := []struct {
		prober, target, host string
		ok                   bool
	}{
		{"http", "https://www.example.org:8443/path", "www.example.org", true},
		{"http", "www.example.org/path", "www.example.org", true},
		{"http", "http://[::1]:80/", "::1", true},
		{"http", "http://user:pass@www.example.org@127.0.0.3/", "127.0.0.3", true},
		{"http", "http://[::1", "", false},
		{"websocket", "wss://user@127.0.0.3:443/?host=www.example.org", "127.0.0.3", true},
		{"tcp", "example.org:25", "example.org", true},
		{"tcp", "[2001:db8::1]:25", "2001:db8::1", true},
		{"tcp", "example.org", "", false},
		{"icmp", "example.org", "example.org", true},
		{"ssh", "example.org", "example.org", true},
		{"ftp", "[2001:db8::1]", "2001:db8::1", true},
		{"tls", "example.org/x", "", false},
		{"grpc", "grpc://example.org:443", "grpc", true}, // the scheme is a host to gRPC's parser, as upstream's
		{"grpc", "a:b@127.0.0.3:50051?x.allowed.test", "127.0.0.3", true},
		{"grpc", "https://example.org", "example.org", true},
		{"dns", "1.1.1.1", "1.1.1.1", true},
		{"dns", "[::1]", "::1", true},
		{"unix", "/run/x.sock", "", false},
	}
	for _, tc := range cases {
		host, ok := targetHost(tc.prober, tc.target)
		if host != tc.host || ok != tc.ok {
			t.Errorf("targetHost(%q, %q) = %q, %v; want %q, %v", tc.prober, tc.target, host, ok, tc.host, tc.ok)
		}
	}
}

// FuzzProbeParams feeds arbitrary query strings and headers to /probe: it
// must never panic and must answer with one of the documented status codes.
func FuzzProbeParams(f *testing.F) {
	f.Add("module=tcp_connect&target=127.0.0.1:1", "10")
	f.Add("module=with_host&target=x&hostname=y", "")
	f.Add("module=http_2xx&target=http://%5B::1%5D:80/&debug=true", "abc")
	f.Add("target=www.denied.example&format=json", "-1")
	f.Add("module=tls_expiry&target=[fe80::1%25eth0]:443&hostname=a", "1e308")
	fx := newHandlerFixture(f)
	f.Fuzz(func(t *testing.T, query, timeout string) {
		req := httptest.NewRequest(http.MethodGet, "/probe", nil)
		req.URL.RawQuery = query
		if timeout != "" {
			req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", timeout)
		}
		q := req.URL.Query()
		if strings.HasPrefix(q.Get("target"), "dial:") || strings.Contains(q.Get("target"), "panic") {
			return // the fake prober's test hooks
		}
		w := httptest.NewRecorder()
		fx.h.ServeHTTP(w, req)
		switch w.Code {
		case 200, 400, 403, 500:
		default:
			t.Fatalf("status %d for %q", w.Code, query)
		}
	})
}

func TestSampleJSONNonFinite(t *testing.T) {
	r := NewRegistry()
	r.NewGauge("probe_nan", "x").Set(math.NaN())
	r.NewGauge("probe_inf", "x").Set(math.Inf(1))
	r.NewGauge("probe_one", "x").Set(1)
	b, err := json.Marshal(r.Samples())
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"name":"probe_inf","value":"+Inf"},{"name":"probe_nan","value":"NaN"},{"name":"probe_one","value":1}]`
	if string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
}

func TestHandlerRefusalJSONAndHistory(t *testing.T) {
	f := newHandlerFixture(t)
	w := f.get(t, "module=tcp_connect&target=www.denied.example:80&format=json", nil)
	if w.Code != http.StatusForbidden || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("got %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	var res ProbeResult
	if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if res.Success || !res.Refused || !strings.Contains(res.Reason, "refused by policy") {
		t.Errorf("result = %+v", res)
	}
	if r := f.history.GetByTarget("www.denied.example:80", ""); r == nil || r.Success || !strings.Contains(r.Reason, "refused by policy") {
		t.Errorf("refusal not in history: %+v", r)
	}
}
