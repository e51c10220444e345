package store

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

func entry(integration, key string) *OutboxEntry {
	return &OutboxEntry{
		Key:          EntryKey(integration, key),
		Integration:  integration,
		Notification: &notify.Notification{Key: key, Receiver: "ops", Kind: notify.KindDown, Status: notify.StatusFiring},
		CreatedAt:    t0,
		NextAttempt:  t0,
	}
}

func open(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCommitAndReopen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	down := &CheckRecord{Target: "https://a.example", Module: "http_2xx", State: "down", Failures: 3, Since: t0,
		Reason: "connection refused", Notified: map[string]Notified{"ops": {At: t0}}}
	added, err := s.Commit(&Batch{
		Checks:   map[string]*CheckRecord{"a": down, "b": {State: "up", Since: t0}},
		Exporter: &CheckRecord{State: "up", Since: t0},
		Outbox:   []*OutboxEntry{entry("ops/webhook/0", "k1"), entry("ops/webhook/0", "k2")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(added) != 2 || added[0].Seq >= added[1].Seq {
		t.Fatalf("added = %+v", added)
	}
	// Deleting a check and re-adding a pending entry in a later batch.
	added, err = s.Commit(&Batch{Checks: map[string]*CheckRecord{"b": nil}, Outbox: []*OutboxEntry{entry("ops/webhook/0", "k1")}})
	if err != nil {
		t.Fatal(err)
	}
	if len(added) != 0 {
		t.Errorf("an entry already pending was added again: %+v", added)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir)
	defer s.Close()
	checks, err := s.LoadChecks()
	if err != nil {
		t.Fatal(err)
	}
	if len(checks) != 1 || checks["a"].State != "down" || checks["a"].Reason != "connection refused" ||
		!checks["a"].Notified["ops"].At.Equal(t0) || !checks["a"].Since.Equal(t0) {
		t.Errorf("checks after reopen = %+v", checks)
	}
	exp, err := s.LoadExporter()
	if err != nil || exp == nil || exp.State != "up" {
		t.Errorf("exporter after reopen = %+v, %v", exp, err)
	}
	out, err := s.LoadOutbox()
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[0].Notification.Key != "k1" || out[1].Notification.Key != "k2" {
		t.Fatalf("outbox after reopen = %+v", out)
	}

	// Attempt bookkeeping survives; finishing moves the key to the log.
	out[0].Attempts, out[0].LastError = 2, "HTTP 500"
	if err := s.UpdateOutbox(out[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish([]*OutboxEntry{out[1]}, Finished{Outcome: OutcomeDelivered, At: t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateOutbox(out[1]); err != nil { // no longer pending: ignored
		t.Fatal(err)
	}
	out, _ = s.LoadOutbox()
	if len(out) != 1 || out[0].Attempts != 2 || out[0].LastError != "HTTP 500" {
		t.Fatalf("outbox after update = %+v", out)
	}
	rec, err := s.Logged(EntryKey("ops/webhook/0", "k2"))
	if err != nil || rec == nil || rec.Outcome != OutcomeDelivered {
		t.Errorf("log record = %+v, %v", rec, err)
	}
	// A delivered key is never queued again (idempotency after a restart).
	added, err = s.Commit(&Batch{Outbox: []*OutboxEntry{entry("ops/webhook/0", "k2"), entry("ops/telegram/0", "k2")}})
	if err != nil {
		t.Fatal(err)
	}
	if len(added) != 1 || added[0].Integration != "ops/telegram/0" {
		t.Errorf("added = %+v, want only the telegram entry", added)
	}
}

func TestPruneLog(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	added, _ := s.Commit(&Batch{Outbox: []*OutboxEntry{entry("i", "old"), entry("i", "new")}})
	if err := s.Finish([]*OutboxEntry{added[0]}, Finished{Outcome: OutcomeDelivered, At: t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish([]*OutboxEntry{added[1]}, Finished{Outcome: OutcomeFailed, At: t0.Add(48 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	n, err := s.PruneLog(t0.Add(24 * time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("pruned %d, %v", n, err)
	}
	if rec, _ := s.Logged(EntryKey("i", "old")); rec != nil {
		t.Error("old record kept")
	}
	if rec, _ := s.Logged(EntryKey("i", "new")); rec == nil || rec.Outcome != OutcomeFailed {
		t.Errorf("new record = %+v", rec)
	}
}

func TestOpenLocked(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	defer s.Close()
	_, err := Open(dir)
	if err == nil || !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("second Open: %v", err)
	}
}

// TestCommitSurvivesSIGKILL commits in a child process that then kills
// itself without closing the database: what Commit returned must be there.
func TestCommitSurvivesSIGKILL(t *testing.T) {
	if dir := os.Getenv("VIGIE_STORE_CRASH_DIR"); dir != "" {
		s, err := Open(dir)
		if err != nil {
			os.Exit(3)
		}
		if _, err := s.Commit(&Batch{
			Checks: map[string]*CheckRecord{"a": {State: "down", Since: t0}},
			Outbox: []*OutboxEntry{entry("ops/webhook/0", "k1")},
		}); err != nil {
			os.Exit(4)
		}
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCommitSurvivesSIGKILL$")
	cmd.Env = append(os.Environ(), "VIGIE_STORE_CRASH_DIR="+dir)
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die of SIGKILL: %v", err)
	}
	s := open(t, dir)
	defer s.Close()
	checks, _ := s.LoadChecks()
	out, _ := s.LoadOutbox()
	if checks["a"] == nil || checks["a"].State != "down" || len(out) != 1 {
		t.Fatalf("after SIGKILL: checks %+v, outbox %+v", checks, out)
	}
}

func TestAlertsAndGroupsSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	alert := &AlertRecord{
		Alert:     notify.Alert{Labels: map[string]string{"alertname": "HighLatency"}, StartsAt: t0, EndsAt: t0.Add(5 * time.Minute), Fingerprint: "fp1", Status: notify.StatusFiring},
		UpdatedAt: t0, Incident: t0, Notified: map[string]Notified{"ops": {At: t0}},
	}
	member := &notify.Notification{Key: "check|a|1|down", Receiver: "ops", Kind: notify.KindDown, Status: notify.StatusFiring}
	group := &GroupRecord{Receiver: "ops", Labels: map[string]string{"group": "web"}, ReleaseAt: t0.Add(30 * time.Second), Members: []*notify.Notification{member}}
	flapping := &CheckRecord{State: "down", Since: t0, Changes: []time.Time{t0.Add(-time.Minute), t0}, Flapping: true, FlappingSince: t0}
	if _, err := s.Commit(&Batch{
		Checks: map[string]*CheckRecord{"c": flapping},
		Alerts: map[string]*AlertRecord{"fp1": alert, "fp2": alert},
		Groups: map[string]*GroupRecord{"g1": group, "g2": group},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(&Batch{Alerts: map[string]*AlertRecord{"fp2": nil}, Groups: map[string]*GroupRecord{"g2": nil}}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = open(t, dir)
	defer s.Close()
	alerts, err := s.LoadAlerts()
	if err != nil || len(alerts) != 1 || alerts["fp1"].Alert.Labels["alertname"] != "HighLatency" ||
		!alerts["fp1"].Alert.EndsAt.Equal(t0.Add(5*time.Minute)) || alerts["fp1"].Notified["ops"].At.IsZero() {
		t.Errorf("alerts = %+v, %v", alerts, err)
	}
	groups, err := s.LoadGroups()
	if err != nil || len(groups) != 1 || groups["g1"].Members[0].Key != member.Key || !groups["g1"].ReleaseAt.Equal(group.ReleaseAt) {
		t.Errorf("groups = %+v, %v", groups, err)
	}
	checks, err := s.LoadChecks()
	if c := checks["c"]; err != nil || !c.Flapping || len(c.Changes) != 2 || !c.FlappingSince.Equal(t0) {
		t.Errorf("flapping check = %+v, %v", c, err)
	}
}

// TestLargeStateBatchesSplit: a batch of check states alone larger than
// maxChecksPerTx is written in several transactions (the first minute of a
// large router, whose leaf pages would otherwise all be held at once); a
// batch with a notification stays one transaction, its states and the
// notification together. Every record is written either way, and a
// deletion in the batch is applied.
func TestLargeStateBatchesSplit(t *testing.T) {
	n := 2*maxChecksPerTx + 100
	tests := []struct {
		name   string
		outbox []*OutboxEntry
		txs    int
	}{
		{"states alone", nil, 3},
		{"states with a notification", []*OutboxEntry{entry("ops/webhook/0", "k1")}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, t.TempDir())
			defer func() { _ = s.Close() }()
			if _, err := s.Commit(&Batch{Checks: map[string]*CheckRecord{"gone": {State: "up"}}}); err != nil {
				t.Fatal(err)
			}
			b := &Batch{Checks: map[string]*CheckRecord{"gone": nil}, Outbox: tt.outbox}
			for i := range n {
				b.Checks[fmt.Sprintf("check-%05d", i)] = &CheckRecord{State: "up", Successes: i}
			}
			before := s.writeTxs
			added, err := s.Commit(b)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.writeTxs - before; got != tt.txs {
				t.Errorf("%d transactions, want %d", got, tt.txs)
			}
			if len(added) != len(tt.outbox) {
				t.Errorf("%d outbox entries added, want %d", len(added), len(tt.outbox))
			}
			checks, err := s.LoadChecks()
			if err != nil {
				t.Fatal(err)
			}
			if len(checks) != n {
				t.Errorf("%d checks saved, want %d", len(checks), n)
			}
			if _, ok := checks["gone"]; ok {
				t.Error("the deleted check is still saved")
			}
			for i := range n {
				if c := checks[fmt.Sprintf("check-%05d", i)]; c == nil || c.Successes != i {
					t.Fatalf("check-%05d: %+v", i, c)
				}
			}
		})
	}
}
