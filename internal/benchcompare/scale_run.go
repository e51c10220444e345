package benchcompare

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vigie-monitoring/vigie/internal/loadfixture"
)

// scaleRun is one scale test in progress.
type scaleRun struct {
	o             ScaleOptions
	rep           *ScaleReport
	client        *http.Client
	fixture       *loadfixture.Scale
	sink          *notificationSink
	procs         []*watchedProcess
	routerMetrics []string        // of each router
	flapped       map[string]bool // "<address> (<module>)" of the flapped targets
}

// watchedProcess is a process whose resources are sampled.
type watchedProcess struct {
	name       string
	pid        int
	metricsURL string // its /metrics, for go_goroutines; "" for this tool
	samples    []procSample
}

// procSample is one look at a process.
type procSample struct {
	at         time.Time
	cpuTicks   uint64
	rss, hwm   uint64
	threads    int
	fds        int
	goroutines int
}

// routerSample is one scrape of the router's metrics.
type routerSample struct {
	at             time.Time
	probes         map[string]float64 // vigie_router_probes_total by result
	latency        histogram          // vigie_router_probe_duration_seconds
	exporterErrors map[string]float64 // by endpoint
	checks         map[string]float64 // by state
	sdChecks       float64
	// perRouter is the probes of each router (of a cluster).
	perRouter []float64
}

// fixtureSample counts what the fixtures answered.
type fixtureSample struct {
	httpRequests, tcpAccepted uint64
	timeWait                  int
}

// sdTiming is one timed /sd request.
type sdTiming struct {
	at      time.Time
	d       time.Duration
	targets int
	size    int
	err     error
}

func (s *scaleRun) run(ctx context.Context, sdURL string, exporter *process, routers []*process) error {
	o := s.o
	t0 := time.Now()
	windowStart, end := t0.Add(o.Warmup), t0.Add(o.Duration)
	flapDown, flapUp, ok := flapTimes(windowStart, end, o.Interval)
	if o.Flap > 0 && !ok {
		s.rep.Notes = append(s.rep.Notes, fmt.Sprintf("no targets taken down: a %s window is too short to see DOWN and UP at a %s interval", end.Sub(windowStart), o.Interval))
		s.o.Flap = 0
		o.Flap = 0
	}

	sdCtx, stopSD := context.WithCancel(ctx)
	var sdWG sync.WaitGroup
	var sdTimings []sdTiming
	sdWG.Add(1)
	go func() {
		defer sdWG.Done()
		sdTimings = timeSD(sdCtx, s.client, sdURL, o.SDEvery)
	}()
	defer func() {
		stopSD()
		sdWG.Wait()
	}()

	var (
		start, last         *routerSample
		fixStart, fixLast   fixtureSample
		startIndex          = -1
		maxTimeWait         int
		flappedDown, upDone bool
	)
	next := t0
	for {
		if err := sleepUntil(ctx, next); err != nil {
			return err
		}
		now := time.Now()
		for _, p := range s.procs {
			if ps, err := s.sample(ctx, p); err == nil {
				p.samples = append(p.samples, ps)
			}
		}
		select {
		case <-exporter.exited:
			return fmt.Errorf("vigie_exporter exited during the run (%v); see %s", exporter.err, exporter.log.Name())
		default:
		}
		for _, router := range routers {
			select {
			case <-router.exited:
				return fmt.Errorf("vigie_router exited during the run (%v); see %s", router.err, router.log.Name())
			default:
			}
		}
		rs, err := scrapeRouters(ctx, s.client, s.routerMetrics)
		if err != nil {
			return fmt.Errorf("router metrics: %w", err)
		}
		fs := s.fixtureSample()
		maxTimeWait = max(maxTimeWait, fs.timeWait)
		if start == nil && !now.Before(windowStart) {
			start, fixStart, startIndex = rs, fs, len(s.procs[0].samples)-1
		}
		s.progress(now.Sub(t0), last, rs)
		last, fixLast = rs, fs

		if o.Flap > 0 && !flappedDown && !now.Before(flapDown) {
			if err := s.flap(true); err != nil {
				return err
			}
			flappedDown = true
			fmt.Fprintf(o.Progress, "%s: took %d targets down\n", now.Sub(t0).Round(time.Second), o.Flap)
		}
		if flappedDown && !upDone && !now.Before(flapUp) {
			if err := s.flap(false); err != nil {
				return err
			}
			upDone = true
			fmt.Fprintf(o.Progress, "%s: brought them back up\n", now.Sub(t0).Round(time.Second))
		}
		if !now.Before(end) {
			break
		}
		next = next.Add(o.SampleEvery)
		if next.After(end) {
			next = end
		}
	}
	stopSD()
	sdWG.Wait()
	s.report(start, last, fixStart, fixLast, startIndex, sdTimings, windowStart)
	s.rep.TimeWaitMax = maxTimeWait
	return nil
}

// retryInterval is the router's checks.retry_interval in a scale test: the
// period of the probes that confirm a change.
func retryInterval(interval time.Duration) time.Duration { return min(interval, 5*time.Second) }

// flapTimes returns when to take the flapped targets down and up again: a
// quarter into the window, and 40 % of the window later. DOWN needs the
// check's next probe (up to an interval) and 2 retries; UP, the next probe
// of the DOWN check and a retry. It reports false when the window leaves
// too little time for that.
func flapTimes(windowStart, end time.Time, interval time.Duration) (down, up time.Time, ok bool) {
	window := end.Sub(windowStart)
	retry := retryInterval(interval)
	const slack = 2 * time.Second
	down = windowStart.Add(window / 4)
	up = down.Add(max(window*2/5, interval+2*retry+slack))
	return down, up, !up.Add(interval + retry + slack).After(end)
}

// flap takes the flapped targets down, or brings them back up: half of
// them http targets, half tcp ones, as far as there are.
func (s *scaleRun) flap(down bool) error {
	if s.flapped == nil {
		s.flapped = map[string]bool{}
		var httpT, tcpT []loadfixture.Target
		for _, t := range s.fixture.Targets() {
			if t.Module == loadfixture.HTTPModule {
				httpT = append(httpT, t)
			} else {
				tcpT = append(tcpT, t)
			}
		}
		nHTTP := min(s.o.Flap/2+s.o.Flap%2, len(httpT))
		nTCP := min(s.o.Flap-nHTTP, len(tcpT))
		nHTTP = s.o.Flap - nTCP
		for _, t := range append(httpT[:nHTTP:nHTTP], tcpT[:nTCP]...) {
			s.flapped[t.Address+" ("+t.Module+")"] = true
		}
	}
	for key := range s.flapped {
		addr, _, _ := strings.Cut(key, " (")
		if err := s.fixture.SetDown(addr, down); err != nil {
			return err
		}
	}
	return nil
}

func (s *scaleRun) sample(ctx context.Context, p *watchedProcess) (procSample, error) {
	ps := procSample{at: time.Now()}
	var err error
	if ps.cpuTicks, err = cpuTicks(p.pid); err != nil {
		return ps, err
	}
	st, err := readStatus(p.pid)
	if err != nil {
		return ps, err
	}
	ps.rss, ps.hwm, ps.threads = st.RSS, st.PeakRSS, st.Threads
	if entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.pid)); err == nil {
		ps.fds = len(entries)
	}
	if p.metricsURL == "" {
		ps.goroutines = runtime.NumGoroutine()
		return ps, nil
	}
	if mfs, err := scrape(ctx, s.client, p.metricsURL); err == nil {
		ps.goroutines = int(gaugeValue(mfs["go_goroutines"]))
	}
	return ps, nil
}

func (s *scaleRun) fixtureSample() fixtureSample {
	fs := fixtureSample{httpRequests: s.fixture.HTTP.Requests(), timeWait: timeWaitSockets()}
	for _, l := range s.fixture.TCP {
		fs.tcpAccepted += l.Accepted()
	}
	return fs
}

// progress prints one line per sample: the probe rate since the last one
// and the resources of every process.
func (s *scaleRun) progress(elapsed time.Duration, prev, cur *routerSample) {
	var b strings.Builder
	fmt.Fprintf(&b, "%6s", elapsed.Round(time.Second))
	if prev != nil {
		d := cur.at.Sub(prev.at).Seconds()
		fmt.Fprintf(&b, "  %6.1f probes/s", (sum(cur.probes)-sum(prev.probes))/d)
		if f := cur.probes["failure"] - prev.probes["failure"]; f > 0 {
			fmt.Fprintf(&b, " (%.0f failed)", f)
		}
		if e := cur.probes["exporter_error"] - prev.probes["exporter_error"]; e > 0 {
			fmt.Fprintf(&b, " (%.0f exporter errors)", e)
		}
	}
	for _, p := range s.procs {
		n := len(p.samples)
		if n == 0 {
			continue
		}
		ps := p.samples[n-1]
		cpu := 0.0
		if n > 1 {
			prev := p.samples[n-2]
			cpu = float64(ps.cpuTicks-prev.cpuTicks) / float64(s.rep.Machine.ClockTicks) / ps.at.Sub(prev.at).Seconds() * 100
		}
		name, _, _ := strings.Cut(p.name, " ")
		fmt.Fprintf(&b, " | %s %4.1f%% %3.0f MiB %d fds %d g", strings.TrimPrefix(name, "vigie_"), cpu, mib(ps.rss), ps.fds, ps.goroutines)
	}
	fmt.Fprintln(s.o.Progress, b.String())
}

// timeSD times a GET of /sd every period until ctx ends.
func timeSD(ctx context.Context, client *http.Client, url string, period time.Duration) []sdTiming {
	var out []sdTiming
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return out
		case <-t.C:
		}
		start := time.Now()
		d, n, size, err := fetchSD(ctx, client, url)
		if ctx.Err() != nil {
			return out
		}
		out = append(out, sdTiming{at: start, d: d, targets: n, size: size, err: err})
	}
}

// timeWaitSockets returns the machine's TCP sockets in TIME_WAIT
// (/proc/net/sockstat), or -1 when it cannot tell.
func timeWaitSockets() int {
	b, err := os.ReadFile("/proc/net/sockstat")
	if err != nil {
		return -1
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] != "TCP:" {
			continue
		}
		for i := 1; i+1 < len(f); i += 2 {
			if f[i] == "tw" {
				n, err := strconv.Atoi(f[i+1])
				if err != nil {
					return -1
				}
				return n
			}
		}
	}
	return -1
}

// scrape fetches and parses a Prometheus text exposition.
func scrape(ctx context.Context, client *http.Client, url string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %d", url, resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(resp.Body)
}

// scrapeRouters adds up the routers' samples: probes, latencies and
// exporter errors are each router's own; the checks by state are the
// first router's (each member of a cluster counts every check).
func scrapeRouters(ctx context.Context, client *http.Client, urls []string) (*routerSample, error) {
	var all *routerSample
	for _, url := range urls {
		rs, err := scrapeRouter(ctx, client, url)
		if err != nil {
			return nil, err
		}
		if all == nil {
			all = rs
			all.perRouter = []float64{sum(rs.probes)}
			continue
		}
		all.perRouter = append(all.perRouter, sum(rs.probes))
		for k, v := range rs.probes {
			all.probes[k] += v
		}
		for k, v := range rs.exporterErrors {
			all.exporterErrors[k] += v
		}
		all.latency = all.latency.add(rs.latency)
		all.at = rs.at
	}
	return all, nil
}

func scrapeRouter(ctx context.Context, client *http.Client, url string) (*routerSample, error) {
	mfs, err := scrape(ctx, client, url)
	if err != nil {
		return nil, err
	}
	rs := &routerSample{
		at:             time.Now(),
		probes:         byLabel(mfs["vigie_router_probes_total"], "result"),
		exporterErrors: byLabel(mfs["vigie_router_exporter_errors_total"], "endpoint"),
		checks:         byLabel(mfs["vigie_router_checks"], "state"),
		sdChecks:       gaugeValue(mfs["vigie_router_sd_checks"]),
	}
	if mf := mfs["vigie_router_probe_duration_seconds"]; mf != nil && len(mf.Metric) > 0 {
		rs.latency = histogramOf(mf.Metric[0].GetHistogram())
	}
	return rs, nil
}

// byLabel returns the value of each series of a counter or gauge family by
// the value of one label.
func byLabel(mf *dto.MetricFamily, label string) map[string]float64 {
	out := map[string]float64{}
	if mf == nil {
		return out
	}
	for _, m := range mf.Metric {
		key := ""
		for _, lp := range m.Label {
			if lp.GetName() == label {
				key = lp.GetValue()
			}
		}
		switch {
		case m.Counter != nil:
			out[key] += m.Counter.GetValue()
		case m.Gauge != nil:
			out[key] += m.Gauge.GetValue()
		case m.Untyped != nil:
			out[key] += m.Untyped.GetValue()
		}
	}
	return out
}

func gaugeValue(mf *dto.MetricFamily) float64 {
	v := 0.0
	for _, x := range byLabel(mf, "") {
		v += x
	}
	return v
}

func sum(m map[string]float64) float64 {
	s := 0.0
	for _, v := range m {
		s += v
	}
	return s
}

// histogram is a cumulative Prometheus histogram.
type histogram struct {
	count   float64
	buckets []bucket // ascending upper bounds, cumulative counts, without +Inf
}

type bucket struct {
	le, count float64
}

func histogramOf(h *dto.Histogram) histogram {
	out := histogram{count: float64(h.GetSampleCount())}
	for _, b := range h.Bucket {
		if math.IsInf(b.GetUpperBound(), +1) {
			continue
		}
		out.buckets = append(out.buckets, bucket{le: b.GetUpperBound(), count: float64(b.GetCumulativeCount())})
	}
	sort.Slice(out.buckets, func(i, j int) bool { return out.buckets[i].le < out.buckets[j].le })
	return out
}

// add returns the observations of h and other (the same buckets).
func (h histogram) add(other histogram) histogram {
	if len(h.buckets) == 0 {
		return histogram{count: h.count + other.count, buckets: slices.Clone(other.buckets)}
	}
	out := histogram{count: h.count + other.count, buckets: slices.Clone(h.buckets)}
	for i := range out.buckets {
		for _, o := range other.buckets {
			if o.le == out.buckets[i].le {
				out.buckets[i].count += o.count
			}
		}
	}
	return out
}

// sub returns the observations of h made since earlier.
func (h histogram) sub(earlier histogram) histogram {
	out := histogram{count: h.count - earlier.count, buckets: slices.Clone(h.buckets)}
	for i := range out.buckets {
		for _, e := range earlier.buckets {
			if e.le == out.buckets[i].le {
				out.buckets[i].count -= e.count
			}
		}
	}
	return out
}

// quantile estimates the q-quantile as Prometheus's histogram_quantile does:
// linear interpolation inside the bucket holding it (from 0 in the first).
// It returns +Inf when the quantile lies above the last finite bucket, NaN
// without observations.
func (h histogram) quantile(q float64) float64 {
	if h.count == 0 {
		return math.NaN()
	}
	rank := q * h.count
	lower, below := 0.0, 0.0
	for _, b := range h.buckets {
		if b.count >= rank {
			if b.count == below {
				return b.le
			}
			return lower + (b.le-lower)*(rank-below)/(b.count-below)
		}
		lower, below = b.le, b.count
	}
	return math.Inf(+1)
}

// fractionWithin returns the share of observations at most le (an upper
// bound of the histogram), NaN without observations.
func (h histogram) fractionWithin(le float64) float64 {
	if h.count == 0 {
		return math.NaN()
	}
	for _, b := range h.buckets {
		if b.le == le {
			return b.count / h.count
		}
	}
	return math.NaN()
}

func sleepUntil(ctx context.Context, t time.Time) error {
	if d := time.Until(t); d > 0 {
		return sleep(ctx, d)
	}
	return ctx.Err()
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
