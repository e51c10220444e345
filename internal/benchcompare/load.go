package benchcompare

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
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
	client  *http.Client // nil for a tcp load
	send    func(ctx context.Context, c *loadClient) string
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
	req          *http.Request // the request an http load repeats
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

// startProbeLoad starts concurrency clients scraping an exporter's /probe
// url as Prometheus does: keep-alive connections, Prometheus's headers, an
// answer that must say probe_success 1.
func startProbeLoad(url string, concurrency int) *load {
	transport := &http.Transport{
		Proxy:               nil, // loopback only, whatever the environment says
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        concurrency,
		MaxIdleConnsPerHost: concurrency,
		IdleConnTimeout:     time.Minute,
		// The Accept-Encoding header is ours; bodies are inflated below.
		DisableCompression: true,
	}
	l := &load{client: &http.Client{Transport: transport, Timeout: requestTimeout}}
	l.send = func(ctx context.Context, c *loadClient) string {
		if c.req == nil {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return err.Error()
			}
			req.Header.Set("Accept", prometheusAccept)
			req.Header.Set("Accept-Encoding", "gzip")
			req.Header.Set("User-Agent", prometheusUserAgent)
			req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", scrapeTimeout)
			c.req = req
		}
		return c.do(l.client, c.req, checkAnswer)
	}
	l.start(concurrency)
	return l
}

// startDirectHTTPLoad starts concurrency clients getting url straight from
// the target, a new connection for each request as a probe opens one, and
// nothing else a probe does: the rate the machine allows for the probes'
// own traffic, the physical limit an exporter can approach.
func startDirectHTTPLoad(url string, concurrency int) *load {
	transport := &http.Transport{
		Proxy:              nil,
		DialContext:        (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		DisableKeepAlives:  true, // as the exporters' probes
		DisableCompression: true, // as theirs: no Accept-Encoding
	}
	l := &load{client: &http.Client{Transport: transport, Timeout: requestTimeout}}
	l.send = func(ctx context.Context, c *loadClient) string {
		if c.req == nil {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return err.Error()
			}
			c.req = req
		}
		return c.do(l.client, c.req, checkTargetAnswer)
	}
	l.start(concurrency)
	return l
}

// startDirectTCPLoad starts concurrency clients connecting to addr as a
// tcp_connect probe does, each then waiting for the fixture to close the
// connection: a connection the kernel completed but the fixture has not
// accepted yet (it sits in the listen backlog) is not one served, and a
// load faster than the fixture's accept loop would otherwise fill the
// backlog and count connections the fixture never saw.
func startDirectTCPLoad(addr string, concurrency int) *load {
	d := &net.Dialer{Timeout: 5 * time.Second}
	l := &load{}
	l.send = func(ctx context.Context, c *loadClient) string {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err.Error()
		}
		defer conn.Close()
		_ = conn.SetReadDeadline(time.Now().Add(requestTimeout))
		var b [1]byte
		switch n, err := conn.Read(b[:]); {
		case n > 0:
			return "the fixture sent data instead of closing the connection"
		case err == io.EOF:
			return ""
		case err != nil && !errors.Is(err, syscall.ECONNRESET):
			return "waiting for the fixture to close: " + err.Error()
		}
		return ""
	}
	l.start(concurrency)
	return l
}

func (l *load) start(concurrency int) {
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	for range concurrency {
		c := &loadClient{latencies: make([]time.Duration, 0, 1024)}
		l.clients = append(l.clients, c)
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.run(ctx, c)
		}()
	}
}

func (l *load) run(ctx context.Context, c *loadClient) {
	for ctx.Err() == nil {
		start := time.Now()
		failure := l.send(ctx, c)
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

// do sends one request and reads the whole answer; it returns why it
// failed, as check judges the answer, or "".
func (c *loadClient) do(client *http.Client, req *http.Request, check func(int, []byte) string) string {
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
	return check(resp.StatusCode, c.body.Bytes())
}

// checkTargetAnswer returns why a fixture's answer is not a success, or "".
func checkTargetAnswer(status int, body []byte) string {
	if status != http.StatusOK {
		return fmt.Sprintf("HTTP status %d: %s", status, excerpt(body))
	}
	return ""
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
	if l.client != nil {
		l.client.CloseIdleConnections()
	}
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
