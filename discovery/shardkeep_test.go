package discovery

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/vigie-monitoring/vigie/config"
)

// randomGroups returns a source's content drawn from small pools, so that
// sources repeat each other's pairs (with other labels) and themselves:
// groups with several modules, without targets or without modules, targets
// listed twice, labels with empty values.
func randomGroups(rng *rand.Rand) []TargetGroup {
	modules := []string{"http_2xx", "tcp_connect", "icmp", "dns_udp"}
	groups := make([]TargetGroup, rng.IntN(5))
	for i := range groups {
		g := &groups[i]
		for range rng.IntN(9) {
			// A fresh string each time, as a provider's decoder makes them.
			g.Targets = append(g.Targets, strings.Clone(fmt.Sprintf("host-%d.example.org:%d", rng.IntN(30), 80+rng.IntN(2))))
		}
		for _, m := range modules {
			if rng.IntN(3) == 0 {
				g.Modules = append(g.Modules, m)
			}
		}
		if rng.IntN(4) > 0 {
			g.Labels = map[string]string{}
			for range rng.IntN(4) {
				g.Labels[fmt.Sprintf("l%d", rng.IntN(4))] = []string{"", "a", "b", `q"uote`}[rng.IntN(4)]
			}
		}
	}
	return groups
}

// modelSlot is what a manager without sharding held for one provider
// position: every source's groups as sent.
type modelSlot struct {
	kind    string
	sources map[string][]TargetGroup
}

// oldInputs lists the model's sources in the manager's order, for render's
// own sharding (the path /sd was rendered by before the manager kept only
// its shard's pairs).
func oldInputs(slots []*modelSlot) []sourceInput {
	var in []sourceInput
	for _, s := range slots {
		for _, name := range slices.Sorted(maps.Keys(s.sources)) {
			in = append(in, sourceInput{kind: s.kind, source: name, groups: s.sources[name]})
		}
	}
	return in
}

// TestShardKeepRendersAsBefore feeds random updates, errors and provider
// restarts to managers with and without shards, and checks after each step
// that /sd (whole and per module) is byte for byte what rendering every
// discovered pair and sharding at render time gives, and that the metrics
// counting discovered pairs still count them all.
func TestShardKeepRendersAsBefore(t *testing.T) {
	shards := []Shard{AllTargets(), {0, 2}, {1, 2}, {0, 3}, {2, 3}}
	sources := []string{"a", "b", "c"}
	for seed := range uint64(60) {
		shard := shards[seed%uint64(len(shards))]
		t.Run(fmt.Sprintf("seed%d-%s", seed, strings.ReplaceAll(shard.String(), "/", "of")), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 18))
			metrics := NewMetrics(nil)
			m := NewManager(ManagerOptions{Shard: shard, Metrics: metrics})
			defer m.stopAll()
			names := []string{"static[0]", "consul[0]"}
			kinds := []string{"static", "consul"}
			gen := []int{0, 0}
			model := []*modelSlot{{kind: "static", sources: map[string][]TargetGroup{}}, {kind: "consul", sources: map[string][]TargetGroup{}}}
			configure := func() {
				var ps []NamedProvider
				for i := range names {
					ps = append(ps, NamedProvider{Name: names[i], Kind: kinds[i], Key: fmt.Sprint(gen[i]), Provider: newFakeProvider()})
				}
				m.SetProviders(ps)
			}
			current := func(i int) *runningProvider {
				m.mu.Lock()
				defer m.mu.Unlock()
				return m.slots[names[i]].current
			}
			fullBatch := func(i int) []Update {
				var batch []Update
				model[i].sources = map[string][]TargetGroup{}
				for _, s := range sources {
					if g := randomGroups(rng); len(g) > 0 {
						model[i].sources[kinds[i]+":"+s] = g
						batch = append(batch, Update{Source: kinds[i] + ":" + s, Groups: g})
					}
				}
				return batch
			}
			check := func(step string) {
				t.Helper()
				m.render()
				got := m.snap.Load()
				if got.unavailable != "" {
					t.Fatalf("%s: /sd unavailable: %s", step, got.unavailable)
				}
				want, stats := renderAll(oldInputs(model), shard)
				if string(got.full.body) != string(want.full.body) {
					t.Fatalf("%s: /sd differs from the render of every pair\nnew:\n%s\nold:\n%s", step, got.full.body, want.full.body)
				}
				if got.full.etag != want.full.etag {
					t.Errorf("%s: ETag %s, want %s", step, got.full.etag, want.full.etag)
				}
				for _, mod := range []string{"http_2xx", "tcp_connect", "icmp", "dns_udp", "none"} {
					if g, w := got.forModule(mod).body, want.forModule(mod).body; string(g) != string(w) {
						t.Fatalf("%s: /sd?module=%s differs\nnew:\n%s\nold:\n%s", step, mod, g, w)
					}
				}
				for _, kind := range kinds {
					if g := metricValue(t, metrics.targets.WithLabelValues(kind)); g != float64(stats.discovered[kind]) {
						t.Errorf("%s: vigie_discovery_targets{provider=%q} = %v, want %d (every pair discovered)", step, kind, g, stats.discovered[kind])
					}
				}
				if g := metricValue(t, metrics.shardTargets); g != float64(stats.served) {
					t.Errorf("%s: vigie_discovery_shard_targets = %v, want %d", step, g, stats.served)
				}
				if shard.Count == 1 {
					if g := metricValue(t, metrics.duplicateTargets); g != float64(stats.duplicates) {
						t.Errorf("%s: vigie_discovery_duplicate_targets = %v, want %d", step, g, stats.duplicates)
					}
				}
			}

			configure()
			for i := range names {
				m.receive(current(i), fullBatch(i))
			}
			check("first batches")
			for step := range 25 {
				i := rng.IntN(2)
				src := kinds[i] + ":" + sources[rng.IntN(len(sources))]
				switch op := rng.IntN(10); {
				case op < 5: // new content
					g := randomGroups(rng)
					if len(g) == 0 {
						delete(model[i].sources, src)
					} else {
						model[i].sources[src] = g
					}
					m.receive(current(i), []Update{{Source: src, Groups: g}})
				case op < 6: // removal
					delete(model[i].sources, src)
					m.receive(current(i), []Update{{Source: src}})
				case op < 8: // a failed source keeps what it had
					m.receive(current(i), []Update{{Source: src, Err: errors.New("broken")}})
				default: // a reload restarts the provider: the old targets are served until the new one reports
					gen[i]++
					configure()
					check(fmt.Sprintf("step %d: restarted %s, not reported yet", step, names[i]))
					m.receive(current(i), fullBatch(i))
				}
				check(fmt.Sprintf("step %d", step))
			}
		})
	}
}

// keptHeap returns the heap a manager with shard holds for n targets (and
// the /sd rendering of them) once a provider's update of them is received,
// after full collections.
func keptHeap(t *testing.T, shard Shard, n int) uint64 {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)

	m := NewManager(ManagerOptions{Shard: shard})
	m.SetProviders([]NamedProvider{{Name: "static[0]", Kind: "static", Key: "k", Provider: newFakeProvider()}})
	m.mu.Lock()
	r := m.slots["static[0]"].current
	m.mu.Unlock()
	// The provider's update is garbage once received, as a target file's
	// parsed groups are: each target its own string, 100 per group.
	func() {
		batch := make([]Update, 0, 10)
		for f := range 10 {
			var groups []TargetGroup
			for g := range n / 1000 {
				targets := make([]string, 100)
				for i := range targets {
					targets[i] = fmt.Sprintf("http://127.0.0.1:%d/t/%d/%d/%d", 8000+g%50, f, g, i)
				}
				groups = append(groups, TargetGroup{Targets: targets, Modules: []string{"http_2xx"}, Labels: map[string]string{"group": fmt.Sprint(g), "team": "ops"}})
			}
			batch = append(batch, Update{Source: fmt.Sprintf("static:f%d.yml", f), Groups: groups})
		}
		m.receive(r, batch)
	}()
	m.render()
	if snap := m.snap.Load(); snap == nil || snap.unavailable != "" {
		t.Fatal("the manager did not render its targets")
	}

	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	m.stopAll()
	runtime.KeepAlive(m)
	if after.HeapAlloc < before.HeapAlloc {
		return 0
	}
	return after.HeapAlloc - before.HeapAlloc
}

// TestShardHoldsItsShareOfTheTargets: an exporter serving one shard of two
// holds about half the heap that depends on the targets, not every target
// discovered (its /sd was always half; the providers' groups were not).
func TestShardHoldsItsShareOfTheTargets(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 50,000 targets")
	}
	const n = 50000
	alone := keptHeap(t, AllTargets(), n)
	half := keptHeap(t, Shard{0, 2}, n)
	t.Logf("heap per target: alone %.0f B, shard 0/2 %.0f B (%.2f)", float64(alone)/n, float64(half)/n, float64(half)/float64(alone))
	if alone < n*50 {
		t.Fatalf("a manager holding %d targets grew its heap by %d bytes only: the measure is broken", n, alone)
	}
	// Held: the shard's targets and their /sd rendering, i.e. 0.5 of one
	// exporter's; every target discovered plus half the rendering was 0.8.
	if float64(half) > 0.65*float64(alone) {
		t.Errorf("a shard of 2 holds %d bytes for %d targets, %.2f of the %d one exporter holds: want at most 0.65", half, n, float64(half)/float64(alone), alone)
	}
}

// TestStaticShardRendersAsBefore: target files read by a static provider
// that keeps only its shard's pairs, piece by piece where it can, give the
// /sd (whole and per module), ETag and metrics that reading every file
// whole, keeping every pair and sharding at render time gave, through
// rewrites, broken files and removals.
func TestStaticShardRendersAsBefore(t *testing.T) {
	shards := []Shard{AllTargets(), {0, 2}, {1, 2}, {2, 3}}
	for seed := range uint64(24) {
		shard := shards[seed%uint64(len(shards))]
		t.Run(fmt.Sprintf("seed%d-%s", seed, strings.ReplaceAll(shard.String(), "/", "of")), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 8))
			dir := t.TempDir()
			metrics := NewMetrics(nil)
			p := NewStaticProvider(config.StaticSDConfig{Files: []string{filepath.Join(dir, "*.yml")}, DefaultModules: []string{"http_2xx"}}, testModules, nil, metrics)
			p.shard = shard
			p.files, p.missingLiteral = map[string]*staticFile{}, map[string]bool{}
			m := NewManager(ManagerOptions{Shard: shard, Metrics: metrics})
			defer m.stopAll()
			m.SetProviders([]NamedProvider{{Name: "static[0]", Kind: "static", Key: "k", Provider: newFakeProvider()}})
			m.mu.Lock()
			r := m.slots["static[0]"].current
			m.mu.Unlock()

			// The model: each file's last good groups, read whole.
			model := &modelSlot{kind: "static", sources: map[string][]TargetGroup{}}
			streamedFiles := 0
			step := func(name string) {
				t.Helper()
				m.receive(r, p.poll())
				m.render()
				got := m.snap.Load()
				if got.unavailable != "" {
					t.Fatalf("%s: /sd unavailable: %s", name, got.unavailable)
				}
				want, stats := renderAll(oldInputs([]*modelSlot{model}), shard)
				if string(got.full.body) != string(want.full.body) || got.full.etag != want.full.etag {
					t.Fatalf("%s: /sd differs from the render of every pair read whole\nnew:\n%s\nold:\n%s", name, got.full.body, want.full.body)
				}
				for _, mod := range []string{"http_2xx", "tcp_connect", "icmp", "dns_udp", "nope"} {
					if g, w := got.forModule(mod).body, want.forModule(mod).body; string(g) != string(w) {
						t.Fatalf("%s: /sd?module=%s differs\nnew:\n%s\nold:\n%s", name, mod, g, w)
					}
				}
				if g := metricValue(t, metrics.targets.WithLabelValues("static")); g != float64(stats.discovered["static"]) {
					t.Errorf("%s: vigie_discovery_targets{provider=\"static\"} = %v, want %d", name, g, stats.discovered["static"])
				}
				if g := metricValue(t, metrics.shardTargets); g != float64(stats.served) {
					t.Errorf("%s: vigie_discovery_shard_targets = %v, want %d", name, g, stats.served)
				}
			}
			write := func(name string, good bool) {
				t.Helper()
				path := filepath.Join(dir, name)
				data := randomTargetFile(rng, rng.IntN(8) == 0)
				for good {
					if _, _, err := parseTargetFile([]byte(data), []string{"http_2xx"}, testModules); err == nil {
						break
					}
					data = randomTargetFile(rng, rng.IntN(8) == 0)
				}
				if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
				if _, ok := streamTargetFile([]byte(data), shard, []string{"http_2xx"}, testModules); ok {
					streamedFiles++
				}
				groups, _, err := parseTargetFile([]byte(data), []string{"http_2xx"}, testModules)
				if err != nil {
					return // broken: its last good groups stay
				}
				if len(groups) == 0 {
					delete(model.sources, "static:"+path)
				} else {
					model.sources["static:"+path] = groups
				}
			}
			names := []string{"a.yml", "b.yml", "c.yml"}
			for _, n := range names {
				write(n, true) // /sd serves once every file was good
			}
			step("first read")
			for i := range 12 {
				n := names[rng.IntN(len(names))]
				if rng.IntN(6) == 0 {
					os.Remove(filepath.Join(dir, n))
					delete(model.sources, "static:"+filepath.Join(dir, n))
				} else {
					write(n, false)
				}
				step(fmt.Sprintf("step %d: %s", i, n))
			}
			t.Logf("%d files read piece by piece", streamedFiles)
		})
	}
}
