package prober

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/vigie-monitoring/vigie/config"
)

// grpcServingStatuses are the serving_status values of
// probe_grpc_healthcheck_response; upstream exposes all four.
var grpcServingStatuses = []string{
	grpc_health_v1.HealthCheckResponse_UNKNOWN.String(),
	grpc_health_v1.HealthCheckResponse_SERVING.String(),
	grpc_health_v1.HealthCheckResponse_NOT_SERVING.String(),
	grpc_health_v1.HealthCheckResponse_SERVICE_UNKNOWN.String(),
}

// ProbeGRPC calls the standard gRPC health check (grpc.health.v1.Health/Check)
// of target ("host:port", or upstream's URL form "http://host:port"), as
// upstream's grpc prober does, except that the probe timeout bounds the
// connection and the call.
func ProbeGRPC(ctx context.Context, target string, module *config.Module, registry *Registry, logger *slog.Logger) error {
	durations := registry.NewGaugeVec("probe_grpc_duration_seconds", "Duration of gRPC request by phase", "phase")
	durations.WithLabelValues("resolve")
	isSSL := registry.NewGauge("probe_grpc_ssl", "Indicates if SSL was used for the connection")
	statusCode := registry.NewGauge("probe_grpc_status_code", "Response gRPC status code")
	healthResponse := registry.NewGaugeVec("probe_grpc_healthcheck_response", "Response HealthCheck response", "serving_status")

	cfg := blockOf(module.GRPC)
	t, err := parseTarget("grpc", target, cfg.TLS)
	if err != nil {
		logError(logger, "Could not parse target URL", "err", err)
		return err
	}
	host, port := t.Host, t.Port
	// Like upstream, a broken tls_config fails the probe even without TLS.
	tlsConfig, err := newTLSConfig(&cfg.TLSConfig, host)
	if err != nil {
		logError(logger, "Error creating TLS configuration", "err", err)
		return err
	}
	ip, lookupTime, err := chooseProtocol(ctx, cfg.PreferredIPProtocol, cfg.IPProtocolFallback, host, registry, logger)
	if err != nil {
		logError(logger, "Error resolving address", "err", err)
		return err
	}
	durations.WithLabelValues("resolve").Add(lookupTime)
	checkStart := time.Now()

	// Connect to the resolved address. The TLS server name and the
	// :authority stay what upstream's dial by name gives: the tls_config's
	// server_name or the target host with TLS (gRPC then takes the authority
	// from the credentials), "host:port" without.
	dialer, err := newDialer(ctx, "tcp", "")
	if err != nil {
		return err
	}
	trace := &grpcConnTrace{}
	opts := []grpc.DialOption{
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, "tcp", addr)
			if err != nil {
				trace.setDial(addr, err)
			}
			return c, err
		}),
	}
	if cfg.TLS {
		creds := &tracedCredentials{TransportCredentials: credentials.NewTLS(tlsConfig), trace: trace}
		opts = append(opts, grpc.WithTransportCredentials(creds))
	} else {
		logDebug(logger, "Dialing GRPC without TLS")
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithAuthority(net.JoinHostPort(host, port)))
	}
	conn, err := grpc.NewClient("passthrough:///"+net.JoinHostPort(ip.String(), port), opts...)
	if err != nil {
		return fmt.Errorf("gRPC client: %w", err)
	}
	defer conn.Close()

	if len(cfg.Metadata) > 0 {
		md := make(metadata.MD, len(cfg.Metadata))
		for k, vs := range cfg.Metadata {
			md.Append(k, vs...) // lowercases the key
		}
		ctx = metadata.NewOutgoingContext(ctx, md)
	}
	var serverPeer peer.Peer
	resp, err := grpc_health_v1.NewHealthClient(conn).Check(ctx,
		&grpc_health_v1.HealthCheckRequest{Service: cfg.Service}, grpc.Peer(&serverPeer))
	elapsed := time.Since(checkStart)
	durations.WithLabelValues("check").Add(elapsed.Seconds())

	for _, s := range grpcServingStatuses {
		healthResponse.WithLabelValues(s).Set(0)
	}
	if err != nil {
		st := status.Convert(err)
		statusCode.Set(float64(st.Code()))
		logError(logger, "can't connect grpc server:", "err", err)
		return grpcCheckError(ctx, st, trace, cfg.Service, elapsed)
	}

	servingStatus := resp.GetStatus().String()
	healthResponse.WithLabelValues(servingStatus).Set(1)
	statusCode.Set(float64(codes.OK))
	if tlsInfo, ok := serverPeer.AuthInfo.(credentials.TLSInfo); ok {
		isSSL.Set(1)
		registerGRPCTLSMetrics(registry, &tlsInfo.State)
	}
	if resp.GetStatus() != grpc_health_v1.HealthCheckResponse_SERVING {
		logError(logger, "Health check reports the service is not serving", "serving_status", servingStatus)
		return fmt.Errorf("health check status %s", servingStatus)
	}
	logDebug(logger, "connect the grpc server successfully")
	return nil
}

// registerGRPCTLSMetrics registers the TLS families upstream's grpc prober
// exposes (fewer than the http prober's: no chain expiry, no cipher).
func registerGRPCTLSMetrics(registry *Registry, state *tls.ConnectionState) {
	registry.NewGauge("probe_ssl_earliest_cert_expiry", helpSSLEarliestCertExpiry).Set(float64(getEarliestCertExpiry(state).Unix()))
	registry.NewGaugeVec("probe_tls_version_info", helpTLSVersionInfo, "version").WithLabelValues(getTLSVersion(state)).Set(1)
	registry.NewGaugeVec("probe_ssl_last_chain_info", helpSSLLastChainInfo, "fingerprint_sha256", "subject", "issuer", "subjectalternative", "serialnumber").
		WithLabelValues(getFingerprint(state), getSubject(state), getIssuer(state), getDNSNames(state), getSerialNumber(state)).Set(1)
}

// grpcCheckError phrases a failed health check call for people. gRPC folds
// connection errors into an Unavailable status; the trace keeps the dial or
// TLS error behind it so that the reason is any prober's for the same
// failure, and a policy refusal stays recognisable.
func grpcCheckError(ctx context.Context, st *status.Status, trace *grpcConnTrace, service string, elapsed time.Duration) error {
	t := trace.get()
	if IsPolicyError(t.dialErr) {
		return dialFailure(ctx, t.dialErr, t.dialAddr)
	}
	switch {
	case st.Code() == codes.DeadlineExceeded || ctx.Err() != nil:
		// gRPC kept trying to connect until the deadline: say what failed last.
		switch {
		case t.handshakeErr != nil:
			return reasonf(t.handshakeErr, "gRPC health check timed out after %s (last error: %s)", roundDuration(elapsed), tlsErrorText(t.handshakeErr))
		case t.dialErr != nil:
			return reasonf(t.dialErr, "gRPC health check timed out after %s (last error: %s)", roundDuration(elapsed), errorText(t.dialErr))
		}
		return reasonf(st.Err(), "gRPC health check timed out after %s", roundDuration(elapsed))
	case st.Code() == codes.NotFound:
		// The health protocol's answer for a service the server does not know.
		return reasonf(st.Err(), "service %q unknown", service)
	case st.Code() == codes.Unavailable && t.handshakeErr != nil:
		return tlsFailure(ctx, t.handshakeErr, t.handshakeTime)
	case st.Code() == codes.Unavailable && t.dialErr != nil:
		return dialFailure(ctx, t.dialErr, t.dialAddr)
	}
	return reasonf(st.Err(), "gRPC status %s: %s", st.Code(), st.Message())
}

// grpcConnTrace records the last failed dial and TLS handshake of a probe's
// connection attempts, which gRPC makes on its own goroutines.
type grpcConnTrace struct {
	mu   sync.Mutex
	last grpcConnFailures
}

// grpcConnFailures are the last dial error (and the address dialled) and the
// last handshake error (and how long that handshake took).
type grpcConnFailures struct {
	dialAddr      string
	dialErr       error
	handshakeErr  error
	handshakeTime time.Duration
}

func (t *grpcConnTrace) setDial(addr string, err error) {
	t.mu.Lock()
	t.last.dialAddr, t.last.dialErr = addr, err
	t.mu.Unlock()
}

func (t *grpcConnTrace) setHandshake(err error, took time.Duration) {
	t.mu.Lock()
	t.last.handshakeErr, t.last.handshakeTime = err, took
	t.mu.Unlock()
}

func (t *grpcConnTrace) get() grpcConnFailures {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.last
}

// tracedCredentials records client handshake errors in a trace.
type tracedCredentials struct {
	credentials.TransportCredentials
	trace *grpcConnTrace
}

func (c *tracedCredentials) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	start := time.Now()
	tc, info, err := c.TransportCredentials.ClientHandshake(ctx, authority, conn)
	if err != nil {
		c.trace.setHandshake(err, time.Since(start))
	}
	return tc, info, err
}

func (c *tracedCredentials) Clone() credentials.TransportCredentials {
	return &tracedCredentials{TransportCredentials: c.TransportCredentials.Clone(), trace: c.trace}
}
