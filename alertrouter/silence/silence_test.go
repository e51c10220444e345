package silence

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vigie-monitoring/vigie/alertrouter/internal/clock"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

func setup(t *testing.T) (*Silences, *clock.Fake, *store.Store, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := clock.NewFake(t0)
	s, err := New(Options{Store: st, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return s, clk, st, dir
}

func eq(name, value string) Matcher { return Matcher{Name: name, Value: value, IsEqual: true} }

func mustSet(t *testing.T, s *Silences, sil Silence) string {
	t.Helper()
	id, err := s.Set(sil)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestValidation(t *testing.T) {
	s, _, _, _ := setup(t)
	hour := t0.Add(time.Hour)
	cases := []struct {
		name string
		sil  Silence
		want string
	}{
		{"no matcher", Silence{EndsAt: hour}, "at least one matcher required"},
		{"bad label name", Silence{Matchers: []Matcher{eq("0bad", "x")}, EndsAt: hour}, `invalid label matcher 0: invalid label name "0bad"`},
		{"bad regexp", Silence{Matchers: []Matcher{{Name: "a", Value: "(", IsRegex: true, IsEqual: true}}, EndsAt: hour}, `invalid label matcher 0: invalid regular expression "("`},
		{"matches everything", Silence{Matchers: []Matcher{eq("a", "")}, EndsAt: hour}, "at least one matcher must not match the empty string"},
		{"regexp matches everything", Silence{Matchers: []Matcher{{Name: "a", Value: ".*", IsRegex: true, IsEqual: true}}, EndsAt: hour}, "must not match the empty string"},
		{"invalid utf-8", Silence{Matchers: []Matcher{eq("a", "\xff")}, EndsAt: hour}, "invalid label value"},
		{"no end", Silence{Matchers: []Matcher{eq("a", "x")}}, "end time missing"},
		{"end before start", Silence{Matchers: []Matcher{eq("a", "x")}, StartsAt: hour, EndsAt: t0.Add(time.Minute)}, "end time must not be before start time"},
		{"end equals start", Silence{Matchers: []Matcher{eq("a", "x")}, StartsAt: hour, EndsAt: hour}, "start time must be before end time"},
		{"end in the past", Silence{Matchers: []Matcher{eq("a", "x")}, StartsAt: t0.Add(-2 * time.Hour), EndsAt: t0.Add(-time.Hour)}, "end time can't be in the past"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Set(tc.sil)
			var ve *ValidationError
			if !errors.As(err, &ve) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want a ValidationError containing %q", err, tc.want)
			}
		})
	}
	if n := len(s.List()); n != 0 {
		t.Errorf("%d silences after refusals", n)
	}
	// One matcher that does not match the empty string is enough; as in
	// Alertmanager, a negative matcher counts as one.
	for _, ms := range [][]Matcher{{eq("a", ""), eq("alertname", "X")}, {{Name: "module", Value: "icmp"}}} {
		if _, err := s.Set(Silence{Matchers: ms, EndsAt: hour}); err != nil {
			t.Errorf("valid silence %v refused: %v", ms, err)
		}
	}
}

func TestStatesAndMuting(t *testing.T) {
	s, clk, _, _ := setup(t)
	active := mustSet(t, s, Silence{Matchers: []Matcher{eq("alertname", "ProbeFailed"), {Name: "instance", Value: "https://shop.*", IsRegex: true, IsEqual: true}},
		EndsAt: t0.Add(time.Hour), CreatedBy: "ann", Comment: "deploy"})
	pending := mustSet(t, s, Silence{Matchers: []Matcher{{Name: "module", Value: "icmp", IsEqual: false}, eq("group", "web")},
		StartsAt: t0.Add(30 * time.Minute), EndsAt: t0.Add(2 * time.Hour)})
	if _, err := uuid.Parse(active); err != nil {
		t.Errorf("id %q is not a UUID: %v", active, err)
	}

	shop := map[string]string{"alertname": "ProbeFailed", "instance": "https://shop.example", "module": "http_2xx", "group": "web"}
	blog := map[string]string{"alertname": "ProbeFailed", "instance": "https://blog.example", "module": "icmp", "group": "web"}
	cases := []struct {
		at     time.Duration
		labels map[string]string
		want   []string
	}{
		{0, shop, []string{active}},
		{0, blog, nil},
		{45 * time.Minute, shop, sorted(active, pending)},
		{45 * time.Minute, blog, nil}, // module!="icmp" excludes it
		{90 * time.Minute, shop, []string{pending}},
		{3 * time.Hour, shop, nil},
	}
	for _, tc := range cases {
		if got := s.Muted(tc.labels, t0.Add(tc.at)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Muted(%v at +%s) = %v, want %v", tc.labels["instance"], tc.at, got, tc.want)
		}
	}

	get := func(id string) Silence {
		sil, err := s.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		return sil
	}
	if st := get(active); st.State(t0) != Active || st.CreatedBy != "ann" || st.Comment != "deploy" || !st.UpdatedAt.Equal(t0) {
		t.Errorf("active silence: %+v", st)
	}
	if st := get(pending); st.State(t0) != Pending {
		t.Errorf("pending silence state %s", st.State(t0))
	}
	if _, err := s.Get("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(unknown) = %v", err)
	}

	// Expiring sets endsAt to now; a pending one never starts.
	clk.Advance(10 * time.Minute)
	now := t0.Add(10 * time.Minute)
	if err := s.Expire(active); err != nil {
		t.Fatal(err)
	}
	if err := s.Expire(pending); err != nil {
		t.Fatal(err)
	}
	if st := get(active); !st.EndsAt.Equal(now) || !st.StartsAt.Equal(t0) || st.State(now.Add(time.Nanosecond)) != Expired {
		t.Errorf("expired active silence: %+v", st)
	}
	if st := get(pending); !st.StartsAt.Equal(now) || !st.EndsAt.Equal(now) {
		t.Errorf("expired pending silence: %+v", st)
	}
	if got := s.Muted(shop, now.Add(time.Second)); len(got) != 0 {
		t.Errorf("muted by expired silences: %v", got)
	}
	clk.Advance(time.Second)
	if err := s.Expire(active); err == nil || !strings.Contains(err.Error(), "already expired") {
		t.Errorf("expiring twice: %v", err)
	}
	if err := s.Expire("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Expire(unknown) = %v", err)
	}
}

func sorted(ids ...string) []string {
	out := append([]string(nil), ids...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestUpdate follows Alertmanager: an update that only changes the end,
// the comment or the author keeps the id; changing the matchers replaces
// the silence (the old one expires).
func TestUpdate(t *testing.T) {
	s, clk, _, _ := setup(t)
	base := Silence{Matchers: []Matcher{eq("alertname", "X")}, EndsAt: t0.Add(time.Hour), CreatedBy: "ann", Comment: "c1"}
	id := mustSet(t, s, base)
	clk.Advance(time.Minute)

	upd := base
	upd.ID, upd.StartsAt, upd.EndsAt, upd.Comment = id, t0, t0.Add(3*time.Hour), "longer"
	if got := mustSet(t, s, upd); got != id {
		t.Errorf("extending the end changed the id: %s → %s", id, got)
	}
	if sil, _ := s.Get(id); !sil.EndsAt.Equal(t0.Add(3*time.Hour)) || sil.Comment != "longer" || !sil.UpdatedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("updated silence: %+v", sil)
	}

	repl := upd
	repl.Matchers = []Matcher{eq("alertname", "Y")}
	newID := mustSet(t, s, repl)
	if newID == id {
		t.Fatal("changing the matchers kept the id")
	}
	if old, _ := s.Get(id); !old.EndsAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("replaced silence not expired: %+v", old)
	}
	if sil, _ := s.Get(newID); !sil.StartsAt.Equal(t0.Add(time.Minute)) || sil.Matchers[0].Value != "Y" {
		t.Errorf("replacement: %+v", sil)
	}

	unknown := base
	unknown.ID = uuid.NewString()
	if _, err := s.Set(unknown); !errors.Is(err, ErrNotFound) {
		t.Errorf("update of an unknown id: %v", err)
	}
}

func TestPersistenceAndGC(t *testing.T) {
	s, clk, st, _ := setup(t)
	keep := mustSet(t, s, Silence{Matchers: []Matcher{eq("alertname", "X")}, EndsAt: t0.Add(time.Hour), CreatedBy: "ann", Comment: "kept"})
	old := mustSet(t, s, Silence{Matchers: []Matcher{eq("alertname", "Y")}, EndsAt: t0.Add(time.Minute)})

	// Another instance on the same store (a restart) sees both.
	s2, err := New(Options{Store: st, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if got := s2.List(); len(got) != 2 {
		t.Fatalf("after restart: %+v", got)
	}
	if sil, err := s2.Get(keep); err != nil || sil.Comment != "kept" || sil.MatchersString() != `{alertname="X"}` {
		t.Errorf("restored silence: %+v, %v", sil, err)
	}
	if got := s2.Muted(map[string]string{"alertname": "X"}, t0); !reflect.DeepEqual(got, []string{keep}) {
		t.Errorf("restored silence does not mute: %v", got)
	}

	// Expired for less than the retention: kept (and listed, last).
	clk.Advance(DefaultRetention)
	if n, err := s.GC(); err != nil || n != 0 {
		t.Errorf("GC before retention = %d, %v", n, err)
	}
	clk.Advance(2 * time.Minute)
	if n, err := s.GC(); err != nil || n != 1 {
		t.Errorf("GC after retention = %d, %v", n, err)
	}
	if _, err := s.Get(old); !errors.Is(err, ErrNotFound) {
		t.Errorf("old silence still there: %v", err)
	}
	recs, _ := st.LoadSilences()
	if len(recs) != 1 || recs[0].ID != keep {
		t.Errorf("store after GC: %+v", recs)
	}
}

func TestListOrder(t *testing.T) {
	s, clk, _, _ := setup(t)
	m := func(v string) []Matcher { return []Matcher{eq("alertname", v)} }
	a2 := mustSet(t, s, Silence{Matchers: m("a2"), EndsAt: t0.Add(2 * time.Hour)})
	a1 := mustSet(t, s, Silence{Matchers: m("a1"), EndsAt: t0.Add(time.Hour)})
	p2 := mustSet(t, s, Silence{Matchers: m("p2"), StartsAt: t0.Add(20 * time.Minute), EndsAt: t0.Add(3 * time.Hour)})
	p1 := mustSet(t, s, Silence{Matchers: m("p1"), StartsAt: t0.Add(10 * time.Minute), EndsAt: t0.Add(3 * time.Hour)})
	e1 := mustSet(t, s, Silence{Matchers: m("e1"), EndsAt: t0.Add(time.Minute)})
	e2 := mustSet(t, s, Silence{Matchers: m("e2"), EndsAt: t0.Add(2 * time.Minute)})
	clk.Advance(5 * time.Minute)
	var got []string
	for _, sil := range s.List() {
		got = append(got, sil.ID)
	}
	want := []string{a1, a2, p1, p2, e2, e1}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("order = %v\nwant    %v", got, want)
	}
}

func TestParseMatchers(t *testing.T) {
	got, err := ParseMatchers(`alertname="X"`, `instance=~"https://.*", module!=icmp`, `env!~"dev|test"`)
	if err != nil {
		t.Fatal(err)
	}
	want := []Matcher{
		eq("alertname", "X"),
		{Name: "instance", Value: "https://.*", IsRegex: true, IsEqual: true},
		{Name: "module", Value: "icmp"},
		{Name: "env", Value: "dev|test", IsRegex: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v", got)
	}
	sil := Silence{Matchers: got}
	if s := sil.MatchersString(); s != `{alertname="X", instance=~"https://.*", module!="icmp", env!~"dev|test"}` {
		t.Errorf("rendered %s", s)
	}
	if _, err := ParseMatchers(`alertname`); err == nil || !strings.Contains(err.Error(), `bad matcher "alertname"`) {
		t.Errorf("bad matcher: %v", err)
	}
}

// TestChanges: subscribers hear of changes, and of a silence that starts
// or ends by itself (Run's timer, on the clock).
func TestChanges(t *testing.T) {
	s, clk, _, _ := setup(t)
	ch, stop := s.Changes()
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	id, err := s.Set(Silence{Matchers: []Matcher{eq("a", "b")}, StartsAt: t0.Add(time.Hour), EndsAt: t0.Add(2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	wait := func(what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("no change notification for %s", what)
		}
	}
	quiet := func(what string) {
		t.Helper()
		select {
		case <-ch:
			t.Fatalf("change notification %s", what)
		default:
		}
	}
	wait("the new silence")
	// Run sleeps on the clock (its gc every 15 minutes, the start, the
	// end): only the start and the end are changes.
	advanceTo := func(target time.Time) {
		t.Helper()
		for {
			var next time.Time
			if !clk.WaitFor(10*time.Second, func(ds []time.Time) bool {
				if len(ds) == 0 {
					return false
				}
				next = slices.MinFunc(ds, func(a, b time.Time) int { return a.Compare(b) })
				return true
			}) {
				t.Fatal("Run does not wait on the clock")
			}
			if next.After(target) {
				clk.Set(target)
				return
			}
			clk.Set(next)
		}
	}
	advanceTo(t0.Add(time.Hour - time.Second))
	quiet("before the silence starts")
	advanceTo(t0.Add(time.Hour + time.Millisecond))
	wait("the silence starting")
	if sil, _ := s.Get(id); sil.State(clk.Now()) != Active {
		t.Errorf("notified before the start: %+v", sil)
	}
	advanceTo(t0.Add(2*time.Hour - time.Second))
	quiet("while the silence is active")
	advanceTo(t0.Add(2*time.Hour + time.Millisecond))
	wait("the silence ending")
	if sil, _ := s.Get(id); sil.State(clk.Now()) != Expired {
		t.Errorf("notified before the end: %+v", sil)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestGCOnTheClock: Run forgets silences that ended more than the
// retention ago, every 15 minutes of the clock.
func TestGCOnTheClock(t *testing.T) {
	s, clk, _, _ := setup(t)
	id := mustSet(t, s, Silence{Matchers: []Matcher{eq("a", "b")}, EndsAt: t0.Add(time.Hour)})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Run(ctx) }()
	if !clk.WaitFor(10*time.Second, func(ds []time.Time) bool { return len(ds) > 0 }) {
		t.Fatal("Run does not wait on the clock")
	}
	clk.Advance(time.Hour + DefaultRetention + time.Minute)
	if !clk.WaitFor(10*time.Second, func([]time.Time) bool { _, err := s.Get(id); return err != nil }) {
		t.Fatal("an old silence was not forgotten")
	}
}

// TestApplyShared: a silence from another router is taken when newer, and
// an older copy does not replace the one known.
func TestApplyShared(t *testing.T) {
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	now := time.Now().UTC()
	s, err := New(Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	rec := &store.SilenceRecord{ID: "11111111-1111-1111-1111-111111111111", Matchers: []store.SilenceMatcher{{Name: "job", Value: "x", IsEqual: true}},
		StartsAt: now.Add(-time.Minute), EndsAt: now.Add(time.Hour), UpdatedAt: now, CreatedBy: "a", Comment: "c"}
	if n := s.Apply([]*store.SilenceRecord{rec}); n != 1 {
		t.Fatalf("applied %d, want 1", n)
	}
	if got := s.Muted(map[string]string{"job": "x"}, now); len(got) != 1 {
		t.Fatalf("muted by %v, want the shared silence", got)
	}
	older := *rec
	older.UpdatedAt, older.EndsAt = now.Add(-time.Second), now.Add(2*time.Hour)
	if n := s.Apply([]*store.SilenceRecord{&older}); n != 0 {
		t.Fatalf("an older copy was applied")
	}
	expired := *rec
	expired.UpdatedAt, expired.EndsAt = now.Add(time.Second), now.Add(-time.Second)
	if n := s.Apply([]*store.SilenceRecord{&expired}); n != 1 {
		t.Fatalf("the expiry was not applied")
	}
	if got := s.Muted(map[string]string{"job": "x"}, now); len(got) != 0 {
		t.Fatalf("still muted by %v after the shared expiry", got)
	}
	saved, err := st.LoadSilences()
	if err != nil || len(saved) != 1 || !saved[0].EndsAt.Equal(expired.EndsAt) {
		t.Fatalf("saved %v, %v; want the expired silence", saved, err)
	}
}
