package prober

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/prometheus/common/expfmt"
)

func TestFormatCacheAgreesWithExpfmt(t *testing.T) {
	var c formatCache
	for _, accept := range []string{
		"",
		prometheusAccept,
		"text/plain;version=0.0.4",
		"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3",
		"application/openmetrics-text;version=1.0.0",
		"text/plain;version=0.0.4;escaping=underscores",
		"*/*",
	} {
		h := http.Header{}
		if accept != "" {
			h.Set("Accept", accept)
		}
		want := expfmt.Negotiate(h) //nolint:staticcheck // SA1019: blackbox_exporter negotiates so; what /probe must match
		// Twice: negotiated, then from the cache.
		for i := 0; i < 2; i++ {
			got := c.negotiate(h)
			if got.format != want {
				t.Errorf("Accept %q (call %d): format %q, want %q", accept, i+1, got.format, want)
			}
			if text := want.FormatType() == expfmt.TypeTextPlain; got.text != text {
				t.Errorf("Accept %q (call %d): text = %v, want %v", accept, i+1, got.text, text)
			}
		}
	}
}

func TestFormatCacheIsBounded(t *testing.T) {
	var c formatCache
	for i := 0; i < 3*maxCachedFormats; i++ {
		h := http.Header{"Accept": {fmt.Sprintf("application/x-%d,text/plain;version=0.0.4;q=0.5", i)}}
		if got, want := c.negotiate(h).format, expfmt.Negotiate(h); got != want { //nolint:staticcheck // SA1019: blackbox_exporter negotiates so; what /probe must match
			t.Fatalf("Accept %q: format %q, want %q", h.Get("Accept"), got, want)
		}
	}
	n := 0
	c.formats.Range(func(any, any) bool { n++; return true })
	if n != maxCachedFormats || int(c.size.Load()) != maxCachedFormats {
		t.Errorf("cache holds %d entries (counted %d), want %d", n, c.size.Load(), maxCachedFormats)
	}
}
