package locations

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
)

func ok() exporter.Result { return exporter.Result{Success: true} }
func fail(reason string) exporter.Result {
	return exporter.Result{Reason: reason}
}
func gone() exporter.Result {
	return exporter.Result{Err: errors.New("exporter unreachable: connection refused")}
}
func refused() exporter.Result {
	return exporter.Result{Err: errors.New(`exporter answered HTTP 400: unknown module "x"`), Refused: true}
}

func round(rs ...exporter.Result) []exporter.LocationResult {
	names := []string{"paris", "berlin", "amsterdam", "oslo", "rome"}
	out := make([]exporter.LocationResult, len(rs))
	for i, r := range rs {
		out[i] = exporter.LocationResult{Location: names[i], URL: "http://" + names[i] + ":9115", Result: r}
	}
	return out
}

func TestAggregate(t *testing.T) {
	cases := []struct {
		name        string
		quorum      int
		round       []exporter.LocationResult
		success     bool
		exporterErr bool
		reason      string // substring, for failed rounds
	}{
		{name: "all up", round: round(ok(), ok(), ok()), success: true},
		{name: "one of three fails: no DOWN", round: round(fail("connection refused"), ok(), ok()), success: true},
		{name: "two of three fail", round: round(fail("connection refused"), fail("HTTP 503"), ok()),
			reason: "2/3 locations: paris: connection refused; berlin: HTTP 503"},
		{name: "three of three", round: round(fail("a"), fail("b"), fail("c")), reason: "3/3 locations: paris: a; berlin: b; amsterdam: c"},
		{name: "quorum 1: any location", quorum: 1, round: round(ok(), ok(), fail("x")), reason: "1/3 locations: amsterdam: x"},
		{name: "quorum 3: two is not enough", quorum: 3, round: round(fail("a"), fail("b"), ok()), success: true},
		{name: "unreachable does not count: 1 of 2 answering is not a majority", round: round(fail("a"), ok(), gone()), success: true},
		{name: "unreachable does not count: 2 of 2", round: round(fail("a"), fail("b"), gone()),
			reason: "2/2 locations: paris: a; berlin: b (not counted, exporter unreachable: amsterdam)"},
		{name: "one left decides", quorum: 2, round: round(gone(), fail("a"), gone()), reason: "1/1 locations: berlin: a"},
		{name: "one left, up", quorum: 2, round: round(gone(), ok(), gone()), success: true},
		{name: "none answers: exporter error", round: round(gone(), gone(), gone()), exporterErr: true},
		{name: "a refusal is a failure from there", round: round(refused(), fail("b"), ok()),
			reason: `paris: the exporter refused the probe: exporter answered HTTP 400: unknown module "x"; berlin: b`},
		{name: "quorum above answering is capped", quorum: 3, round: round(fail("a"), fail("b"), gone()), reason: "2/2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := Aggregate(tc.round, config.ChecksConfig{Quorum: tc.quorum})
			if tc.exporterErr {
				if res.Err == nil || !strings.Contains(res.Err.Error(), "paris: exporter unreachable") {
					t.Fatalf("err = %v, want an exporter error naming each location", res.Err)
				}
				return
			}
			if res.Err != nil {
				t.Fatalf("err = %v", res.Err)
			}
			if res.Success != tc.success {
				t.Fatalf("success = %v, want %v (reason %q)", res.Success, tc.success, res.Reason)
			}
			if !tc.success && !strings.Contains(res.Reason, tc.reason) {
				t.Errorf("reason = %q, want %q", res.Reason, tc.reason)
			}
			if len(res.Locations) != len(tc.round) {
				t.Errorf("locations = %d, want every location's result", len(res.Locations))
			}
		})
	}
}

// fakeClient is one location's exporter.
type fakeClient struct {
	mu      sync.Mutex
	res     exporter.Result
	groups  []exporter.TargetGroup
	sdErr   error
	probes  int
	release chan struct{} // when set, a probe waits for it
}

func (f *fakeClient) Probe(ctx context.Context, target, module string) exporter.Result {
	if f.release != nil {
		<-f.release
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.probes++
	return f.res
}

func (f *fakeClient) Targets(ctx context.Context) ([]exporter.TargetGroup, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.groups, f.sdErr
}

func TestFanOutAsksEveryLocationAtOnce(t *testing.T) {
	// Each probe waits until all three are in flight: a fan-out that asks
	// one location after the other never completes.
	var started sync.WaitGroup
	started.Add(3)
	gate := make(chan struct{})
	clients := []*fakeClient{{res: fail("refused")}, {res: ok()}, {res: gone()}}
	var locs []Location
	for i, c := range clients {
		c.release = make(chan struct{})
		go func() { <-gate; close(c.release) }()
		locs = append(locs, Location{Name: []string{"paris", "berlin", "amsterdam"}[i], SD: true, Client: waiter{c, &started}})
	}
	go func() { started.Wait(); close(gate) }()
	m := NewMetrics(prometheus.NewRegistry())
	f := New(locs, config.ChecksConfig{}, m)
	res := f.Probe(context.Background(), "https://shop.example", "http_2xx")
	if !res.Success || len(res.Locations) != 3 {
		t.Fatalf("round = %+v, want success (1 of 2 answering fails) with 3 locations", res)
	}
	for _, want := range []struct {
		loc, result string
	}{{"paris", "failure"}, {"berlin", "success"}, {"amsterdam", "exporter_error"}} {
		if got := testutil.ToFloat64(m.probes.WithLabelValues(want.loc, want.result)); got != 1 {
			t.Errorf("vigie_router_location_probes_total{location=%q,result=%q} = %v, want 1", want.loc, want.result, got)
		}
	}
}

type waiter struct {
	*fakeClient
	started *sync.WaitGroup
}

func (w waiter) Probe(ctx context.Context, target, module string) exporter.Result {
	w.started.Done()
	return w.fakeClient.Probe(ctx, target, module)
}

func TestUnion(t *testing.T) {
	paris := &fakeClient{groups: []exporter.TargetGroup{{Targets: []string{"https://a", "https://b"}, Labels: map[string]string{"module": "http_2xx", "from": "paris"}}}}
	berlin := &fakeClient{groups: []exporter.TargetGroup{{Targets: []string{"https://b", "https://c"}, Labels: map[string]string{"module": "http_2xx", "from": "berlin"}}}}
	off := &fakeClient{sdErr: errors.New("must not be asked")}
	f := New([]Location{{Name: "paris", SD: true, Client: paris}, {Name: "berlin", SD: true, Client: berlin}, {Name: "ams", SD: false, Client: off}}, config.ChecksConfig{}, nil)
	groups, err := f.Targets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 2 || groups[0].Labels["from"] != "paris" || groups[1].Labels["from"] != "berlin" {
		t.Fatalf("groups = %+v, want paris's then berlin's (sd: false not asked)", groups)
	}
	// Berlin's list fails: its last one stands in, its targets stay.
	berlin.mu.Lock()
	berlin.groups, berlin.sdErr = nil, errors.New("exporter unreachable")
	berlin.mu.Unlock()
	groups, err = f.Targets(context.Background())
	if err != nil || len(groups) != 2 || groups[1].Labels["from"] != "berlin" {
		t.Fatalf("groups = %+v, err %v; want berlin's last list kept", groups, err)
	}
	// No list ever: an error naming the locations.
	g := New([]Location{{Name: "paris", SD: true, Client: &fakeClient{sdErr: errors.New("refused")}}, {Name: "berlin", SD: true, Client: &fakeClient{sdErr: errors.New("timeout")}}}, config.ChecksConfig{}, nil)
	if _, err := g.Targets(context.Background()); err == nil || !strings.Contains(err.Error(), "location paris: refused") || !strings.Contains(err.Error(), "location berlin: timeout") {
		t.Fatalf("err = %v", err)
	}
}
