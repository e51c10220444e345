package benchcompare

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vigie-monitoring/vigie/internal/loadfixture"
)

// SDOptions configure an /sd measurement (`benchcompare sd`): the real
// vigie_exporter discovering Targets from a static file, one exporter or
// one per shard (--discovery.shard=i/Shards, same file), and timed GETs of
// each one's /sd, one at a time, of the kinds in SDKinds.
type SDOptions struct {
	Exporter string // binary
	Targets  int
	// HTTPShare of the targets are http_2xx URLs, the others tcp_connect
	// addresses, as the scale test's (nothing is probed: only listed).
	HTTPShare float64
	Shards    int
	// Requests is how many timed requests of each kind go to each exporter.
	Requests     int
	ExporterArgs []string
	WorkDir      string
	Progress     io.Writer
}

// Kinds of timed /sd requests.
const (
	// SDPrometheus asks as Prometheus's http_sd and vigie_router do (JSON,
	// no gzip, no validator), read into a buffer sized from
	// Content-Length: the exporter's time and the transfer's.
	SDPrometheus = "prometheus"
	// SDPrometheusReadAll is the same request read with io.ReadAll, as
	// Prometheus 2.42 reads it: a buffer grown as the bytes come, the
	// client's own cost included.
	SDPrometheusReadAll = "prometheus-readall"
	SDGzip              = "gzip"         // Accept-Encoding: gzip (browsers, curl --compressed)
	SDNotModified       = "not-modified" // If-None-Match with the current ETag: 304
	SDModule            = "module"       // ?module=tcp_connect, as Prometheus asks
)

// SDKinds are the kinds of request `benchcompare sd` times, in order.
func SDKinds() []string {
	return []string{SDPrometheus, SDPrometheusReadAll, SDGzip, SDNotModified, SDModule}
}

// sdGoal is the goal of the performance issue: /sd with 100,000 targets
// answered under 20 ms at p99, as Prometheus asks for it.
const sdGoal = 20 * time.Millisecond

// SDKindReport is one kind of request to one exporter.
type SDKindReport struct {
	Kind     string `json:"kind"`
	Requests int    `json:"requests"`
	Status   int    `json:"status"`
	// WireBytes is the size of the answer as sent (compressed for gzip).
	WireBytes int `json:"wire_bytes"`
	P50Millis num `json:"p50_ms"`
	P99Millis num `json:"p99_ms"`
	MaxMillis num `json:"max_ms"`
	// CPUMicrosPerRequest is the exporter's CPU (from /proc, 10 ms ticks)
	// over the requests of this kind, per request.
	CPUMicrosPerRequest num `json:"cpu_us_per_request"`
}

// SDExporterReport is one exporter's answers.
type SDExporterReport struct {
	Shard      string         `json:"shard"`
	Targets    int            `json:"targets"` // listed at its /sd
	Kinds      []SDKindReport `json:"kinds"`
	PeakRSSMiB num            `json:"peak_rss_mib"`
}

// SDRunReport is what `benchcompare sd` measured.
type SDRunReport struct {
	Date      time.Time          `json:"date"`
	Command   string             `json:"command,omitempty"`
	Machine   Machine            `json:"machine"`
	Exporter  string             `json:"exporter"`
	Targets   int                `json:"targets"`
	Shards    int                `json:"shards"`
	Exporters []SDExporterReport `json:"exporters"`
	GoalsMet  bool               `json:"goals_met"`
}

func (o *SDOptions) defaults() {
	if o.HTTPShare == 0 {
		o.HTTPShare = 0.9
	}
	if o.Shards == 0 {
		o.Shards = 1
	}
	if o.Requests == 0 {
		o.Requests = 200
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

// Validate checks the options (defaults applied).
func (o *SDOptions) Validate() error {
	o.defaults()
	switch {
	case o.Targets < 1:
		return errors.New("targets must be at least 1")
	case o.HTTPShare < 0 || o.HTTPShare > 1:
		return errors.New("the http share must be between 0 and 1")
	case o.Shards < 1:
		return errors.New("shards must be at least 1")
	case o.Requests < 1:
		return errors.New("requests must be at least 1")
	}
	return nil
}

// sdTargets lists n targets shaped as the scale test's, none of them
// reachable: /sd lists them, nothing probes them.
func sdTargets(n int, httpShare float64) []loadfixture.Target {
	httpN := int(float64(n)*httpShare + 0.5)
	out := make([]loadfixture.Target, 0, n)
	for i := range httpN {
		out = append(out, loadfixture.Target{Module: loadfixture.HTTPModule, Address: "http://127.0.0.1:9/t/http-" + strconv.Itoa(i)})
	}
	for i := range n - httpN {
		// 60,000 ports per loopback address, from 127.0.0.2 on.
		out = append(out, loadfixture.Target{Module: loadfixture.TCPModule,
			Address: fmt.Sprintf("127.0.%d.%d:%d", i/60000/250, 2+i/60000%250, 1024+i%60000)})
	}
	return out
}

// RunSD measures /sd.
func RunSD(ctx context.Context, o SDOptions) (*SDRunReport, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Exporter == "" || o.WorkDir == "" {
		return nil, errors.New("the exporter binary and a work directory are needed")
	}
	if err := checkProc(); err != nil {
		return nil, err
	}
	ticks := ClockTicks(ctx)
	rep := &SDRunReport{
		Date:     time.Now(),
		Machine:  Machine{CPUs: runtime.NumCPU(), CPUModel: cpuModel(), Kernel: kernel(), ClockTicks: ticks},
		Exporter: Version(ctx, o.Exporter), Targets: o.Targets, Shards: o.Shards,
		GoalsMet: true,
	}
	files, err := writeScaleFiles(ScaleOptions{WorkDir: o.WorkDir}, sdTargets(o.Targets, o.HTTPShare))
	if err != nil {
		return nil, err
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableCompression: true}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	total := 0
	for i := range o.Shards {
		shard := fmt.Sprintf("%d/%d", i, o.Shards)
		args := append([]string{"--discovery.shard=" + shard}, o.ExporterArgs...)
		p, err := startExporter(Exporter{Name: "vigie_exporter", Path: o.Exporter, Args: args},
			files.exporterConfig, filepath.Join(o.WorkDir, fmt.Sprintf("vigie_exporter-shard%d.log", i)), false)
		if err != nil {
			return nil, err
		}
		er, err := measureSD(ctx, p, client, shard, o, ticks)
		p.stop()
		if err != nil {
			return nil, fmt.Errorf("shard %s: %w", shard, err)
		}
		total += er.Targets
		for _, k := range er.Kinds {
			fmt.Fprintf(o.Progress, "shard %s %-13s %s\n", shard, k.Kind, describeSD(k))
			if k.Kind == SDPrometheus && time.Duration(float64(k.P99Millis)*float64(time.Millisecond)) >= sdGoal {
				rep.GoalsMet = false
			}
		}
		rep.Exporters = append(rep.Exporters, er)
	}
	if total != o.Targets {
		return nil, fmt.Errorf("the shards list %d targets in all, want %d", total, o.Targets)
	}
	return rep, nil
}

// measureSD waits for the exporter to publish its shard, then times each
// kind of request in turn.
func measureSD(ctx context.Context, p *process, client *http.Client, shard string, o SDOptions, ticks int) (SDExporterReport, error) {
	er := SDExporterReport{Shard: shard}
	if err := p.waitReady(ctx, 30*time.Second); err != nil {
		return er, err
	}
	url := "http://" + p.addr + "/sd"
	// The shard's share is not known in advance: wait for the list to
	// stop growing once it is served.
	deadline := time.Now().Add(2 * time.Minute)
	for last := -1; ; {
		_, n, _, err := fetchSD(ctx, client, url)
		if err == nil && n > 0 && n == last {
			er.Targets = n
			break
		}
		last = n
		if time.Now().After(deadline) {
			return er, fmt.Errorf("/sd did not settle in 2 minutes (%d targets, %v)", n, err)
		}
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return er, err
		}
	}
	for _, kind := range SDKinds() {
		kr, err := timeSDKind(ctx, p, client, url, kind, o.Requests, ticks)
		if err != nil {
			return er, fmt.Errorf("%s: %w", kind, err)
		}
		er.Kinds = append(er.Kinds, kr)
	}
	st, err := readStatus(p.pid())
	if err != nil {
		return er, err
	}
	er.PeakRSSMiB = num(mib(st.PeakRSS))
	return er, nil
}

// timeSDKind sends n requests of a kind one after the other, each timed
// from the request to the last byte of the answer.
func timeSDKind(ctx context.Context, p *process, client *http.Client, url, kind string, n, ticks int) (SDKindReport, error) {
	kr := SDKindReport{Kind: kind, Requests: n}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return kr, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", prometheusUserAgent)
	switch kind {
	case SDGzip:
		req.Header.Set("Accept-Encoding", "gzip")
	case SDModule:
		req.URL.RawQuery = "module=" + loadfixture.TCPModule
	case SDNotModified:
		resp, err := client.Do(req)
		if err != nil {
			return kr, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
	}
	want := http.StatusOK
	if kind == SDNotModified {
		want = http.StatusNotModified
	}
	ds := make([]time.Duration, 0, n)
	cpu0, err := cpuTicks(p.pid())
	if err != nil {
		return kr, err
	}
	// One buffer, grown once: the time is the exporter's and the
	// transfer's, not the harness's allocations.
	var buf bytes.Buffer
	for range n {
		buf.Reset()
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return kr, err
		}
		if kind == SDPrometheusReadAll {
			var b []byte
			if b, err = io.ReadAll(resp.Body); err == nil {
				buf.Write(b)
			}
		} else {
			if resp.ContentLength > 0 {
				buf.Grow(int(resp.ContentLength))
			}
			_, err = buf.ReadFrom(resp.Body)
		}
		resp.Body.Close()
		ds = append(ds, time.Since(start))
		if err != nil {
			return kr, err
		}
		if resp.StatusCode != want {
			return kr, fmt.Errorf("HTTP %d, want %d", resp.StatusCode, want)
		}
		if gz := resp.Header.Get("Content-Encoding") == "gzip"; gz != (kind == SDGzip) {
			return kr, fmt.Errorf("Content-Encoding %q", resp.Header.Get("Content-Encoding"))
		}
		kr.Status, kr.WireBytes = resp.StatusCode, buf.Len()
	}
	cpu1, err := cpuTicks(p.pid())
	if err != nil {
		return kr, err
	}
	if kind != SDGzip && kind != SDNotModified {
		var groups []json.RawMessage
		if err := json.Unmarshal(buf.Bytes(), &groups); err != nil {
			return kr, fmt.Errorf("the answer is not JSON: %w", err)
		}
	}
	slices.Sort(ds)
	ms := func(d time.Duration) num { return num(d.Seconds() * 1000) }
	kr.P50Millis, kr.P99Millis, kr.MaxMillis = ms(percentile(ds, 50)), ms(percentile(ds, 99)), ms(ds[len(ds)-1])
	kr.CPUMicrosPerRequest = num(float64(cpu1-cpu0) / float64(ticks) * 1e6 / float64(n))
	return kr, nil
}

func describeSD(k SDKindReport) string {
	return fmt.Sprintf("%d × HTTP %d, %8d bytes: p50 %6.2f ms  p99 %6.2f ms  max %6.2f ms  exporter CPU %6.0f µs/request",
		k.Requests, k.Status, k.WireBytes, float64(k.P50Millis), float64(k.P99Millis), float64(k.MaxMillis), float64(k.CPUMicrosPerRequest))
}

// WriteJSON writes the report as indented JSON.
func (r *SDRunReport) WriteJSON(w io.Writer) error { return writeIndented(w, r) }

// writeHeading writes where and how a one-exporter run was made.
func writeHeading(b *strings.Builder, date time.Time, m Machine, exporter, command string) {
	fmt.Fprintf(b, "date:      %s\n", date.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(b, "machine:   %d CPUs, %s, Linux %s\n", m.CPUs, m.CPUModel, m.Kernel)
	fmt.Fprintf(b, "exporter:  %s\n", exporter)
	if command != "" {
		fmt.Fprintf(b, "command:   %s\n", command)
	}
}

// WriteText writes the report for people.
func (r *SDRunReport) WriteText(w io.Writer) error {
	var b strings.Builder
	writeHeading(&b, r.Date, r.Machine, r.Exporter, r.Command)
	fmt.Fprintf(&b, "scenario:  %d targets from a static file, %d exporter(s) (--discovery.shard=i/%d); each kind of request timed one at a time to the last byte\n\n", r.Targets, r.Shards, r.Shards)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "shard\ttargets\trequest\tstatus\tbytes\tp50 ms\tp99 ms\tmax ms\texporter CPU µs/request\tpeak RSS MiB")
	for _, e := range r.Exporters {
		for i, k := range e.Kinds {
			shard, targets, rss := "", "", ""
			if i == 0 {
				shard, targets, rss = e.Shard, strconv.Itoa(e.Targets), fmt.Sprintf("%.1f", float64(e.PeakRSSMiB))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%.2f\t%.2f\t%.2f\t%.0f\t%s\n", shard, targets, k.Kind, k.Status, k.WireBytes,
				float64(k.P50Millis), float64(k.P99Millis), float64(k.MaxMillis), float64(k.CPUMicrosPerRequest), rss)
		}
	}
	tw.Flush()
	if r.GoalsMet {
		fmt.Fprintf(&b, "\nGoal met: /sd as Prometheus asks for it answered under %s at p99.\n", sdGoal)
	} else {
		fmt.Fprintf(&b, "\nGoal NOT met: /sd as Prometheus asks for it takes %s or more at p99.\n", sdGoal)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
