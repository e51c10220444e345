package prober

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/vigie-monitoring/vigie/internal/testenv"
)

// fill registers the same metrics on both registries, in a scrambled order,
// with values that exercise float formatting and label escaping.
func fill(r *Registry, pr *prometheus.Registry) {
	type gauge struct {
		name, help string
		v          float64
	}
	for _, g := range []gauge{
		{"probe_success", "Displays whether or not the probe was a success", 1},
		{"probe_ip_addr_hash", "Specifies the hash of IP address. It's useful to detect if the IP address changes.", 3668918509},
		{"probe_duration_seconds", "Returns how long the probe took to complete in seconds", 0.000123456},
		{"probe_http_content_length", "Length of http content response", -1},
		{"probe_weird_help", "Help with a backslash \\ and a\nnewline", math.Inf(1)},
		{"probe_nan", "not a number", math.NaN()},
		{"probe_neg_inf", "negative infinity", math.Inf(-1)},
		{"probe_big", "big", 1e21},
		{"probe_small", "small", 1.5e-7},
		{"probe_zero", "zero", 0},
	} {
		r.NewGauge(g.name, g.help).Set(g.v)
		pg := prometheus.NewGauge(prometheus.GaugeOpts{Name: g.name, Help: g.help})
		pg.Set(g.v)
		pr.MustRegister(pg)
	}
	labels := []string{"fingerprint_sha256", "subject", "issuer", "subjectalternative", "serialnumber"}
	v := r.NewGaugeVec("probe_ssl_last_chain_info", "Contains SSL leaf certificate information", labels...)
	pv := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "probe_ssl_last_chain_info", Help: "Contains SSL leaf certificate information"}, labels)
	pr.MustRegister(pv)
	for _, vals := range [][]string{
		{"abc", "CN=b\"quoted\"", "CN=issuer\\x", "b.example,a.example", "1f"},
		{"abc", "CN=a\nnewline", "CN=issuer", "", "2"},
	} {
		v.WithLabelValues(vals...).Set(1)
		pv.WithLabelValues(vals...).Set(1)
	}
	phases := r.NewGaugeVec("probe_http_duration_seconds", "Duration of http request by phase, summed over all redirects", "phase")
	pphases := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "probe_http_duration_seconds", Help: "Duration of http request by phase, summed over all redirects"}, []string{"phase"})
	pr.MustRegister(pphases)
	for i, p := range []string{"transfer", "resolve", "tls", "connect", "processing"} {
		phases.WithLabelValues(p).Add(float64(i) / 7)
		pphases.WithLabelValues(p).Add(float64(i) / 7)
	}
	// Registered but empty vectors are not exposed.
	r.NewGaugeVec("probe_empty", "empty", "x")
	pr.MustRegister(prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "probe_empty", Help: "empty"}, []string{"x"}))
}

// clientGolangText is what client_golang writes for pr in the text format.
func clientGolangText(t *testing.T, pr *prometheus.Registry) *bytes.Buffer {
	t.Helper()
	mfs, err := pr.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	enc := expfmt.NewEncoder(&want, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return &want
}

func TestRegistryTextMatchesClientGolang(t *testing.T) {
	r, pr := NewRegistry(), prometheus.NewRegistry()
	fill(r, pr)
	want := clientGolangText(t, pr)
	got := r.Text()
	if got != want.String() {
		t.Errorf("text differs from client_golang\n--- got:\n%s\n--- want:\n%s", got, want.String())
	}
	// Gather (used for protobuf and OpenMetrics) must agree too.
	gmfs, _ := r.Gather()
	var viaGather bytes.Buffer
	enc := expfmt.NewEncoder(&viaGather, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range gmfs {
		_ = enc.Encode(mf)
	}
	if viaGather.String() != want.String() {
		t.Errorf("Gather differs from client_golang\n--- got:\n%s\n--- want:\n%s", viaGather.String(), want.String())
	}
}

// TestRegistryBeyondItsArraysMatchesClientGolang registers more families,
// vector series and labels than a registry holds in its own arrays: what
// comes from the heap renders as what comes from the arrays, and as
// client_golang renders it.
func TestRegistryBeyondItsArraysMatchesClientGolang(t *testing.T) {
	r, pr := NewRegistry(), prometheus.NewRegistry()
	fill(r, pr)
	for i := range registryFamilies + 5 {
		name := fmt.Sprintf("probe_extra_%02d", registryFamilies+5-i)
		r.NewGauge(name, "extra").Set(float64(i))
		pg := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "extra"})
		pg.Set(float64(i))
		pr.MustRegister(pg)
	}
	for v := range 4 {
		name := fmt.Sprintf("probe_vec_%d", v)
		labels := []string{"zone", "b", "a", "c"}[:1+v]
		gv := r.NewGaugeVec(name, "vector", labels...)
		pv := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: "vector"}, labels)
		pr.MustRegister(pv)
		for s := range 3 + 4*v {
			values := make([]string, len(labels))
			for i := range values {
				values[i] = fmt.Sprintf("v%d", (s*(i+3))%5)
			}
			gv.WithLabelValues(values...).Add(float64(s))
			pv.WithLabelValues(values...).Add(float64(s))
			// The registry keeps its own copy of the values.
			values[0] = "changed"
		}
		labels[0] = "changed"
	}
	want := clientGolangText(t, pr)
	if got := r.Text(); got != want.String() {
		t.Errorf("text differs from client_golang\n--- got:\n%s\n--- want:\n%s", got, want.String())
	}
	if r.nFam != registryFamilies || r.nGauge != registryGauges || len(r.strs) == registryStrings {
		t.Errorf("the test did not fill the registry's arrays: %d families, %d gauges, %d strings left", r.nFam, r.nGauge, len(r.strs))
	}
}

func TestRegistryExpositionPassesPromtool(t *testing.T) {
	r := NewRegistry()
	fill(r, prometheus.NewRegistry())
	testenv.CheckMetrics(t, []byte(strings.ReplaceAll(r.Text(), "Help with a backslash \\\\ and a\\nnewline", "ok")))
}

func TestRegistryDuplicatePanics(t *testing.T) {
	r := NewRegistry()
	r.NewGauge("probe_x", "x")
	defer func() {
		if recover() == nil {
			t.Fatal("registering probe_x twice did not panic")
		}
	}()
	r.NewGauge("probe_x", "x")
}

func TestRegistryValueAndSamples(t *testing.T) {
	r := NewRegistry()
	r.NewGauge("probe_a", "a").Set(2)
	v := r.NewGaugeVec("probe_b", "b", "z", "a")
	v.WithLabelValues("1", "2").Inc()
	v.WithLabelValues("1", "2").Inc()
	if got, ok := r.Value("probe_a"); !ok || got != 2 {
		t.Errorf("probe_a = %v, %v", got, ok)
	}
	if got, ok := r.Value("probe_b", "1", "2"); !ok || got != 2 {
		t.Errorf("probe_b = %v, %v", got, ok)
	}
	if _, ok := r.Value("probe_b", "2", "1"); ok {
		t.Error("unexpected series")
	}
	s := r.Samples()
	if len(s) != 2 || s[1].Labels["z"] != "1" || s[1].Labels["a"] != "2" {
		t.Errorf("samples = %+v", s)
	}
	if !strings.Contains(r.Text(), `probe_b{a="2",z="1"} 2`) {
		t.Errorf("labels not sorted by name:\n%s", r.Text())
	}
}

func TestRegistryInvalidUTF8LabelIsRepaired(t *testing.T) {
	r := NewRegistry()
	r.NewGaugeVec("probe_x", "x", "subject").WithLabelValues("CN=\xff").Set(1)
	if !strings.Contains(r.Text(), "CN=\uFFFD") {
		t.Errorf("invalid UTF-8 not repaired:\n%s", r.Text())
	}
}

// BenchmarkRegistryRender compares building and rendering a typical probe's
// metrics with this registry and with client_golang's (what upstream does).
func BenchmarkRegistryRender(b *testing.B) {
	b.Run("vigie", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 4096)
		for b.Loop() {
			r := NewRegistry()
			typicalHTTPProbe(r)
			buf = r.AppendText(buf[:0])
		}
	})
	b.Run("client_golang", func(b *testing.B) {
		b.ReportAllocs()
		var buf bytes.Buffer
		for b.Loop() {
			pr := prometheus.NewRegistry()
			typicalHTTPProbeCG(pr)
			mfs, _ := pr.Gather()
			buf.Reset()
			enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
			for _, mf := range mfs {
				_ = enc.Encode(mf)
			}
		}
	})
}

var typicalGauges = []string{"probe_success", "probe_duration_seconds", "probe_timeout_seconds", "probe_dns_lookup_time_seconds",
	"probe_ip_protocol", "probe_ip_addr_hash", "probe_http_content_length", "probe_http_uncompressed_body_length",
	"probe_http_redirects", "probe_http_ssl", "probe_http_status_code", "probe_http_version", "probe_failed_due_to_regex"}

func typicalHTTPProbe(r *Registry) {
	for i, n := range typicalGauges {
		r.NewGauge(n, "help text for "+n).Set(float64(i) * 1.5)
	}
	v := r.NewGaugeVec("probe_http_duration_seconds", "Duration of http request by phase, summed over all redirects", "phase")
	for _, p := range []string{"resolve", "connect", "tls", "processing", "transfer"} {
		v.WithLabelValues(p).Set(0.0012)
	}
}

func typicalHTTPProbeCG(pr *prometheus.Registry) {
	for i, n := range typicalGauges {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: n, Help: "help text for " + n})
		g.Set(float64(i) * 1.5)
		pr.MustRegister(g)
	}
	v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "probe_http_duration_seconds", Help: "Duration of http request by phase, summed over all redirects"}, []string{"phase"})
	pr.MustRegister(v)
	for _, p := range []string{"resolve", "connect", "tls", "processing", "transfer"} {
		v.WithLabelValues(p).Set(0.0012)
	}
}

// TestRegistryOfAnHTTPProbeIsTwoAllocations: the families of an http probe
// (13 gauges and a vector of 5 phases), its label values and its text
// rendering take the registry's own allocation and the vector's handle,
// not one allocation per family, series and label list (32 before).
func TestRegistryOfAnHTTPProbeIsTwoAllocations(t *testing.T) {
	phases := []string{"resolve", "connect", "tls", "processing", "transfer"}
	buf := make([]byte, 0, 4096)
	allocs := testing.AllocsPerRun(100, func() {
		r := NewRegistry()
		for _, n := range typicalGauges[:13] {
			r.NewGauge(n, "help").Set(1.5)
		}
		v := r.NewGaugeVec("probe_http_duration_seconds", "Duration of http request by phase, summed over all redirects", "phase")
		for _, p := range phases {
			v.WithLabelValues(p).Set(0.0012)
		}
		buf = r.AppendText(buf[:0])
	})
	if allocs > 2 {
		t.Errorf("an http probe's registry took %v allocations, want 2", allocs)
	}
}
