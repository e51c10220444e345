// Package historytest writes histories for tests and measurements: a
// router's storage path with days of probe results already recorded.
package historytest

import (
	"math"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/checkstate"
	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
	"github.com/vigie-monitoring/vigie/alertrouter/history"
	"github.com/vigie-monitoring/vigie/alertrouter/internal/clock"
	"github.com/vigie-monitoring/vigie/alertrouter/targets"
)

// Check is one check to record.
type Check struct {
	Target, Module string
	Labels         map[string]string
	// Down are the periods it fails, as offsets before the end.
	Down []Period
	// Latency is the mean latency of its successes (a daily wave is
	// added).
	Latency time.Duration
}

// Period is [From, To) before the end (From > To).
type Period struct{ From, To time.Duration }

// Fill records span of results, one a minute, for each check, ending at
// end, in the history under path (a router's --storage.path). Each
// check's state goes through a state machine (failures 2, successes 1),
// so incidents open and close as the router's would.
func Fill(path string, end time.Time, span time.Duration, checks []Check) error {
	start := end.Add(-span).Truncate(time.Minute)
	clk := clock.NewFake(start)
	h, err := history.Open(history.Options{Path: path, Clock: clk})
	if err != nil {
		return err
	}
	ts := make([]*targets.Target, len(checks))
	sts := make([]checkstate.Status, len(checks))
	for i, c := range checks {
		ts[i] = targets.New(c.Target, c.Module, c.Labels)
	}
	for i := 0; clk.Now().Before(end); i++ {
		now := clk.Now()
		for k, c := range checks {
			ok := true
			for _, p := range c.Down {
				if !now.Before(end.Add(-p.From)) && now.Before(end.Add(-p.To)) {
					ok = false
				}
			}
			before := sts[k]
			tr := sts[k].Observe(ok, "HTTP status 503 not in 2xx", now, 2, 1)
			wave := 1 + 0.4*math.Sin(float64(now.Unix()%86400)/86400*2*math.Pi)
			lat := time.Duration(float64(c.Latency) * wave * (1 + 0.1*float64(i%7)/7))
			h.Probed(ts[k], exporter.Result{Success: ok, Duration: lat, Reason: "HTTP status 503 not in 2xx"},
				checkstate.Change{Before: before, Transition: tr}, now)
		}
		clk.Advance(time.Minute)
		if i%60 == 59 {
			if err := h.Flush(); err != nil {
				_ = h.Close() // the error that matters is err
				return err
			}
		}
	}
	return h.Close()
}
