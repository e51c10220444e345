package silence

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/internal/clock"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

func setupLimits(t *testing.T, l Limits) (*Silences, *clock.Fake, *store.Store) {
	t.Helper()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := clock.NewFake(t0)
	s, err := New(Options{Store: st, Clock: clk, Limits: l})
	if err != nil {
		t.Fatal(err)
	}
	return s, clk, st
}

func limitOf(err error) string {
	var le *LimitError
	if errors.As(err, &le) {
		return le.Limit
	}
	return ""
}

// TestMaxSilences: at the limit, the oldest expired silences make room; a
// new silence is refused only when every one is active or pending, and
// then nothing is forgotten.
func TestMaxSilences(t *testing.T) {
	s, clk, st := setupLimits(t, Limits{MaxSilences: 3})
	sil := func(v string) Silence {
		return Silence{Matchers: []Matcher{eq("job", v)}, EndsAt: clk.Now().Add(time.Hour), CreatedBy: "a", Comment: "c"}
	}
	first := mustSet(t, s, sil("1"))
	clk.Advance(time.Second)
	second := mustSet(t, s, sil("2"))
	clk.Advance(time.Second)
	mustSet(t, s, sil("3"))
	_, err := s.Set(sil("4"))
	if limitOf(err) != LimitSilences || !strings.Contains(err.Error(), "--silences.max-silences=3") {
		t.Fatalf("4th silence: %v, want a LimitError naming --silences.max-silences=3", err)
	}
	// Updating one in place is not a new silence.
	up := sil("3")
	if _, err := s.Set(Silence{ID: first, Matchers: up.Matchers, EndsAt: up.EndsAt}); limitOf(err) != LimitSilences {
		t.Errorf("replacing a silence by another (new matchers) at the limit: %v", err)
	}
	s1, _ := s.Get(first)
	s1.Comment = "updated"
	if _, err := s.Set(s1); err != nil {
		t.Errorf("updating a comment at the limit: %v", err)
	}

	// Expire the first two: the next two new silences take their places,
	// the one that ended first going first.
	if err := s.Expire(second); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	if err := s.Expire(first); err != nil {
		t.Fatal(err)
	}
	mustSet(t, s, sil("4"))
	if _, err := s.Get(second); err == nil {
		t.Error("the silence that ended first was not forgotten")
	}
	if _, err := s.Get(first); err != nil {
		t.Errorf("the more recent expired silence was forgotten too: %v", err)
	}
	recs, _ := st.LoadSilences()
	if len(recs) != 3 || len(s.List()) != 3 {
		t.Errorf("%d silences stored, %d listed, want 3", len(recs), len(s.List()))
	}
	clk.Advance(time.Second)
	mustSet(t, s, sil("5"))
	if _, err := s.Set(sil("6")); limitOf(err) != LimitSilences {
		t.Errorf("all active: %v", err)
	}
}

func TestSilenceSizeLimits(t *testing.T) {
	s, clk, _ := setupLimits(t, Limits{MaxSilenceSizeBytes: 100, MaxCommentBytes: 40})
	base := Silence{Matchers: []Matcher{eq("job", "x")}, EndsAt: clk.Now().Add(time.Hour), CreatedBy: "ann", Comment: "fine"}
	mustSet(t, s, base)
	cases := []struct {
		name  string
		edit  func(*Silence)
		limit string
		want  string
	}{
		{"comment", func(s *Silence) { s.Comment = strings.Repeat("c", 41) }, LimitComment, "comment is 41 bytes, over --silences.max-comment-bytes=40"},
		{"author", func(s *Silence) { s.CreatedBy = strings.Repeat("a", 100) }, LimitSilenceSize, "over --silences.max-silence-size-bytes=100"},
		{"matcher", func(s *Silence) { s.Matchers = []Matcher{eq("job", strings.Repeat("v", 200))} }, LimitSilenceSize, "silence is 210 bytes"},
		{"huge regexp is not compiled", func(s *Silence) {
			s.Matchers = []Matcher{{Name: "job", Value: strings.Repeat("(a*)*", 1<<20), IsRegex: true, IsEqual: true}}
		}, LimitSilenceSize, "max-silence-size-bytes"},
	}
	for _, c := range cases {
		sil := base
		c.edit(&sil)
		_, err := s.Set(sil)
		if limitOf(err) != c.limit || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %s: %q", c.name, err, c.limit, c.want)
		}
	}
	if n := len(s.List()); n != 1 {
		t.Errorf("%d silences, want 1", n)
	}
}
