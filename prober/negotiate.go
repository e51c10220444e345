package prober

import (
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/prometheus/common/expfmt"
)

// maxCachedFormats bounds formatCache: a Prometheus server sends the same
// Accept header on every scrape, so a handful of entries covers every
// scraper; clients sending ever new headers are negotiated afresh.
const maxCachedFormats = 32

// formatCache remembers the exposition format negotiated for each Accept
// header. Negotiating (parsing the header, then the format it picked) costs
// about as much as rendering a probe's metrics, for the same answer on
// every scrape. The zero value is ready for use.
type formatCache struct {
	formats sync.Map // Accept header → negotiatedFormat
	size    atomic.Int32
}

// acceptedFormats are the exposition formats /probe answers in:
// Prometheus's defaults (expfmt.Negotiate's), in their order of preference.
var acceptedFormats = expfmt.DefaultAcceptedFormats()

type negotiatedFormat struct {
	format expfmt.Format
	text   bool // the classic text format, which the registry renders itself
}

// negotiate returns the format negotiated for h, from the cache
// when it can.
func (c *formatCache) negotiate(h http.Header) negotiatedFormat {
	accept := h.Get("Accept")
	if f, ok := c.formats.Load(accept); ok {
		return f.(negotiatedFormat)
	}
	format := expfmt.NegotiateAccept(h, acceptedFormats...)
	f := negotiatedFormat{format: format, text: format.FormatType() == expfmt.TypeTextPlain}
	if c.size.Load() < maxCachedFormats {
		if _, loaded := c.formats.LoadOrStore(accept, f); !loaded {
			c.size.Add(1)
		}
	}
	return f
}
