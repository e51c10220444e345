package cluster

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"

	page "github.com/vigie-monitoring/vigie/alertrouter/view"
)

// The view served from the owners. Each member keeps the state of the
// checks it probes only; what it shows of the others (the page's counts
// and problems, /api/v1/summary, Telegram /status) comes from their
// summaries: every member writes its own under summaries/<name> when its
// counts or problems change (held summaryWriteGap, so that a burst of
// changes is one write), locked with its session, and follows the
// others' with a blocking query. A summary whose session ended (its
// member died) is not shown; a member that does not answer the page
// (partition) is shown as its last summary says.
//
// Bounds: a summary holds at most view.MaxProblems problems and
// maxSummaryBytes of JSON (the problems past that are counted as
// omitted); a member decodes at most maxSummaries summaries, and none
// larger than maxSummaryBytes.

const (
	summaryWriteGap = 250 * time.Millisecond
	// maxSummaryBytes is under Consul's 512 KiB limit of a value.
	maxSummaryBytes = 256 << 10
	// maxSummaries bounds the summaries a member keeps (its cluster's
	// live members).
	maxSummaries = 64
	// summaryWatchWait: a change answers at once.
	summaryWatchWait = 5 * time.Minute
)

// summaries are this member's latest summary and the others'.
type summaries struct {
	mu sync.Mutex
	// own is the latest summary of this member; written what was last
	// written of it.
	own            *page.Summary
	written        []byte
	writtenSession string
	wake           chan struct{}
	// peers are the other members' summaries, by name, held by a live
	// session.
	peers map[string]*page.Summary
	// failing is since when Consul does not answer their reads (zero:
	// it does).
	failing  time.Time
	onChange func()
}

func newSummaries() *summaries {
	return &summaries{wake: make(chan struct{}, 1), peers: map[string]*page.Summary{}}
}

// Publish makes sum this member's summary (pipeline.Peers); it is
// written to Consul shortly after. It never blocks. The caller does not
// change sum afterwards.
func (s *Store) Publish(sum *page.Summary) {
	s.sums.mu.Lock()
	s.sums.own = sum
	s.sums.mu.Unlock()
	select {
	case s.sums.wake <- struct{}{}:
	default:
	}
}

// Summaries returns the latest summaries of the other live members, by
// name (pipeline.Peers).
func (s *Store) Summaries() []*page.Summary {
	members := s.c.Members()
	s.sums.mu.Lock()
	defer s.sums.mu.Unlock()
	out := make([]*page.Summary, 0, len(members))
	for _, m := range members {
		if sum := s.sums.peers[m.Name]; sum != nil && m.Name != s.c.name {
			out = append(out, sum)
		}
	}
	return out
}

// SetSummariesChanged gives the store the function it calls when other
// members' summaries changed (pipeline.PeersChanged).
func (s *Store) SetSummariesChanged(f func()) {
	s.sums.mu.Lock()
	s.sums.onChange = f
	s.sums.mu.Unlock()
}

// ViewStale reports since when the other members' summaries may be out
// of date (zero: they are not): Consul did not answer their last read.
func (s *Store) ViewStale() time.Time {
	s.sums.mu.Lock()
	defer s.sums.mu.Unlock()
	return s.sums.failing
}

func (s *Store) summaryFolder() string { return s.c.prefix + "summaries/" }

// encodeSummary is sum's JSON, at most maxSummaryBytes: the problems
// that do not fit are counted as omitted.
func encodeSummary(sum *page.Summary) ([]byte, error) {
	c := *sum
	for {
		b, err := json.Marshal(&c)
		if err != nil || len(b) <= maxSummaryBytes || len(c.Problems) == 0 {
			return b, err
		}
		keep := len(c.Problems) / 2
		c.ProblemsOmitted += len(c.Problems) - keep
		c.Problems = c.Problems[:keep]
	}
}

// writeSummary writes this member's summary when it changes, until ctx
// ends.
func (s *Store) writeSummary(ctx context.Context) {
	sums := s.sums
	for {
		select {
		case <-ctx.Done():
			return
		case <-sums.wake:
		}
		if !sleepCtx(ctx, summaryWriteGap) {
			return
		}
		for !s.writeSummaryOnce(ctx) {
			// Consul does not answer, or this member has no session yet
			// (or its old session's lock delay runs): try again.
			if !sleepCtx(ctx, 2*time.Second) {
				return
			}
		}
	}
}

// writeSummaryOnce writes the latest summary if it is not written yet;
// false when it must be tried again.
func (s *Store) writeSummaryOnce(ctx context.Context) bool {
	sums := s.sums
	sums.mu.Lock()
	own, written, writtenSession := sums.own, sums.written, sums.writtenSession
	sums.mu.Unlock()
	if own == nil {
		return true
	}
	value, err := encodeSummary(own)
	if err != nil {
		s.logger.Error("Cannot encode this member's summary", "err", err)
		return true
	}
	session := s.c.Session()
	if slices.Equal(value, written) && session == writtenSession {
		return true
	}
	if !s.c.consulUp.Load() || session == "" {
		return false
	}
	wctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	ok, _, err := s.c.client.KV().Acquire(&api.KVPair{Key: s.summaryFolder() + s.c.name, Value: value, Session: session},
		(&api.WriteOptions{}).WithContext(wctx))
	if err != nil || !ok {
		s.logger.Debug("Cannot write this member's summary to Consul; trying again", "err", err, "locked", !ok)
		return false
	}
	sums.mu.Lock()
	sums.written, sums.writtenSession = value, session
	sums.mu.Unlock()
	return true
}

// watchSummaries follows the members' summaries until ctx ends.
func (s *Store) watchSummaries(ctx context.Context) {
	sums := s.sums
	folder := s.summaryFolder()
	s.watchKV(ctx, folder, summaryWatchWait, func() {
		sums.mu.Lock()
		if sums.failing.IsZero() {
			sums.failing = time.Now()
		}
		sums.mu.Unlock()
	}, func(pairs api.KVPairs) time.Duration {
		peers := map[string]*page.Summary{}
		mine := false
		for _, p := range pairs {
			name, ok := strings.CutPrefix(p.Key, folder)
			switch {
			case !ok || name == "" || strings.Contains(name, "/"):
				continue
			case name == s.c.name:
				mine = p.Session != ""
				continue
			case p.Session == "":
				continue // its member's session ended
			case len(p.Value) > maxSummaryBytes || len(peers) >= maxSummaries:
				s.logger.Warn("Ignoring a member's summary: too large, or too many members", "key", p.Key, "bytes", len(p.Value))
				continue
			}
			var sum page.Summary
			if err := json.Unmarshal(p.Value, &sum); err != nil {
				s.logger.Warn("Ignoring an unreadable member's summary", "key", p.Key, "err", err)
				continue
			}
			if extra := len(sum.Problems) - page.MaxProblems; extra > 0 {
				sum.Problems, sum.ProblemsOmitted = sum.Problems[:page.MaxProblems], sum.ProblemsOmitted+extra
			}
			sum.Member = name
			peers[name] = &sum
		}
		sums.mu.Lock()
		sums.peers, sums.failing = peers, time.Time{}
		f := sums.onChange
		if !mine {
			// Released (a new session, Consul restarted): write it again.
			sums.written = nil
		}
		sums.mu.Unlock()
		if !mine {
			select {
			case sums.wake <- struct{}{}:
			default:
			}
		}
		if f != nil {
			f()
		}
		return 0
	})
}
