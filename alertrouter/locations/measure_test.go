package locations

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
)

// The measurement behind docs/performance.md ("Several locations: false
// DOWNs"): targets that are always up, probed from three locations whose
// networks hiccup independently (each a two-state chain: a good round
// turns bad with probability enter, a bad one recovers with probability
// leave, so hiccups last several rounds as real ones do). A false DOWN is
// `failures` failed rounds in a row (the state machine's rule; the
// opposite result resets the count). Compared: one location alone, and
// the three with the default quorum (a majority).

type flapModel struct {
	enter, leave float64
	failures     int
}

type falseDowns struct {
	rounds                   int
	single, quorum, degraded int
}

func measureFalseDowns(m flapModel, checks, rounds int, seed uint64) falseDowns {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := falseDowns{rounds: checks * rounds}
	cfg := config.ChecksConfig{}
	for range checks {
		bad := [3]bool{}
		var singleRun, quorumRun int
		var singleDown, quorumDown bool
		for range rounds {
			locs := make([]exporter.LocationResult, 3)
			for i := range bad {
				if bad[i] {
					bad[i] = rng.Float64() >= m.leave
				} else {
					bad[i] = rng.Float64() < m.enter
				}
				locs[i] = exporter.LocationResult{Location: fmt.Sprint(i), Result: exporter.Result{Success: !bad[i], Reason: "timeout"}}
			}
			res := Aggregate(locs, cfg)
			if res.Success && anyFailing(res.Locations) {
				out.degraded++
			}
			singleRun, singleDown = step(bad[0], singleRun, singleDown, m.failures, &out.single)
			quorumRun, quorumDown = step(!res.Success, quorumRun, quorumDown, m.failures, &out.quorum)
		}
	}
	return out
}

// step counts consecutive failed rounds and a DOWN when they reach
// failures (UP again at the first success, which is generous to the
// single location: successes > 1 would only lengthen its DOWNs).
func step(failed bool, run int, down bool, failures int, downs *int) (int, bool) {
	if !failed {
		return 0, false
	}
	run++
	if run >= failures && !down {
		*downs++
		down = true
	}
	return run, down
}

func TestQuorumAvoidsFalseDowns(t *testing.T) {
	// A location's network is bad 1 % of the rounds in hiccups of 3.3
	// rounds on average.
	m := flapModel{enter: 0.003, leave: 0.3, failures: 3}
	got := measureFalseDowns(m, 200, 10_000, 1)
	t.Logf("%d rounds: single location %d false DOWNs, 3 locations with quorum %d, degraded rounds %d",
		got.rounds, got.single, got.quorum, got.degraded)
	if got.single == 0 {
		t.Fatal("the model produced no false DOWN from a single location: it measures nothing")
	}
	if got.quorum*20 > got.single {
		t.Errorf("quorum: %d false DOWNs, single location %d: want at least 20 times fewer", got.quorum, got.single)
	}
}

// BenchmarkFalseDowns reports the figures for several hiccup rates
// (go test -run '^$' -bench FalseDowns ./alertrouter/locations/).
func BenchmarkFalseDowns(b *testing.B) {
	for _, m := range []flapModel{
		{enter: 0.001, leave: 0.3, failures: 3},
		{enter: 0.003, leave: 0.3, failures: 3},
		{enter: 0.01, leave: 0.3, failures: 3},
		{enter: 0.03, leave: 0.5, failures: 3},
	} {
		b.Run(fmt.Sprintf("enter=%g/leave=%g", m.enter, m.leave), func(b *testing.B) {
			var got falseDowns
			for i := 0; b.Loop(); i++ {
				got = measureFalseDowns(m, 100, 10_000, uint64(i)+1)
			}
			perMillion := func(n int) float64 { return float64(n) * 1e6 / float64(got.rounds) }
			b.ReportMetric(perMillion(got.single), "single-false-downs/Mround")
			b.ReportMetric(perMillion(got.quorum), "quorum-false-downs/Mround")
			b.ReportMetric(perMillion(got.degraded), "degraded/Mround")
		})
	}
}
