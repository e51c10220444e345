package prober

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"
)

// encodedResult is what the handler wrote before appendProbeResultJSON.
func encodedResult(t testing.TB, res ProbeResult, registry *Registry) []byte {
	t.Helper()
	res.Metrics = registry.Samples()
	var buf bytes.Buffer
	_ = json.NewEncoder(&buf).Encode(res)
	return buf.Bytes()
}

// trickyStrings are strings encoding/json escapes in every way it has.
var trickyStrings = []string{
	"", "http_2xx", "http://127.0.0.1:8080/a?b=c&d=<e>", `quote " backslash \ slash /`,
	"controls \x00\x01\b\f\n\r\t\x1f\x7f", "unicode é ✓ 𝄞", "line sep \u2028 para sep \u2029",
	"invalid \xff\xfe utf-8 \xe2\x82", "HTTP status 503 not in 2xx", "\xed\xa0\x80 surrogate",
}

var trickyFloats = []float64{
	0, math.Copysign(0, -1), 1, -1, 0.5, 123.456, 1e-6, 9.99e-7, 1e-7, 1.5e-10, 1e20, 1e21, 1.2345e22,
	-3.2e-300, math.SmallestNonzeroFloat64, math.MaxFloat64, 1 << 53, 0.1 + 0.2, 1e-5, 100,
}

func TestProbeResultJSONMatchesEncoder(t *testing.T) {
	start := time.Date(2026, 12, 5, 15, 4, 5, 123456789, time.UTC)
	var cases []ProbeResult
	for i, s := range trickyStrings {
		cases = append(cases, ProbeResult{
			Target: s, Module: trickyStrings[(i+1)%len(trickyStrings)], Prober: "http",
			Success: i%2 == 0, Reason: trickyStrings[(i+2)%len(trickyStrings)], Refused: i%3 == 0,
			StartedAt: start.Add(time.Duration(i) * time.Millisecond), DurationSeconds: trickyFloats[i],
			TimeoutSeconds: trickyFloats[len(trickyFloats)-1-i], LogID: int64(i*1000 - 3),
		})
	}
	// What encoding/json refuses: the handler wrote nothing.
	cases = append(cases,
		ProbeResult{DurationSeconds: math.NaN()},
		ProbeResult{TimeoutSeconds: math.Inf(1)},
		ProbeResult{StartedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		ProbeResult{StartedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 3600))},
	)
	registries := []func() *Registry{
		NewRegistry, // no samples: "metrics":null
		func() *Registry {
			r := NewRegistry()
			r.NewGauge("probe_success", "").Set(1)
			r.NewGaugeVec("probe_http_duration_seconds", "", "phase") // no series
			v := r.NewGaugeVec("probe_ssl_last_chain_info", "", "subject", "issuer", "fingerprint_sha256")
			for i, s := range trickyStrings {
				v.WithLabelValues(s, trickyStrings[len(trickyStrings)-1-i], "x").Set(trickyFloats[i])
			}
			r.NewGauge("probe_a", "").Set(math.NaN())
			r.NewGauge("probe_b", "").Set(math.Inf(1))
			r.NewGauge("probe_c", "").Set(math.Inf(-1))
			for i, f := range trickyFloats {
				r.NewGaugeVec("probe_f", "", "i").WithLabelValues(string(rune('a' + i))).Set(f)
				if i == 0 {
					break
				}
			}
			return r
		},
	}
	for i, res := range cases {
		for j, newRegistry := range registries {
			registry := newRegistry()
			want := encodedResult(t, res, registry)
			got := appendProbeResultJSON([]byte("prefix"), &res, registry)
			if !bytes.Equal(got, append([]byte("prefix"), want...)) {
				t.Errorf("case %d, registry %d:\n got %s\nwant prefix%s", i, j, got, want)
			}
		}
	}
}

func TestJSONFloatMatchesEncoder(t *testing.T) {
	for _, f := range trickyFloats {
		for _, f := range []float64{f, -f, f * 3, f / 7} {
			if !finite(f) {
				continue
			}
			want, _ := json.Marshal(f)
			if got := appendJSONFloat(nil, f); string(got) != string(want) {
				t.Errorf("%v: got %s, want %s", f, got, want)
			}
		}
	}
}

func FuzzProbeResultJSON(f *testing.F) {
	for i, s := range trickyStrings {
		f.Add(s, trickyStrings[len(trickyStrings)-1-i], trickyFloats[i], int64(i), i%2 == 0)
	}
	f.Fuzz(func(t *testing.T, s, label string, v float64, ns int64, ok bool) {
		res := ProbeResult{
			Target: s, Module: label, Prober: s, Success: ok, Reason: label, Refused: !ok,
			StartedAt: time.Unix(0, ns).UTC(), DurationSeconds: v, TimeoutSeconds: -v, LogID: ns,
		}
		registry := NewRegistry()
		registry.NewGauge("probe_success", s).Set(v)
		registry.NewGaugeVec("probe_x", "", "a", "b").WithLabelValues(s, label).Set(-v)
		registry.NewGaugeVec("probe_x2", "", "b", "a").WithLabelValues(label, s).Set(float64(ns))
		want := encodedResult(t, res, registry)
		if got := appendProbeResultJSON(nil, &res, registry); !bytes.Equal(got, want) {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	})
}
