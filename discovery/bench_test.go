package discovery

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

	consul "github.com/hashicorp/consul/api"

	"github.com/vigie-monitoring/vigie/config"
)

// scaleInputs builds 10,000 (target, module) pairs the way the providers
// would: 5,000 from static files (100 groups of 50 targets, a few labels) and
// 5,000 Consul instances (each with its own ~15 __meta_consul_* labels),
// mapped by the Consul provider's own code.
func scaleInputs(b *testing.B) []sourceInput {
	b.Helper()
	var inputs []sourceInput
	for f := range 10 {
		var groups []TargetGroup
		for g := range 10 {
			var targets []string
			for i := range 50 {
				targets = append(targets, fmt.Sprintf("https://site-%d-%d-%d.example.org", f, g, i))
			}
			groups = append(groups, TargetGroup{Targets: targets, Modules: []string{"http_2xx"},
				Labels: map[string]string{"group": fmt.Sprintf("g%d", g), "team": "ops", "env": "prod"}})
		}
		inputs = append(inputs, sourceInput{kind: "static", source: fmt.Sprintf("static:targets/file%d.yml", f), groups: groups})
	}
	p, err := NewConsulProvider(config.ConsulSDConfig{Server: "127.0.0.1:1", Scheme: "http", MetaPrefix: "vigie_"}, testModules, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	for s := range 100 {
		var entries []*consul.ServiceEntry
		for i := range 50 {
			node := fmt.Sprintf("node-%d", (s*50+i)%400)
			addr := fmt.Sprintf("10.%d.%d.%d", s/200, s%200, i)
			entries = append(entries, &consul.ServiceEntry{
				Node: &consul.Node{Node: node, Address: addr, Datacenter: "dc1",
					TaggedAddresses: map[string]string{"lan": addr, "lan_ipv4": addr, "wan": addr, "wan_ipv4": addr},
					Meta:            map[string]string{"rack": fmt.Sprintf("r%d", i%8)}},
				Service: &consul.AgentService{ID: fmt.Sprintf("svc%d-%d", s, i), Service: fmt.Sprintf("svc%d", s), Port: 8080,
					Tags: []string{"vigie", "prod"}, Meta: map[string]string{"vigie_modules": "tcp_connect", "version": "1.2.3"}},
				Checks: consul.HealthChecks{{Status: consul.HealthPassing}},
			})
		}
		inputs = append(inputs, sourceInput{kind: "consul", source: fmt.Sprintf("consul:svc%d", s), groups: p.groups(entries)})
	}
	return inputs
}

// BenchmarkRender10k: what one change costs (off the request path).
func BenchmarkRender10k(b *testing.B) {
	inputs := keptInputs(scaleInputs(b), AllTargets())
	b.ReportAllocs()
	for b.Loop() {
		snap, stats := render(inputs)
		if stats.served != 10000 {
			b.Fatalf("served %d pairs, want 10000", stats.served)
		}
		snap.full.gzipped()
	}
}

// BenchmarkSnapshotMemory10k reports the size of the pre-rendered snapshot:
// JSON bytes, gzip bytes, and live heap held by the snapshot.
func BenchmarkSnapshotMemory10k(b *testing.B) {
	inputs := keptInputs(scaleInputs(b), AllTargets())
	var ms runtime.MemStats
	var heap uint64
	var snap *snapshot
	for b.Loop() {
		snap = nil //nolint:ineffassign // dropped, so that the heap measured is the new snapshot's alone
		runtime.GC()
		runtime.ReadMemStats(&ms)
		before := ms.HeapAlloc
		snap, _ = render(inputs)
		snap.full.gzipped()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		heap = ms.HeapAlloc - before
	}
	b.ReportMetric(float64(len(snap.full.body)), "json-B")
	b.ReportMetric(float64(len(snap.full.gzipped())), "gzip-B")
	b.ReportMetric(float64(heap), "snapshot-heap-B")
	runtime.KeepAlive(snap)
}

// discardWriter is a ResponseWriter that keeps nothing, so that the handler
// benchmark measures the handler, not a recorder's copy of the body.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

func scaleManager(b *testing.B) *Manager {
	b.Helper()
	return managerFor(scaleInputs(b), AllTargets())
}

func managerFor(inputs []sourceInput, shard Shard) *Manager {
	m := NewManager(ManagerOptions{Shard: shard})
	snap, _ := render(keptInputs(inputs, shard))
	m.publish(snap)
	return m
}

// scaleTestInputs builds n targets shaped as `benchcompare scale` serves
// them (the /sd of the goal: 100,000 targets, 3.5 MiB): one static
// file, nine tenths http_2xx URLs by path on one server, the rest
// tcp_connect addresses, no labels.
func scaleTestInputs(n int) []sourceInput {
	httpN := n * 9 / 10
	var web, tcp []string
	for i := range httpN {
		web = append(web, fmt.Sprintf("http://127.0.0.1:40123/t/http-%d", i))
	}
	for i := range n - httpN {
		tcp = append(tcp, fmt.Sprintf("127.0.0.1:%d", 20000+i%40000))
	}
	// Distinct tcp targets: the port range repeats past 40,000.
	for i := range tcp {
		if i >= 40000 {
			tcp[i] = fmt.Sprintf("127.0.0.%d:%d", 2+i/40000, 20000+i%40000)
		}
	}
	return []sourceInput{{kind: "static", source: "static:targets.yml", groups: []TargetGroup{
		{Targets: web, Modules: []string{"http_2xx"}},
		{Targets: tcp, Modules: []string{"tcp_connect"}},
	}}}
}

// BenchmarkRender100k: what one change costs with 100,000 targets (off the
// request path, once per change).
func BenchmarkRender100k(b *testing.B) {
	inputs := keptInputs(scaleTestInputs(100000), AllTargets())
	b.ReportAllocs()
	var snap *snapshot
	for b.Loop() {
		snap, _ = render(inputs)
		snap.full.gzipped()
	}
	b.ReportMetric(float64(len(snap.full.body)), "json-B")
	b.ReportMetric(float64(len(snap.full.gzipped())), "gzip-B")
}

// sdCases are the requests the handler benchmarks make: what Prometheus
// and vigie_router send (no Accept-Encoding, no validator), a client
// asking for gzip, one revalidating (304), and ?module= variants.
var sdCases = []struct{ name, query, encoding, inm string }{
	{"identity", "", "", ""},
	{"gzip", "", "gzip", ""},
	{"not-modified", "", "", "etag"},
	{"module", "?module=tcp_connect", "", ""},
	{"module-gzip", "?module=tcp_connect", "gzip", ""},
}

// BenchmarkSDHandler100k: /sd answered in-process from the snapshot of
// 100,000 targets, the first request of each kind included (the loop
// starts on a fresh snapshot each time, so nothing computed on first use
// is left out).
func BenchmarkSDHandler100k(b *testing.B) {
	inputs := scaleTestInputs(100000)
	for _, c := range sdCases {
		b.Run(c.name, func(b *testing.B) {
			m := managerFor(inputs, AllTargets())
			req := httptest.NewRequest(http.MethodGet, "/sd"+c.query, nil)
			if c.encoding != "" {
				req.Header.Set("Accept-Encoding", c.encoding)
			}
			w := &discardWriter{h: http.Header{}}
			if c.inm != "" {
				m.ServeHTTP(w, req)
				req.Header.Set("If-None-Match", w.h.Get("ETag"))
			}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				m.ServeHTTP(w, req)
			}
		})
	}
}

// BenchmarkSDFirstRequest100k: the first request of each kind after a
// change (published as the manager publishes it), which pays for whatever
// is computed on first use.
func BenchmarkSDFirstRequest100k(b *testing.B) {
	inputs := scaleTestInputs(100000)
	for _, c := range sdCases[:len(sdCases)-1] {
		if c.inm != "" {
			continue
		}
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/sd"+c.query, nil)
			if c.encoding != "" {
				req.Header.Set("Accept-Encoding", c.encoding)
			}
			w := &discardWriter{h: http.Header{}}
			for b.Loop() {
				b.StopTimer()
				m := managerFor(inputs, AllTargets())
				clear(w.h)
				b.StartTimer()
				m.ServeHTTP(w, req)
			}
		})
	}
}

// BenchmarkSDLoopback100k: a full GET of /sd with 100,000 targets over
// loopback HTTP, read to the end but not parsed (parsing is the client's
// cost); ns/op is the latency a client sees. The snapshot is the steady
// state: rendered once, requested many times.
func BenchmarkSDLoopback100k(b *testing.B) {
	for _, shard := range []Shard{AllTargets(), {Index: 0, Count: 2}} {
		m := managerFor(scaleTestInputs(100000), shard)
		srv := httptest.NewServer(m)
		for _, c := range sdCases {
			b.Run(fmt.Sprintf("shard=%d_%d/%s", shard.Index, shard.Count, c.name), func(b *testing.B) {
				client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
				defer client.CloseIdleConnections()
				req, _ := http.NewRequest(http.MethodGet, srv.URL+"/sd"+c.query, nil)
				req.Header.Set("Accept", "application/json")
				if c.encoding != "" {
					req.Header.Set("Accept-Encoding", c.encoding)
				}
				if c.inm != "" {
					resp, err := client.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
				}
				var n int64
				for b.Loop() {
					resp, err := client.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					n, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				b.ReportMetric(float64(n), "wire-B")
			})
		}
		srv.Close()
	}
}

// BenchmarkSDHandler10k: /sd answered in-process from the snapshot.
func BenchmarkSDHandler10k(b *testing.B) {
	m := scaleManager(b)
	for _, c := range []struct{ name, query, encoding string }{
		{"identity", "", ""},
		{"gzip", "", "gzip"},
		{"module", "?module=tcp_connect", ""},
		{"module-gzip", "?module=tcp_connect", "gzip"},
	} {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/sd"+c.query, nil)
			if c.encoding != "" {
				req.Header.Set("Accept-Encoding", c.encoding)
			}
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				m.ServeHTTP(w, req)
			}
		})
	}
}

// BenchmarkSDLoopback10k: a full GET of /sd over loopback HTTP, as
// Prometheus (which asks for gzip) or the router does; ns/op is the latency.
func BenchmarkSDLoopback10k(b *testing.B) {
	m := scaleManager(b)
	srv := httptest.NewServer(m)
	defer srv.Close()
	for _, gzip := range []bool{true, false} {
		name := "identity"
		if gzip {
			name = "gzip"
		}
		b.Run(name, func(b *testing.B) {
			client := &http.Client{Transport: &http.Transport{DisableCompression: !gzip}}
			defer client.CloseIdleConnections()
			var n int64
			for b.Loop() {
				resp, err := client.Get(srv.URL)
				if err != nil {
					b.Fatal(err)
				}
				n, _ = io.Copy(io.Discard, resp.Body) // decompressed by the client when gzip
				resp.Body.Close()
			}
			b.ReportMetric(float64(n), "body-B")
		})
	}
}

// BenchmarkParseTargetFile100k: reading a file of 100,000 targets (1,000
// groups), once, against parsing the node tree first and keeping it while
// decoding (what every exporter, and every shard, did on each change).
func BenchmarkParseTargetFile100k(b *testing.B) {
	var buf []byte
	for g := range 1000 {
		buf = fmt.Appendf(buf, "- labels: {group: g%d, team: ops}\n  modules: [http_2xx]\n  targets:\n", g)
		for i := range 100 {
			buf = fmt.Appendf(buf, "  - http://127.0.0.1:%d/t/%d/%d\n", 8000+g%50, g, i)
		}
	}
	for _, bc := range []struct {
		name  string
		parse func([]byte, []string, map[string]string) ([]TargetGroup, []string, error)
	}{{"read-once", parseTargetFile}, {"nodes-first", parseTargetFileNodesFirst}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				groups, _, err := bc.parse(buf, nil, testModules)
				if err != nil || len(groups) != 1000 {
					b.Fatalf("%d groups, %v", len(groups), err)
				}
			}
		})
	}
}

// BenchmarkReadTargetFile100k: what an exporter reading its shard of a file
// of 100,000 targets allocates, piece by piece against whole then keeping
// the shard's pairs, for 1,000 groups of 100 and for the two groups of
// `benchcompare shards` (95,000 http_2xx targets, 5,000 tcp_connect).
func BenchmarkReadTargetFile100k(b *testing.B) {
	var groups, big []byte
	for g := range 1000 {
		groups = fmt.Appendf(groups, "- labels: {group: g%d, team: ops}\n  modules: [http_2xx]\n  targets:\n", g)
		for i := range 100 {
			groups = fmt.Appendf(groups, "  - http://127.0.0.1:%d/t/%d/%d\n", 8000+g%50, g, i)
		}
	}
	big = fmt.Appendf(big, "- modules: [http_2xx]\n  targets:\n")
	for i := range 95000 {
		big = fmt.Appendf(big, "    - \"http://127.0.0.1:9/t/http-%d\"\n", i)
	}
	big = fmt.Appendf(big, "- modules: [tcp_connect]\n  targets:\n")
	for i := range 5000 {
		big = fmt.Appendf(big, "    - \"127.0.0.2:%d\"\n", 1024+i)
	}
	for _, file := range []struct {
		name string
		data []byte
	}{{"1000-groups", groups}, {"2-groups", big}} {
		for _, shard := range []Shard{AllTargets(), {0, 2}} {
			for _, whole := range []bool{true, false} {
				name := "pieces"
				if whole {
					name = "whole"
				}
				b.Run(fmt.Sprintf("%s/shard-%dof%d/%s", file.name, shard.Index, shard.Count, name), func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						var pairs int
						if whole {
							groups, _, err := parseTargetFile(file.data, nil, testModules)
							if err != nil {
								b.Fatal(err)
							}
							_, pairs = shard.keep(groups)
						} else {
							r, ok := streamTargetFile(file.data, shard, nil, testModules)
							if !ok {
								b.Fatal("not read piece by piece")
							}
							pairs = r.pairs
						}
						if pairs != 100000 {
							b.Fatalf("%d pairs", pairs)
						}
					}
				})
			}
		}
	}
}
