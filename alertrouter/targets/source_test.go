package targets

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
	"github.com/vigie-monitoring/vigie/alertrouter/internal/clock"
)

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

func list(entries ...string) []exporter.TargetGroup {
	var out []exporter.TargetGroup
	for i := 0; i+2 < len(entries)+1; i += 3 {
		out = append(out, exporter.TargetGroup{Targets: []string{entries[i]}, Labels: map[string]string{"module": entries[i+1], "group": entries[i+2]}})
	}
	return out
}

func ids(ts []*Target) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.ID)
	}
	return out
}

func nobody(string) bool { return false }

// TestSourceApply: what a list adds, relabels and removes, alone.
func TestSourceApply(t *testing.T) {
	s := NewSource(config.RemovalGuard{MaxRemovedRatio: 0.5, Confirmations: 3}, nil, nil, nil)
	u := s.Apply(list("a", "http_2xx", "web", "b", "http_2xx", "web", "a", "http_2xx", "db"), nobody, t0)
	if !slices.Equal(ids(u.Added), []string{"http_2xx a", "http_2xx b"}) || len(u.Relabeled)+len(u.Removed) != 0 {
		t.Fatalf("first list: %+v", u)
	}
	if a, _ := s.Get("http_2xx a"); a.Labels["group"] != "web" || a.AlertLabels()["instance"] != "a" || a.AlertLabels()["alertname"] != AlertName ||
		a.MatchLabels()["module"] != "http_2xx" || a.Fingerprint() == "" {
		t.Errorf("the first group naming a check wins: %+v", a)
	}
	u = s.Apply(list("a", "http_2xx", "db", "b", "http_2xx", "web", "c", "tcp_connect", "db"), nobody, t0)
	if !slices.Equal(ids(u.Added), []string{"tcp_connect c"}) || !slices.Equal(ids(u.Relabeled), []string{"http_2xx a"}) || len(u.Removed) != 0 {
		t.Fatalf("second list: %+v", u)
	}
	// One of three gone: under max_removed_ratio, applied at once.
	if u = s.Apply(list("a", "http_2xx", "db", "b", "http_2xx", "web"), nobody, t0); !slices.Equal(u.Removed, []string{"tcp_connect c"}) || s.Len() != 2 {
		t.Fatalf("small removal: %+v", u)
	}
	// A target without a module is no check.
	if u = s.Apply(append(list("a", "http_2xx", "db", "b", "http_2xx", "web"), exporter.TargetGroup{Targets: []string{"x"}}), nobody, t0); len(u.Added) != 0 {
		t.Errorf("a target without module became a check: %+v", u)
	}
}

// TestSourceGuard: a collapsed list is held until confirmed; saved states
// are guarded like checks.
func TestSourceGuard(t *testing.T) {
	s := NewSource(config.RemovalGuard{MaxRemovedRatio: 0.5, Confirmations: 2}, nil, nil, nil)
	s.Restore([]string{"http_2xx a", "http_2xx old"})
	announced := func(id string) bool { return id == "http_2xx old" }
	u := s.Apply(list("a", "http_2xx", "web"), announced, t0)
	if !slices.Equal(ids(u.Added), []string{"http_2xx a"}) || len(u.Removed) != 0 {
		t.Fatalf("a list dropping every announced saved state is held: %+v", u)
	}
	if u = s.Apply(list("a", "http_2xx", "web"), announced, t0); !slices.Equal(u.Removed, []string{"http_2xx old"}) {
		t.Fatalf("confirmed: %+v", u)
	}
	if u = s.Apply(nil, nobody, t0); len(u.Removed) != 0 || s.Len() != 1 {
		t.Fatalf("an empty list is held: %+v", u)
	}
	if u = s.Apply(nil, nobody, t0); !slices.Equal(u.Removed, []string{"http_2xx a"}) || s.Len() != 0 {
		t.Fatalf("an empty list confirmed: %+v", u)
	}
}

// fetchLister answers the lists it is given, or fails.
type fetchLister struct {
	mu    sync.Mutex
	calls int
	err   error
}

func (l *fetchLister) Targets(context.Context) ([]exporter.TargetGroup, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	return nil, l.err
}

// TestFetcherOnTheClock: the list is fetched at start, every refresh
// interval, sooner after a failure, and at once after Set.
func TestFetcherOnTheClock(t *testing.T) {
	clk := clock.NewFake(t0)
	l := &fetchLister{err: errors.New("connection refused")}
	f := NewFetcher(l, time.Minute, clk)
	out := make(chan Fetched)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx, out); close(done) }()
	defer func() { cancel(); <-done }()
	next := func(what string) Fetched {
		t.Helper()
		select {
		case got := <-out:
			return got
		case <-time.After(10 * time.Second):
			t.Fatalf("no fetch: %s", what)
			return Fetched{}
		}
	}
	sleeping := func(want time.Time) {
		t.Helper()
		if !clk.WaitFor(10*time.Second, func(ds []time.Time) bool { return slices.Contains(ds, want) }) {
			t.Fatalf("not waiting for %s: %v", want, clk.Waiters())
		}
	}
	if got := next("at start"); !got.First || got.Err == nil {
		t.Fatalf("first: %+v", got)
	}
	sleeping(t0.Add(Retry)) // a failure: again after 5s, not 1m
	clk.Advance(Retry)
	l.mu.Lock()
	l.err = nil
	l.mu.Unlock()
	if got := next("the retry"); got.First || got.Err != nil {
		t.Fatalf("retry: %+v", got)
	}
	sleeping(t0.Add(Retry + time.Minute))
	f.Set(l, time.Hour) // a reload: at once, then every hour
	next("after Set")
	sleeping(t0.Add(Retry + time.Hour))
}

// TestSourceUnchanged: a list that is the last one again changes nothing,
// unless a removal waits for confirmation: then it confirms it as the
// same list given whole would.
func TestSourceUnchanged(t *testing.T) {
	s := NewSource(config.RemovalGuard{MaxRemovedRatio: 0.5, Confirmations: 3}, nil, nil, nil)
	s.Apply(list("a", "http_2xx", "web", "b", "http_2xx", "web", "c", "http_2xx", "web"), nobody, t0)
	if u := s.Unchanged(nobody, t0); len(u.Added)+len(u.Relabeled)+len(u.Removed) != 0 || s.Len() != 3 {
		t.Fatalf("nothing held: %+v", u)
	}
	// Two of three gone: held, to be confirmed by two more lists.
	if u := s.Apply(list("a", "http_2xx", "web"), nobody, t0); len(u.Removed) != 0 || s.Len() != 3 {
		t.Fatalf("held: %+v", u)
	}
	if u := s.Unchanged(nobody, t0); len(u.Removed) != 0 || s.Len() != 3 {
		t.Fatalf("the same list once more: still held: %+v", u)
	}
	if u := s.Unchanged(nobody, t0); !slices.Equal(u.Removed, []string{"http_2xx b", "http_2xx c"}) || s.Len() != 1 {
		t.Fatalf("the same list a third time confirms it: %+v", u)
	}
	if u := s.Unchanged(nobody, t0); len(u.Removed) != 0 || s.Len() != 1 {
		t.Fatalf("nothing left to remove: %+v", u)
	}

	// Saved states the list does not name, every announced one: held,
	// and confirmed by the unchanged lists.
	s = NewSource(config.RemovalGuard{MaxRemovedRatio: 0.9, Confirmations: 2}, nil, nil, nil)
	s.Restore([]string{"http_2xx a", "http_2xx old"})
	announced := func(id string) bool { return id == "http_2xx old" }
	if u := s.Apply(list("a", "http_2xx", "web"), announced, t0); len(u.Removed) != 0 {
		t.Fatalf("held: %+v", u)
	}
	if u := s.Unchanged(announced, t0); !slices.Equal(u.Removed, []string{"http_2xx old"}) {
		t.Fatalf("confirmed: %+v", u)
	}
}

// condLister is a ConditionalLister: it says which tags it was asked
// with and answers ErrNotModified to its current tag.
type condLister struct {
	mu    sync.Mutex
	tag   string
	err   error
	asked []string
}

func (l *condLister) Targets(ctx context.Context) ([]exporter.TargetGroup, error) {
	g, _, err := l.TargetsIfChanged(ctx, "")
	return g, err
}

func (l *condLister) TargetsIfChanged(_ context.Context, etag string) ([]exporter.TargetGroup, string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.asked = append(l.asked, etag)
	switch {
	case l.err != nil:
		return nil, "", l.err
	case etag != "" && etag == l.tag:
		return nil, "", exporter.ErrNotModified
	}
	return list("a", "http_2xx", "web"), l.tag, nil
}

func (l *condLister) set(tag string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tag, l.err = tag, err
}

func (l *condLister) lastAsked() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.asked[len(l.asked)-1]
}

// TestFetcherConditional: the fetcher asks with the tag of the last list
// it handed on, hands an unchanged list on as Unchanged, keeps the tag
// across a failure, and forgets it when the lister is replaced.
func TestFetcherConditional(t *testing.T) {
	clk := clock.NewFake(t0)
	l := &condLister{tag: `"v1"`}
	f := NewFetcher(l, time.Minute, clk)
	out := make(chan Fetched)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx, out); close(done) }()
	defer func() { cancel(); <-done }()
	fetch := func(what string, advance time.Duration) Fetched {
		t.Helper()
		if advance > 0 {
			if !clk.WaitFor(10*time.Second, func(ds []time.Time) bool { return len(ds) > 0 }) {
				t.Fatalf("%s: the fetcher does not wait", what)
			}
			clk.Advance(advance)
		}
		select {
		case got := <-out:
			return got
		case <-time.After(10 * time.Second):
			t.Fatalf("no fetch: %s", what)
			return Fetched{}
		}
	}
	if got := fetch("at start", 0); got.Unchanged || len(got.Groups) != 1 || l.lastAsked() != "" {
		t.Fatalf("first: %+v, asked %q", got, l.lastAsked())
	}
	if got := fetch("unchanged", time.Minute); !got.Unchanged || got.Groups != nil || got.Err != nil || l.lastAsked() != `"v1"` {
		t.Fatalf("unchanged: %+v, asked %q", got, l.lastAsked())
	}
	l.set(`"v1"`, errors.New("connection refused"))
	if got := fetch("failed", time.Minute); got.Err == nil || got.Unchanged {
		t.Fatalf("failed: %+v", got)
	}
	l.set(`"v1"`, nil) // back, with the same list: still the tag of the list applied
	if got := fetch("back", Retry); !got.Unchanged || l.lastAsked() != `"v1"` {
		t.Fatalf("after a failure: %+v, asked %q", got, l.lastAsked())
	}
	l.set(`"v2"`, nil)
	if got := fetch("changed", time.Minute); got.Unchanged || len(got.Groups) != 1 || l.lastAsked() != `"v1"` {
		t.Fatalf("changed: %+v, asked %q", got, l.lastAsked())
	}
	if got := fetch("unchanged again", time.Minute); !got.Unchanged || l.lastAsked() != `"v2"` {
		t.Fatalf("the new tag: %+v, asked %q", got, l.lastAsked())
	}
	f.Set(l, time.Minute) // a reload: the whole list again
	if got := fetch("after Set", 0); got.Unchanged || len(got.Groups) != 1 || l.lastAsked() != "" {
		t.Fatalf("after Set: %+v, asked %q", got, l.lastAsked())
	}
}
