package benchcompare

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Headers Prometheus 2.42 (Debian bookworm's) sends with every scrape; the
// scrape timeout is the default 10s scrape interval's usual 5s timeout.
const (
	prometheusAccept    = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
	prometheusUserAgent = "Prometheus/2.42.0"
	scrapeTimeout       = "5"
)

// requestTimeout bounds one /probe request: the probe's own timeout (the
// scrape timeout minus the exporter's offset) plus room.
const requestTimeout = 10 * time.Second

// Load window states.
const (
	stateWarmup int32 = iota
	stateMeasuring
	stateDone
)

// load is a closed-loop load generator: each client sends its next request
// when the previous answer is read. Requests completed between beginWindow
// and endWindow are counted.
type load struct {
	client  *http.Client
	url     string
	state   atomic.Int32
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	clients []*loadClient
	t0, t1  time.Time
}

// loadClient is one client's tally; it is only read after the client ends.
type loadClient struct {
	ok, failed   int
	latencies    []time.Duration
	firstFailure string
	failedEver   bool
	body         bytes.Buffer
	gz           *gzip.Reader
}

// loadResult is what a load measured in its window.
type loadResult struct {
	window       time.Duration
	ok, failed   int
	latencies    []time.Duration // sorted
	firstFailure string
}

// startLoad starts concurrency clients sending GET url with keep-alive
// connections and Prometheus's headers.
func startLoad(url string, concurrency int) *load {
	transport := &http.Transport{
		Proxy:               nil, // loopback only, whatever the environment says
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        concurrency,
		MaxIdleConnsPerHost: concurrency,
		IdleConnTimeout:     time.Minute,
		// The Accept-Encoding header is ours; bodies are inflated below.
		DisableCompression: true,
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{
		client: &http.Client{Transport: transport, Timeout: requestTimeout},
		url:    url,
		cancel: cancel,
	}
	for range concurrency {
		c := &loadClient{latencies: make([]time.Duration, 0, 1024)}
		l.clients = append(l.clients, c)
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.run(ctx, c)
		}()
	}
	return l
}

func (l *load) run(ctx context.Context, c *loadClient) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.url, nil)
	if err != nil {
		c.failedEver, c.firstFailure = true, err.Error()
		return
	}
	req.Header.Set("Accept", prometheusAccept)
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set("User-Agent", prometheusUserAgent)
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", scrapeTimeout)
	for ctx.Err() == nil {
		start := time.Now()
		failure := c.do(l.client, req)
		elapsed := time.Since(start)
		if failure != "" && ctx.Err() != nil {
			return // cut short by stop
		}
		if failure != "" && !c.failedEver {
			c.failedEver, c.firstFailure = true, failure
		}
		if l.state.Load() != stateMeasuring {
			continue
		}
		if failure != "" {
			c.failed++
			continue
		}
		c.ok++
		c.latencies = append(c.latencies, elapsed)
	}
}

// do sends one request and reads the whole answer; it returns why the probe
// failed, or "" when the answer is a 200 saying probe_success 1.
func (c *loadClient) do(client *http.Client, req *http.Request) string {
	resp, err := client.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var body io.Reader = resp.Body
	if resp.Header.Get("Content-Encoding") == "gzip" {
		if c.gz == nil {
			c.gz, err = gzip.NewReader(resp.Body)
		} else {
			err = c.gz.Reset(resp.Body)
		}
		if err != nil {
			return "gzip: " + err.Error()
		}
		body = c.gz
	}
	c.body.Reset()
	if _, err := c.body.ReadFrom(body); err != nil {
		return "reading the answer: " + err.Error()
	}
	return checkAnswer(resp.StatusCode, c.body.Bytes())
}

// checkAnswer returns why a /probe answer is not a successful probe, or "".
func checkAnswer(status int, body []byte) string {
	if status != http.StatusOK {
		return fmt.Sprintf("HTTP status %d: %s", status, excerpt(body))
	}
	switch v := sampleValue(body, "probe_success"); v {
	case "1":
		return ""
	case "":
		return "no probe_success in the answer: " + excerpt(body)
	default:
		return "probe_success " + v
	}
}

// sampleValue returns the value of the unlabelled series name in a text
// exposition, or "" when it is absent.
func sampleValue(body []byte, name string) string {
	for line := range bytes.Lines(body) {
		rest, ok := bytes.CutPrefix(line, []byte(name))
		if !ok || len(rest) == 0 || rest[0] != ' ' {
			continue
		}
		return string(bytes.TrimSpace(rest))
	}
	return ""
}

func excerpt(b []byte) string {
	const max = 200
	b = bytes.TrimSpace(b)
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}

// beginWindow starts counting.
func (l *load) beginWindow() {
	l.t0 = time.Now()
	l.state.Store(stateMeasuring)
}

// endWindow stops counting.
func (l *load) endWindow() {
	l.state.Store(stateDone)
	l.t1 = time.Now()
}

// stop ends the clients and returns what they counted.
func (l *load) stop() loadResult {
	l.cancel()
	l.wg.Wait()
	l.client.CloseIdleConnections()
	res := loadResult{window: l.t1.Sub(l.t0)}
	for _, c := range l.clients {
		res.ok += c.ok
		res.failed += c.failed
		res.latencies = append(res.latencies, c.latencies...)
		if res.firstFailure == "" {
			res.firstFailure = c.firstFailure
		}
	}
	slices.Sort(res.latencies)
	return res
}
