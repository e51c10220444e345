package prober

import (
	"sync"
	"time"

	"github.com/vigie-monitoring/vigie/config"
)

// Result is one probe kept for /logs and the landing page. Its debug text
// is rendered when asked for, not when the probe runs.
type Result struct {
	ID       int64
	Module   string
	Target   string
	Success  bool
	Reason   string
	Start    time.Time
	Duration time.Duration

	// What the debug text is rendered from; debugText, when set, renders
	// it instead (tests).
	module    *config.Module
	log       *probeLog
	registry  *Registry
	debugText func() []byte
}

// DebugOutput returns the debug text of the probe (logs, metrics, module).
func (r *Result) DebugOutput() []byte {
	if r.debugText != nil {
		return r.debugText()
	}
	return debugOutput(r.module, r.log, r.registry)
}

// DisplayTarget is the target as pages show it: without the user
// information and query values of a URL, which may be credentials.
func (r *Result) DisplayTarget() string { return redactTarget(r.Target) }

// History keeps the most recent probes. Failures are kept in a list of their
// own so that a stream of successes does not push them out.
type History struct {
	mu       sync.Mutex
	nextID   int64
	limit    int
	results  []*Result // most recent last
	failures []*Result // most recent last
}

// NewHistory keeps up to limit results, and up to limit failures besides.
func NewHistory(limit int) *History {
	return &History{limit: limit}
}

// Add records a result and assigns its ID.
func (h *History) Add(r *Result) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r.ID = h.nextID
	h.nextID++
	if h.limit <= 0 {
		return
	}
	h.results = appendBounded(h.results, r, h.limit)
	if !r.Success {
		h.failures = appendBounded(h.failures, r, h.limit)
	}
}

func appendBounded(list []*Result, r *Result, limit int) []*Result {
	if len(list) >= limit {
		copy(list, list[len(list)-limit+1:])
		list = list[:limit-1]
	}
	return append(list, r)
}

// List returns the kept results, oldest first, failures that were pushed out
// of the main list included.
func (h *History) List() []*Result {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*Result, 0, len(h.results)+len(h.failures))
	i, j := 0, 0
	for i < len(h.failures) || j < len(h.results) {
		switch {
		case j >= len(h.results) || i < len(h.failures) && h.failures[i].ID < h.results[j].ID:
			out = append(out, h.failures[i])
			i++
		case i < len(h.failures) && h.failures[i].ID == h.results[j].ID:
			out = append(out, h.results[j])
			i++
			j++
		default:
			out = append(out, h.results[j])
			j++
		}
	}
	return out
}

// Get returns the result with the given ID.
func (h *History) Get(id int64) *Result {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, list := range [][]*Result{h.results, h.failures} {
		for _, r := range list {
			if r.ID == id {
				return r
			}
		}
	}
	return nil
}

// GetByTarget returns the most recent result for target (and module, when
// module is not empty).
func (h *History) GetByTarget(target, module string) *Result {
	h.mu.Lock()
	defer h.mu.Unlock()
	var best *Result
	for _, list := range [][]*Result{h.results, h.failures} {
		for i := len(list) - 1; i >= 0; i-- {
			r := list[i]
			if r.Target == target && (module == "" || r.Module == module) {
				if best == nil || r.ID > best.ID {
					best = r
				}
				break
			}
		}
	}
	return best
}
