package history

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
)

// TestGatherMergesMembers: in a router cluster the list of checks is
// the members' lists merged in List's order (down, unknown, up; then by
// id), paged across them, a check two members list (it moves) once; a
// member that does not answer is named; a check another member probes
// redirects to its history there.
func TestGatherMergesMembers(t *testing.T) {
	a, b := newFixture(t, maintenanceConfig), newFixture(t, maintenanceConfig)
	for _, p := range []struct {
		f      *fixture
		target string
		ok     bool
	}{
		{a, "https://x1.example", false}, {a, "https://x1.example", false}, {a, "https://x3.example", true},
		{b, "https://x2.example", false}, {b, "https://x2.example", false}, {b, "https://x4.example", true},
		{b, "https://x3.example", true},
	} {
		p.f.probe(p.target, p.ok, 0)
	}
	peerMux := http.NewServeMux()
	b.h.RegisterAPI(peerMux, APIOptions{})
	peer := httptest.NewServer(peerMux)
	defer peer.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	g := &Gather{Local: a.h, Peers: func() []Peer { return []Peer{{Name: "b", URL: peer.URL}, {Name: "c", URL: dead.URL}} }}

	ids := func(cs []Check) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Target)
		}
		return out
	}
	for _, c := range []struct {
		f             Filter
		offset, limit int
		want          []string
		total         int
	}{
		// x3 moves: listed once, counted by both members.
		{Filter{}, 0, 10, []string{"https://x1.example", "https://x2.example", "https://x3.example", "https://x4.example"}, 5},
		{Filter{}, 1, 2, []string{"https://x2.example", "https://x3.example"}, 5},
		{Filter{State: "down"}, 0, 10, []string{"https://x1.example", "https://x2.example"}, 2},
		{Filter{Search: "x4"}, 0, 10, []string{"https://x4.example"}, 1},
	} {
		got := g.List(context.Background(), c.f, c.offset, c.limit)
		if !slices.Equal(ids(got.Checks), c.want) || got.Total != c.total || !slices.Equal(got.Unanswered, []string{"c"}) {
			t.Errorf("%+v offset %d limit %d: %v (total %d, unanswered %v), want %v (total %d)",
				c.f, c.offset, c.limit, ids(got.Checks), got.Total, got.Unanswered, c.want, c.total)
		}
	}

	// Through the API: the cluster's list, and the members not in it.
	mux := http.NewServeMux()
	a.h.RegisterAPI(mux, APIOptions{Gather: g, ProbedAt: func(id string) string {
		if id == idOf("https://x2.example") {
			return peer.URL
		}
		return ""
	}})
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/checks?state=down", nil))
	var list checksJSON
	if err := json.NewDecoder(rec.Body).Decode(&list); err != nil || list.Total != 2 || len(list.Checks) != 2 || !slices.Equal(list.Unanswered, []string{"c"}) {
		t.Errorf("API: %d %+v (%v)", rec.Code, list, err)
	}
	// A member asked for its own checks lists only its own.
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/checks?scope=member", nil))
	list = checksJSON{}
	if err := json.NewDecoder(rec.Body).Decode(&list); err != nil || list.Total != 2 || list.Unanswered != nil {
		t.Errorf("scope=member: %+v (%v)", list, err)
	}
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/checks?scope=all", nil))
	if rec.Code != http.StatusBadRequest {
		t.Errorf("scope=all answered %d", rec.Code)
	}
	// The history of a check another member probes is gathered from it
	// (no redirect); one no member knows redirects to the member that
	// should probe it.
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/checks/"+url.PathEscape(idOf("https://x2.example"))+"/history", nil))
	var hist historyJSON
	if err := json.NewDecoder(rec.Body).Decode(&hist); err != nil || rec.Code != http.StatusOK || hist.Check.Rounds["24h"] != 2 ||
		hist.Check.State != "down" || !slices.Equal(hist.Unanswered, []string{"c"}) {
		t.Errorf("history of a check another member probes: %d %+v (%v)", rec.Code, hist, err)
	}
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/checks/"+url.PathEscape(idOf("https://x9.example"))+"/history", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("history of a check nobody knows: %d", rec.Code)
	}
}

func idOf(target string) string { return id(target) }
