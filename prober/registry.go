package prober

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
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
//
// Every probe has one, kept by the history for /logs, so a typical probe's
// families, the extra series of its vectors and their label names and
// values come in arrays allocated with the registry: one allocation where
// each family, series and label list would be one of its own. A probe that
// needs more takes them from the heap as before.
type Registry struct {
	families []*family

	famBuf    [registryFamilies]family
	famPtrs   [registryFamilies]*family
	gaugeBuf  [registryGauges]Gauge
	seriesBuf [registrySeries]*Gauge
	strBuf    [registryStrings]string
	nFam      int
	nGauge    int
	series    []*Gauge // what is left of seriesBuf
	strs      []string // what is left of strBuf
}

// Sizes of a registry's own arrays: an http probe has 14 families (20 over
// https, the others from the heap) and one vector of 5 series with its
// label name and values (6 strings); the registry is then one allocation
// of 3 KiB.
const (
	registryFamilies = 16
	registryGauges   = 4
	registrySeries   = 8
	registryStrings  = 8
)

// labelOrders are the orders of one and two label names, shared by every
// family with that few.
var labelOrders = [...][]int{{0}, {0, 1}, {1, 0}}

type family struct {
	name, help string
	labelNames []string // in the order given by the prober
	order      []int    // indices of labelNames sorted by name
	vec        bool
	series     []*Gauge

	// Most families have one series: it and the slice holding it come
	// with the family.
	first    Gauge
	firstPtr [1]*Gauge
}

// newSeries adds a series with the given label values (nil for none).
func (r *Registry) newSeries(f *family, labelValues []string) *Gauge {
	if len(f.series) == 0 {
		g := &f.first
		g.labelValues = labelValues
		f.firstPtr[0] = g
		f.series = f.firstPtr[:1:1]
		return g
	}
	var g *Gauge
	if r.nGauge < len(r.gaugeBuf) {
		g = &r.gaugeBuf[r.nGauge]
		r.nGauge++
		g.labelValues = labelValues
	} else {
		g = &Gauge{labelValues: labelValues}
	}
	if len(f.series) == cap(f.series) && len(f.series) < 8 && len(r.series) >= 8 {
		// A vector's series from the registry's array, room for 8.
		s := append(r.series[:0:8], f.series...)
		r.series = r.series[8:]
		f.series = s
	}
	f.series = append(f.series, g)
	return g
}

// cloneStrings returns a copy of ss, from the registry's array while it
// lasts.
func (r *Registry) cloneStrings(ss []string) []string {
	if len(ss) == 0 {
		return nil
	}
	if len(ss) > len(r.strs) {
		return slices.Clone(ss)
	}
	c := r.strs[:len(ss):len(ss)]
	copy(c, ss)
	r.strs = r.strs[len(ss):]
	return c
}

// Gauge is one series. It is safe for concurrent use.
type Gauge struct {
	bits        atomic.Uint64
	labelValues []string // in labelNames order
}

// GaugeVec is a family of gauges partitioned by label values.
type GaugeVec struct {
	r *Registry
	f *family
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	r := &Registry{}
	r.families = r.famPtrs[:0]
	r.series = r.seriesBuf[:]
	r.strs = r.strBuf[:]
	return r
}

// NewGauge registers and returns a gauge without labels. Registering a name
// twice is a programming error and panics, as MustRegister does.
func (r *Registry) NewGauge(name, help string) *Gauge {
	return r.newSeries(r.add(name, help, nil, false), nil)
}

// NewGaugeVec registers and returns a gauge vector. It appears in the output
// only once a series has been created with WithLabelValues.
func (r *Registry) NewGaugeVec(name, help string, labelNames ...string) *GaugeVec {
	return &GaugeVec{r: r, f: r.add(name, help, labelNames, true)}
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
	var f *family
	if r.nFam < len(r.famBuf) {
		f = &r.famBuf[r.nFam]
		r.nFam++
	} else {
		f = &family{}
	}
	f.name, f.help, f.labelNames, f.vec = name, help, r.cloneStrings(labelNames), vec
	switch n := len(labelNames); {
	case n == 1:
		f.order = labelOrders[0]
	case n == 2 && labelNames[0] <= labelNames[1]:
		f.order = labelOrders[1]
	case n == 2:
		f.order = labelOrders[2]
	case n > 2:
		f.order = make([]int, n)
		// Indices sorted by name, equal names in the given order (an
		// insertion sort: a handful of labels).
		for i := range f.order {
			j := i
			for ; j > 0 && labelNames[f.order[j-1]] > labelNames[i]; j-- {
				f.order[j] = f.order[j-1]
			}
			f.order[j] = i
		}
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
	return v.r.newSeries(v.f, v.r.cloneStrings(values))
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

// sorted returns the families in output order, in buf when it has room.
func (r *Registry) sorted(buf []*family) []*family {
	fs := append(buf[:0], r.families...)
	slices.SortFunc(fs, func(a, b *family) int { return strings.Compare(a.name, b.name) })
	return fs
}

// sortedSeries returns a family's series ordered by label values, compared in
// label-name order (client_golang's order), in buf when it has room.
func (f *family) sortedSeries(buf []*Gauge) []*Gauge {
	if len(f.series) < 2 {
		return f.series
	}
	ss := append(buf[:0], f.series...)
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
	var (
		famBuf    [registryFamilies]*family
		seriesBuf [registrySeries]*Gauge
	)
	for _, f := range r.sorted(famBuf[:]) {
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
		for _, g := range f.sortedSeries(seriesBuf[:]) {
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
	for _, f := range r.sorted(nil) {
		if len(f.series) == 0 {
			continue
		}
		mf := &dto.MetricFamily{Name: proto.String(f.name), Help: proto.String(f.help), Type: dto.MetricType_GAUGE.Enum()}
		for _, g := range f.sortedSeries(nil) {
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
	for _, f := range r.sorted(nil) {
		for _, g := range f.sortedSeries(nil) {
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
	for {
		i := 0
		for i < len(s) && s[i] != '\\' && s[i] != '\n' && (s[i] != '"' || !quoted) {
			i++
		}
		b = append(b, s[:i]...)
		if i == len(s) {
			return b
		}
		switch s[i] {
		case '\\':
			b = append(b, '\\', '\\')
		case '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, '\\', '"')
		}
		s = s[i+1:]
	}
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
