package cli

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/api"
	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/silence"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
	"github.com/vigie-monitoring/vigie/alertrouter/view"
)

type noEngine struct{}

func (noEngine) IngestAlerts(context.Context, []notify.Alert) error { return nil }
func (noEngine) View() *view.View                                   { return &view.View{} }

func setup(t *testing.T) (*api.Client, *silence.Silences) {
	t.Helper()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sils, err := silence.New(silence.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	a := api.New(api.Options{Pipeline: noEngine{}, Silences: sils, Config: func() *config.RouterConfig { return nil }})
	mux := http.NewServeMux()
	a.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c, err := api.NewClient(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, sils
}

func TestAddListExpire(t *testing.T) {
	c, sils := setup(t)
	ctx := context.Background()
	var out strings.Builder
	err := Add(ctx, c, &out, AddOptions{Matchers: []string{"HighLatency", `instance=~"a.*"`}, Author: "ann", Comment: "deploy", Duration: 90 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(out.String())
	s, err := sils.Get(id)
	if err != nil || s.MatchersString() != `{alertname="HighLatency", instance=~"a.*"}` || s.CreatedBy != "ann" ||
		(s.EndsAt.Sub(s.StartsAt)-90*time.Minute).Abs() > time.Second {
		t.Fatalf("silence added: %+v, %v", s, err)
	}
	start := time.Now().Add(time.Hour).Truncate(time.Second)
	out.Reset()
	if err := Add(ctx, c, &out, AddOptions{Matchers: []string{`job="node"`}, Author: "bob", Comment: "later\nreboot",
		Start: start, End: start.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	pending := strings.TrimSpace(out.String())

	out.Reset()
	if err := List(ctx, c, &out, ListOptions{}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[1], id) || !strings.Contains(lines[1], "active") ||
		!strings.Contains(lines[2], pending) || !strings.Contains(lines[2], "pending") || !strings.Contains(lines[2], "later reboot") {
		t.Errorf("list:\n%s", out.String())
	}
	out.Reset()
	if err := List(ctx, c, &out, ListOptions{Matchers: []string{`job="node"`}, Quiet: true}); err != nil || strings.TrimSpace(out.String()) != pending {
		t.Errorf("list -q job=node: %q, %v", out.String(), err)
	}

	out.Reset()
	err = Expire(ctx, c, &out, []string{id, "00000000-0000-4000-8000-000000000000"})
	if err == nil || !strings.Contains(err.Error(), "cannot expire 00000000-0000-4000-8000-000000000000: router answered 404") {
		t.Errorf("expire with one unknown id: %v", err)
	}
	if strings.TrimSpace(out.String()) != id {
		t.Errorf("expire printed %q", out.String())
	}
	time.Sleep(2 * time.Millisecond)
	out.Reset()
	if err := List(ctx, c, &out, ListOptions{Expired: true, Quiet: true}); err != nil || strings.TrimSpace(out.String()) != id {
		t.Errorf("list --expired: %q, %v", out.String(), err)
	}
}

func TestAddRefusals(t *testing.T) {
	c, sils := setup(t)
	for _, tc := range []struct {
		name string
		o    AddOptions
		want string
	}{
		{"no matcher", AddOptions{Author: "a", Comment: "c", Duration: time.Hour}, "no matcher given"},
		{"no comment", AddOptions{Matchers: []string{"X"}, Author: "a", Duration: time.Hour}, "a comment is required"},
		{"no author", AddOptions{Matchers: []string{"X"}, Comment: "c", Duration: time.Hour}, "an author is required"},
		{"bad matcher", AddOptions{Matchers: []string{`a=~"("`}, Author: "a", Comment: "c", Duration: time.Hour}, `bad matcher "a=~\"(\""`},
		{"zero duration", AddOptions{Matchers: []string{"X"}, Author: "a", Comment: "c"}, "--duration must be positive"},
		{"end before start", AddOptions{Matchers: []string{"X"}, Author: "a", Comment: "c", End: time.Now().Add(-time.Hour)}, "would end"},
		{"server refuses", AddOptions{Matchers: []string{`a=~".*"`}, Author: "a", Comment: "c", Duration: time.Hour}, "router answered 400: Failed to create silence: at least one matcher must not match the empty string"},
	} {
		var out strings.Builder
		err := Add(context.Background(), c, &out, tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	if n := len(sils.List()); n != 0 {
		t.Errorf("%d silences after refusals", n)
	}
}

func TestHTTPClient(t *testing.T) {
	if hc, err := HTTPClient(""); err != nil || hc == nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yml")
	if err := os.WriteFile(good, []byte("basic_auth:\n  username: ann\n  password: s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var user, pass string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ = r.BasicAuth()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("[]"))
	}))
	defer srv.Close()
	hc, err := HTTPClient(good)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := api.NewClient(srv.URL, hc)
	if _, err := c.Silences(context.Background(), nil); err != nil || user != "ann" || pass != "s3cret" {
		t.Errorf("basic auth from the file: %q %q %v", user, pass, err)
	}
	bad := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(bad, []byte("basic_oauth: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := HTTPClient(bad); err == nil || !strings.Contains(err.Error(), "cannot load the HTTP client configuration") {
		t.Errorf("bad file: %v", err)
	}
	if _, err := HTTPClient(filepath.Join(dir, "missing.yml")); err == nil {
		t.Error("missing file accepted")
	}
}
