// Package silence owns silences: label matchers, a time range, an author
// and a comment that keep matching checks and alerts from notifying while
// they keep being evaluated. Silences behave like Alertmanager's (the same
// validation, update and expiry rules, so that amtool works unchanged),
// are kept in the router's store, and are forgotten a while after they
// end. Silences implements mute.Muter.
package silence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/vigie-monitoring/vigie/alertrouter/internal/clock"
	"github.com/vigie-monitoring/vigie/alertrouter/mute"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
	"github.com/vigie-monitoring/vigie/config"
)

// State is where a silence is in its life, derived from its times.
type State string

// The states of a silence, as in Alertmanager.
const (
	Pending State = "pending"
	Active  State = "active"
	Expired State = "expired"
)

// DefaultRetention is how long an expired silence is kept (and listed)
// before it is forgotten: Alertmanager's default (--data.retention).
const DefaultRetention = 120 * time.Hour

// gcInterval is how often expired silences are looked for.
const gcInterval = 15 * time.Minute

// Matcher is one label matcher of a silence, as in Alertmanager's API:
// IsEqual false negates it (!= or !~).
type Matcher struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	IsRegex bool   `json:"isRegex"`
	IsEqual bool   `json:"isEqual"`
}

// String renders the matcher in Prometheus syntax: name="value".
func (m Matcher) String() string {
	return m.compile().String()
}

func (m Matcher) matchType() config.MatchType {
	switch {
	case m.IsRegex && m.IsEqual:
		return config.MatchRegexp
	case m.IsRegex:
		return config.MatchNotRegexp
	case m.IsEqual:
		return config.MatchEqual
	}
	return config.MatchNotEqual
}

// compile is for matchers that were validated; it cannot fail then.
func (m Matcher) compile() *config.Matcher {
	cm, err := config.NewMatcher(m.matchType(), m.Name, m.Value)
	if err != nil {
		return &config.Matcher{Type: m.matchType(), Name: m.Name, Value: m.Value}
	}
	return cm
}

// FromConfig converts a parsed Prometheus matcher.
func FromConfig(m *config.Matcher) Matcher {
	return Matcher{
		Name: m.Name, Value: m.Value,
		IsRegex: m.Type == config.MatchRegexp || m.Type == config.MatchNotRegexp,
		IsEqual: m.Type == config.MatchEqual || m.Type == config.MatchRegexp,
	}
}

// ParseMatchers parses matchers in Prometheus syntax (`alertname="X"`,
// `instance=~".*shop.*"`, several separated by commas), as amtool accepts
// them.
func ParseMatchers(args ...string) ([]Matcher, error) {
	var out []Matcher
	for _, a := range args {
		ms, err := config.ParseMatchers(a)
		if err != nil {
			return nil, fmt.Errorf("bad matcher %q: %w", a, err)
		}
		for _, m := range ms {
			out = append(out, FromConfig(m))
		}
	}
	return out, nil
}

// Silence is one silence.
type Silence struct {
	ID        string    `json:"id"`
	Matchers  []Matcher `json:"matchers"`
	StartsAt  time.Time `json:"startsAt"`
	EndsAt    time.Time `json:"endsAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	CreatedBy string    `json:"createdBy"`
	Comment   string    `json:"comment"`
}

// State says whether the silence mutes at time now.
func (s *Silence) State(now time.Time) State {
	switch {
	case now.Before(s.StartsAt):
		return Pending
	case now.After(s.EndsAt):
		return Expired
	}
	return Active
}

// MatchersString renders the matchers as a selector: {a="b", c=~"d"}.
func (s *Silence) MatchersString() string {
	parts := make([]string, len(s.Matchers))
	for i, m := range s.Matchers {
		parts[i] = m.String()
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// ErrNotFound is returned for an unknown silence id.
var ErrNotFound = errors.New("silence not found")

// ValidationError is a silence refused for what it says (HTTP 400).
type ValidationError struct{ Msg string }

func (e *ValidationError) Error() string { return e.Msg }

func invalid(format string, args ...any) error {
	return &ValidationError{Msg: fmt.Sprintf(format, args...)}
}

// The limits, by flag name: the label of vigie_router_limit_refused_total
// and what refusals name.
const (
	LimitSilences    = "silences.max-silences"
	LimitSilenceSize = "silences.max-silence-size-bytes"
	LimitComment     = "silences.max-comment-bytes"
)

// Limits bound what clients can make the router keep. Zero (or less)
// means no limit.
type Limits struct {
	// MaxSilences bounds the silences kept, expired ones included (as
	// Alertmanager's --silences.max-silences). At the limit, the oldest
	// expired silences are forgotten early to make room; only when every
	// silence is active or pending is a new one refused.
	MaxSilences int
	// MaxSilenceSizeBytes bounds a silence's text: its matchers' names and
	// values, author and comment.
	MaxSilenceSizeBytes int
	// MaxCommentBytes bounds its comment.
	MaxCommentBytes int
}

// LimitError is a silence refused by a limit (HTTP 400, as Alertmanager).
type LimitError struct {
	// Limit is one of LimitSilences, LimitSilenceSize, LimitComment.
	Limit string
	Msg   string
}

func (e *LimitError) Error() string { return e.Msg }

// Size is what Limits.MaxSilenceSizeBytes measures.
func (s *Silence) Size() int {
	n := len(s.CreatedBy) + len(s.Comment)
	for _, m := range s.Matchers {
		n += len(m.Name) + len(m.Value)
	}
	return n
}

// checkSize applies the size limits.
func (l Limits) checkSize(s *Silence) error {
	if l.MaxCommentBytes > 0 && len(s.Comment) > l.MaxCommentBytes {
		return &LimitError{Limit: LimitComment, Msg: fmt.Sprintf("comment is %d bytes, over --%s=%d", len(s.Comment), LimitComment, l.MaxCommentBytes)}
	}
	if n := s.Size(); l.MaxSilenceSizeBytes > 0 && n > l.MaxSilenceSizeBytes {
		return &LimitError{Limit: LimitSilenceSize, Msg: fmt.Sprintf("silence is %d bytes (matchers, author and comment), over --%s=%d", n, LimitSilenceSize, l.MaxSilenceSizeBytes)}
	}
	return nil
}

// Store is where silences are kept (package store).
type Store interface {
	SaveSilence(*store.SilenceRecord) error
	LoadSilences() ([]*store.SilenceRecord, error)
	DeleteSilences(ids []string) error
}

// Options configure Silences.
type Options struct {
	Store Store
	// Retention is how long an expired silence is kept; default
	// DefaultRetention.
	Retention time.Duration
	Limits    Limits
	Logger    *slog.Logger
	// Clock defaults to the system clock.
	Clock clock.Clock
}

// Silences is the set of silences. It is safe for concurrent use.
type Silences struct {
	store     Store
	retention time.Duration
	limits    Limits
	logger    *slog.Logger
	clock     clock.Clock

	mu   sync.RWMutex
	byID map[string]*entry

	subMu sync.Mutex
	subs  map[chan struct{}]struct{}
	wake  chan struct{} // re-arms Run's timer
}

var _ mute.Muter = (*Silences)(nil)

// entry is a silence with its compiled matchers.
type entry struct {
	Silence
	matchers config.Matchers
}

func newEntry(s Silence) *entry {
	e := &entry{Silence: s}
	for _, m := range s.Matchers {
		e.matchers = append(e.matchers, m.compile())
	}
	return e
}

// New loads the saved silences.
func New(o Options) (*Silences, error) {
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	s := &Silences{store: o.Store, retention: o.Retention, limits: o.Limits, logger: o.Logger, clock: o.Clock,
		byID: map[string]*entry{}, subs: map[chan struct{}]struct{}{}, wake: make(chan struct{}, 1)}
	recs, err := o.Store.LoadSilences()
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		sil := fromRecord(r)
		if err := validate(&sil); err != nil {
			// Written by a newer or broken version: keeping it would mute
			// unpredictably.
			s.logger.Error("Ignoring an invalid saved silence", "id", r.ID, "err", err)
			continue
		}
		s.byID[r.ID] = newEntry(sil)
	}
	return s, nil
}

// Set creates a silence (ID empty) or updates one, with Alertmanager's
// rules: a silence keeps its id when only its comment, author, end (or,
// while pending, start) change; otherwise the old one is expired and a
// new one created. It returns the id of the silence that is in force.
func (s *Silences) Set(sil Silence) (string, error) {
	now := s.clock.Now().UTC()
	sil.Matchers = slices.Clone(sil.Matchers)
	if sil.StartsAt.IsZero() {
		sil.StartsAt = now
	}
	// Sizes first: validation compiles the matchers' regexps.
	if err := s.limits.checkSize(&sil); err != nil {
		return "", err
	}
	if err := validate(&sil); err != nil {
		return "", err
	}
	if !sil.StartsAt.Before(sil.EndsAt) {
		return "", invalid("start time must be before end time")
	}
	if sil.EndsAt.Before(now) {
		return "", invalid("end time can't be in the past")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if sil.ID != "" {
		prev, ok := s.byID[sil.ID]
		if !ok {
			return "", fmt.Errorf("%w: %s", ErrNotFound, sil.ID)
		}
		if canUpdate(&prev.Silence, &sil, now) {
			sil.UpdatedAt = now
			if err := s.saveLocked(sil); err != nil {
				return "", err
			}
			return sil.ID, nil
		}
	}
	// A new silence (or one replacing another, which stays as expired).
	if err := s.makeRoomLocked(now); err != nil {
		return "", err
	}
	if sil.ID != "" {
		if prev, ok := s.byID[sil.ID]; ok && prev.State(now) != Expired {
			if err := s.expireLocked(prev, now); err != nil {
				return "", err
			}
		}
	}
	sil.ID = uuid.NewString()
	if sil.StartsAt.Before(now) {
		sil.StartsAt = now
	}
	sil.UpdatedAt = now
	if err := s.saveLocked(sil); err != nil {
		return "", err
	}
	return sil.ID, nil
}

// makeRoomLocked makes room for one more silence under
// Limits.MaxSilences by forgetting, early, the expired silences that ended
// first; when that is not enough, it refuses and forgets nothing.
func (s *Silences) makeRoomLocked(now time.Time) error {
	limit := s.limits.MaxSilences
	if limit <= 0 || len(s.byID) < limit {
		return nil
	}
	var expired []*entry
	for _, e := range s.byID {
		if e.State(now) == Expired {
			expired = append(expired, e)
		}
	}
	excess := len(s.byID) - limit + 1
	if len(expired) < excess {
		return &LimitError{Limit: LimitSilences, Msg: fmt.Sprintf("exceeded maximum number of silences: %d active or pending (limit: --%s=%d); expire some first",
			len(s.byID)-len(expired), LimitSilences, limit)}
	}
	sort.Slice(expired, func(i, j int) bool {
		if !expired[i].EndsAt.Equal(expired[j].EndsAt) {
			return expired[i].EndsAt.Before(expired[j].EndsAt)
		}
		return expired[i].ID < expired[j].ID
	})
	ids := make([]string, excess)
	for i := range ids {
		ids[i] = expired[i].ID
	}
	if err := s.store.DeleteSilences(ids); err != nil {
		return err
	}
	for _, id := range ids {
		delete(s.byID, id)
	}
	s.logger.Info("Forgot expired silences early to stay within the limit", "count", len(ids), "limit", limit)
	s.changed()
	return nil
}

// canUpdate says whether b may replace a in place (Alertmanager's rule):
// same matchers, and no change that rewrites the past.
func canUpdate(a, b *Silence, now time.Time) bool {
	if !slices.Equal(a.Matchers, b.Matchers) {
		return false
	}
	switch a.State(now) {
	case Active:
		return b.StartsAt.Equal(a.StartsAt) && !b.EndsAt.Before(now)
	case Pending:
		return !b.StartsAt.Before(now)
	}
	return false
}

// Expire ends a silence now (a pending one never starts).
func (s *Silences) Expire(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.byID[id]
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	now := s.clock.Now().UTC()
	if e.State(now) == Expired {
		return fmt.Errorf("silence %s already expired", id)
	}
	return s.expireLocked(e, now)
}

func (s *Silences) expireLocked(e *entry, now time.Time) error {
	sil := e.Silence
	if sil.State(now) == Pending {
		sil.StartsAt = now
	}
	sil.EndsAt, sil.UpdatedAt = now, now
	return s.saveLocked(sil)
}

// saveLocked writes a silence to the store, then to memory.
func (s *Silences) saveLocked(sil Silence) error {
	if err := s.store.SaveSilence(toRecord(&sil)); err != nil {
		return err
	}
	s.byID[sil.ID] = newEntry(sil)
	s.changed()
	return nil
}

// Get returns one silence.
func (s *Silences) Get(id string) (Silence, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.byID[id]
	if !ok {
		return Silence{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return cloneSilence(e.Silence), nil
}

// List returns the silences in Alertmanager's order: active ones ending
// soonest first, then pending ones starting soonest, then expired ones,
// most recently ended first.
func (s *Silences) List() []Silence {
	now := s.clock.Now()
	s.mu.RLock()
	out := make([]Silence, 0, len(s.byID))
	for _, e := range s.byID {
		out = append(out, cloneSilence(e.Silence))
	}
	s.mu.RUnlock()
	rank := map[State]int{Active: 0, Pending: 1, Expired: 2}
	sort.Slice(out, func(i, j int) bool {
		a, b := &out[i], &out[j]
		sa, sb := a.State(now), b.State(now)
		if sa != sb {
			return rank[sa] < rank[sb]
		}
		var ta, tb time.Time
		switch sa {
		case Active:
			ta, tb = a.EndsAt, b.EndsAt
		case Pending:
			ta, tb = a.StartsAt, b.StartsAt
		default:
			ta, tb = b.EndsAt, a.EndsAt // most recent first
		}
		if !ta.Equal(tb) {
			return ta.Before(tb)
		}
		return a.ID < b.ID
	})
	return out
}

// Muted returns the ids of the active silences whose matchers all accept
// labels (a missing label is the empty string), sorted.
func (s *Silences) Muted(labels map[string]string, now time.Time) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var by []string
	for id, e := range s.byID {
		if e.State(now) == Active && e.matchers.Matches(labels) {
			by = append(by, id)
		}
	}
	sort.Strings(by)
	return by
}

// GC forgets the silences that ended more than the retention ago and
// returns how many.
func (s *Silences) GC() (int, error) {
	cutoff := s.clock.Now().Add(-s.retention)
	s.mu.Lock()
	defer s.mu.Unlock()
	var old []string
	for id, e := range s.byID {
		if e.EndsAt.Before(cutoff) {
			old = append(old, id)
		}
	}
	if len(old) == 0 {
		return 0, nil
	}
	if err := s.store.DeleteSilences(old); err != nil {
		return 0, err
	}
	for _, id := range old {
		delete(s.byID, id)
	}
	s.changed()
	return len(old), nil
}

// Run forgets old silences now and every 15 minutes until ctx ends, and
// tells subscribers (Changes) when a silence starts or ends by itself, so
// that what shows states stays right.
func (s *Silences) Run(ctx context.Context) error {
	s.gc()
	nextGC := s.clock.Now().Add(gcInterval)
	timer := s.clock.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		// Re-armed after every change: a new silence may start or end
		// before the transition the timer waits for.
		now := s.clock.Now()
		transition, ok := s.nextTransition()
		wait := nextGC.Sub(now)
		if ok {
			wait = min(wait, max(transition.Sub(now), 0)+time.Millisecond)
		}
		timer.Reset(max(wait, 0))
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C():
			now := s.clock.Now()
			if !now.Before(nextGC) {
				s.gc()
				nextGC = now.Add(gcInterval)
			}
			if ok && !now.Before(transition) {
				s.changed()
			}
		case <-s.wake:
		}
	}
}

func (s *Silences) gc() {
	if n, err := s.GC(); err != nil {
		s.logger.Error("Cannot forget expired silences", "err", err)
	} else if n > 0 {
		s.logger.Debug("Forgot expired silences", "count", n)
	}
}

// nextTransition returns the next start or end of a silence.
func (s *Silences) nextTransition() (time.Time, bool) {
	now := s.clock.Now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	var next time.Time
	for _, e := range s.byID {
		for _, t := range []time.Time{e.StartsAt, e.EndsAt} {
			if t.After(now) && (next.IsZero() || t.Before(next)) {
				next = t
			}
		}
	}
	return next, !next.IsZero()
}

// Changes returns a channel that receives (without blocking anyone) after
// silences change, and a function to stop receiving.
func (s *Silences) Changes() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	s.subMu.Lock()
	s.subs[ch] = struct{}{}
	s.subMu.Unlock()
	return ch, func() {
		s.subMu.Lock()
		delete(s.subs, ch)
		s.subMu.Unlock()
	}
}

func (s *Silences) changed() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
	s.subMu.Lock()
	defer s.subMu.Unlock()
	for ch := range s.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// validate applies Alertmanager's rules to a silence's content.
func validate(s *Silence) error {
	if len(s.Matchers) == 0 {
		return invalid("at least one matcher required")
	}
	allMatchEmpty := true
	for i, m := range s.Matchers {
		t := m.matchType()
		cm, err := config.NewMatcher(t, m.Name, m.Value)
		if err != nil {
			return invalid("invalid label matcher %d: %s", i, err)
		}
		if !utf8.ValidString(m.Value) {
			return invalid("invalid label matcher %d: invalid label value %q", i, m.Value)
		}
		// As in Alertmanager, a silence must not be able to match every
		// alert by accident: one of its matchers must need a label value.
		// Negative matchers (!=, !~) count as such.
		emptyMatches := (t == config.MatchEqual || t == config.MatchRegexp) && cm.Matches("")
		allMatchEmpty = allMatchEmpty && emptyMatches
	}
	if allMatchEmpty {
		return invalid("at least one matcher must not match the empty string (it would silence everything)")
	}
	if s.EndsAt.IsZero() {
		return invalid("end time missing")
	}
	if s.EndsAt.Before(s.StartsAt) {
		return invalid("end time must not be before start time")
	}
	return nil
}

func cloneSilence(s Silence) Silence {
	s.Matchers = slices.Clone(s.Matchers)
	return s
}

func toRecord(s *Silence) *store.SilenceRecord {
	r := &store.SilenceRecord{ID: s.ID, StartsAt: s.StartsAt, EndsAt: s.EndsAt, UpdatedAt: s.UpdatedAt,
		CreatedBy: s.CreatedBy, Comment: s.Comment}
	for _, m := range s.Matchers {
		r.Matchers = append(r.Matchers, store.SilenceMatcher(m))
	}
	return r
}

func fromRecord(r *store.SilenceRecord) Silence {
	s := Silence{ID: r.ID, StartsAt: r.StartsAt, EndsAt: r.EndsAt, UpdatedAt: r.UpdatedAt,
		CreatedBy: r.CreatedBy, Comment: r.Comment}
	for _, m := range r.Matchers {
		s.Matchers = append(s.Matchers, Matcher(m))
	}
	return s
}
