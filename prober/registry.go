package prober

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// Registry collects the gauges of one probe. It replaces a per-request
// prometheus.Registry: a probe's metrics are all gauges, known in advance and
// written by one probe, so they need no descriptor validation, hashing or
// collector goroutines. Its text rendering is byte-for-byte what
// client_golang's registry and expfmt produce for the same gauges (families
// sorted by name, labels by name, series by label values; empty vectors
// omitted), and it implements prometheus.Gatherer for every other format.
type Registry struct {
	families []*family
}

type family struct {
	name, help string
	labelNames []string // in the order given by the prober
	order      []int    // indices of labelNames sorted by name
	vec        bool
	series     []*Gauge

	// Most families have one series: it and the slice holding it come
	// with the family, one allocation instead of three.
	first    Gauge
	firstPtr [1]*Gauge
}

// newSeries adds a series with the given label values (nil for none).
func (f *family) newSeries(labelValues []string) *Gauge {
	if len(f.series) == 0 {
		g := &f.first
		g.labelValues = labelValues
		f.firstPtr[0] = g
		f.series = f.firstPtr[:1:1]
		return g
	}
	g := &Gauge{labelValues: labelValues}
	f.series = append(f.series, g)
	return g
}

// Gauge is one series. It is safe for concurrent use.
type Gauge struct {
	bits        atomic.Uint64
	labelValues []string // in labelNames order
}

// GaugeVec is a family of gauges partitioned by label values.
type GaugeVec struct {
	f *family
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{families: make([]*family, 0, 16)}
}

// NewGauge registers and returns a gauge without labels. Registering a name
// twice is a programming error and panics, as MustRegister does.
func (r *Registry) NewGauge(name, help string) *Gauge {
	return r.add(name, help, nil, false).newSeries(nil)
}

// NewGaugeVec registers and returns a gauge vector. It appears in the output
// only once a series has been created with WithLabelValues.
func (r *Registry) NewGaugeVec(name, help string, labelNames ...string) *GaugeVec {
	return &GaugeVec{f: r.add(name, help, labelNames, true)}
}

// Has reports whether a family of that name is registered.
func (r *Registry) Has(name string) bool { return r.lookup(name) != nil }

// Value returns the value of the series of the named family with the given
// label values (in registration order), and whether it exists.
func (r *Registry) Value(name string, labelValues ...string) (float64, bool) {
	f := r.lookup(name)
	if f == nil {
		return 0, false
	}
	for _, g := range f.series {
		if slices.Equal(g.labelValues, labelValues) {
			return g.Value(), true
		}
	}
	return 0, false
}

func (r *Registry) lookup(name string) *family {
	for _, f := range r.families {
		if f.name == name {
			return f
		}
	}
	return nil
}

func (r *Registry) add(name, help string, labelNames []string, vec bool) *family {
	if r.lookup(name) != nil {
		panic(fmt.Sprintf("prober: metric %q registered twice", name))
	}
	f := &family{name: name, help: help, labelNames: labelNames, vec: vec}
	if len(labelNames) > 0 {
		f.order = make([]int, len(labelNames))
		for i := range f.order {
			f.order[i] = i
		}
		sort.SliceStable(f.order, func(a, b int) bool { return labelNames[f.order[a]] < labelNames[f.order[b]] })
	}
	r.families = append(r.families, f)
	return f
}

// WithLabelValues returns the series for the given label values, creating it
// (at 0) on first use.
func (v *GaugeVec) WithLabelValues(values ...string) *Gauge {
	if len(values) != len(v.f.labelNames) {
		panic(fmt.Sprintf("prober: metric %q has %d labels, got %d values", v.f.name, len(v.f.labelNames), len(values)))
	}
	for _, g := range v.f.series {
		if slices.Equal(g.labelValues, values) {
			return g
		}
	}
	return v.f.newSeries(slices.Clone(values))
}

// Set sets the value.
func (g *Gauge) Set(v float64) { g.bits.Store(math.Float64bits(v)) }

// Value returns the value.
func (g *Gauge) Value() float64 { return math.Float64frombits(g.bits.Load()) }

// Add adds d to the value.
func (g *Gauge) Add(d float64) {
	for {
		old := g.bits.Load()
		if g.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+d)) {
			return
		}
	}
}

// Inc adds one.
func (g *Gauge) Inc() { g.Add(1) }

// SetToCurrentTime sets the value to the current Unix time in seconds.
func (g *Gauge) SetToCurrentTime() { g.Set(float64(time.Now().UnixNano()) / 1e9) }

// sorted returns the families in output order.
func (r *Registry) sorted() []*family {
	fs := slices.Clone(r.families)
	slices.SortFunc(fs, func(a, b *family) int { return strings.Compare(a.name, b.name) })
	return fs
}

// sortedSeries returns a family's series ordered by label values, compared in
// label-name order (client_golang's order).
func (f *family) sortedSeries() []*Gauge {
	if len(f.series) < 2 {
		return f.series
	}
	ss := slices.Clone(f.series)
	slices.SortStableFunc(ss, func(a, b *Gauge) int {
		for _, i := range f.order {
			if c := strings.Compare(a.labelValues[i], b.labelValues[i]); c != 0 {
				return c
			}
		}
		return 0
	})
	return ss
}

// AppendText appends the Prometheus text exposition (format 0.0.4) of all
// families to b.
func (r *Registry) AppendText(b []byte) []byte {
	for _, f := range r.sorted() {
		if len(f.series) == 0 {
			continue
		}
		b = append(b, "# HELP "...)
		b = append(b, f.name...)
		b = append(b, ' ')
		b = appendEscaped(b, f.help, false)
		b = append(b, "\n# TYPE "...)
		b = append(b, f.name...)
		b = append(b, " gauge\n"...)
		for _, g := range f.sortedSeries() {
			b = append(b, f.name...)
			if len(f.labelNames) > 0 {
				b = append(b, '{')
				for n, i := range f.order {
					if n > 0 {
						b = append(b, ',')
					}
					b = append(b, f.labelNames[i]...)
					b = append(b, '=', '"')
					b = appendEscaped(b, validUTF8(g.labelValues[i]), true)
					b = append(b, '"')
				}
				b = append(b, '}')
			}
			b = append(b, ' ')
			b = appendFloat(b, g.Value())
			b = append(b, '\n')
		}
	}
	return b
}

// Text returns the text exposition.
func (r *Registry) Text() string { return string(r.AppendText(nil)) }

// Gather implements prometheus.Gatherer, for the non-text formats and tests.
func (r *Registry) Gather() ([]*dto.MetricFamily, error) {
	var out []*dto.MetricFamily
	for _, f := range r.sorted() {
		if len(f.series) == 0 {
			continue
		}
		mf := &dto.MetricFamily{Name: proto.String(f.name), Help: proto.String(f.help), Type: dto.MetricType_GAUGE.Enum()}
		for _, g := range f.sortedSeries() {
			m := &dto.Metric{Gauge: &dto.Gauge{Value: proto.Float64(g.Value())}}
			for _, i := range f.order {
				m.Label = append(m.Label, &dto.LabelPair{Name: proto.String(f.labelNames[i]), Value: proto.String(validUTF8(g.labelValues[i]))})
			}
			mf.Metric = append(mf.Metric, m)
		}
		out = append(out, mf)
	}
	return out, nil
}

// Sample is one series, as rendered in the JSON form of a probe result.
type Sample struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
	Value  float64           `json:"value"`
}

// MarshalJSON writes non-finite values as the strings "NaN", "+Inf" and
// "-Inf" (JSON has no numbers for them), as Prometheus's HTTP API does.
func (s Sample) MarshalJSON() ([]byte, error) {
	type plain struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels,omitempty"`
		Value  any               `json:"value"`
	}
	p := plain{Name: s.Name, Labels: s.Labels, Value: s.Value}
	if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
		p.Value = string(appendFloat(nil, s.Value))
	}
	return json.Marshal(p)
}

// Samples returns every series in output order.
func (r *Registry) Samples() []Sample {
	var out []Sample
	for _, f := range r.sorted() {
		for _, g := range f.sortedSeries() {
			s := Sample{Name: f.name, Value: g.Value()}
			if len(f.labelNames) > 0 {
				s.Labels = make(map[string]string, len(f.labelNames))
				for i, n := range f.labelNames {
					s.Labels[n] = validUTF8(g.labelValues[i])
				}
			}
			out = append(out, s)
		}
	}
	return out
}

func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// appendEscaped escapes backslash and newline (and the double quote in label
// values), as the text format requires.
func appendEscaped(b []byte, s string, quoted bool) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, '\\', '\\')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '"' && quoted:
			b = append(b, '\\', '"')
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendFloat formats like expfmt: shortest 'g' form, with NaN and ±Inf spelled out.
func appendFloat(b []byte, f float64) []byte {
	switch {
	case f == 1:
		return append(b, '1')
	case f == 0:
		return append(b, '0')
	case f == -1:
		return append(b, '-', '1')
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, +1):
		return append(b, "+Inf"...)
	case math.IsInf(f, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}
