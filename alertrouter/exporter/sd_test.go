package exporter

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/discovery"
)

// sdProvider hands the manager the batches a test sends.
type sdProvider struct{ batches chan []discovery.Update }

func (p *sdProvider) Run(ctx context.Context, ch chan<- []discovery.Update) {
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-p.batches:
			select {
			case ch <- b:
			case <-ctx.Done():
				return
			}
		}
	}
}

// sdExporter is vigie_exporter's /sd handler (discovery.Manager) with a
// provider the test feeds; restart replaces it by a new one, as a
// restarted exporter on the same address.
type sdExporter struct {
	t        *testing.T
	mu       sync.Mutex
	m        *discovery.Manager
	p        *sdProvider
	stop     func()
	inm      []string // If-None-Match of each request
	requests atomic.Int64
}

func (e *sdExporter) restart() {
	e.t.Helper()
	if e.stop != nil {
		e.stop()
	}
	p := &sdProvider{batches: make(chan []discovery.Update, 4)}
	m := discovery.NewManager(discovery.ManagerOptions{Debounce: time.Millisecond})
	m.SetProviders([]discovery.NamedProvider{{Name: "static[0]", Kind: "static", Key: "k", Provider: p}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	e.mu.Lock()
	e.m, e.p, e.stop = m, p, func() { cancel(); <-done }
	e.mu.Unlock()
}

func (e *sdExporter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	m := e.m
	e.inm = append(e.inm, r.Header.Get("If-None-Match"))
	e.mu.Unlock()
	e.requests.Add(1)
	m.ServeHTTP(w, r)
}

func (e *sdExporter) lastINM() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.inm[len(e.inm)-1]
}

// publish gives the exporter its targets and waits until /sd serves
// them.
func (e *sdExporter) publish(targets ...string) {
	e.t.Helper()
	e.mu.Lock()
	p, m := e.p, e.m
	e.mu.Unlock()
	p.batches <- []discovery.Update{{Source: "static:test", Groups: []discovery.TargetGroup{{Targets: targets, Modules: []string{"http_2xx"}}}}}
	want := `"` + targets[len(targets)-1] + `"`
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec := httptest.NewRecorder()
		m.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/sd", nil))
		if rec.Code == http.StatusOK && strings.Contains(rec.Body.String(), want) {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("/sd does not serve %v: %d %s", targets, rec.Code, rec.Body.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func targetsOf(groups []TargetGroup) []string {
	var out []string
	for _, g := range groups {
		out = append(out, g.Targets...)
	}
	return out
}

// TestHTTPClientTargetsIfNoneMatch: the client asks vigie_exporter's /sd
// with the ETag of the last list; the exporter answers 304 while the list
// is the same, the new list with a new ETag once it changed, 503 while a
// restarted exporter has no list yet, and 304 again after the restart when
// its list is the same.
func TestHTTPClientTargetsIfNoneMatch(t *testing.T) {
	e := &sdExporter{t: t}
	e.restart()
	defer func() { e.stop() }()
	srv := httptest.NewServer(e)
	defer srv.Close()
	x := exporterFor(t, srv.URL, "")
	ctx := context.Background()

	e.publish("https://a.example", "https://b.example")
	groups, tag, err := x.TargetsIfChanged(ctx, "")
	if err != nil || strings.Join(targetsOf(groups), " ") != "https://a.example https://b.example" || tag == "" || e.lastINM() != "" {
		t.Fatalf("first list: %+v, tag %q, %v; If-None-Match %q", groups, tag, err, e.lastINM())
	}
	if g, _, err := x.TargetsIfChanged(ctx, tag); !errors.Is(err, ErrNotModified) || g != nil || e.lastINM() != tag {
		t.Fatalf("same list: %+v, %v; If-None-Match %q, want %q", g, err, e.lastINM(), tag)
	}
	// Targets (without a tag) always gets the whole list.
	if g, err := x.Targets(ctx); err != nil || len(targetsOf(g)) != 2 || e.lastINM() != "" {
		t.Fatalf("Targets: %+v, %v; If-None-Match %q", g, err, e.lastINM())
	}

	e.publish("https://a.example", "https://c.example")
	groups, tag2, err := x.TargetsIfChanged(ctx, tag)
	if err != nil || strings.Join(targetsOf(groups), " ") != "https://a.example https://c.example" || tag2 == "" || tag2 == tag {
		t.Fatalf("changed list: %+v, tag %q (was %q), %v", groups, tag2, tag, err)
	}
	if _, _, err := x.TargetsIfChanged(ctx, tag2); !errors.Is(err, ErrNotModified) {
		t.Fatalf("changed list, asked again: %v", err)
	}

	// A restarted exporter: 503 until its providers deliver (never 304),
	// then 304 when its list is the one the router has, the new list when
	// it is not.
	e.restart()
	if _, _, err := x.TargetsIfChanged(ctx, tag2); err == nil || errors.Is(err, ErrNotModified) || !strings.Contains(err.Error(), "HTTP 503") {
		t.Fatalf("exporter starting: %v", err)
	}
	e.publish("https://a.example", "https://c.example")
	if _, _, err := x.TargetsIfChanged(ctx, tag2); !errors.Is(err, ErrNotModified) {
		t.Fatalf("restarted with the same list: %v", err)
	}
	e.restart()
	e.publish("https://d.example")
	groups, tag3, err := x.TargetsIfChanged(ctx, tag2)
	if err != nil || strings.Join(targetsOf(groups), " ") != "https://d.example" || tag3 == tag2 {
		t.Fatalf("restarted with another list: %+v, tag %q, %v", groups, tag3, err)
	}
}
