package history

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// In a router cluster each member keeps the history of the checks it
// probes only. The lists of checks (/api/v1/checks, the page of checks)
// are the cluster's: Gather merges this member's list with the other
// members', asked through their advertise URL with scope=member (their
// own checks only), in the order List gives (down, unknown, up; then by
// id).
//
// Bounds: a member is asked for pages of at most MaxLimit checks, an
// answer is read up to maxGatherBytes, and pages are asked only until
// offset+limit checks of the merged list are known, so what one request
// holds is at most a page per member. A member that does not answer in
// gatherTimeout is left out; the answer names it (Unanswered).

// ScopeMember is the value of the scope parameter with which members ask
// each other for their own checks.
const ScopeMember = "member"

const (
	gatherTimeout  = 5 * time.Second
	maxGatherBytes = 4 << 20
)

// Peer is another member of a router cluster.
type Peer struct {
	Name, URL string
}

// Gather lists the checks of a router cluster.
type Gather struct {
	Local *History
	// Peers returns the other live members.
	Peers  func() []Peer
	Client *http.Client
}

// Gathered is one merged page.
type Gathered struct {
	Checks []Check
	// Total is the members' totals added up.
	Total int
	// Unanswered are the members whose checks are not in the list (they
	// did not answer).
	Unanswered []string
	// Reasons say why each of Unanswered did not answer (by name).
	Reasons map[string]string
}

// source is one member's list, read a page at a time.
type source struct {
	page   []Check
	next   int // offset of the next page
	total  int
	done   bool
	err    error
	remote func(offset int) ([]Check, int, error)
}

func (s *source) head() (*Check, bool) {
	for len(s.page) == 0 && !s.done {
		page, total, err := s.remote(s.next)
		if err != nil {
			s.err, s.done = err, true
			return nil, false
		}
		s.total = total
		s.next += len(page)
		s.page = page
		s.done = len(page) == 0 || s.next >= total
	}
	if len(s.page) == 0 {
		return nil, false
	}
	return &s.page[0], true
}

// List is the cluster's page of checks matching f.
func (g *Gather) List(ctx context.Context, f Filter, offset, limit int) Gathered {
	peers := g.Peers()
	srcs := make([]*source, 0, len(peers)+1)
	srcs = append(srcs, &source{remote: func(off int) ([]Check, int, error) {
		list, total := g.Local.List(f, off, MaxLimit)
		return list, total, nil
	}})
	for _, p := range peers {
		srcs = append(srcs, &source{remote: func(off int) ([]Check, int, error) { return g.ask(ctx, p, f, off) }})
	}
	// First pages at once: the members answer in parallel.
	var wg sync.WaitGroup
	for _, s := range srcs {
		wg.Add(1)
		go func() { defer wg.Done(); s.head() }()
	}
	wg.Wait()
	var out Gathered
	for i, s := range srcs {
		if s.err != nil {
			name := peers[i-1].Name
			out.Unanswered = append(out.Unanswered, name)
			if out.Reasons == nil {
				out.Reasons = map[string]string{}
			}
			out.Reasons[name] = s.err.Error()
			continue
		}
		out.Total += s.total
	}
	seen := map[string]bool{}
	for skipped := 0; len(out.Checks) < limit; {
		var best *source
		var bc *Check
		for _, s := range srcs {
			if c, ok := s.head(); ok && (bc == nil || compareChecks(c, bc) < 0) {
				best, bc = s, c
			}
		}
		if best == nil {
			break
		}
		best.page = best.page[1:]
		if seen[bc.ID] {
			// Listed by two members while it moves: once (the total,
			// the members' totals added up, counts it twice until the
			// old owner has let it go).
			continue
		}
		seen[bc.ID] = true
		if skipped < offset {
			skipped++
			continue
		}
		out.Checks = append(out.Checks, *bc)
	}
	return out
}

// compareChecks is List's order.
func compareChecks(a, b *Check) int {
	return cmp.Or(cmp.Compare(rankOf(a.State), rankOf(b.State)), strings.Compare(a.ID, b.ID))
}

func rankOf(state string) int {
	switch state {
	case "down":
		return 0
	case "unknown":
		return 1
	}
	return 2
}

// ask reads one page of a member's own checks.
func (g *Gather) ask(ctx context.Context, p Peer, f Filter, offset int) ([]Check, int, error) {
	q := url.Values{"scope": {ScopeMember}, "offset": {strconv.Itoa(offset)}, "limit": {strconv.Itoa(MaxLimit)}}
	for k, v := range map[string]string{"search": f.Search, "label": f.Label, "state": f.State} {
		if v != "" {
			q.Set(k, v)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, gatherTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(p.URL, "/")+"/api/v1/checks?"+q.Encode(), nil)
	if err != nil {
		return nil, 0, err
	}
	client := g.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("ask %s for its checks: %w", p.Name, err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		_ = resp.Body.Close()
	}()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized, http.StatusForbidden:
		// Its --web.config.file wants credentials this member does
		// not send.
		return nil, 0, fmt.Errorf("ask %s for its checks: HTTP %s: it requires credentials, set cluster.http_config", p.Name, resp.Status)
	default:
		return nil, 0, fmt.Errorf("ask %s for its checks: HTTP %d", p.Name, resp.StatusCode)
	}
	var list checksJSON
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxGatherBytes)).Decode(&list); err != nil {
		return nil, 0, fmt.Errorf("ask %s for its checks: %w", p.Name, err)
	}
	if len(list.Checks) > MaxLimit || list.Total < 0 {
		return nil, 0, fmt.Errorf("ask %s for its checks: %d checks in a page of at most %d", p.Name, len(list.Checks), MaxLimit)
	}
	out := make([]Check, 0, len(list.Checks))
	for i := range list.Checks {
		out = append(out, fromJSON(&list.Checks[i]))
	}
	// A page out of order would break the merge: sorted here.
	slices.SortStableFunc(out, func(a, b Check) int { return compareChecks(&a, &b) })
	return out, max(list.Total, offset+len(out)), nil
}

// fromJSON is toJSON's inverse.
func fromJSON(c *checkJSON) Check {
	out := Check{ID: c.ID, Target: c.Target, Module: c.Module, Labels: c.Labels, State: c.State}
	if c.LastProbe != nil {
		out.LastProbe = *c.LastProbe
	}
	for i, name := range windowNames {
		out.Rounds[i] = c.Rounds[name]
		out.Availability[i] = -1
		if a := c.Availability[name]; a != nil {
			out.Availability[i] = *a
		}
	}
	return out
}

// A check's history, the groups and the status page are the cluster's
// too: each member answers for the checks it probes (scope=member) and
// for the rows it kept of the checks it probed before (Forget), and the
// member asked adds the answers up. Sums are exact: one member probes a
// check at a time, and each round is recorded by the member that
// probed it. Answers are read up to maxGatherBytes, 5 s each, all
// members at once; a member that does not answer is named.

// getJSON asks p for path?q and decodes its answer into into; found is
// false when p answers 404 (it does not know what was asked).
func (g *Gather) getJSON(ctx context.Context, p Peer, path string, q url.Values, into any) (found bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, gatherTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(p.URL, "/")+path+"?"+q.Encode(), nil)
	if err != nil {
		return false, err
	}
	client := g.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, fmt.Errorf("ask %s: %w", p.Name, err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		_ = resp.Body.Close()
	}()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return false, nil
	default:
		return false, fmt.Errorf("ask %s: HTTP %d", p.Name, resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxGatherBytes)).Decode(into); err != nil {
		return false, fmt.Errorf("ask %s: %w", p.Name, err)
	}
	return true, nil
}

// eachPeer calls ask for every other member at once, and returns the
// names of those for which it failed.
func (g *Gather) eachPeer(ask func(i int, p Peer) error) []string {
	peers := g.Peers()
	errs := make([]error, len(peers))
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = ask(i, p) }()
	}
	wg.Wait()
	var out []string
	for i, err := range errs {
		if err != nil {
			out = append(out, peers[i].Name)
		}
	}
	return out
}

// Detail is a check's history in the cluster: this member's and every
// other member's (the member that probes it, and those that probed it
// before), merged.
func (g *Gather) Detail(ctx context.Context, id string, now time.Time) (*Detail, error) {
	d, err := g.Local.Detail(id, now)
	if err != nil && !errors.Is(err, ErrUnknownCheck) {
		return nil, err
	}
	var mu sync.Mutex
	unanswered := g.eachPeer(func(_ int, p Peer) error {
		var j historyJSON
		found, err := g.getJSON(ctx, p, "/api/v1/checks/"+url.PathEscape(id)+"/history", url.Values{"scope": {ScopeMember}}, &j)
		if err != nil || !found {
			return err
		}
		if j.Check.ID != id || len(j.Incidents) > MaxIncidents || len(j.Buckets) > len(resolutions) {
			return fmt.Errorf("ask %s: not a history of %q", p.Name, id)
		}
		for r := range resolutions {
			if len(j.Buckets[Resolution(r).String()]) > resolutions[r].n {
				return fmt.Errorf("ask %s: too many buckets", p.Name)
			}
		}
		od := fromDetailJSON(&j)
		mu.Lock()
		defer mu.Unlock()
		if d == nil {
			d = od
		} else {
			mergeDetail(d, od)
		}
		return nil
	})
	if d == nil {
		return nil, ErrUnknownCheck
	}
	d.Unanswered = unanswered
	return d, nil
}

// Groups are the cluster's groups: the members' groups of the same
// value added up (the first MaxGroups values, and how many are left out
// at least), and the members that did not answer.
func (g *Gather) Groups(ctx context.Context, label string, f Filter) ([]Group, int, []string) {
	q := url.Values{"scope": {ScopeMember}, "by": {label}}
	for k, v := range map[string]string{"search": f.Search, "label": f.Label, "state": f.State} {
		if v != "" {
			q.Set(k, v)
		}
	}
	local, omitted := mergeGroups([][]Group{g.Local.Groups(label, f)}, 0)
	lists := [][]Group{local}
	var mu sync.Mutex
	unanswered := g.eachPeer(func(_ int, p Peer) error {
		var j groupsJSON
		if _, err := g.getJSON(ctx, p, "/api/v1/groups", q, &j); err != nil {
			return err
		}
		if len(j.Groups) > MaxGroups {
			return fmt.Errorf("ask %s: %d groups, at most %d", p.Name, len(j.Groups), MaxGroups)
		}
		l := make([]Group, len(j.Groups))
		for i := range j.Groups {
			l[i] = fromGroupJSON(label, &j.Groups[i])
		}
		mu.Lock()
		defer mu.Unlock()
		lists = append(lists, l)
		omitted = max(omitted, j.Omitted)
		return nil
	})
	groups, omitted := mergeGroups(lists, omitted)
	return groups, omitted, unanswered
}

// GroupsStatus is the cluster's status of the groups values of label
// (at most MaxStatusValues) over the last days days.
func (g *Gather) GroupsStatus(ctx context.Context, label string, values []string, days int, now time.Time) (Status, error) {
	values = values[:min(len(values), MaxStatusValues)]
	st, err := g.Local.GroupsStatus(label, values, days, now)
	if err != nil {
		return st, err
	}
	q := url.Values{"scope": {ScopeMember}, "by": {label}, "value": values, "days": {strconv.Itoa(days)}}
	var mu sync.Mutex
	st.Unanswered = g.eachPeer(func(_ int, p Peer) error {
		var j statusJSON
		if _, err := g.getJSON(ctx, p, "/api/v1/groups/status", q, &j); err != nil {
			return err
		}
		if len(j.Groups) > MaxStatusValues {
			return fmt.Errorf("ask %s: %d groups, at most %d", p.Name, len(j.Groups), MaxStatusValues)
		}
		for i := range j.Groups {
			if len(j.Groups[i].Days) > MaxStatusDays || len(j.Groups[i].DownChecks) > MaxStatusDown {
				return fmt.Errorf("ask %s: a group's status beyond its bounds", p.Name)
			}
		}
		o := fromStatusJSON(&j)
		mu.Lock()
		defer mu.Unlock()
		mergeStatus(&st, &o)
		return nil
	})
	return st, nil
}
