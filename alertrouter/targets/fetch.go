package targets

import (
	"context"
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
}

// Fetcher asks a Lister for the target list at start, every refresh
// interval, sooner after a failure, and at once after Set. Several /sd
// sources are one Lister that merges them.
type Fetcher struct {
	clock clock.Clock

	mu     sync.Mutex
	lister exporter.Lister
	every  time.Duration
	wake   chan struct{}
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
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *Fetcher) current() (exporter.Lister, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lister, f.every
}

// Run fetches until ctx ends, handing every attempt to out.
func (f *Fetcher) Run(ctx context.Context, out chan<- Fetched) {
	first := true
	for {
		l, every := f.current()
		groups, err := l.Targets(ctx)
		select {
		case out <- Fetched{Groups: groups, Err: err, First: first}:
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
