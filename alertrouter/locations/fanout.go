package locations

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
)

// Location is one exporter the router probes from.
type Location struct {
	Name   string
	URL    string
	SD     bool // its target list is used
	Client exporter.Client
}

// FanOut is the exporter.Client of several locations.
type FanOut struct {
	locs    []Location
	checks  config.ChecksConfig
	metrics []locationMetrics
	union   *Union
}

var _ exporter.Client = (*FanOut)(nil)

// NewClient returns the client the pipeline uses for cfg: the exporter's
// own client with one location, a FanOut with several. m and logger may
// be nil.
func NewClient(cfg *config.RouterConfig, m *Metrics, logger *slog.Logger) (exporter.Client, error) {
	locs := cfg.Locations()
	if len(locs) == 1 {
		return exporter.NewHTTPClientFor(&locs[0], cfg.Checks.Timeout.Std())
	}
	out := make([]Location, 0, len(locs))
	for i := range locs {
		c, err := exporter.NewHTTPClientFor(&locs[i], cfg.Checks.Timeout.Std())
		if err != nil {
			return nil, fmt.Errorf("location %s: %w", locs[i].Location, err)
		}
		out = append(out, Location{Name: locs[i].Location, URL: locs[i].URL, SD: locs[i].SDEnabled(), Client: c})
	}
	f := New(out, cfg.Checks, m)
	if logger != nil {
		f.union.logger = logger
	}
	return f, nil
}

// New returns the fan-out over locs (tests give their own clients); m may
// be nil.
func New(locs []Location, checks config.ChecksConfig, m *Metrics) *FanOut {
	if m == nil {
		m = NewMetrics(nil)
	}
	f := &FanOut{locs: locs, checks: checks, union: &Union{locs: locs, last: map[string][]exporter.TargetGroup{}, logger: slog.New(slog.DiscardHandler)}}
	for _, l := range locs {
		f.metrics = append(f.metrics, m.location(l.Name))
	}
	return f
}

// Locations returns the locations, in configuration order.
func (f *FanOut) Locations() []Location { return f.locs }

// Probe runs one round: every location at once, each bounded by its
// client's timeout (checks.timeout, which the exporter itself enforces,
// plus exporter.timeout's margin).
func (f *FanOut) Probe(ctx context.Context, target, module string) exporter.Result {
	start := time.Now()
	results := make([]exporter.LocationResult, len(f.locs))
	var wg sync.WaitGroup
	for i, l := range f.locs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := l.Client.Probe(ctx, target, module)
			f.metrics[i].observe(r)
			results[i] = exporter.LocationResult{Location: l.Name, URL: l.URL, Result: r}
		}()
	}
	wg.Wait()
	res := Aggregate(results, f.checks)
	if res.Err == nil {
		res.Duration = time.Since(start)
	}
	return res
}

// Targets is the merged target list (see Union).
func (f *FanOut) Targets(ctx context.Context) ([]exporter.TargetGroup, error) {
	return f.union.Targets(ctx)
}

// Aggregate decides a round from each location's result. Locations whose
// exporter did not answer do not count; a refusal (the exporter does not
// know the module, refuses the target) counts as a failure from there.
// The round fails when at least checks.QuorumOf(answering) locations
// fail; when none answers, the result is an exporter error (nothing is
// known of the target).
func Aggregate(results []exporter.LocationResult, checks config.ChecksConfig) exporter.Result {
	answered, failing := 0, 0
	for i := range results {
		if results[i].Answered() {
			answered++
			if results[i].Failing() {
				failing++
			}
		}
	}
	res := exporter.Result{Locations: results}
	if answered == 0 {
		errs := make([]string, len(results))
		for i := range results {
			errs[i] = results[i].Location + ": " + results[i].Why()
		}
		res.Err = errors.New("no location's exporter answered: " + strings.Join(errs, "; "))
		return res
	}
	for i := range results {
		if results[i].Answered() && results[i].Duration > res.Duration {
			res.Duration = results[i].Duration
		}
	}
	if failing < checks.QuorumOf(answered) {
		res.Success = true
		return res
	}
	res.Reason = FailureReason(results)
	return res
}

// FailureReason says which locations fail and why, and how many of how
// many: "2/3 locations: paris: connection refused; berlin: HTTP 503"
// (with ", amsterdam unreachable" when some did not answer).
func FailureReason(results []exporter.LocationResult) string {
	answered, failing := 0, 0
	var why, gone []string
	for i := range results {
		r := &results[i]
		switch {
		case !r.Answered():
			gone = append(gone, r.Location)
		case r.Failing():
			answered++
			failing++
			reason := r.Reason
			if r.Refused {
				reason = "the exporter refused the probe: " + r.Err.Error()
			}
			why = append(why, r.Location+": "+reason)
		default:
			answered++
		}
	}
	var b strings.Builder
	b.WriteString(strconv.Itoa(failing) + "/" + strconv.Itoa(answered) + " locations: ")
	b.WriteString(strings.Join(why, "; "))
	if len(gone) > 0 {
		b.WriteString(" (not counted, exporter unreachable: " + strings.Join(gone, ", ") + ")")
	}
	return b.String()
}

// Union is the exporter.Lister of several locations: the target lists of
// those whose /sd is used, concatenated in configuration order (the
// target source keeps the first group naming a check, so the same target
// and module is one check, labelled by the first location listing it).
// A location whose list cannot be fetched contributes its last good one:
// a location cut off does not remove the checks only it lists. The list
// fails only when no location has ever given one.
type Union struct {
	locs   []Location
	logger *slog.Logger

	mu   sync.Mutex
	last map[string][]exporter.TargetGroup
}

// Targets fetches every list at once.
func (u *Union) Targets(ctx context.Context) ([]exporter.TargetGroup, error) {
	type answer struct {
		groups []exporter.TargetGroup
		err    error
	}
	answers := make([]answer, len(u.locs))
	var wg sync.WaitGroup
	for i, l := range u.locs {
		if !l.SD {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			g, err := l.Client.Targets(ctx)
			answers[i] = answer{g, err}
		}()
	}
	wg.Wait()
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []exporter.TargetGroup
	var errs []error
	listed := 0
	for i, l := range u.locs {
		if !l.SD {
			continue
		}
		a := answers[i]
		if a.err != nil {
			errs = append(errs, fmt.Errorf("location %s: %w", l.Name, a.err))
			if prev, ok := u.last[l.Name]; ok {
				u.logger.Warn("Cannot fetch a location's target list; keeping its last one", "location", l.Name, "err", a.err)
				out = append(out, prev...)
				listed++
			} else {
				u.logger.Warn("Cannot fetch a location's target list; the others are used", "location", l.Name, "err", a.err)
			}
			continue
		}
		u.last[l.Name] = a.groups
		out = append(out, a.groups...)
		listed++
	}
	if listed == 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}
