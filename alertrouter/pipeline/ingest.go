package pipeline

import (
	"context"
	"errors"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/alerts"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

// ingestTimeout bounds how long IngestAlerts waits for the pipeline.
const ingestTimeout = 30 * time.Second

// ingestRequest is a batch of posted alerts on its way to the ingest
// stage.
type ingestRequest struct {
	alerts []notify.Alert
	done   chan error
	// refused are the indexes in alerts of those refused for
	// Options.MaxAlerts; set by the Run goroutine before done.
	refused []int
}

// IngestAlerts takes alerts posted on the Alertmanager API: they are
// routed through the same rules and receivers as checks, and resolved
// when their endsAt passes without a refresh. It is safe to call from any
// goroutine.
//
// Invalid alerts (notify.ValidateAlert) are reported in the error, one
// line each, and the valid ones are still taken, as Alertmanager does. It
// returns once the valid ones are processed and saved, so that a View
// taken afterwards shows them; or when ctx ends first (the client went
// away: what the pipeline already took stays taken).
func (p *Pipeline) IngestAlerts(ctx context.Context, posted []notify.Alert) error {
	valid, index, invalid := alerts.Validate(posted)
	if len(valid) == 0 {
		return invalid
	}
	req := &ingestRequest{alerts: valid, done: make(chan error, 1)}
	timeout := p.clock.NewTimer(ingestTimeout)
	defer timeout.Stop()
	select {
	case p.alertsIn <- req:
	case <-p.stopped:
		return errors.Join(invalid, ErrStopped)
	case <-ctx.Done():
		return errors.Join(invalid, ctx.Err())
	case <-timeout.C():
		return errors.Join(invalid, errors.New("the router is too busy to take alerts; try again"))
	}
	select {
	case err := <-req.done:
		if len(req.refused) > 0 {
			le := &alerts.LimitError{Limit: p.o.MaxAlerts}
			for _, i := range req.refused {
				le.Refused = append(le.Refused, index[i])
			}
			err = errors.Join(err, le)
		}
		return errors.Join(invalid, err)
	case <-p.stopped:
		return errors.Join(invalid, ErrStopped)
	case <-ctx.Done():
		return errors.Join(invalid, ctx.Err())
	case <-timeout.C():
		return errors.Join(invalid, errors.New("the router took the alerts but did not confirm in time"))
	}
}

// takeAlerts hands a request to the ingest stage (in the Run goroutine).
func (p *Pipeline) takeAlerts(req *ingestRequest, now time.Time) {
	req.refused = p.ingest.Take(req.alerts, now)
}
