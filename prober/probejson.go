package prober

import (
	"encoding/json"
	"math"
	"strconv"
	"time"

	"github.com/vigie-monitoring/vigie/internal/jsonenc"
)

// appendProbeResultJSON appends what json.NewEncoder(w).Encode(res) writes
// for res with res.Metrics = registry.Samples(), byte for byte (HTML-safe
// string escaping, the trailing newline), without reflection nor the
// samples' label maps: vigie_router asks every probe for this rendition.
// Results encoding/json cannot encode (a non-finite duration or timeout, a
// start time outside years 0 to 9999) go through encoding/json, error
// included. TestProbeResultJSONMatchesEncoder and FuzzProbeResultJSON hold
// the two to the same output.
func appendProbeResultJSON(b []byte, res *ProbeResult, registry *Registry) []byte {
	if !finite(res.DurationSeconds) || !finite(res.TimeoutSeconds) || res.StartedAt.Year() < 0 || res.StartedAt.Year() > 9999 {
		return appendEncoded(b, res, registry)
	}
	b = append(b, `{"target":`...)
	b = jsonenc.AppendString(b, res.Target, true)
	b = append(b, `,"module":`...)
	b = jsonenc.AppendString(b, res.Module, true)
	b = append(b, `,"prober":`...)
	b = jsonenc.AppendString(b, res.Prober, true)
	b = append(b, `,"success":`...)
	b = strconv.AppendBool(b, res.Success)
	if res.Reason != "" {
		b = append(b, `,"reason":`...)
		b = jsonenc.AppendString(b, res.Reason, true)
	}
	if res.Refused {
		b = append(b, `,"refused":true`...)
	}
	b = append(b, `,"started_at":"`...)
	b = res.StartedAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","duration_seconds":`...)
	b = appendJSONFloat(b, res.DurationSeconds)
	b = append(b, `,"timeout_seconds":`...)
	b = appendJSONFloat(b, res.TimeoutSeconds)
	b = append(b, `,"log_id":`...)
	b = strconv.AppendInt(b, res.LogID, 10)
	b = append(b, `,"metrics":`...)
	b = registry.appendSamplesJSON(b)
	return append(b, "}\n"...)
}

// appendEncoded is appendProbeResultJSON through encoding/json.
func appendEncoded(b []byte, res *ProbeResult, registry *Registry) []byte {
	r := *res
	r.Metrics = registry.Samples()
	out, err := json.Marshal(r)
	if err != nil {
		// Encoder.Encode writes nothing when it fails.
		return b
	}
	return append(append(b, out...), '\n')
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// appendSamplesJSON appends the JSON array of Samples(), as encoding/json
// writes it: null when there is none, label names sorted.
func (r *Registry) appendSamplesJSON(b []byte) []byte {
	var (
		famBuf    [registryFamilies]*family
		seriesBuf [registrySeries]*Gauge
	)
	n := 0
	for _, f := range r.sorted(famBuf[:]) {
		for _, g := range f.sortedSeries(seriesBuf[:]) {
			if n == 0 {
				b = append(b, '[')
			} else {
				b = append(b, ',')
			}
			n++
			b = append(b, `{"name":`...)
			b = jsonenc.AppendString(b, f.name, true)
			if len(f.labelNames) > 0 {
				b = append(b, `,"labels":{`...)
				for k, i := range f.order {
					if k > 0 {
						b = append(b, ',')
					}
					b = jsonenc.AppendString(b, f.labelNames[i], true)
					b = append(b, ':')
					b = jsonenc.AppendString(b, validUTF8(g.labelValues[i]), true)
				}
				b = append(b, '}')
			}
			b = append(b, `,"value":`...)
			if v := g.Value(); finite(v) {
				b = appendJSONFloat(b, v)
			} else {
				// As Sample.MarshalJSON.
				b = append(b, '"')
				b = appendFloat(b, v)
				b = append(b, '"')
			}
			b = append(b, '}')
		}
	}
	if n == 0 {
		return append(b, "null"...)
	}
	return append(b, ']')
}

// appendJSONFloat writes a finite float64 as encoding/json does: the
// shortest representation, in exponent form below 1e-6 and from 1e21 on,
// with a two-digit negative exponent shortened (1e-07 is 1e-7).
func appendJSONFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
