// Package silence owns silences: label matchers, a time range, an author
// and a comment that keep matching checks and alerts from notifying while
// they keep being evaluated. Silences behave like Alertmanager's (the same
// validation, update and expiry rules, so that amtool works unchanged),
// are kept in the router's store, and are forgotten a while after they
// end. Silences implements mute.Muter.
package silence

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/internal/clock"
	"github.com/vigie-monitoring/vigie/alertrouter/mute"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
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

// Options configure Silences.
type Options struct {
	// Store keeps the silences across restarts.
	Store store.Silences
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
	store     store.Silences
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
