package store

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// damagedStore writes a real store (3,000 checks, an outbox entry), then
// damages its file with spoil.
func damagedStore(t *testing.T, spoil func(path string, data []byte)) string {
	t.Helper()
	dir := t.TempDir()
	s := open(t, dir)
	b := &Batch{Checks: map[string]*CheckRecord{}, Outbox: []*OutboxEntry{entry("ops/webhook/0", "k1")}}
	for i := range 3000 {
		b.Checks[fmt.Sprintf("http_2xx https://site%d.example", i)] = &CheckRecord{State: "down", Since: t0, Reason: "connection refused"}
	}
	if _, err := s.Commit(b); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, FileName)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	spoil(path, data)
	return dir
}

func garbage(data []byte, from, to int) {
	r := rand.New(rand.NewSource(1))
	for i := from; i < to && i < len(data); i++ {
		data[i] = byte(r.Intn(256))
	}
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestOpenDamaged: a damaged file (as a crash on a bad disk, a full disk
// or a careless copy leave it) never panics the router: Open says it is
// damaged, and OpenWith(Recover) moves it aside and starts empty.
func TestOpenDamaged(t *testing.T) {
	page := os.Getpagesize()
	cases := []struct {
		name  string
		spoil func(t *testing.T, path string, data []byte)
	}{
		{"truncated to half", func(t *testing.T, path string, data []byte) { _ = os.Truncate(path, int64(len(data)/2)) }},
		{"truncated to 100 bytes", func(t *testing.T, path string, data []byte) { _ = os.Truncate(path, 100) }},
		{"garbage pages", func(t *testing.T, path string, data []byte) { garbage(data, 2*page, len(data)); write(t, path, data) }},
		{"garbage meta pages", func(t *testing.T, path string, data []byte) { garbage(data, 0, 2*page); write(t, path, data) }},
		// Opens fine; reading the records would panic later.
		{"zeroed pages in the middle", func(t *testing.T, path string, data []byte) {
			clear(data[len(data)/3 : len(data)/2])
			write(t, path, data)
		}},
		{"one garbage page", func(t *testing.T, path string, data []byte) {
			garbage(data, len(data)/2, len(data)/2+page)
			write(t, path, data)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var damaged []byte
			dir := damagedStore(t, func(path string, data []byte) {
				tc.spoil(t, path, data)
				damaged, _ = os.ReadFile(path)
			})
			if s, err := Open(dir); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), FileName+" is damaged") {
				if err == nil {
					// Some damage only shows when the records are read.
					_, loadErr := s.LoadChecks()
					t.Fatalf("Open of a damaged file succeeded (LoadChecks: %v)", loadErr)
				}
				t.Fatalf("Open: %v, want ErrDamaged", err)
			}

			logs := &bytes.Buffer{}
			at := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
			s, damage, err := OpenWith(dir, Options{Recover: true, Logger: slog.New(slog.NewTextHandler(logs, nil)), Now: func() time.Time { return at }})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			want := filepath.Join(dir, FileName+".damaged-20261121T100000Z")
			if damage == nil || damage.MovedTo != want || damage.Path != filepath.Join(dir, FileName) || !errors.Is(damage.Err, ErrDamaged) || !damage.At.Equal(at) {
				t.Fatalf("damage = %+v", damage)
			}
			if kept, err := os.ReadFile(want); err != nil || !bytes.Equal(kept, damaged) {
				t.Errorf("the damaged file is not kept as it was at %s: %v", want, err)
			}
			if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "moved_to="+want) {
				t.Errorf("log:\n%s", logs)
			}
			// An empty store that works.
			if checks, err := s.LoadChecks(); err != nil || len(checks) != 0 {
				t.Errorf("new store: %d checks, %v", len(checks), err)
			}
			if _, err := s.Commit(&Batch{Checks: map[string]*CheckRecord{"a": {State: "up", Since: t0}}}); err != nil {
				t.Fatal(err)
			}
			s.Close()
			s, damage, err = OpenWith(dir, Options{Recover: true})
			if err != nil || damage != nil {
				t.Fatalf("reopening the new store: %+v, %v", damage, err)
			}
			if checks, _ := s.LoadChecks(); len(checks) != 1 {
				t.Errorf("new store after reopen: %d checks", len(checks))
			}
		})
	}
}

// A second damaged file in the same second does not overwrite the first.
func TestMoveAsideNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	at := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	var got []string
	for i := range 3 {
		write(t, path, []byte(fmt.Sprint("damaged ", i)))
		moved, err := moveAside(path, at)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, filepath.Base(moved))
	}
	if strings.Join(got, " ") != FileName+".damaged-20261121T100000Z "+FileName+".damaged-20261121T100000Z-1 "+FileName+".damaged-20261121T100000Z-2" {
		t.Errorf("moved to %v", got)
	}
}

// TestUnreadableRecordsAreSkipped: one record that does not decode costs
// itself, not the start of the router; it is logged once and counted.
func TestUnreadableRecordsAreSkipped(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	if _, err := s.Commit(&Batch{
		Checks:   map[string]*CheckRecord{"good": {State: "up", Since: t0}},
		Exporter: &CheckRecord{State: "up", Since: t0},
		Alerts:   map[string]*AlertRecord{"fp1": {UpdatedAt: t0}},
		Groups:   map[string]*GroupRecord{"g1": {Receiver: "ops"}},
		Outbox:   []*OutboxEntry{entry("ops/webhook/0", "k1")},
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveSilence(&SilenceRecord{ID: "s1"}); err != nil {
		t.Fatal(err)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketChecks, bucketAlerts, bucketGroups, bucketOutbox, bucketSilences} {
			if err := tx.Bucket(b).Put([]byte("zz-bad"), []byte(`{"state": tru`)); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keyExporter, []byte("\x00\x01"))
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	logs := &bytes.Buffer{}
	s, damage, err := OpenWith(dir, Options{Recover: true, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil || damage != nil {
		t.Fatalf("a file with bad records is not damaged: %+v %v", damage, err)
	}
	defer s.Close()
	for range 2 { // read twice: logged and counted once
		checks, err := s.LoadChecks()
		if err != nil || len(checks) != 1 || checks["good"] == nil {
			t.Errorf("checks: %v, %v", checks, err)
		}
		alerts, err := s.LoadAlerts()
		if err != nil || len(alerts) != 1 {
			t.Errorf("alerts: %v, %v", alerts, err)
		}
		groups, err := s.LoadGroups()
		if err != nil || len(groups) != 1 {
			t.Errorf("groups: %v, %v", groups, err)
		}
		outbox, err := s.LoadOutbox()
		if err != nil || len(outbox) != 1 {
			t.Errorf("outbox: %v, %v", outbox, err)
		}
		silences, err := s.LoadSilences()
		if err != nil || len(silences) != 1 {
			t.Errorf("silences: %v, %v", silences, err)
		}
		if rec, err := s.LoadExporter(); err != nil || rec != nil {
			t.Errorf("exporter: %v, %v", rec, err)
		}
		if recent, err := s.RecentNotifications(10); err != nil || len(recent) != 1 {
			t.Errorf("recent: %v, %v", recent, err)
		}
	}
	got := s.UnreadableRecords()
	want := map[string]int{"checks": 1, "alerts": 1, "groups": 1, "outbox": 1, "silences": 1, "meta": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("unreadable = %v, want %v", got, want)
	}
	if n := strings.Count(logs.String(), "Unreadable record in the store; skipped"); n != 6 {
		t.Errorf("%d log lines, want one per record:\n%s", n, logs)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "bucket=checks key=zz-bad") {
		t.Errorf("log:\n%s", logs)
	}
}

// TestOpenFailsConsistencyCheck: damage only bbolt's consistency check
// sees (a page freed twice: the next writes would overwrite live data).
func TestOpenFailsConsistencyCheck(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	for round := range 3 { // commits and deletions leave free pages
		b := &Batch{Checks: map[string]*CheckRecord{}}
		for i := range 500 {
			id := fmt.Sprintf("check %d", i)
			if round == 1 {
				b.Checks[id] = nil
			} else {
				b.Checks[id] = &CheckRecord{State: "up", Since: t0, Reason: strings.Repeat("x", 100)}
			}
		}
		if _, err := s.Commit(b); err != nil {
			t.Fatal(err)
		}
	}
	var freelist int64 = -1
	_ = s.db.View(func(tx *bolt.Tx) error {
		for id := 2; ; id++ {
			p, err := tx.Page(id)
			if err != nil || p == nil {
				return nil
			}
			if p.Type == "freelist" {
				freelist = int64(id)
				return nil
			}
		}
	})
	pageSize := int64(s.db.Info().PageSize)
	s.Close()
	if freelist < 0 {
		t.Fatal("no freelist page")
	}
	path := filepath.Join(dir, FileName)
	data, _ := os.ReadFile(path)
	p := data[freelist*pageSize:]
	if count := int(p[10]) | int(p[11])<<8; count < 2 {
		t.Fatalf("freelist holds %d pages, want at least 2", count)
	}
	copy(p[16+8:16+16], p[16:16+8]) // the second free page is the first again
	write(t, path, data)

	if _, err := Open(dir); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "consistency check") || !strings.Contains(err.Error(), "already freed") {
		t.Fatalf("Open: %v, want the consistency check's error", err)
	}
}

// TestOpenCyclicTree: a branch page pointing back to itself would make
// bbolt's cursor descend forever, growing its stack until the kernel kills
// the router (no panic to recover from); the structure check finds it
// first.
func TestOpenCyclicTree(t *testing.T) {
	var root uint64
	var pageSize int
	dir := damagedStore(t, func(path string, data []byte) {})
	s := open(t, dir)
	_ = s.db.View(func(tx *bolt.Tx) error {
		root = uint64(tx.Bucket(bucketChecks).Root())
		return nil
	})
	pageSize = s.db.Info().PageSize
	s.Close()
	path := filepath.Join(dir, FileName)
	data, _ := os.ReadFile(path)
	p := data[root*uint64(pageSize):]
	if flags := ne.Uint16(p[8:]); flags != boltBranchPage {
		t.Fatalf("the checks bucket's root page %d is not a branch (%#x)", root, flags)
	}
	ne.PutUint64(p[boltPageHeader+8:], root) // its first child is itself
	write(t, path, data)
	_, err := Open(dir)
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), fmt.Sprintf("page %d is reached twice", root)) {
		t.Fatalf("Open: %v", err)
	}
}
