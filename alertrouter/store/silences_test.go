package store

import (
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"
)

func TestSilencesSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	// A store written before silences existed has no bucket: reading is
	// fine and empty.
	if got, err := s.LoadSilences(); err != nil || len(got) != 0 {
		t.Fatalf("LoadSilences on a fresh store = %v, %v", got, err)
	}
	if err := s.DeleteSilences([]string{"nothing"}); err != nil {
		t.Fatal(err)
	}
	a := &SilenceRecord{ID: "a", Matchers: []SilenceMatcher{{Name: "alertname", Value: "X", IsEqual: true}},
		StartsAt: t0, EndsAt: t0.Add(time.Hour), UpdatedAt: t0, CreatedBy: "ann", Comment: "deploy"}
	b := &SilenceRecord{ID: "b", Matchers: []SilenceMatcher{{Name: "instance", Value: ".*shop.*", IsRegex: true, IsEqual: true}},
		StartsAt: t0, EndsAt: t0.Add(2 * time.Hour), UpdatedAt: t0}
	for _, r := range []*SilenceRecord{a, b} {
		if err := s.SaveSilence(r); err != nil {
			t.Fatal(err)
		}
	}
	// Replacing keeps one record per id.
	a2 := *a
	a2.EndsAt = t0.Add(time.Minute)
	if err := s.SaveSilence(&a2); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = open(t, dir)
	defer s.Close()
	got, err := s.LoadSilences()
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(got, func(i, j int) bool { return got[i].ID < got[j].ID })
	if len(got) != 2 || !reflect.DeepEqual(got[0], &a2) || !reflect.DeepEqual(got[1], b) {
		t.Fatalf("after reopen: %+v", got)
	}
	if err := s.DeleteSilences([]string{"a", "missing"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.LoadSilences(); len(got) != 1 || got[0].ID != "b" {
		t.Errorf("after delete: %+v", got)
	}
}

func TestRecentNotifications(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	if got, err := s.RecentNotifications(5); err != nil || len(got) != 0 {
		t.Fatalf("empty store: %v, %v", got, err)
	}
	var entries []*OutboxEntry
	for i := range 8 {
		e := entry("ops/webhook/0", fmt.Sprintf("k%d", i))
		e.CreatedAt = t0.Add(time.Duration(i) * time.Second)
		entries = append(entries, e)
	}
	added, err := s.Commit(&Batch{Outbox: entries})
	if err != nil {
		t.Fatal(err)
	}
	outcomes := []string{OutcomeDelivered, OutcomeFailed, OutcomeDelivered, OutcomeExpired, OutcomeDelivered, OutcomeDelivered}
	for i, o := range outcomes {
		if err := s.Finish([]*OutboxEntry{added[i]}, Finished{Outcome: o, At: t0.Add(time.Minute + time.Duration(i)*time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	pending := added[7]
	pending.Attempts, pending.LastError = 2, "HTTP 503"
	if err := s.UpdateOutbox(pending); err != nil {
		t.Fatal(err)
	}

	got, err := s.RecentNotifications(5)
	if err != nil {
		t.Fatal(err)
	}
	var summary []string
	for _, r := range got {
		summary = append(summary, r.Integration+" "+r.Key+" "+r.Outcome)
	}
	want := []string{
		"ops/webhook/0 k6 pending", "ops/webhook/0 k7 pending", // oldest pending first
		"ops/webhook/0 k5 delivered", "ops/webhook/0 k4 delivered", "ops/webhook/0 k3 expired", // then newest finished
	}
	if !reflect.DeepEqual(summary, want) {
		t.Errorf("recent = %q\nwant %q", summary, want)
	}
	if got[1].Attempts != 2 || got[1].LastError != "HTTP 503" || got[1].Notification == nil {
		t.Errorf("pending record lost its delivery state: %+v", got[1])
	}
	if !got[2].At.Equal(t0.Add(time.Minute + 5*time.Second)) {
		t.Errorf("finished at %v", got[2].At)
	}
	if got, _ := s.RecentNotifications(1); len(got) != 1 || got[0].Key != "k6" {
		t.Errorf("limit 1: %+v", got)
	}
}

// BenchmarkRecentNotifications reads the 30 most recent of 20,000 logged
// notifications (a busy week), as the status page does at most once a
// second.
func BenchmarkRecentNotifications(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const n = 20000
	var entries []*OutboxEntry
	for i := range n {
		entries = append(entries, entry(fmt.Sprintf("ops/webhook/%d", i%3), fmt.Sprintf("check|http_2xx https://host-%d.example|1|down", i)))
	}
	added, err := s.Commit(&Batch{Outbox: entries})
	if err != nil {
		b.Fatal(err)
	}
	for i, e := range added {
		if err := s.Finish([]*OutboxEntry{e}, Finished{Outcome: OutcomeDelivered, At: t0.Add(time.Duration(i) * time.Second)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if got, err := s.RecentNotifications(30); err != nil || len(got) != 30 {
			b.Fatal(len(got), err)
		}
	}
}

func TestDecodeLogRecord(t *testing.T) {
	for in, want := range map[string]LogRecord{
		`{"at":"2026-11-21T10:00:00Z","outcome":"delivered"}`:     {At: t0, Outcome: "delivered"},
		`{"outcome":"failed","at":"2026-11-21T10:00:00.5+01:00"}`: {At: t0.Add(-time.Hour + 500*time.Millisecond), Outcome: "failed"},
		`{"at":"2026-11-21T10:00:00Z","outcome":"odd\"one"}`:      {At: t0, Outcome: `odd"one`},
		`{"at": "2026-11-21T10:00:00Z", "outcome": "expired"}`:    {At: t0, Outcome: "expired"},
	} {
		got, ok := decodeLogRecord([]byte(in))
		if !ok || !got.At.Equal(want.At) || got.Outcome != want.Outcome {
			t.Errorf("decodeLogRecord(%s) = %+v, %v; want %+v", in, got, ok, want)
		}
	}
	if _, ok := decodeLogRecord([]byte(`{"at":"yesterday"`)); ok {
		t.Error("garbage decoded")
	}
}
