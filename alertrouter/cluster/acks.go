package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

// Acknowledgements in a cluster. The Telegram poller runs on the leader,
// which may not own the check whose button was pressed, and the check may
// move after the press: the incident is the cluster's (announced/), and an
// acknowledgement must hold back the reminders of whichever member owns
// the check. It is kept under acks/<fingerprint>, and claim drops the
// reminders of an acknowledged incident as already told.

// ackRecord is who acknowledged the incident of an alert that began at
// Incident.
type ackRecord struct {
	Incident time.Time `json:"incident"`
	By       string    `json:"by"`
	At       time.Time `json:"at"`
}

func (s *Store) ackKey(fp string) string { return s.c.prefix + "acks/" + fp }

// Announced reports whether the cluster announced the incident of the
// alert fp that began at start, and has not announced its end.
func (s *Store) Announced(ctx context.Context, fp string, start time.Time) (bool, error) {
	_, ok, err := s.AnnouncedAlert(ctx, fp, start)
	return ok, err
}

// AnnouncedAlert is Announced with the alert announced (its labels name
// the check: a member that keeps nothing of a check another member
// probes acknowledges or silences it from them).
func (s *Store) AnnouncedAlert(ctx context.Context, fp string, start time.Time) (notify.Alert, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	pairs, _, err := s.c.client.KV().List(s.announcedFolder(fp), (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return notify.Alert{}, false, fmt.Errorf("consul: read announcements: %w", err)
	}
	for _, p := range pairs {
		var a announcement
		if json.Unmarshal(p.Value, &a) != nil || a.Class != "incident" || a.State != notify.StatusFiring || a.Told == nil {
			continue
		}
		for _, al := range a.Told.Alerts {
			if al.StartsAt.Equal(start) {
				return al, true, nil
			}
		}
	}
	return notify.Alert{}, false, nil
}

// Acknowledge records that by acknowledged, at at, the incident of the
// alert fp that began at start. The first acknowledgement of an incident
// stands: it returns who made it and when, and whether this call did.
func (s *Store) Acknowledge(ctx context.Context, fp string, start time.Time, by string, at time.Time) (firstBy string, firstAt time.Time, done bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	kv := s.c.client.KV()
	q := (&api.QueryOptions{}).WithContext(ctx)
	w := (&api.WriteOptions{}).WithContext(ctx)
	value, err := json.Marshal(ackRecord{Incident: start, By: by, At: at})
	if err != nil {
		return "", time.Time{}, false, err
	}
	for attempt := 0; attempt < 3; attempt++ {
		pair, _, err := kv.Get(s.ackKey(fp), q)
		if err != nil {
			return "", time.Time{}, false, fmt.Errorf("consul: read acknowledgement: %w", err)
		}
		var index uint64
		if pair != nil {
			var prev ackRecord
			if json.Unmarshal(pair.Value, &prev) == nil && prev.Incident.Equal(start) {
				return prev.By, prev.At, false, nil
			}
			index = pair.ModifyIndex // an older incident's: replaced
		}
		ok, _, err := kv.CAS(&api.KVPair{Key: s.ackKey(fp), Value: value, ModifyIndex: index}, w)
		if err != nil {
			return "", time.Time{}, false, fmt.Errorf("consul: save acknowledgement: %w", err)
		}
		if ok {
			return by, at, true, nil
		}
		// Another member wrote first: read what it wrote.
	}
	return "", time.Time{}, false, fmt.Errorf("consul: save acknowledgement: the key keeps changing")
}

// acked reports whether the incident of alert fp that began at start was
// acknowledged in the cluster.
func (s *Store) acked(kv *api.KV, q *api.QueryOptions, fp string, start time.Time) (bool, error) {
	pair, _, err := kv.Get(s.ackKey(fp), q)
	if err != nil || pair == nil {
		return false, err
	}
	var rec ackRecord
	if err := json.Unmarshal(pair.Value, &rec); err != nil {
		return false, nil // unreadable: not acknowledged
	}
	return rec.Incident.Equal(start), nil
}
