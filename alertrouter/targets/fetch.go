package targets

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
	"github.com/vigie-monitoring/vigie/alertrouter/internal/clock"
)

// Retry is the delay before fetching a target list again after a failure:
// the exporter may just be starting (both are often started together).
const Retry = 5 * time.Second

// Fetched is one attempt at fetching the target list.
type Fetched struct {
	Groups []exporter.TargetGroup
	Err    error
	First  bool // the first attempt since Run started
	// Unchanged: the list is the one fetched last (its source said so:
	// HTTP 304), Groups is nil; hand it to Source.Unchanged.
	Unchanged bool
}

// Fetcher asks a Lister for the target list at start, every refresh
// interval, sooner after a failure, and at once after Set. Several /sd
// sources are one Lister that merges them. A ConditionalLister is asked
// with the entity tag of the last list handed on, and a list that did
// not change is handed on as Unchanged.
type Fetcher struct {
	clock clock.Clock

	mu     sync.Mutex
	lister exporter.Lister
	every  time.Duration
	wake   chan struct{}
	// etag is the entity tag of the last list handed on by this lister
	// (Run's goroutine; Set clears it under mu).
	etag string
	gen  uint64 // counts Sets: a tag is kept for the lister it came from
}

// NewFetcher returns a fetcher of l every interval.
func NewFetcher(l exporter.Lister, every time.Duration, clk clock.Clock) *Fetcher {
	if clk == nil {
		clk = clock.Real{}
	}
	return &Fetcher{clock: clk, lister: l, every: every, wake: make(chan struct{}, 1)}
}

// Set installs a new lister and interval (a reload) and fetches at once.
func (f *Fetcher) Set(l exporter.Lister, every time.Duration) {
	f.mu.Lock()
	f.lister, f.every = l, every
	f.etag = "" // another exporter, or another list: fetch it whole
	f.gen++
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Refetch fetches the list at once, whole (not conditionally): a member
// of a router cluster that gains checks keeps no Target of them, the list
// names them (Source.SetOwner). A list fetched meanwhile with the last
// entity tag keeps no tag either.
func (f *Fetcher) Refetch() {
	f.mu.Lock()
	f.etag = ""
	f.gen++
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *Fetcher) current() (exporter.Lister, time.Duration, string, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lister, f.every, f.etag, f.gen
}

// fetch asks l for the list, conditionally when it can. The tag of a
// list is kept only if the lister is still the current one (no Set
// meanwhile); after a failure the last tag stays: it names the list the
// source still has.
func (f *Fetcher) fetch(ctx context.Context, l exporter.Lister, etag string, gen uint64) Fetched {
	cl, ok := l.(exporter.ConditionalLister)
	if !ok {
		groups, err := l.Targets(ctx)
		return Fetched{Groups: groups, Err: err}
	}
	groups, tag, err := cl.TargetsIfChanged(ctx, etag)
	if errors.Is(err, exporter.ErrNotModified) {
		return Fetched{Unchanged: true}
	}
	if err == nil {
		f.mu.Lock()
		if f.gen == gen {
			f.etag = tag
		}
		f.mu.Unlock()
	}
	return Fetched{Groups: groups, Err: err}
}

// Run fetches until ctx ends, handing every attempt to out.
func (f *Fetcher) Run(ctx context.Context, out chan<- Fetched) {
	first := true
	for {
		l, every, etag, gen := f.current()
		fetched := f.fetch(ctx, l, etag, gen)
		fetched.First = first
		err := fetched.Err
		select {
		case out <- fetched:
		case <-ctx.Done():
			return
		}
		first = false
		wait := every
		if err != nil {
			wait = min(every, Retry)
		}
		t := f.clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-f.wake:
		case <-t.C():
		}
		t.Stop()
	}
}
