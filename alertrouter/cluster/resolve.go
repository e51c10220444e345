package cluster

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/vigie-monitoring/vigie/alertrouter/checkstate"
	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
	"github.com/vigie-monitoring/vigie/alertrouter/targets"
)

// A check announced DOWN by a member that then died may be UP by the time
// its new owner probes it: the new owner's own state goes from unknown to
// up, which announces nothing, and the recovery would never be told. The
// store watches the incidents the cluster announced (announced/), and its
// Probed (a pipeline.Observer) notices a check this member finds UP while
// the cluster still says it is DOWN: it announces the end, from the DOWN
// the cluster told, to every integration that was told.

// openIncidents is the set of alerts the cluster announced firing, by
// fingerprint, refreshed by watchAnnounced.
type openIncidents map[string]bool

// Probed is the pipeline.Observer: successes of checks that are UP here
// while the cluster announced them DOWN resolve the cluster's incident
// once they are as many as a recovery needs.
func (s *Store) Probed(t *targets.Target, res exporter.Result, ch checkstate.Change, now time.Time) {
	s.resMu.Lock()
	defer s.resMu.Unlock()
	// Only a check this member knew nothing of (its state started here,
	// UNKNOWN then UP): one whose record came with it (checks.go) knows
	// its incident and announces its end itself, and one that went UP
	// from DOWN or FLAPPING here did.
	switch {
	case res.Err != nil || !res.Success:
		delete(s.streak, t.ID)
		return
	case ch.Transition == checkstate.BecameUp:
	case ch.Transition == checkstate.NoChange && ch.Before.State == checkstate.Up && s.streak[t.ID] > 0:
	default:
		delete(s.streak, t.ID)
		return
	}
	if !s.open[t.Fingerprint()] {
		delete(s.streak, t.ID)
		return
	}
	s.streak[t.ID]++
	if s.streak[t.ID] < s.successes {
		return
	}
	delete(s.streak, t.ID)
	select {
	case s.resolve <- t.Fingerprint():
	default: // the resolver is busy; the next success asks again
	}
}

// watchAnnounced follows announced/ and keeps the open incidents.
func (s *Store) watchAnnounced(ctx context.Context) {
	s.watchKV(ctx, s.c.prefix+"announced/", 0, nil, func(pairs api.KVPairs) time.Duration {
		open := openIncidents{}
		for _, p := range pairs {
			var a announcement
			if json.Unmarshal(p.Value, &a) != nil || a.Class != "incident" || a.State != notify.StatusFiring || a.Told == nil {
				continue
			}
			fp, _, _ := strings.Cut(strings.TrimPrefix(p.Key, s.c.prefix+"announced/"), "/")
			open[fp] = true
		}
		s.resMu.Lock()
		s.open = open
		s.resMu.Unlock()
		return 0
	})
}

// resolver announces the end of the cluster's incidents Probed found
// resolved.
func (s *Store) resolver(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case fp := <-s.resolve:
			s.resolveIncident(ctx, fp)
		}
	}
}

func (s *Store) resolveIncident(ctx context.Context, fp string) {
	s.submitMu.Lock()
	submit := s.submit
	s.submitMu.Unlock()
	if submit == nil || !s.c.consulUp.Load() {
		return
	}
	qctx, cancel := context.WithTimeout(ctx, s.timeout)
	pairs, _, err := s.c.client.KV().List(s.announcedFolder(fp), (&api.QueryOptions{}).WithContext(qctx))
	cancel()
	if err != nil {
		return
	}
	now := time.Now()
	var ends []*store.OutboxEntry
	for _, p := range pairs {
		var a announcement
		if json.Unmarshal(p.Value, &a) != nil || a.Class != "incident" || a.State != notify.StatusFiring || a.Told == nil || len(a.Told.Alerts) == 0 {
			continue
		}
		n := *a.Told
		n.Alerts = append([]notify.Alert(nil), n.Alerts...)
		n.Kind, n.Status = notify.KindUp, notify.StatusResolved
		n.Alerts[0].EndsAt = now
		ann := map[string]string{}
		for k, v := range n.Alerts[0].Annotations {
			ann[k] = v
		}
		ann["summary"] = labelOr(n.Alerts[0].Labels, "instance", "the check") + " is UP again (found UP by " + s.c.name + " after it took the check over from " + a.Member + ")"
		delete(ann, "description")
		ann["resolution"] = "up"
		n.Alerts[0].Annotations = ann
		// The key the member that told the DOWN would have used for its
		// end, so that the two cannot both be sent.
		if i := strings.LastIndexByte(n.Key, '|'); i >= 0 {
			n.Key = n.Key[:i+1] + "up"
		} else {
			n.Key += "|up"
		}
		ends = append(ends, &store.OutboxEntry{Key: store.EntryKey(a.Integration, n.Key), Integration: a.Integration,
			Notification: &n, CreatedAt: now, NextAttempt: now})
	}
	if len(ends) == 0 {
		return
	}
	added, err := s.local.Commit(&store.Batch{Outbox: ends})
	if err != nil {
		s.logger.Error("Cannot save the recovery of an incident another member announced", "err", err)
		return
	}
	keep, dup := s.claimAll(added)
	s.finishDuplicates(dup)
	if len(keep) > 0 {
		s.logger.Info("Announcing the recovery of an incident another member announced before the check moved here", "count", len(keep))
		submit(keep)
	}
}

func labelOr(labels map[string]string, name, def string) string {
	if v := labels[name]; v != "" {
		return v
	}
	return def
}
