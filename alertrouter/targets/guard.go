package targets

import "time"

// heldRemoval is a removal proposed by the target list that waits for
// confirmation: the checks it would remove (by a hash of their ids), and
// how many lists in a row proposed exactly it.
type heldRemoval struct {
	key   uint64
	lists int
	since time.Time
	// gone is the removal, for a list that is the same again
	// (Source.Unchanged), and goneElsewhere its checks other members
	// probe (by idHash).
	gone          []string
	goneElsewhere []uint64
}

// holdRemovals is the removal guard: it reports whether the checks of gone
// (ids of checks and of states saved by the last run, absent from the
// latest list) must be kept for now. A list that removes more than
// exporter.sd_removal_guard.max_removed_ratio of the before checks, or
// every check announced DOWN, is more likely a source that failed (a
// broken target file, a Consul restored empty) than a decision: resolving
// those incidents as "removed from discovery" would tell the person on
// call that everything is fine, and announce them again as new incidents
// once the source is back. Such a removal is applied once `confirmations`
// lists in a row propose exactly it; meanwhile the checks are kept and
// probed, and a list that proposes something else starts over.
//
// In a router cluster, before and gone count the checks other members
// probe too (goneElsewhere): the guard judges the cluster's list, as a
// router alone would, whichever checks this member probes; announced
// and goneAnnounced are this member's (each member holds back the
// resolutions it would send).
func (s *Source) holdRemovals(gone []string, goneElsewhere []uint64, before, announced, goneAnnounced int, now time.Time) bool {
	g := s.guard
	n := len(gone) + len(goneElsewhere)
	large := float64(n) > g.MaxRemovedRatio*float64(before)
	allDown := announced > 0 && goneAnnounced == announced
	if n == 0 || (!large && !allDown) || g.Confirmations <= 1 {
		s.releaseHeld()
		return false
	}
	key := removalKey(gone, goneElsewhere)
	if s.held.lists == 0 || s.held.key != key {
		s.held = heldRemoval{key: key, since: now}
	}
	s.held.lists++
	if s.held.lists >= g.Confirmations {
		s.logger.Warn("Target list confirmed: removing the checks it no longer names",
			"removed", n, "of", before, "announced_down", goneAnnounced, "lists", s.held.lists, "held_since", s.held.since)
		s.releaseHeld()
		return false
	}
	why := "more than max_removed_ratio of the checks"
	if !large {
		why = "every check announced DOWN"
	}
	s.logger.Warn("Target list would remove "+why+"; keeping them until the next lists confirm",
		"removed", n, "of", before, "announced_down", goneAnnounced,
		"lists", s.held.lists, "confirmations", g.Confirmations, "held_since", s.held.since)
	s.metrics.RemovalsHeld.Set(float64(n))
	s.metrics.ListsHeld.Inc()
	return true
}

func (s *Source) releaseHeld() {
	s.held = heldRemoval{}
	s.metrics.RemovalsHeld.Set(0)
}

// removalKey identifies a set of checks: ids and hashes of ids (idHash),
// whoever probes them (a check that moves to another member between two
// lists is the same removal).
func removalKey(ids []string, hashes []uint64) uint64 {
	all := make([]uint64, 0, len(ids)+len(hashes))
	for _, id := range ids {
		all = append(all, idHash(id))
	}
	all = sortedSet(append(all, hashes...))
	h := uint64(14695981039346656037)
	for _, x := range all {
		for range 8 {
			h ^= x & 0xff
			h *= 1099511628211
			x >>= 8
		}
	}
	return h
}
