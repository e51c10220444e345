package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Live updates: the page listens to /events (server-sent events) and
// replaces the fragments that changed, rendered once for every client.
// Run pushes live updates until ctx ends: at most one per UpdateInterval
// after the engine or the silences change, and one every Refresh.
func (p *Page) Run(ctx context.Context) error {
	defer close(p.done)
	defer p.endTests()
	pipelineCh, stopPipeline := p.o.Pipeline.Changes()
	defer stopPipeline()
	var silenceCh <-chan struct{}
	if p.o.Silences != nil {
		ch, stop := p.o.Silences.Changes()
		defer stop()
		silenceCh = ch
	}
	clk := p.o.Clock
	refresh := clk.NewTimer(p.o.Refresh)
	defer refresh.Stop()
	var last time.Time
	var pending <-chan time.Time // armed while a change waits for its turn
	changed := func() {
		if pending != nil {
			return
		}
		pending = clk.After(max(0, p.o.UpdateInterval-clk.Now().Sub(last)))
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-pipelineCh:
			changed()
		case <-silenceCh:
			changed()
		case <-p.kick:
			changed()
		case <-refresh.C():
			refresh.Reset(p.o.Refresh)
			changed()
		case <-pending:
			pending = nil
			last = clk.Now()
			p.updates.fire()
		}
	}
}

// broadcast wakes every waiter at once; gen counts the updates.
type broadcast struct {
	mu  sync.Mutex
	ch  chan struct{}
	gen uint64
}

// wait returns a channel closed at the next update, and the number of
// the current one.
func (b *broadcast) wait() (<-chan struct{}, uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ch, b.gen
}

func (b *broadcast) fire() {
	b.mu.Lock()
	close(b.ch)
	b.ch = make(chan struct{})
	b.gen++
	b.mu.Unlock()
}

// fragmentNames are the live parts of the page, by element id.
var fragmentNames = []string{"title", "summary", "cluster", "problems", "alerts", "notifications", "receivers", "silences"}

// fragmentKeys are the names as JSON object keys.
var fragmentKeys = func() map[string][]byte {
	m := map[string][]byte{}
	for _, name := range fragmentNames {
		m[name] = []byte(strconv.Quote(name) + ":")
	}
	return m
}()

// fragment is one live part of the page, rendered once for every client:
// its HTML as a JSON string, ready to be written into an update. id
// identifies the content: clients remember ids, not fragments, so that a
// slow client does not keep an old rendering alive.
type fragment struct {
	id   uint64
	json []byte
}

// liveCache shares the rendering of the live parts among all the clients
// of /events: one rendering per update (and page of problems) whatever the
// number of clients, whose streams all write the same bytes. A part that
// did not change keeps its fragment (and id) from one rendering to the
// next, so that a client knows what to send by comparing ids.
type liveCache struct {
	mu      sync.Mutex
	gen     uint64                       // update the renderings are of
	fresh   map[int]bool                 // pages rendered for gen
	last    map[int]map[string]*fragment // latest rendering of each page; never modified once stored
	renders int                          // how many renderings (tests)
	nextID  uint64                       // of fragments
}

// renders says how many renderings of the live parts were made.
func (p *Page) renders() int {
	p.live.mu.Lock()
	defer p.live.mu.Unlock()
	return p.live.renders
}

// clampPage is the page of problems data(page) shows.
func (p *Page) clampPage(page int) int {
	pages := max(1, (len(p.o.Pipeline.View().Problems)+p.o.PageSize-1)/p.o.PageSize)
	return min(max(page, 1), pages)
}

// fragments returns the live parts of a page as of update gen (or later),
// rendering them if no client did yet.
func (p *Page) fragments(gen uint64, page int) (map[string]*fragment, error) {
	c := &p.live
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen > c.gen || c.fresh == nil {
		c.gen, c.fresh = max(gen, c.gen), map[int]bool{}
	}
	if c.last == nil {
		c.last = map[int]map[string]*fragment{}
	}
	page = p.clampPage(page)
	if c.fresh[page] {
		return c.last[page], nil
	}
	d := p.data(page)
	prev := c.last[page]
	next := make(map[string]*fragment, len(fragmentNames))
	var buf bytes.Buffer
	for _, name := range fragmentNames {
		buf.Reset()
		if err := p.tmpl.ExecuteTemplate(&buf, name, d); err != nil {
			return nil, err
		}
		data, err := json.Marshal(buf.String())
		if err != nil {
			return nil, err
		}
		if f := prev[name]; f != nil && bytes.Equal(f.json, data) {
			next[name] = f
		} else {
			c.nextID++
			next[name] = &fragment{id: c.nextID, json: data}
		}
	}
	c.last[page], c.fresh[page] = next, true
	c.renders++
	return next, nil
}

// events streams the changed parts of the page as server-sent events
// ("update", data: a JSON object of element id → inner HTML).
func (p *Page) events(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n\n")
	flusher.Flush()

	sent := map[string]uint64{} // fragment ids
	ping := p.o.Clock.NewTimer(heartbeat)
	defer ping.Stop()
	// The first round sends everything: the page may have changed since
	// it was rendered.
	wake, gen := p.updates.wait()
	for {
		if err := p.sendChanged(w, gen, page, sent); err != nil {
			p.o.Logger.Debug("Live update stream ended", "err", err)
			return
		}
		flusher.Flush()
	idle:
		for {
			select {
			case <-r.Context().Done():
				return
			case <-p.done:
				return
			case <-ping.C():
				ping.Reset(heartbeat)
				// Keeps proxies from closing an idle stream.
				if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
					return
				}
				flusher.Flush()
			case <-wake:
				wake, gen = p.updates.wait()
				break idle
			}
		}
	}
}

// sendChanged writes one update with the parts that changed since the
// client's last one, straight from the shared rendering.
func (p *Page) sendChanged(w io.Writer, gen uint64, page int, sent map[string]uint64) error {
	frags, err := p.fragments(gen, page)
	if err != nil {
		p.o.Logger.Error("Cannot render live update", "err", err)
		return nil
	}
	first := true
	for _, name := range fragmentNames {
		f := frags[name]
		if sent[name] == f.id {
			continue
		}
		sent[name] = f.id
		sep := ","
		if first {
			sep, first = "event: update\ndata: {", false
		}
		if _, err := io.WriteString(w, sep); err != nil {
			return err
		}
		if _, err := w.Write(fragmentKeys[name]); err != nil {
			return err
		}
		if _, err := w.Write(f.json); err != nil {
			return err
		}
	}
	if !first {
		_, err = io.WriteString(w, "}\n\n")
	}
	return err
}
