package discovery

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vigie-monitoring/vigie/internal/jsonenc"
)

// Reserved label names: the manager sets them, sources must not.
const (
	ModuleLabel = "module"
	SourceLabel = "__meta_vigie_source"
)

// sourceInput is one source's groups as the renderer sees them, in priority
// order: when two sources have the same (target, module), the first wins.
type sourceInput struct {
	kind   string
	source string
	// groups hold only the pairs of the manager's shard (see Shard.keep),
	// and pairs is how many the source has in all.
	groups []TargetGroup
	pairs  int
}

// renderStats is what the manager exports as metrics after a render.
type renderStats struct {
	discovered map[string]int // by provider kind, before de-duplication and sharding
	duplicates int            // among the pairs rendered, within the shard
	served     int
}

// snapshot is the pre-rendered /sd document. It is immutable once published,
// except for the per-module renderings that are built on first use.
type snapshot struct {
	full    *rendering
	modules map[string]*moduleRendering
	empty   *rendering // the answer for a module without targets
	// unavailable, when set, is the body of a 503: discovery is not ready
	// and the snapshot has no targets.
	unavailable string
}

// rendering is one /sd answer: its JSON, the gzip of it and a strong ETag.
// Prometheus (2.42 to this day) asks for neither gzip nor revalidation:
// its answer is the JSON as rendered; vigie_router revalidates (304s),
// and gzip is for the other clients (browsers, curl, scripts).
type rendering struct {
	body []byte
	etag string

	gzipOnce sync.Once
	gz       atomic.Pointer[[]byte] // set once compressed
}

func newRendering(body []byte) *rendering {
	sum := sha256.Sum256(body)
	return &rendering{body: body, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
}

// gzipped returns the body compressed, compressing it on first use only.
func (r *rendering) gzipped() []byte {
	r.gzipOnce.Do(func() {
		var buf bytes.Buffer
		buf.Grow(len(r.body)/8 + 64)
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed) // a valid level cannot fail
		_, _ = zw.Write(r.body)
		zw.Close()
		gz := buf.Bytes()
		r.gz.Store(&gz)
	})
	return *r.gz.Load()
}

// moduleRendering is the answer to /sd?module=…: the entries of one module
// are contiguous in the full body (entries are sorted by module first), so
// it is a slice of it, copied into its own document on first request.
type moduleRendering struct {
	start, end int // the module's entries within the full body
	once       sync.Once
	r          *rendering
}

// emptyBody is the answer when nothing matches.
const emptyBody = "[]\n"

func (s *snapshot) forModule(module string) *rendering {
	mr, ok := s.modules[module]
	if !ok {
		return s.empty
	}
	mr.once.Do(func() {
		body := make([]byte, 0, mr.end-mr.start+5)
		body = append(body, "[\n"...)
		body = append(body, s.full.body[mr.start:mr.end]...)
		body = append(body, "\n]\n"...)
		mr.r = newRendering(body)
	})
	return mr.r
}

type pairKey struct{ target, module string }

// sdEntry is one element of the /sd array under construction.
type sdEntry struct {
	module  string
	labels  string // the rendered JSON object, module and source included
	targets []string
}

// render merges the sources' pairs (the shard's), de-duplicates them (first
// source wins, with its labels: a pair's shard depends on the pair alone, so
// the winner is the one among every pair discovered), groups them by
// identical label set and renders the Prometheus HTTP SD JSON, sorted so that
// the same input always gives the same bytes.
func render(inputs []sourceInput) (*snapshot, renderStats) {
	stats := renderStats{discovered: map[string]int{}}
	seen := make(map[pairKey]struct{})
	entries := make(map[string]*sdEntry)
	var keyBuf []byte
	for _, in := range inputs {
		stats.discovered[in.kind] += in.pairs
		for gi := range in.groups {
			g := &in.groups[gi]
			for _, module := range g.Modules {
				var e *sdEntry
				for _, target := range g.Targets {
					k := pairKey{target, module}
					if _, dup := seen[k]; dup {
						stats.duplicates++
						continue
					}
					seen[k] = struct{}{}
					if e == nil {
						keyBuf = appendLabels(keyBuf[:0], g.Labels, module, in.source)
						e = entries[string(keyBuf)]
						if e == nil {
							e = &sdEntry{module: module, labels: string(keyBuf)}
							entries[e.labels] = e
						}
					}
					e.targets = append(e.targets, target)
					stats.served++
				}
			}
		}
	}

	sorted := make([]*sdEntry, 0, len(entries))
	size := 8
	for _, e := range entries {
		slices.Sort(e.targets)
		sorted = append(sorted, e)
		size += len(e.labels) + 32
		for _, t := range e.targets {
			size += len(t) + 3
		}
	}
	slices.SortFunc(sorted, func(a, b *sdEntry) int {
		if c := strings.Compare(a.module, b.module); c != 0 {
			return c
		}
		return strings.Compare(a.labels, b.labels)
	})

	snap := &snapshot{modules: make(map[string]*moduleRendering), empty: newRendering([]byte(emptyBody))}
	if len(sorted) == 0 {
		snap.full = snap.empty
		return snap, stats
	}
	body := make([]byte, 0, size)
	body = append(body, "[\n"...)
	var cur *moduleRendering
	for i, e := range sorted {
		if i > 0 {
			body = append(body, ",\n"...)
		}
		if cur == nil || sorted[i-1].module != e.module {
			cur = &moduleRendering{start: len(body)}
			snap.modules[e.module] = cur
		}
		body = append(body, `{"targets":[`...)
		for j, t := range e.targets {
			if j > 0 {
				body = append(body, ',')
			}
			body = jsonenc.AppendString(body, t, false)
		}
		body = append(body, `],"labels":`...)
		body = append(body, e.labels...)
		body = append(body, '}')
		cur.end = len(body)
	}
	body = append(body, "\n]\n"...)
	snap.full = newRendering(body)
	return snap, stats
}

// appendLabels renders a group's labels plus module and source as a JSON
// object with sorted keys. Empty values are left out: Prometheus treats an
// empty label as an absent one.
func appendLabels(b []byte, labels map[string]string, module, source string) []byte {
	names := make([]string, 0, len(labels)+2)
	for k, v := range labels {
		if v == "" || k == ModuleLabel || k == SourceLabel {
			continue
		}
		names = append(names, k)
	}
	names = append(names, ModuleLabel, SourceLabel)
	slices.Sort(names)
	b = append(b, '{')
	for i, k := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonenc.AppendString(b, k, false)
		b = append(b, ':')
		switch k {
		case ModuleLabel:
			b = jsonenc.AppendString(b, module, false)
		case SourceLabel:
			b = jsonenc.AppendString(b, source, false)
		default:
			b = jsonenc.AppendString(b, labels[k], false)
		}
	}
	return append(b, '}')
}
