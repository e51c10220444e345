package silence

import (
	"context"
	"time"
)

// gcInterval is how often expired silences are looked for.
const gcInterval = 15 * time.Minute

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
