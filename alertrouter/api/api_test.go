package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigie-monitoring/vigie/alertrouter/alerts"
	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/silence"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
	"github.com/vigie-monitoring/vigie/alertrouter/view"
)

// fakePipeline keeps what it is given and shows it as its View's alerts,
// routed to receiver "ops" and silenced by the router's silences, as the
// engine does.
type fakePipeline struct {
	mu       sync.Mutex
	ingested []notify.Alert
	extra    []view.AlertView
	err      error
	silences *silence.Silences
	now      func() time.Time
	// maxAlerts refuses new fingerprints beyond it, as the engine does.
	maxAlerts int
}

func (f *fakePipeline) IngestAlerts(_ context.Context, as []notify.Alert) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	known := map[string]bool{}
	for _, a := range f.ingested {
		known[a.Fingerprint] = true
	}
	var le *alerts.LimitError
	for i, a := range as {
		if f.maxAlerts > 0 && !known[a.Fingerprint] && len(known) >= f.maxAlerts {
			if le == nil {
				le = &alerts.LimitError{Limit: f.maxAlerts}
			}
			le.Refused = append(le.Refused, i)
			continue
		}
		known[a.Fingerprint] = true
		f.ingested = append(f.ingested, a)
	}
	if le != nil {
		return le
	}
	return nil
}

func (f *fakePipeline) View() *view.View {
	f.mu.Lock()
	defer f.mu.Unlock()
	v := &view.View{Counts: map[string]int{}}
	byFP := map[string]int{}
	for _, a := range f.ingested {
		av := view.AlertView{Alert: a, UpdatedAt: a.StartsAt, Receivers: []string{"ops"}, State: "active"}
		if f.silences != nil {
			av.SilencedBy = f.silences.Muted(a.Labels, f.now())
			if len(av.SilencedBy) > 0 {
				av.State = "suppressed"
			}
		}
		if i, ok := byFP[a.Fingerprint]; ok {
			v.Alerts[i] = av
			continue
		}
		byFP[a.Fingerprint] = len(v.Alerts)
		v.Alerts = append(v.Alerts, av)
	}
	v.Alerts = append(v.Alerts, f.extra...)
	return v
}

func (f *fakePipeline) got() []notify.Alert {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]notify.Alert(nil), f.ingested...)
}

const testConfig = `
receivers:
  - name: ops
    webhook_configs:
      - url: https://hooks.example/x?token=hunter2
  - name: chat
    log_configs: [{}]
rules:
  - receivers: [ops]
`

type fixture struct {
	srv      *httptest.Server
	engine   *fakePipeline
	silences *silence.Silences
	refused  *prometheus.CounterVec
}

func setup(t testing.TB) *fixture {
	t.Helper()
	return setupWith(t, Limits{}, silence.Limits{})
}

// setupWith is setup with limits.
func setupWith(t testing.TB, limits Limits, silLimits silence.Limits) *fixture {
	t.Helper()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sils, err := silence.New(silence.Options{Store: st, Limits: silLimits})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.ParseRouter([]byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{engine: &fakePipeline{silences: sils, now: time.Now}, silences: sils,
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "refused_total"}, []string{"limit"})}
	a := New(Options{
		Pipeline: f.engine, Silences: sils, Config: func() *config.RouterConfig { return cfg },
		Name: "router-1", Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Limits: limits, Refused: f.refused,
	})
	mux := http.NewServeMux()
	a.Register(mux)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// call does a request (a body as JSON, as Prometheus and amtool send it)
// and checks the answer is JSON.
func (f *fixture) call(t testing.TB, method, path, body string) (int, []byte) {
	t.Helper()
	header := map[string]string{}
	if body != "" {
		header["Content-Type"] = "application/json"
	}
	return f.callWith(t, method, path, body, header)
}

func (f *fixture) callWith(t testing.TB, method, path, body string, header map[string]string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	if len(bytes.TrimSpace(data)) > 0 && !json.Valid(data) {
		t.Errorf("%s %s: answer is not JSON: %s", method, path, data)
	}
	return resp.StatusCode, data
}

func decodeAs[T any](t *testing.T, data []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("decode %T: %v\n%s", v, err, data)
	}
	return v
}

func TestStatus(t *testing.T) {
	f := setup(t)
	code, body := f.call(t, "GET", "/api/v2/status", "")
	if code != 200 {
		t.Fatalf("status %d: %s", code, body)
	}
	// Every field amtool requires is present.
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw["uptime"]; !ok {
		t.Errorf("status lacks uptime: %s", body)
	}
	for section, keys := range map[string][]string{
		"cluster":     {"name", "status", "peers"},
		"versionInfo": {"version", "revision", "branch", "buildUser", "buildDate", "goVersion"},
		"config":      {"original"},
	} {
		for _, k := range keys {
			var fields map[string]any
			if err := json.Unmarshal(raw[section], &fields); err != nil {
				t.Fatalf("status.%s: %v", section, err)
			}
			if _, ok := fields[k]; !ok {
				t.Errorf("status lacks %s.%s: %s", section, k, body)
			}
		}
	}
	st := decodeAs[Status](t, body)
	// Alone: "disabled", as Alertmanager says when clustering is off.
	if st.Cluster.Status != "disabled" || st.Cluster.Name != "router-1" || st.Cluster.Peers == nil {
		t.Errorf("cluster: %+v", st.Cluster)
	}
	if !st.Uptime.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("uptime %v", st.Uptime)
	}
	if !strings.Contains(st.Config.Original, "name: ops") || !strings.Contains(st.Config.Original, "<secret>") ||
		strings.Contains(st.Config.Original, "hunter2") {
		t.Errorf("config.original (secrets must be masked):\n%s", st.Config.Original)
	}
}

func TestReceivers(t *testing.T) {
	f := setup(t)
	code, body := f.call(t, "GET", "/api/v2/receivers", "")
	if got := decodeAs[[]Receiver](t, body); code != 200 || !reflect.DeepEqual(got, []Receiver{{"ops"}, {"chat"}}) {
		t.Errorf("receivers: %d %s", code, body)
	}
}

func TestPostAlerts(t *testing.T) {
	now := time.Now()
	ts := func(d time.Duration) string { return now.Add(d).UTC().Format(time.RFC3339Nano) }
	cases := []struct {
		name       string
		body       string
		engineErr  error
		wantCode   int
		wantErr    []string // in the 400/500 message
		wantAlerts int
		check      func(t *testing.T, got []notify.Alert)
	}{
		{
			name: "prometheus alert",
			body: `[{"labels":{"alertname":"HighLatency","instance":"a:9100","empty":""},"annotations":{"summary":"slow"},` +
				`"startsAt":"` + ts(-time.Minute) + `","endsAt":"` + ts(4*time.Minute) + `","generatorURL":"http://prom/graph"}]`,
			wantCode: 200, wantAlerts: 1,
			check: func(t *testing.T, got []notify.Alert) {
				a := got[0]
				if _, ok := a.Labels["empty"]; ok || a.Labels["alertname"] != "HighLatency" || len(a.Labels) != 2 {
					t.Errorf("labels %v (empty values are dropped)", a.Labels)
				}
				if a.Status != notify.StatusFiring || a.Annotations["summary"] != "slow" || a.GeneratorURL != "http://prom/graph" {
					t.Errorf("alert %+v", a)
				}
				if a.Fingerprint != notify.Fingerprint(map[string]string{"alertname": "HighLatency", "instance": "a:9100"}) || len(a.Fingerprint) != 16 {
					t.Errorf("fingerprint %q", a.Fingerprint)
				}
			},
		},
		{
			name:     "times not set (amtool alert add)",
			body:     `[{"labels":{"alertname":"X"},"startsAt":"0001-01-01T00:00:00.000Z","endsAt":"0001-01-01T00:00:00.000Z"}]`,
			wantCode: 200, wantAlerts: 1,
			check: func(t *testing.T, got []notify.Alert) {
				a := got[0]
				if a.StartsAt.Before(now) || a.StartsAt.After(time.Now()) {
					t.Errorf("startsAt %v, want now", a.StartsAt)
				}
				if !a.EndsAt.IsZero() {
					t.Errorf("endsAt %v, want it left to the engine (global.resolve_timeout)", a.EndsAt)
				}
				if a.Status != notify.StatusFiring || a.Annotations == nil {
					t.Errorf("alert %+v", a)
				}
			},
		},
		{
			name:     "resolved",
			body:     `[{"labels":{"alertname":"X"},"startsAt":"` + ts(-time.Hour) + `","endsAt":"` + ts(-time.Second) + `"}]`,
			wantCode: 200, wantAlerts: 1,
			check: func(t *testing.T, got []notify.Alert) {
				if got[0].Status != notify.StatusResolved {
					t.Errorf("status %s", got[0].Status)
				}
			},
		},
		{
			name:     "only end set: starts at its end",
			body:     `[{"labels":{"alertname":"X"},"endsAt":"` + ts(-time.Second) + `"}]`,
			wantCode: 200, wantAlerts: 1,
			check: func(t *testing.T, got []notify.Alert) {
				if !got[0].StartsAt.Equal(got[0].EndsAt) {
					t.Errorf("startsAt %v endsAt %v", got[0].StartsAt, got[0].EndsAt)
				}
			},
		},
		{
			name: "invalid ones are named, valid ones kept",
			body: `[{"labels":{"alertname":"Good","utf-8 name":"ok"}},{"labels":{}},{"labels":{"alertname":"Backwards"},"startsAt":"` + ts(time.Hour) +
				`","endsAt":"` + ts(time.Minute) + `"},{"labels":{"alertname":"X","":"x"}},{"labels":{"alertname":"X"},"annotations":{"":"z"}},{"labels":{"job":"node"}}]`,
			wantCode: 400, wantAlerts: 1,
			wantErr: []string{
				"alert 1 {}: at least one label pair required",
				`alert 2 {alertname="Backwards"}: start time must be before end time`,
				"alert 3", `invalid label set: invalid name ""`,
				"alert 4", `invalid annotations: invalid name ""`,
				`alert 5 {job="node"}: alertname label required`,
			},
		},
		{name: "not JSON", body: `{"labels":`, wantCode: 400, wantErr: []string{"cannot decode the request body"}},
		{name: "not an array", body: `{"labels":{"alertname":"b"}}`, wantCode: 400, wantErr: []string{"cannot decode"}},
		{name: "engine refuses", body: `[{"labels":{"alertname":"b"}}]`, engineErr: errors.New("disk full"), wantCode: 500, wantErr: []string{"disk full"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t)
			f.engine.err = tc.engineErr
			code, body := f.call(t, "POST", "/api/v2/alerts", tc.body)
			if code != tc.wantCode {
				t.Fatalf("code %d, want %d: %s", code, tc.wantCode, body)
			}
			if len(tc.wantErr) > 0 {
				msg := decodeAs[string](t, body)
				for _, w := range tc.wantErr {
					if !strings.Contains(msg, w) {
						t.Errorf("message %q lacks %q", msg, w)
					}
				}
			}
			got := f.engine.got()
			if len(got) != tc.wantAlerts {
				t.Fatalf("engine got %d alerts, want %d: %+v", len(got), tc.wantAlerts, got)
			}
			if tc.check != nil {
				tc.check(t, got)
			}
		})
	}
}

func TestGetAlertsFilters(t *testing.T) {
	f := setup(t)
	now := time.Now()
	mk := func(name, state string, receivers []string, silenced, inhibited []string, ends time.Duration) view.AlertView {
		labels := map[string]string{"alertname": name, "severity": "page"}
		return view.AlertView{
			Alert: notify.Alert{Labels: labels, StartsAt: now.Add(-time.Hour), EndsAt: now.Add(ends),
				Fingerprint: notify.Fingerprint(labels), Status: notify.StatusFiring},
			UpdatedAt: now, Receivers: receivers, State: state, SilencedBy: silenced, InhibitedBy: inhibited,
		}
	}
	f.engine.extra = []view.AlertView{
		mk("Active", "active", []string{"ops"}, nil, nil, time.Hour),
		mk("Silenced", "suppressed", []string{"ops"}, []string{"s1"}, nil, time.Hour),
		mk("Inhibited", "suppressed", []string{"chat"}, nil, []string{"p1"}, time.Hour),
		mk("New", "unprocessed", nil, nil, nil, time.Hour),
		mk("Ended", "active", []string{"ops"}, nil, nil, -time.Minute),
	}
	cases := []struct {
		query string
		want  []string
	}{
		{"", []string{"Active", "Inhibited", "New", "Silenced"}},
		{"?silenced=false", []string{"Active", "Inhibited", "New"}},
		{"?inhibited=false&silenced=false", []string{"Active", "New"}},
		{"?active=false", []string{"Inhibited", "New", "Silenced"}},
		{"?unprocessed=false", []string{"Active", "Inhibited", "Silenced"}},
		{"?filter=alertname%3D~%22A.%2A%22", []string{"Active"}},
		{"?filter=severity%3Dpage&filter=alertname!%3DActive", []string{"Inhibited", "New", "Silenced"}},
		{"?receiver=chat", []string{"Inhibited"}},
		{"?receiver=o.*", []string{"Active", "Silenced"}},
	}
	for _, tc := range cases {
		code, body := f.call(t, "GET", "/api/v2/alerts"+tc.query, "")
		if code != 200 {
			t.Errorf("%s: %d %s", tc.query, code, body)
			continue
		}
		var got []string
		for _, a := range decodeAs[[]GettableAlert](t, body) {
			got = append(got, a.Labels["alertname"])
		}
		sort.Strings(got)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.query, got, tc.want)
		}
	}
	// The gettableAlert shape: required fields present, lists not null.
	_, body := f.call(t, "GET", "/api/v2/alerts?filter=alertname%3DActive", "")
	var raw []map[string]any
	if err := json.Unmarshal(body, &raw); err != nil || len(raw) == 0 {
		t.Fatalf("alerts: %v: %s", err, body)
	}
	for _, k := range []string{"labels", "annotations", "startsAt", "endsAt", "updatedAt", "fingerprint", "receivers", "status"} {
		if _, ok := raw[0][k]; !ok {
			t.Errorf("alert lacks %s: %s", k, body)
		}
	}
	if !strings.Contains(string(body), `"status":{"state":"active","silencedBy":[],"inhibitedBy":[]}`) ||
		!strings.Contains(string(body), `"receivers":[{"name":"ops"}]`) {
		t.Errorf("alert JSON: %s", body)
	}
	for _, bad := range []string{"?active=maybe", "?filter=%7Bfoo", "?receiver=%28"} {
		if code, body := f.call(t, "GET", "/api/v2/alerts"+bad, ""); code != 400 {
			t.Errorf("%s: %d %s", bad, code, body)
		}
	}

	code, body := f.call(t, "GET", "/api/v2/alerts/groups?silenced=false", "")
	groups := decodeAs[[]AlertGroup](t, body)
	var summary []string
	for _, g := range groups {
		summary = append(summary, g.Receiver.Name+"/"+g.Labels["alertname"]+"/"+g.Alerts[0].Labels["alertname"])
	}
	if code != 200 || strings.Join(summary, " ") != "chat/Inhibited/Inhibited ops/Active/Active" {
		t.Errorf("groups: %d %v", code, summary)
	}
}

func TestSilencesAPI(t *testing.T) {
	f := setup(t)
	end := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	code, body := f.call(t, "POST", "/api/v2/silences",
		`{"matchers":[{"name":"alertname","value":"HighLatency","isRegex":false},{"name":"instance","value":"a.*","isRegex":true,"isEqual":false}],`+
			`"startsAt":"0001-01-01T00:00:00Z","endsAt":"`+end+`","createdBy":"ann","comment":"deploy"}`)
	if code != 200 {
		t.Fatalf("post: %d %s", code, body)
	}
	id := decodeAs[PostSilenceResponse](t, body).SilenceID
	if _, err := uuid.Parse(id); err != nil {
		t.Fatalf("silenceID %q: %v", id, err)
	}
	other := ""
	{
		_, body := f.call(t, "POST", "/api/v2/silences", `{"matchers":[{"name":"job","value":"node","isRegex":false}],"startsAt":"0001-01-01T00:00:00Z","endsAt":"`+end+`","createdBy":"bob","comment":"x"}`)
		other = decodeAs[PostSilenceResponse](t, body).SilenceID
	}

	code, body = f.call(t, "GET", "/api/v2/silence/"+id, "")
	s := decodeAs[GettableSilence](t, body)
	if code != 200 || s.ID != id || s.Status.State != "active" || s.CreatedBy != "ann" || s.Comment != "deploy" || s.UpdatedAt.IsZero() {
		t.Errorf("get: %d %s", code, body)
	}
	if !strings.Contains(string(body), `{"name":"alertname","value":"HighLatency","isRegex":false,"isEqual":true}`) ||
		!strings.Contains(string(body), `{"name":"instance","value":"a.*","isRegex":true,"isEqual":false}`) {
		t.Errorf("matchers (isEqual defaults to true): %s", body)
	}

	list := func(query string) []string {
		t.Helper()
		code, body := f.call(t, "GET", "/api/v2/silences"+query, "")
		if code != 200 {
			t.Fatalf("list %s: %d %s", query, code, body)
		}
		var ids []string
		for _, s := range decodeAs[[]GettableSilence](t, body) {
			ids = append(ids, s.ID)
		}
		sort.Strings(ids)
		return ids
	}
	if got := list(""); !reflect.DeepEqual(got, sorted(id, other)) {
		t.Errorf("list: %v", got)
	}
	if got := list("?filter=alertname%3D%22HighLatency%22"); !reflect.DeepEqual(got, []string{id}) {
		t.Errorf("filtered list: %v", got)
	}
	if got := list("?filter=job%3D~%22no.*%22"); !reflect.DeepEqual(got, []string{other}) {
		t.Errorf("regexp-filtered list: %v", got)
	}

	// The silence mutes matching alerts in the engine's view.
	f.call(t, "POST", "/api/v2/alerts", `[{"labels":{"alertname":"HighLatency","instance":"b:1"}},{"labels":{"alertname":"HighLatency","instance":"a:1"}}]`)
	_, body = f.call(t, "GET", "/api/v2/alerts?silenced=false", "")
	if got := decodeAs[[]GettableAlert](t, body); len(got) != 1 || got[0].Labels["instance"] != "a:1" {
		t.Errorf("unsilenced alerts: %s", body)
	}

	// Update in place: same matchers, later end, new comment.
	s.EndsAt = s.EndsAt.Add(time.Hour)
	s.Comment = "longer"
	upd, _ := json.Marshal(PostableSilence{ID: id, Matchers: s.Matchers, StartsAt: s.StartsAt, EndsAt: s.EndsAt, CreatedBy: s.CreatedBy, Comment: s.Comment})
	code, body = f.call(t, "POST", "/api/v2/silences", string(upd))
	if code != 200 || decodeAs[PostSilenceResponse](t, body).SilenceID != id {
		t.Errorf("update: %d %s", code, body)
	}

	code, body = f.call(t, "DELETE", "/api/v2/silence/"+id, "")
	if code != 200 {
		t.Errorf("delete: %d %s", code, body)
	}
	time.Sleep(2 * time.Millisecond) // expired is strictly after endsAt
	_, body = f.call(t, "GET", "/api/v2/silence/"+id, "")
	if s := decodeAs[GettableSilence](t, body); s.Status.State != "expired" || s.EndsAt.After(time.Now()) {
		t.Errorf("after delete: %s", body)
	}
	if code, body := f.call(t, "DELETE", "/api/v2/silence/"+id, ""); code != 500 || !strings.Contains(string(body), "already expired") {
		t.Errorf("second delete: %d %s", code, body)
	}

	missing := uuid.NewString()
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/api/v2/silence/" + missing, ""},
		{"DELETE", "/api/v2/silence/" + missing, ""},
		{"POST", "/api/v2/silences", `{"id":"` + missing + `","matchers":[{"name":"a","value":"b","isRegex":false}],"endsAt":"` + end + `"}`},
	} {
		if code, body := f.call(t, c.method, c.path, c.body); code != 404 || !strings.Contains(string(body), "silence not found") {
			t.Errorf("%s %s: %d %s", c.method, c.path, code, body)
		}
	}
	for body, want := range map[string]string{
		`{"matchers":[],"endsAt":"` + end + `"}`: "Failed to create silence: at least one matcher required",
		`{"matchers":[{"name":"a","value":"b","isRegex":false}],"startsAt":"2020-01-01T00:00:00Z","endsAt":"2020-01-02T00:00:00Z"}`: "end time can't be in the past",
		`{"matchers":[{"name":"a","value":"(","isRegex":true}],"endsAt":"` + end + `"}`:                                             "invalid regular expression",
		`not json`: "cannot decode",
	} {
		if code, got := f.call(t, "POST", "/api/v2/silences", body); code != 400 || !strings.Contains(decodeAs[string](t, got), want) {
			t.Errorf("post %s: %d %s, want 400 %q", body, code, got, want)
		}
	}
	if code, body := f.call(t, "GET", "/api/v2/silences?filter=%7B", ""); code != 400 {
		t.Errorf("bad filter: %d %s", code, body)
	}
	if code, body := f.call(t, "GET", "/api/v2/nothing", ""); code != 404 {
		t.Errorf("unknown path: %d %s", code, body)
	}
	if code, body := f.call(t, "POST", "/api/v1/alerts", "[]"); code != 410 || !strings.Contains(string(body), "api_version: v2") {
		t.Errorf("v1: %d %s", code, body)
	}
}

func sorted(ids ...string) []string {
	out := append([]string(nil), ids...)
	sort.Strings(out)
	return out
}
