package prober

import (
	"context"
	"io"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/vigie-monitoring/vigie/config"
)

// grpcFixture is a gRPC server on 127.0.0.1 with the standard health
// service. It remembers the metadata of the last call.
type grpcFixture struct {
	addr  string
	caPEM string // set when the server speaks TLS
	md    atomic.Pointer[metadata.MD]
	calls atomic.Int32
}

// Services known to the fixture's health server ("" is the server itself).
var grpcFixtureStatuses = map[string]grpc_health_v1.HealthCheckResponse_ServingStatus{
	"":              grpc_health_v1.HealthCheckResponse_SERVING,
	"svc.up":        grpc_health_v1.HealthCheckResponse_SERVING,
	"svc.down":      grpc_health_v1.HealthCheckResponse_NOT_SERVING,
	"svc.undecided": grpc_health_v1.HealthCheckResponse_UNKNOWN,
}

func startGRPCFixture(t *testing.T, useTLS, withHealth bool) *grpcFixture {
	t.Helper()
	f := &grpcFixture{}
	opts := []grpc.ServerOption{grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		f.md.Store(&md)
		f.calls.Add(1)
		return handler(ctx, req)
	})}
	if useTLS {
		ca := newTestCA(t, "vigie test CA")
		f.caPEM = ca.certPEM
		opts = append(opts, grpc.Creds(credentials.NewTLS(serverTLSConfig(ca.issue(t, certSpec{})))))
	}
	srv := grpc.NewServer(opts...)
	if withHealth {
		hs := health.NewServer()
		for svc, st := range grpcFixtureStatuses {
			hs.SetServingStatus(svc, st)
		}
		grpc_health_v1.RegisterHealthServer(srv, hs)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = l.Addr().String()
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return f
}

// grpcModule is a grpc module with the given lines in its grpc block
// (indented by six spaces).
func grpcModule(t testing.TB, extra string) config.Module {
	t.Helper()
	return parseModule(t, "    prober: grpc\n    grpc:\n      preferred_ip_protocol: ip4\n"+extra)
}

func runGRPC(t *testing.T, target string, module config.Module, timeout time.Duration) (*Registry, error) {
	t.Helper()
	return runTestProbe(t, ProbeGRPC, target, module, timeout)
}

// expectServingStatus checks that all four serving_status series exist and
// only want (if any) is 1.
func expectServingStatus(t *testing.T, registry *Registry, want string) {
	t.Helper()
	for _, s := range []string{"UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"} {
		v := 0.0
		if s == want {
			v = 1
		}
		expectSeries(t, registry, "probe_grpc_healthcheck_response", v, s)
	}
}

func TestGRPCServing(t *testing.T) {
	f := startGRPCFixture(t, false, true)
	registry, err := runGRPC(t, f.addr, grpcModule(t, ""), 5*time.Second)
	expectSuccess(t, err)
	expectFamilies(t, registry,
		"probe_grpc_duration_seconds", "probe_grpc_ssl", "probe_grpc_status_code", "probe_grpc_healthcheck_response",
		"probe_ip_protocol", "probe_ip_addr_hash", "probe_dns_lookup_time_seconds")
	expectMetrics(t, registry, map[string]float64{
		"probe_grpc_ssl": 0, "probe_grpc_status_code": 0, "probe_ip_protocol": 4, "probe_ip_addr_hash": 3668918509,
	})
	expectServingStatus(t, registry, "SERVING")
	for _, phase := range []string{"resolve", "check"} {
		if _, ok := registry.Value("probe_grpc_duration_seconds", phase); !ok {
			t.Errorf("probe_grpc_duration_seconds{phase=%q} missing", phase)
		}
	}
	if v, _ := registry.Value("probe_grpc_duration_seconds", "check"); v <= 0 {
		t.Errorf("check phase = %v, want > 0", v)
	}
	// The :authority is the target, as when upstream dials the name.
	if md := *f.md.Load(); !slices.Equal(md.Get(":authority"), []string{f.addr}) {
		t.Errorf(":authority = %q, want %q", md.Get(":authority"), f.addr)
	}
	promtoolCheck(t, registry)
}

func TestGRPCHealthStatuses(t *testing.T) {
	f := startGRPCFixture(t, false, true)
	cases := []struct {
		service, want, servingStatus string
		code                         float64
	}{
		{"svc.up", "", "SERVING", 0},
		{"svc.down", "health check status NOT_SERVING", "NOT_SERVING", 0},
		{"svc.undecided", "health check status UNKNOWN", "UNKNOWN", 0},
		// An unknown service is a NotFound status (5), no serving status.
		{"svc.nope", `service "svc.nope" unknown`, "", 5},
	}
	for _, tc := range cases {
		t.Run(tc.service, func(t *testing.T) {
			registry, err := runGRPC(t, f.addr, grpcModule(t, "      service: "+tc.service+"\n"), 5*time.Second)
			expectOutcome(t, err, tc.want)
			expectServingStatus(t, registry, tc.servingStatus)
			expectMetrics(t, registry, map[string]float64{"probe_grpc_status_code": tc.code})
			promtoolCheck(t, registry)
		})
	}
}

func TestGRPCTLS(t *testing.T) {
	f := startGRPCFixture(t, true, true)
	_, port, _ := net.SplitHostPort(f.addr)
	tlsFamilies := []string{"probe_ssl_earliest_cert_expiry", "probe_tls_version_info", "probe_ssl_last_chain_info"}

	t.Run("server name from target", func(t *testing.T) {
		module := grpcModule(t, "      tls: true\n")
		module.GRPC.TLSConfig.CA = f.caPEM
		registry, err := runGRPC(t, "localhost:"+port, module, 5*time.Second)
		expectSuccess(t, err)
		expectFamilies(t, registry, append([]string{
			"probe_grpc_duration_seconds", "probe_grpc_ssl", "probe_grpc_status_code", "probe_grpc_healthcheck_response",
			"probe_ip_protocol", "probe_ip_addr_hash", "probe_dns_lookup_time_seconds"}, tlsFamilies...)...)
		expectMetrics(t, registry, map[string]float64{"probe_grpc_ssl": 1, "probe_grpc_status_code": 0})
		expectSeries(t, registry, "probe_tls_version_info", 1, "TLS 1.3")
		if v, _ := registry.Value("probe_ssl_earliest_cert_expiry"); v < float64(time.Now().Unix()) {
			t.Errorf("probe_ssl_earliest_cert_expiry = %v, want the future", v)
		}
		// With TLS, gRPC takes the authority from the server name.
		if md := *f.md.Load(); !slices.Equal(md.Get(":authority"), []string{"localhost"}) {
			t.Errorf(":authority = %q, want localhost", md.Get(":authority"))
		}
		promtoolCheck(t, registry)
	})
	t.Run("server name from tls_config", func(t *testing.T) {
		module := grpcModule(t, "      tls: true\n      tls_config:\n        server_name: localhost\n")
		module.GRPC.TLSConfig.CA = f.caPEM
		if _, err := runGRPC(t, f.addr, module, 5*time.Second); err != nil {
			t.Fatalf("probe failed: %v", err)
		}
	})
	t.Run("NOT_SERVING still reports TLS", func(t *testing.T) {
		module := grpcModule(t, "      tls: true\n      service: svc.down\n")
		module.GRPC.TLSConfig.CA = f.caPEM
		registry, err := runGRPC(t, f.addr, module, 5*time.Second)
		expectReason(t, err, "health check status NOT_SERVING")
		expectMetrics(t, registry, map[string]float64{"probe_grpc_ssl": 1})
	})

	failures := []struct {
		name, target, extra, want string
		withCA                    bool
	}{
		{"unknown CA", f.addr, "      tls: true\n", "TLS handshake failed: x509: certificate signed by unknown authority", false},
		{"wrong server name", f.addr, "      tls: true\n      tls_config:\n        server_name: other.example\n", "certificate is valid for localhost, not other.example", true},
		{"bad tls_config", f.addr, "      tls: true\n      tls_config:\n        ca_file: /nonexistent/ca.pem\n", "invalid tls_config", false},
	}
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			module := grpcModule(t, tc.extra)
			if tc.withCA {
				module.GRPC.TLSConfig.CA = f.caPEM
			}
			registry, err := runGRPC(t, tc.target, module, 5*time.Second)
			expectReason(t, err, tc.want)
			expectMetrics(t, registry, map[string]float64{"probe_grpc_ssl": 0})
			for _, name := range tlsFamilies {
				if registry.Has(name) {
					t.Errorf("%s registered after a failed handshake", name)
				}
			}
		})
	}

	t.Run("tls against a plain server", func(t *testing.T) {
		plain := startGRPCFixture(t, false, true)
		registry, err := runGRPC(t, plain.addr, grpcModule(t, "      tls: true\n"), 5*time.Second)
		expectReason(t, err, "TLS handshake failed: first record does not look like a TLS handshake")
		expectMetrics(t, registry, map[string]float64{"probe_grpc_status_code": 14})
	})
}

func TestGRPCMetadata(t *testing.T) {
	f := startGRPCFixture(t, false, true)
	module := grpcModule(t, "      metadata:\n        Authorization: Bearer s3cret\n        x-multi: [one, two]\n")
	if _, err := runGRPC(t, f.addr, module, 5*time.Second); err != nil {
		t.Fatalf("probe failed: %v", err)
	}
	md := *f.md.Load()
	if got := md.Get("authorization"); !slices.Equal(got, []string{"Bearer s3cret"}) {
		t.Errorf("server got authorization %q", got)
	}
	if got := md.Get("x-multi"); !slices.Equal(got, []string{"one", "two"}) {
		t.Errorf("server got x-multi %q", got)
	}
}

// TestGRPCTimeout checks that, unlike upstream, the probe gives up at its
// deadline when the server accepts the connection and never answers.
func TestGRPCTimeout(t *testing.T) {
	silent := serveLoopback(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	for _, tlsOn := range []bool{false, true} {
		name := "plain"
		extra := ""
		if tlsOn {
			name, extra = "tls", "      tls: true\n"
		}
		t.Run(name, func(t *testing.T) {
			type result struct {
				registry *Registry
				err      error
			}
			module := grpcModule(t, extra)
			done := make(chan result, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
				defer cancel()
				registry := NewRegistry()
				err := ProbeGRPC(ctx, silent, &module, registry, testLogger(t))
				done <- result{registry, err}
			}()
			select {
			case r := <-done:
				expectReason(t, r.err, "gRPC health check timed out after")
				expectMetrics(t, r.registry, map[string]float64{"probe_grpc_status_code": 4}) // DeadlineExceeded
				expectServingStatus(t, r.registry, "")
			case <-time.After(20 * time.Second):
				t.Fatal("the probe ignored its deadline")
			}
		})
	}
}

func TestGRPCConnectionFailures(t *testing.T) {
	closed := closedLoopbackAddr(t, "tcp")
	registry, err := runGRPC(t, closed, grpcModule(t, ""), 5*time.Second)
	expectReason(t, err, "connection refused by "+closed)
	expectMetrics(t, registry, map[string]float64{"probe_grpc_status_code": 14, "probe_grpc_ssl": 0})
	expectServingStatus(t, registry, "")
	promtoolCheck(t, registry)

	// A gRPC server without the health service.
	f := startGRPCFixture(t, false, false)
	registry, err = runGRPC(t, f.addr, grpcModule(t, ""), 5*time.Second)
	expectReason(t, err, "gRPC status Unimplemented: unknown service grpc.health.v1.Health")
	expectMetrics(t, registry, map[string]float64{"probe_grpc_status_code": 12})
}

// TestGRPCNoBlockNoFallback keeps upstream's quirk: a grpc module without a
// grpc block prefers ip6 with no fallback, so an IPv4 target fails.
func TestGRPCNoBlockNoFallback(t *testing.T) {
	f := startGRPCFixture(t, false, true)
	registry, err := runGRPC(t, f.addr, parseModule(t, "    prober: grpc\n"), 5*time.Second)
	expectReason(t, err, "127.0.0.1 is not ip6")
	expectFamilies(t, registry,
		"probe_grpc_duration_seconds", "probe_grpc_ssl", "probe_grpc_status_code",
		"probe_ip_protocol", "probe_ip_addr_hash", "probe_dns_lookup_time_seconds")
	if f.calls.Load() != 0 {
		t.Error("the server was called")
	}

	// With a grpc block, fallback is on by default.
	module := parseModule(t, "    prober: grpc\n    grpc:\n      service: svc.up\n")
	registry, err = runGRPC(t, f.addr, module, 5*time.Second)
	expectSuccess(t, err)
	expectMetrics(t, registry, map[string]float64{"probe_ip_protocol": 4})
}

func TestGRPCPolicy(t *testing.T) {
	f := startGRPCFixture(t, false, true)
	_, port, _ := net.SplitHostPort(f.addr)
	ctx := policyContext(t, config.TargetPolicy{Deny: []string{"127.0.0.0/8"}})
	_, err := runTestProbeCtx(ctx, t, ProbeGRPC, "localhost:"+port, grpcModule(t, ""), 5*time.Second)
	if !IsPolicyError(err) {
		t.Fatalf("err = %v, want a policy refusal", err)
	}
	expectReason(t, err, "target 127.0.0.1 refused by policy: address is in denied network 127.0.0.0/8")
	if f.calls.Load() != 0 {
		t.Error("the server got a call from a refused target")
	}
}

func TestGRPCTarget(t *testing.T) {
	cases := []struct {
		target     string
		tls        bool
		host, port string
		bad        bool
	}{
		{"grpc.example.org:50051", false, "grpc.example.org", "50051", false},
		{"grpc.example.org", false, "grpc.example.org", "80", false},
		{"grpc.example.org", true, "grpc.example.org", "443", false},
		{"http://grpc.example.org:9000", false, "grpc.example.org", "9000", false},
		// The scheme does not choose TLS; only the module's tls does.
		{"https://grpc.example.org", false, "grpc.example.org", "80", false},
		{"[2001:db8::1]:50051", false, "2001:db8::1", "50051", false},
		{"[2001:db8::1]", true, "2001:db8::1", "443", false},
		{"http://[2001:db8::1", false, "", "", true},
		{"http://", false, "", "", true},
	}
	for _, tc := range cases {
		got, err := parseTarget("grpc", tc.target, tc.tls)
		host, port := got.Host, got.Port
		if tc.bad {
			if err == nil {
				t.Errorf("parseTarget(grpc, %q) = %q, %q; want an error", tc.target, host, port)
			}
			continue
		}
		if err != nil || host != tc.host || port != tc.port {
			t.Errorf("parseTarget(grpc, %q, %v) = %q, %q, %v; want %q, %q", tc.target, tc.tls, host, port, err, tc.host, tc.port)
		}
	}
}
