package pipeline

import (
	"context"
	"errors"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/incident"
)

// ackRequest is an acknowledgement (or a lookup) on its way to the
// incident stage.
type ackRequest struct {
	fingerprint string
	incident    time.Time
	by          string
	ack         bool
	result      incident.Ack
	done        chan error
}

// Acknowledge acknowledges the incident of the check whose alert labels
// have fingerprint, begun at incident: no more reminders for it (see
// incident.Stage.Acknowledge). With ack false it only looks the check up.
// It returns once the acknowledgement is saved. Safe from any goroutine.
func (p *Pipeline) Acknowledge(ctx context.Context, fingerprint string, incidentStart time.Time, by string, ack bool) (incident.Ack, error) {
	req := &ackRequest{fingerprint: fingerprint, incident: incidentStart, by: by, ack: ack, done: make(chan error, 1)}
	timeout := p.clock.NewTimer(ingestTimeout)
	defer timeout.Stop()
	select {
	case p.acks <- req:
	case <-p.stopped:
		return incident.Ack{}, ErrStopped
	case <-ctx.Done():
		return incident.Ack{}, ctx.Err()
	case <-timeout.C():
		return incident.Ack{}, errors.New("the router is too busy; try again")
	}
	select {
	case err := <-req.done:
		return req.result, err
	case <-p.stopped:
		return incident.Ack{}, ErrStopped
	case <-ctx.Done():
		return incident.Ack{}, ctx.Err()
	}
}

// takeAck hands a request to the incident stage (in the Run goroutine).
func (p *Pipeline) takeAck(req *ackRequest, now time.Time) bool {
	req.result = p.incident.Acknowledge(req.fingerprint, req.incident, req.by, req.ack, now)
	if !req.result.Found && p.clustered() {
		// A check another member probes: its summary names it (the
		// caller asks the cluster about its incident).
		if t, ok := p.peerCheck(req.fingerprint); ok {
			req.result = incident.Ack{Found: true, Target: t.Target, Module: t.Module, Labels: t.AlertLabels()}
		}
	}
	return req.result.Done
}
