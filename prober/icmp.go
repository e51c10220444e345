package prober

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	probing "github.com/prometheus-community/pro-bing"

	"github.com/vigie-monitoring/vigie/config"
)

// icmpDefaultPayload is the payload size of upstream's echo requests: the
// length of "Prometheus Blackbox Exporter".
const icmpDefaultPayload = 28

// icmpMinPayload is the smallest payload pro-bing sends: a timestamp and a
// tracking UUID (8 + 16 bytes).
const icmpMinPayload = 24

// icmpDefaultInterval is the time between echo requests in multi-packet mode.
const icmpDefaultInterval = time.Second

// icmpMode chooses the kind of socket echo requests go through.
type icmpMode int

const (
	// icmpAuto is upstream's choice: an unprivileged ICMP datagram socket
	// where the OS has them (Linux, macOS), a raw socket otherwise or when
	// that fails, and always a raw socket for dont_fragment over IPv4.
	icmpAuto icmpMode = iota
	// icmpPrivileged forces a raw socket (root or CAP_NET_RAW).
	icmpPrivileged
	// icmpUnprivileged forces a datagram socket (net.ipv4.ping_group_range).
	icmpUnprivileged
)

// icmpOptions are the prober's internal knobs; ProbeICMP uses the zero value.
type icmpOptions struct {
	mode icmpMode
	// run runs a configured pinger until it is done; nil means
	// RunWithContext. Tests replace it to run the pinger in another network
	// namespace or to watch that it always ends.
	run func(ctx context.Context, p *probing.Pinger) error
}

// ProbeICMP sends ICMP echo requests to target. With `packets` 0 or 1 it is
// upstream's probe: one echo request, success when its reply arrives before
// the deadline. With more packets it is vigie's smokeping-style probe:
// success when at least one reply arrives (and the loss stays within
// fail_if_loss_ratio_above, when set), with loss and RTT statistics.
func ProbeICMP(ctx context.Context, target string, module *config.Module, registry *Registry, logger *slog.Logger) error {
	return probeICMP(ctx, target, blockOf(module.ICMP), registry, logger, icmpOptions{})
}

func probeICMP(ctx context.Context, target string, cfg *config.ICMPProbe, registry *Registry, logger *slog.Logger, opts icmpOptions) error {
	budget := timeLeft(ctx)

	durations := registry.NewGaugeVec("probe_icmp_duration_seconds", "Duration of icmp request by phase", "phase")
	for _, phase := range []string{"resolve", "setup", "rtt"} {
		durations.WithLabelValues(phase)
	}
	var series *icmpSeriesMetrics
	if cfg.MultiPacket() {
		series = newICMPSeriesMetrics(registry)
	}

	t, _ := parseTarget("icmp", target, false) // the host to ping: never refused
	dst, lookupTime, err := chooseProtocol(ctx, cfg.IPProtocol, cfg.IPProtocolFallback, t.Host, registry, logger)
	if err != nil {
		logWarn(logger, "Error resolving address", "err", err)
		return err
	}
	durations.WithLabelValues("resolve").Add(lookupTime)

	var source string
	if cfg.SourceIPAddress != "" {
		ip := net.ParseIP(cfg.SourceIPAddress)
		if ip == nil {
			logError(logger, "Error parsing source ip address", "srcIP", cfg.SourceIPAddress)
			return fmt.Errorf("invalid source_ip_address %q", cfg.SourceIPAddress)
		}
		logInfo(logger, "Using source address", "srcIP", ip)
		source = ip.String()
	}

	plan := newPingPlan(cfg, dst, source, opts.mode)
	if plan.ignoredDF {
		logDebug(logger, "dont_fragment applies to IPv4 only; ignored for an IPv6 target")
	}
	if series != nil {
		plan.warnIfDeadlineShort(ctx, logger)
	}
	run := opts.run
	if run == nil {
		run = func(ctx context.Context, p *probing.Pinger) error { return p.RunWithContext(ctx) }
	}

	setupStart := time.Now()
	logInfo(logger, "Creating socket")
	pr, err := plan.open(ctx, run, logger)
	if err != nil {
		return err
	}
	durations.WithLabelValues("setup").Add(time.Since(setupStart).Seconds())
	if series != nil {
		logInfo(logger, "Sending echo requests", "packets", plan.count, "interval", plan.interval)
	}

	runErr := pr.wait(ctx)
	pr.stop() // the pinger winds down in the background
	res := pr.result()

	if res.received > 0 {
		durations.WithLabelValues("rtt").Add(res.avg.Seconds())
		if res.lastTTL >= 0 {
			registry.NewGauge("probe_icmp_reply_hop_limit", "Replied packet hop limit (TTL for ipv4)").Set(float64(res.lastTTL))
		} else {
			logDebug(logger, "Cannot get TTL from the received packet. 'probe_icmp_reply_hop_limit' will be missing.")
		}
	}
	if series != nil {
		series.set(res)
		return plan.seriesOutcome(res, runErr, logger)
	}
	if res.received > 0 {
		logInfo(logger, "Found matching reply packet")
		return nil
	}
	if runErr != nil {
		return plan.sendError(runErr, logger)
	}
	logWarn(logger, "Timeout reading from socket", "err", ctx.Err())
	return noReplyError(ctx, dst.IP, budget)
}

// pingPlan is what a probe sends, worked out from the module once the
// target address is known.
type pingPlan struct {
	dst        *net.IPAddr
	source     string
	size       int
	ttl        int
	df         bool
	ignoredDF  bool
	count      int
	interval   time.Duration
	attempts   []bool // privileged or not, in the order to try
	lossLimit  *float64
	multi      bool
	hintSocket string
}

func newPingPlan(cfg *config.ICMPProbe, dst *net.IPAddr, source string, mode icmpMode) *pingPlan {
	ip4 := dst.IP.To4() != nil
	p := &pingPlan{
		dst:       dst,
		source:    source,
		size:      icmpPayloadSize(cfg.PayloadSize),
		ttl:       cfg.TTL,
		df:        cfg.DontFragment && ip4,
		ignoredDF: cfg.DontFragment && !ip4,
		count:     1,
		// One echo request: the interval ticker must not fire before the
		// deadline, or pro-bing would wake up for nothing.
		interval: time.Hour,
		multi:    cfg.MultiPacket(),
	}
	if p.ttl == 0 {
		// Upstream leaves the system default in place for ttl 0; -1 asks
		// the kernel for it.
		p.ttl = -1
	}
	if p.multi {
		p.count = cfg.Packets
		p.interval = time.Duration(cfg.Interval)
		if p.interval <= 0 {
			p.interval = icmpDefaultInterval
		}
		p.lossLimit = cfg.FailIfLossRatioAbove
	}
	// Upstream: datagram ("unprivileged") sockets where the OS has them,
	// falling back to raw ones; dont_fragment over IPv4 needs a raw socket.
	unprivilegedOS := runtime.GOOS == "linux" || runtime.GOOS == "darwin"
	switch {
	case mode == icmpPrivileged:
		p.attempts = []bool{true}
	case mode == icmpUnprivileged:
		p.attempts = []bool{false}
	case p.df || !unprivilegedOS:
		p.attempts = []bool{true}
	default:
		p.attempts = []bool{false, true}
	}
	switch {
	case !p.attempts[len(p.attempts)-1]:
		p.hintSocket = "allow unprivileged ping with net.ipv4.ping_group_range"
	case len(p.attempts) == 1 && p.df:
		p.hintSocket = "dont_fragment needs a raw socket: run as root or grant CAP_NET_RAW"
	case len(p.attempts) == 1:
		p.hintSocket = "run as root or grant CAP_NET_RAW"
	default:
		p.hintSocket = "run as root, grant CAP_NET_RAW, or allow unprivileged ping with net.ipv4.ping_group_range"
	}
	return p
}

// icmpPayloadSize maps payload_size to pro-bing's packet size: upstream's
// 28 bytes by default; pro-bing cannot send less than 24.
func icmpPayloadSize(configured int) int {
	switch {
	case configured == 0:
		return icmpDefaultPayload
	case configured < icmpMinPayload:
		return icmpMinPayload
	}
	return configured
}

// warnIfDeadlineShort says when the series cannot be sent before the
// deadline: the probe then stops at the deadline with what it has.
func (p *pingPlan) warnIfDeadlineShort(ctx context.Context, logger *slog.Logger) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return
	}
	need := time.Duration(p.count-1) * p.interval
	if left := time.Until(deadline); left <= need {
		logWarn(logger, "The probe timeout ends before all echo requests are sent; the probe stops at the deadline with the replies received so far",
			"packets", p.count, "interval", p.interval, "needed", need, "timeout_left", left.Round(time.Millisecond))
	}
}

// open starts a pinger on the first kind of socket that opens.
func (p *pingPlan) open(ctx context.Context, run func(context.Context, *probing.Pinger) error, logger *slog.Logger) (*pingRun, error) {
	var err error
	for i, privileged := range p.attempts {
		pr := newPingRun(p, privileged, logger)
		pr.start(ctx, run)
		if err = pr.waitSetup(ctx); err == nil {
			return pr, nil
		}
		pr.stop()
		if ctx.Err() != nil {
			break
		}
		if i < len(p.attempts)-1 {
			logDebug(logger, "Unable to do unprivileged listen on socket, will attempt privileged", "err", err)
		}
	}
	logError(logger, "Error listening to socket", "err", err)
	if ctx.Err() != nil {
		return nil, reasonf(err, "cannot open ICMP socket before the deadline: %s", ctx.Err())
	}
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		return nil, reasonf(err, "cannot open ICMP socket: %s (%s)", errorText(err), p.hintSocket)
	}
	return nil, reasonf(err, "cannot open ICMP socket: %s", errorText(err))
}

// sendError is the failure reason of an echo request that could not be sent.
func (p *pingPlan) sendError(err error, logger *slog.Logger) error {
	logWarn(logger, "Error writing to socket", "err", err)
	if p.df && errors.Is(err, syscall.EMSGSIZE) {
		return reasonf(err, "cannot send ICMP echo request to %s: %s (the packet is larger than the path MTU and dont_fragment is set)", p.dst.IP, errorText(err))
	}
	return reasonf(err, "cannot send ICMP echo request to %s: %s", p.dst.IP, errorText(err))
}

// seriesOutcome applies the multi-packet success rule: at least one reply,
// and no more loss than fail_if_loss_ratio_above allows.
func (p *pingPlan) seriesOutcome(res pingResult, runErr error, logger *slog.Logger) error {
	logInfo(logger, "Echo requests done", "sent", res.sent, "received", res.received,
		"min", res.min, "avg", res.avg, "max", res.max, "stddev", res.stddev)
	if res.sent == 0 {
		if runErr != nil {
			return p.sendError(runErr, logger)
		}
		return fmt.Errorf("no ICMP echo request sent to %s before the deadline", p.dst.IP)
	}
	if res.sent < p.count {
		logWarn(logger, "Not all echo requests were sent before the deadline", "packets", p.count, "sent", res.sent)
	}
	loss := res.loss()
	if res.received == 0 {
		return fmt.Errorf("100%% packet loss (0/%d replies)", res.sent)
	}
	if p.lossLimit != nil && loss > *p.lossLimit {
		return fmt.Errorf("%s%% packet loss (%d/%d replies), more than the %s%% allowed",
			percent(loss), res.received, res.sent, percent(*p.lossLimit))
	}
	return nil
}

// pingRun is one pro-bing pinger running in its own goroutine. The probe
// waits for its socket to open, then for the replies it wants or the
// deadline, and returns at once: pro-bing's receive loop polls its socket
// with read deadlines of up to ~100ms and would add that to the probe. The
// pinger is stopped when the probe returns and ends (socket closed,
// goroutines gone) in the background within that poll interval.
type pingRun struct {
	pinger  *probing.Pinger
	want    int
	setup   chan struct{} // closed once the socket is open
	replied chan struct{} // closed once every echo request got its reply
	exited  chan struct{} // closed once Run returned; err is then set
	err     error
	over    atomic.Bool // the probe is done with it: callbacks stay quiet

	mu      sync.Mutex
	lastTTL int
}

func newPingRun(plan *pingPlan, privileged bool, logger *slog.Logger) *pingRun {
	r := &pingRun{
		want:    plan.count,
		setup:   make(chan struct{}),
		replied: make(chan struct{}),
		exited:  make(chan struct{}),
		lastTTL: -1,
	}
	p := probing.New("")
	p.SetIPAddr(plan.dst)
	p.SetPrivileged(privileged)
	p.SetDoNotFragment(plan.df)
	p.SetLogger(pingLogger{logger: logger, over: &r.over})
	p.Size = plan.size
	p.TTL = plan.ttl
	p.Source = plan.source
	p.Count = plan.count
	p.Interval = plan.interval
	// Only the summary is used; keeping every RTT and TTL would grow with
	// the number of packets.
	p.RecordRtts = false
	p.RecordTTLs = false

	p.OnSetup = func() { close(r.setup) }
	replies := 0
	p.OnRecv = func(pkt *probing.Packet) {
		// Called by pro-bing's send/receive loop only, one at a time.
		r.mu.Lock()
		r.lastTTL = pkt.TTL
		r.mu.Unlock()
		replies++
		if replies == r.want {
			close(r.replied)
		}
	}
	if !plan.multi {
		// Upstream's per-packet log lines; a series of up to 1000 packets
		// logs a summary instead.
		p.OnSend = func(pkt *probing.Packet) {
			if !r.over.Load() {
				logInfo(logger, "Writing out packet", "seq", pkt.Seq, "id", pkt.ID, "privileged", privileged)
				logInfo(logger, "Waiting for reply packets")
			}
		}
	}
	p.OnSendError = func(pkt *probing.Packet, err error) {
		if !r.over.Load() {
			logWarn(logger, "Error writing to socket", "seq", pkt.Seq, "err", err)
		}
	}
	r.pinger = p
	return r
}

func (r *pingRun) start(ctx context.Context, run func(context.Context, *probing.Pinger) error) {
	go func() {
		r.err = run(ctx, r.pinger)
		close(r.exited)
	}()
}

// waitSetup waits until the pinger's socket is open, and returns why not
// when the pinger stopped before.
func (r *pingRun) waitSetup(ctx context.Context) error {
	select {
	case <-r.setup:
		return nil
	case <-r.exited:
		select {
		case <-r.setup:
			// Opened, then failed to send: not a socket problem.
			return nil
		default:
		}
		if r.err == nil {
			return errors.New("pinger stopped before opening its socket")
		}
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wait waits for every reply, the deadline, or the pinger's end, and returns
// the pinger's error when it ended on its own (a send error).
func (r *pingRun) wait(ctx context.Context) error {
	select {
	case <-r.replied:
		return nil
	case <-r.exited:
		if r.err != nil && ctx.Err() == nil {
			return r.err
		}
		return nil
	case <-ctx.Done():
		return nil
	}
}

// stop tells the pinger to end; it may finish in the background.
func (r *pingRun) stop() {
	r.over.Store(true)
	r.pinger.Stop()
}

// pingResult is the summary of a pinger's echo requests.
type pingResult struct {
	sent, received int
	min, avg, max  time.Duration
	stddev         time.Duration
	lastTTL        int // of the last reply; -1 when unknown
}

func (r *pingRun) result() pingResult {
	s := r.pinger.Statistics()
	r.mu.Lock()
	ttl := r.lastTTL
	r.mu.Unlock()
	return pingResult{
		sent: s.PacketsSent, received: s.PacketsRecv,
		min: s.MinRtt, avg: s.AvgRtt, max: s.MaxRtt, stddev: s.StdDevRtt,
		lastTTL: ttl,
	}
}

// loss is the fraction of sent echo requests without a reply.
func (r pingResult) loss() float64 {
	if r.sent == 0 {
		return 0
	}
	return float64(r.sent-r.received) / float64(r.sent)
}

// icmpSeriesMetrics are vigie's multi-packet metrics.
type icmpSeriesMetrics struct {
	registry *Registry
	sent     *Gauge
	received *Gauge
}

func newICMPSeriesMetrics(registry *Registry) *icmpSeriesMetrics {
	return &icmpSeriesMetrics{
		registry: registry,
		sent:     registry.NewGauge("probe_icmp_packets_sent", "Number of ICMP echo requests sent"),
		received: registry.NewGauge("probe_icmp_packets_received", "Number of ICMP echo replies received, duplicates excluded"),
	}
}

// set records a series: the loss ratio once something was sent, the RTT
// statistics once something came back.
func (m *icmpSeriesMetrics) set(res pingResult) {
	m.sent.Set(float64(res.sent))
	m.received.Set(float64(res.received))
	if res.sent > 0 {
		m.registry.NewGauge("probe_icmp_packet_loss_ratio", "Fraction of the ICMP echo requests sent that got no reply (0 to 1)").Set(res.loss())
	}
	if res.received > 0 {
		rtt := m.registry.NewGaugeVec("probe_icmp_rtt_seconds", "Round-trip time of the ICMP echo replies by statistic (min, avg, max, stddev)", "stat")
		rtt.WithLabelValues("min").Set(res.min.Seconds())
		rtt.WithLabelValues("avg").Set(res.avg.Seconds())
		rtt.WithLabelValues("max").Set(res.max.Seconds())
		rtt.WithLabelValues("stddev").Set(res.stddev.Seconds())
	}
}

// noReplyError is the single-packet failure reason at the deadline.
func noReplyError(ctx context.Context, ip net.IP, budget time.Duration) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && budget > 0 {
		return fmt.Errorf("no ICMP echo reply from %s within %s", ip, roundDuration(budget))
	}
	return fmt.Errorf("no ICMP echo reply from %s: %w", ip, ctx.Err())
}

// timeLeft is the time until ctx's deadline (0 without one).
func timeLeft(ctx context.Context) time.Duration {
	if deadline, ok := ctx.Deadline(); ok {
		return time.Until(deadline)
	}
	return 0
}

// percent formats a ratio as a percentage for a failure reason: 0.4 → "40".
func percent(ratio float64) string {
	return strconv.FormatFloat(ratio*100, 'g', 4, 64)
}

// pingLogger sends pro-bing's log lines to the probe's logger while the
// probe runs. pro-bing's "Fatalf" is used for errors it survives.
type pingLogger struct {
	logger *slog.Logger
	over   *atomic.Bool
}

func (l pingLogger) log(level slog.Level, format string, v []any) {
	if l.over.Load() {
		return
	}
	l.logger.Log(context.Background(), level, "pro-bing: "+fmt.Sprintf(format, v...))
}

func (l pingLogger) Fatalf(format string, v ...any) { l.log(slog.LevelError, format, v) }
func (l pingLogger) Errorf(format string, v ...any) { l.log(slog.LevelError, format, v) }
func (l pingLogger) Warnf(format string, v ...any)  { l.log(slog.LevelWarn, format, v) }
func (l pingLogger) Infof(format string, v ...any)  { l.log(slog.LevelInfo, format, v) }
func (l pingLogger) Debugf(format string, v ...any) { l.log(slog.LevelDebug, format, v) }
