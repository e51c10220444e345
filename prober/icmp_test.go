package prober

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	probing "github.com/prometheus-community/pro-bing"

	"github.com/vigie-monitoring/vigie/config"
)

// upstream's family set of a successful single-packet probe.
var icmpSingleFamilies = []string{
	"probe_icmp_duration_seconds", "probe_icmp_reply_hop_limit",
	"probe_ip_protocol", "probe_ip_addr_hash", "probe_dns_lookup_time_seconds",
}

// vigie's multi-packet families, on top of upstream's.
var icmpSeriesFamilies = []string{
	"probe_icmp_packets_sent", "probe_icmp_packets_received",
	"probe_icmp_packet_loss_ratio", "probe_icmp_rtt_seconds",
}

// icmpSocketModes are the two kinds of socket, each with its requirement.
var icmpSocketModes = []struct {
	name    string
	mode    icmpMode
	require func(*testing.T)
}{
	{"privileged", icmpPrivileged, requireRawICMP},
	{"unprivileged", icmpUnprivileged, requireUnprivilegedICMP},
}

func TestICMPSinglePacketLoopback(t *testing.T) {
	targets := []struct {
		target, protocol string
		ip6              bool
		wantProtocol     float64
		wantHash         float64
	}{
		{"127.0.0.1", "ip4", false, 4, 3668918509},
		{"::1", "ip6", true, 6, 1751717746},
	}
	for _, m := range icmpSocketModes {
		for _, tc := range targets {
			t.Run(m.name+"/"+tc.target, func(t *testing.T) {
				m.require(t)
				if tc.ip6 {
					requireIPv6Loopback(t)
				}
				tr := &pingerTracker{}
				module := icmpTestModule(t, "preferred_ip_protocol: "+tc.protocol)
				registry, err := runICMP(t, 5*time.Second, tc.target, module, icmpOptions{mode: m.mode, run: tr.run})
				expectSuccess(t, err)
				tr.waitEnded(t)
				if got, want := tr.modes(), m.name; got != want {
					t.Errorf("sockets used: %s, want %s", got, want)
				}
				expectFamilies(t, registry, icmpSingleFamilies...)
				expectMetrics(t, registry, map[string]float64{
					"probe_ip_protocol":          tc.wantProtocol,
					"probe_ip_addr_hash":         tc.wantHash,
					"probe_icmp_reply_hop_limit": 64, // the loopback's replies leave with the default TTL
				})
				for _, phase := range []string{"setup", "rtt"} {
					if v, _ := registry.Value("probe_icmp_duration_seconds", phase); v <= 0 {
						t.Errorf("probe_icmp_duration_seconds{phase=%q} = %v, want > 0", phase, v)
					}
				}
				promtoolCheck(t, registry)
			})
		}
	}
}

// Upstream's choice of socket: unprivileged where allowed, privileged
// otherwise, and always privileged for dont_fragment over IPv4. Each case
// runs in a private namespace whose ping_group_range the test sets.
func TestICMPAutoModeChoosesSocketLikeUpstream(t *testing.T) {
	cases := []struct {
		name       string
		pingGroups string
		lines      []string
		want       string
	}{
		{"unprivileged allowed", "0 2147483647", nil, "unprivileged"},
		{"unprivileged refused", "1 0", nil, "unprivileged,privileged"},
		{"dont_fragment", "0 2147483647", []string{"preferred_ip_protocol: ip4", "dont_fragment: true"}, "privileged"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := newNetns(t, 0, func(s *nsSetup) error {
				return s.setSysctl("net/ipv4/ping_group_range", tc.pingGroups)
			})
			tr := &pingerTracker{ns: ns}
			registry, err := runICMP(t, 5*time.Second, "127.0.0.1", icmpTestModule(t, tc.lines...), icmpOptions{run: tr.run})
			expectSuccess(t, err)
			tr.waitEnded(t)
			if got := tr.modes(); got != tc.want {
				t.Errorf("sockets tried: %s, want %s", got, tc.want)
			}
			expectFamilies(t, registry, icmpSingleFamilies...)
		})
	}
}

// What goes on the wire: TTL (hop limit), payload size and source address,
// as seen by a raw socket on the loopback.
func TestICMPEchoRequestOnTheWire(t *testing.T) {
	defaultTTL := 64
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_default_ttl"); err == nil {
		if defaultTTL, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name        string
		target      string
		lines       []string
		wantPayload int
		wantTTL     int
		wantSrc     string
	}{
		{"defaults", "127.0.0.1", nil, 28, 64, "127.0.0.1"},
		{"ttl 5", "127.0.0.1", []string{"ttl: 5", "payload_size: 1005"}, 1005, 5, "127.0.0.1"},
		{"ttl 0 is the system default", "127.0.0.1", []string{"ttl: 0", "payload_size: 1006"}, 1006, defaultTTL, "127.0.0.1"},
		{"payload below pro-bing's minimum", "127.0.0.1", []string{"payload_size: 10", "ttl: 17"}, 24, 17, "127.0.0.1"},
		{"source address", "127.0.0.1", []string{"source_ip_address: 127.0.0.2", "payload_size: 1007"}, 1007, 64, "127.0.0.2"},
		{"ipv6 hop limit", "::1", []string{"ttl: 7", "payload_size: 1008"}, 1008, 7, "::1"},
	}
	for _, m := range icmpSocketModes {
		for _, tc := range cases {
			t.Run(m.name+"/"+tc.name, func(t *testing.T) {
				m.require(t)
				ip6 := strings.Contains(tc.target, ":")
				if ip6 {
					requireIPv6Loopback(t)
				}
				s := newSniffer(t, ip6)
				tr := &pingerTracker{}
				registry, err := runICMP(t, 5*time.Second, tc.target, icmpTestModule(t, tc.lines...), icmpOptions{mode: m.mode, run: tr.run})
				expectSuccess(t, err)
				tr.waitEnded(t)
				req := s.request(t, tc.wantPayload)
				if req.hopLimit != tc.wantTTL {
					t.Errorf("echo request TTL/hop limit = %d, want %d", req.hopLimit, tc.wantTTL)
				}
				if req.src.String() != tc.wantSrc {
					t.Errorf("echo request source = %s, want %s", req.src, tc.wantSrc)
				}
				expectFamilies(t, registry, icmpSingleFamilies...)
			})
		}
	}
}

// dont_fragment, in a namespace whose loopback MTU is 1280: a 1400-byte
// payload must be refused with DF over IPv4, and fragmented without it.
// IPv6 ignores the option, as upstream does.
func TestICMPDontFragment(t *testing.T) {
	ns := newNetns(t, 1280, nil)
	cases := []struct {
		name, target string
		lines        []string
		wantReason   string // empty: success
	}{
		{"ip4 with DF", "127.0.0.1", []string{"preferred_ip_protocol: ip4", "dont_fragment: true", "payload_size: 1400"},
			"cannot send ICMP echo request to 127.0.0.1: message too long (the packet is larger than the path MTU and dont_fragment is set)"},
		{"ip4 without DF", "127.0.0.1", []string{"preferred_ip_protocol: ip4", "payload_size: 1400"}, ""},
		{"ip6 ignores DF", "::1", []string{"dont_fragment: true", "payload_size: 1400"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := &pingerTracker{ns: ns}
			registry, err := runICMP(t, 3*time.Second, tc.target, icmpTestModule(t, tc.lines...), icmpOptions{mode: icmpPrivileged, run: tr.run})
			tr.waitEnded(t)
			if tc.wantReason == "" {
				expectSuccess(t, err)
				expectFamilies(t, registry, icmpSingleFamilies...)
				return
			}
			expectReason(t, err, tc.wantReason)
			expectFamilies(t, registry, "probe_icmp_duration_seconds", "probe_ip_protocol", "probe_ip_addr_hash", "probe_dns_lookup_time_seconds")
		})
	}
}

// A target that never answers: the loopback of a private namespace told to
// ignore echo requests. Nothing leaves the machine.
func TestICMPNoReply(t *testing.T) {
	ns := newNetns(t, 0, func(s *nsSetup) error {
		for name, v := range map[string]string{
			"net/ipv4/ping_group_range":     "0 2147483647",
			"net/ipv4/icmp_echo_ignore_all": "1",
			"net/ipv6/icmp/echo_ignore_all": "1",
		} {
			if err := s.setSysctl(name, v); err != nil {
				return err
			}
		}
		return nil
	})
	cases := []struct {
		name, target string
		mode         icmpMode
		lines        []string
		wantReason   string
		wantFamilies []string
		want         map[string]float64
	}{
		{"privileged", "127.0.0.1", icmpPrivileged, nil, "no ICMP echo reply from 127.0.0.1 within 300ms", nil, nil},
		{"unprivileged", "127.0.0.1", icmpUnprivileged, nil, "no ICMP echo reply from 127.0.0.1 within 300ms", nil, nil},
		{"ipv6", "::1", icmpAuto, nil, "no ICMP echo reply from ::1 within 300ms", nil, nil},
		{"series", "127.0.0.1", icmpAuto, []string{"packets: 3", "interval: 20ms"}, "100% packet loss (0/3 replies)",
			[]string{"probe_icmp_packets_sent", "probe_icmp_packets_received", "probe_icmp_packet_loss_ratio"},
			map[string]float64{"probe_icmp_packets_sent": 3, "probe_icmp_packets_received": 0, "probe_icmp_packet_loss_ratio": 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := &pingerTracker{ns: ns}
			registry, err := runICMP(t, 300*time.Millisecond, tc.target, icmpTestModule(t, tc.lines...), icmpOptions{mode: tc.mode, run: tr.run})
			expectReason(t, err, tc.wantReason)
			tr.waitEnded(t)
			expectFamilies(t, registry, append([]string{"probe_icmp_duration_seconds", "probe_ip_protocol", "probe_ip_addr_hash", "probe_dns_lookup_time_seconds"}, tc.wantFamilies...)...)
			expectMetrics(t, registry, tc.want)
			if v, _ := registry.Value("probe_icmp_duration_seconds", "rtt"); v != 0 {
				t.Errorf("rtt phase = %v without a reply, want 0", v)
			}
			promtoolCheck(t, registry)
		})
	}
}

// Without CAP_NET_RAW and with unprivileged ICMP off (a fresh namespace's
// default), no socket opens and the reason says what to do.
func TestICMPSocketNotPermitted(t *testing.T) {
	ns := newNetns(t, 0, func(s *nsSetup) error {
		if err := s.setSysctl("net/ipv4/ping_group_range", "1 0"); err != nil {
			return err
		}
		return s.dropNetRaw()
	})
	cases := []struct {
		name       string
		lines      []string
		wantReason string
		wantModes  string
	}{
		{"auto", []string{"preferred_ip_protocol: ip4"},
			"cannot open ICMP socket: operation not permitted (run as root, grant CAP_NET_RAW, or allow unprivileged ping with net.ipv4.ping_group_range)",
			"unprivileged,privileged"},
		{"dont_fragment", []string{"preferred_ip_protocol: ip4", "dont_fragment: true"},
			"cannot open ICMP socket: operation not permitted (dont_fragment needs a raw socket: run as root or grant CAP_NET_RAW)",
			"privileged"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := &pingerTracker{ns: ns}
			registry, err := runICMP(t, 2*time.Second, "127.0.0.1", icmpTestModule(t, tc.lines...), icmpOptions{run: tr.run})
			expectReason(t, err, tc.wantReason)
			tr.waitEnded(t)
			if got := tr.modes(); got != tc.wantModes {
				t.Errorf("sockets tried: %s, want %s", got, tc.wantModes)
			}
			expectFamilies(t, registry, "probe_icmp_duration_seconds", "probe_ip_protocol", "probe_ip_addr_hash", "probe_dns_lookup_time_seconds")
		})
	}
}

func TestICMPResolutionAndSourceErrors(t *testing.T) {
	requireRawICMP(t)
	cases := []struct {
		name, target string
		lines        []string
		wantReason   string
	}{
		{"protocol without fallback", "127.0.0.1", []string{"preferred_ip_protocol: ip6", "ip_protocol_fallback: false"},
			"address 127.0.0.1 is not ip6 and ip_protocol_fallback is off"},
		{"unparsable source", "127.0.0.1", []string{"source_ip_address: not-an-ip"}, `invalid source_ip_address "not-an-ip"`},
		// 192.0.2.1 (TEST-NET-1) is on no interface: bind fails before any packet exists.
		{"source not on this machine", "127.0.0.1", []string{"source_ip_address: 192.0.2.1"},
			"cannot open ICMP socket: bind: cannot assign requested address"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := &pingerTracker{}
			registry, err := runICMP(t, 2*time.Second, tc.target, icmpTestModule(t, tc.lines...), icmpOptions{mode: icmpPrivileged, run: tr.run})
			expectReason(t, err, tc.wantReason)
			tr.waitEnded(t)
			expectFamilies(t, registry, "probe_icmp_duration_seconds", "probe_ip_protocol", "probe_ip_addr_hash", "probe_dns_lookup_time_seconds")
		})
	}

	t.Run("localhost by name", func(t *testing.T) {
		registry, err := runICMP(t, 5*time.Second, "localhost", icmpTestModule(t, "preferred_ip_protocol: ip4"), icmpOptions{mode: icmpPrivileged})
		expectSuccess(t, err)
		expectMetrics(t, registry, map[string]float64{"probe_ip_protocol": 4})
	})
}

func TestICMPTargetPolicy(t *testing.T) {
	ctx, cancel := context.WithTimeout(policyContext(t, config.TargetPolicy{Deny: []string{"127.0.0.0/8"}}), 2*time.Second)
	defer cancel()
	tr := &pingerTracker{}
	module := icmpTestModule(t, "preferred_ip_protocol: ip4")
	err := probeICMP(ctx, "localhost", &module.ICMP, NewRegistry(), testLogger(t), icmpOptions{run: tr.run})
	if !IsPolicyError(err) {
		t.Fatalf("err = %v, want a policy refusal", err)
	}
	expectReason(t, err, "target 127.0.0.1 refused by policy: address is in denied network 127.0.0.0/8")
	if tr.modes() != "" {
		t.Errorf("a pinger ran for a refused target: %s", tr.modes())
	}
}

func TestICMPMultiPacket(t *testing.T) {
	for _, m := range icmpSocketModes {
		for _, target := range []string{"127.0.0.1", "::1"} {
			t.Run(m.name+"/"+target, func(t *testing.T) {
				m.require(t)
				if target == "::1" {
					requireIPv6Loopback(t)
				}
				tr := &pingerTracker{}
				module := icmpTestModule(t, "packets: 4", "interval: 10ms")
				registry, err := runICMP(t, 5*time.Second, target, module, icmpOptions{mode: m.mode, run: tr.run})
				expectSuccess(t, err)
				tr.waitEnded(t)
				expectFamilies(t, registry, append(append([]string(nil), icmpSingleFamilies...), icmpSeriesFamilies...)...)
				expectMetrics(t, registry, map[string]float64{
					"probe_icmp_packets_sent":      4,
					"probe_icmp_packets_received":  4,
					"probe_icmp_packet_loss_ratio": 0,
					"probe_icmp_reply_hop_limit":   64,
				})
				stat := func(s string) float64 {
					v, ok := registry.Value("probe_icmp_rtt_seconds", s)
					if !ok {
						t.Fatalf("probe_icmp_rtt_seconds{stat=%q} missing", s)
					}
					return v
				}
				if !(0 < stat("min") && stat("min") <= stat("avg") && stat("avg") <= stat("max") && stat("stddev") >= 0) {
					t.Errorf("rtt stats out of order: min %v avg %v max %v stddev %v", stat("min"), stat("avg"), stat("max"), stat("stddev"))
				}
				if v, _ := registry.Value("probe_icmp_duration_seconds", "rtt"); v != stat("avg") {
					t.Errorf("rtt phase = %v, want the average %v", v, stat("avg"))
				}
				promtoolCheck(t, registry)
			})
		}
	}
}

// Partial loss, made exact: the namespace starts ignoring echo requests
// once the second reply is in. pro-bing sends and handles replies in one
// loop, so requests 3 and 4 leave after the switch.
func TestICMPPartialLoss(t *testing.T) {
	var ignore *os.File
	ns := newNetns(t, 0, func(s *nsSetup) error {
		var err error
		ignore, err = s.openSysctl("net/ipv4/icmp_echo_ignore_all")
		return err
	})
	t.Cleanup(func() { ignore.Close() })
	cases := []struct {
		name       string
		lines      []string
		wantReason string
	}{
		{"any reply succeeds", nil, ""},
		{"loss at the limit", []string{"fail_if_loss_ratio_above: 0.5"}, ""},
		{"loss above the limit", []string{"fail_if_loss_ratio_above: 0.25"}, "50% packet loss (2/4 replies), more than the 25% allowed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ignore.WriteAt([]byte("0"), 0); err != nil {
				t.Fatal(err)
			}
			tr := &pingerTracker{ns: ns, before: func(p *probing.Pinger) {
				replies := 0
				next := p.OnRecv
				p.OnRecv = func(pkt *probing.Packet) {
					next(pkt)
					if replies++; replies == 2 {
						if _, err := ignore.WriteAt([]byte("1"), 0); err != nil {
							t.Error(err)
						}
					}
				}
			}}
			lines := append([]string{"preferred_ip_protocol: ip4", "packets: 4", "interval: 100ms"}, tc.lines...)
			registry, err := runICMP(t, 700*time.Millisecond, "127.0.0.1", icmpTestModule(t, lines...), icmpOptions{mode: icmpPrivileged, run: tr.run})
			tr.waitEnded(t)
			if tc.wantReason == "" && err != nil {
				t.Fatalf("probe failed: %v", err)
			}
			if tc.wantReason != "" {
				expectReason(t, err, tc.wantReason)
			}
			expectMetrics(t, registry, map[string]float64{
				"probe_icmp_packets_sent":      4,
				"probe_icmp_packets_received":  2,
				"probe_icmp_packet_loss_ratio": 0.5,
			})
			expectFamilies(t, registry, append(append([]string(nil), icmpSingleFamilies...), icmpSeriesFamilies...)...)
		})
	}
}

// A series longer than the timeout stops at the deadline with the replies
// received so far.
func TestICMPSeriesCutByDeadline(t *testing.T) {
	requireRawICMP(t)
	tr := &pingerTracker{}
	module := icmpTestModule(t, "preferred_ip_protocol: ip4", "packets: 10", "interval: 100ms")
	registry, err := runICMP(t, 250*time.Millisecond, "127.0.0.1", module, icmpOptions{mode: icmpPrivileged, run: tr.run})
	expectSuccess(t, err)
	tr.waitEnded(t)
	sent, _ := registry.Value("probe_icmp_packets_sent")
	received, _ := registry.Value("probe_icmp_packets_received")
	if sent < 1 || sent >= 10 || received < 1 || received > sent {
		t.Errorf("sent %v, received %v: want 1 ≤ received ≤ sent < 10", sent, received)
	}
}

// Many probes at once, on every path (replies, a series, deadlines in any
// phase): every pinger ends and every socket is closed.
func TestICMPReleasesSocketsAndGoroutines(t *testing.T) {
	requireRawICMP(t)
	fds := countFDs(t)
	tr := &pingerTracker{}
	probes := []struct {
		module  config.Module
		timeout time.Duration
	}{
		{icmpTestModule(t, "preferred_ip_protocol: ip4"), 5 * time.Second},
		{icmpTestModule(t, "preferred_ip_protocol: ip4", "packets: 3", "interval: 10ms"), 5 * time.Second},
		{icmpTestModule(t, "preferred_ip_protocol: ip4", "packets: 5", "interval: 100ms"), 50 * time.Millisecond},
	}
	var wg sync.WaitGroup
	for i := range 150 {
		p := probes[i%len(probes)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := runICMP(t, p.timeout, "127.0.0.1", p.module, icmpOptions{mode: icmpPrivileged, run: tr.run})
			// The short deadline may strike in any phase: that is the
			// point, and only the long probes must succeed.
			if err != nil && p.timeout > time.Second {
				t.Errorf("probe failed: %v", err)
			}
		}()
	}
	wg.Wait()
	tr.waitEnded(t)
	if got := countFDs(t); got > fds {
		t.Errorf("%d file descriptors open after the probes, %d before", got, fds)
	}
}
