package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/silence"
)

func TestClientRoundTrip(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	c, err := NewClient(f.srv.URL+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(ctx)
	if err != nil || st.Cluster.Status != "disabled" {
		t.Fatalf("status: %+v, %v", st, err)
	}
	ms, _ := silence.ParseMatchers(`instance=~"https://shop.*"`)
	id, err := c.PostSilence(ctx, &PostableSilence{
		Matchers: []Matcher{MatcherFrom(ms[0])}, StartsAt: time.Now(), EndsAt: time.Now().Add(time.Hour),
		CreatedBy: "ann", Comment: "migration",
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Silence(ctx, id)
	if err != nil || got.Comment != "migration" || got.Status.State != "active" || !got.Matchers[0].IsRegex {
		t.Fatalf("silence: %+v, %v", got, err)
	}
	list, err := c.Silences(ctx, []string{`instance="https://shop.example"`})
	if err != nil || len(list) != 0 {
		t.Errorf("filter on a regexp matcher's label (Alertmanager only filters equality matchers): %+v, %v", list, err)
	}
	list, err = c.Silences(ctx, nil)
	if err != nil || len(list) != 1 || list[0].ID != id {
		t.Errorf("list: %+v, %v", list, err)
	}
	if err := c.ExpireSilence(ctx, id); err != nil {
		t.Fatal(err)
	}
	err = c.ExpireSilence(ctx, "6e2a5f9e-0000-4000-8000-000000000000")
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != 404 || !strings.Contains(err.Error(), "router answered 404: silence not found") {
		t.Errorf("expire unknown: %v", err)
	}
	_, err = c.PostSilence(ctx, &PostableSilence{EndsAt: time.Now().Add(time.Hour)})
	if err == nil || !strings.Contains(err.Error(), "400: Failed to create silence: at least one matcher required") {
		t.Errorf("invalid silence: %v", err)
	}
}

func TestClientErrors(t *testing.T) {
	for _, bad := range []string{"127.0.0.1:9116", "ftp://x", "http://"} {
		if _, err := NewClient(bad, nil); err == nil {
			t.Errorf("NewClient(%q) accepted", bad)
		}
	}
	// A path prefix is kept; a plain-text error (a proxy, basic auth) is
	// reported as is.
	var gotPath string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath = r.URL.Path
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
	}))
	defer srv.Close()
	c, _ := NewClient(srv.URL+"/router", nil)
	_, err := c.Silences(context.Background(), nil)
	if gotPath != "/router/api/v2/silences" || err == nil || err.Error() != "router answered 401: Unauthorized" {
		t.Errorf("path %s, err %v", gotPath, err)
	}
}
