package pipeline

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/scheduler"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
	"github.com/vigie-monitoring/vigie/alertrouter/targets"
)

// maxSleep bounds how long the loop sleeps with nothing due.
const maxSleep = time.Hour

// The inputs of a turn, besides a scheduler.Done, a targets.Fetched, a
// reload and an *ingestRequest.
type (
	mutesChanged struct{}
	tick         struct{} // the clock: whatever is due
	// syncNow writes everything and publishes the View at the end of the
	// turn, as for a caller waiting on it.
	syncNow struct{}
	// owner is a new ownership filter and the records of the checks it
	// gives this member (SetOwner).
	owner struct {
		owned   targets.Owner
		records map[string]*store.CheckRecord
	}
)

// Run probes until ctx ends, then writes what is not saved yet and waits
// for every goroutine it started.
func (p *Pipeline) Run(ctx context.Context) error {
	defer close(p.stopped)
	probeCtx, cancelProbes := context.WithCancel(context.Background())
	defer cancelProbes()
	var helpers sync.WaitGroup
	fetched := make(chan targets.Fetched, 1)
	helpers.Add(1)
	go func() {
		defer helpers.Done()
		p.fetcher.Run(ctx, fetched)
	}()
	timer := p.clock.NewTimer(maxSleep)
	defer timer.Stop()
	for {
		now := p.clock.Now()
		d := p.sleep(now)
		timer.Reset(d)
		p.sleepingUntil.Store(now.Add(d).UnixNano())
		var in []any
		select {
		case <-ctx.Done():
			cancelProbes()
			p.sched.Stop() // waits for the workers
			helpers.Wait() // the fetcher
			return p.shutdown()
		case d := <-p.sched.Results():
			in = append(in, d)
			// Take what else is ready, so that a burst is one write.
			in = drain(in, p.sched.Results())
		case f := <-fetched:
			in = append(in, f)
		case <-timer.C():
			in = append(in, tick{})
		case r := <-p.reloads:
			in = append(in, r)
		case req := <-p.alertsIn:
			in = append(in, req)
			in = drain(in, p.alertsIn)
		case <-p.mutesChanged:
			in = append(in, mutesChanged{})
		case o := <-p.owners:
			in = append(in, o)
		case a := <-p.acks:
			in = append(in, a)
		case <-p.peersCh:
			in = append(in, peersChanged{})
		}
		p.sleepingUntil.Store(0)
		now = p.clock.Now()
		p.turn(now, in...)
		p.sched.Launch(probeCtx, now)
	}
}

// drain appends what ch holds now (at most its capacity).
func drain[T any](in []any, ch <-chan T) []any {
	for range cap(ch) {
		select {
		case v := <-ch:
			in = append(in, v)
		default:
			return in
		}
	}
	return in
}

// turn hands inputs to the stages and settles: batches due released,
// expired alerts resolved, what changed committed, the View published,
// posted alerts answered. Run then launches the probes that are due.
func (p *Pipeline) turn(now time.Time, in ...any) {
	var replies []*ingestRequest
	var acks []*ackRequest
	force := false  // write everything now, not at the next flush
	waited := false // publish the View now
	for _, v := range in {
		switch v := v.(type) {
		case scheduler.Done:
			p.probeDone(v, now)
		case targets.Fetched:
			p.targetsFetched(v, now)
			force = true
		case reload:
			p.applyConfig(v, now)
			force = true
		case *ingestRequest:
			p.takeAlerts(v, now)
			replies = append(replies, v)
		case mutesChanged:
			p.incident.RefreshMutes(now)
		case syncNow:
			force, waited = true, true
		case owner:
			p.ownerChanged(v.owned, v.records, now)
		case peersChanged:
			p.marks.Counts = true // the View merges them again
			p.remoteParents(now)
		case *ackRequest:
			// An acknowledgement is saved before it is confirmed.
			force = p.takeAck(v, now) || force
			acks = append(acks, v)
		case tick:
		}
	}
	err := p.settle(now, force, waited || len(replies) > 0)
	for _, r := range replies {
		r.done <- err
	}
	for _, a := range acks {
		a.done <- err
	}
	for _, v := range in {
		if f, ok := v.(targets.Fetched); ok && f.First {
			close(p.sdDone)
		}
	}
}

// settle ends every turn.
func (p *Pipeline) settle(now time.Time, force, waited bool) error {
	p.ingest.Expire(now)
	p.batcher.Release(now, func(receiver string, m *notify.Notification) bool {
		return p.incident.Withdraw(receiver, m, now)
	})
	p.collect(now)
	var err error
	if force || p.writes.urgent() || p.writes.due(now) {
		err = p.commit(now)
	}
	if p.marks.Any() && (waited || !now.Before(p.views.due())) {
		p.publish(now)
	}
	return err
}

// sleep is how long the loop may wait for the clock: until the next probe
// is due, a batch is released, an alert expires, the View may be
// published or states must be written.
func (p *Pipeline) sleep(now time.Time) time.Duration {
	d := maxSleep
	for _, at := range []time.Time{p.sched.NextWake(), p.batcher.Next(), p.ingest.NextExpiry(), p.views.dueIf(p.marks.Any()), p.writes.at} {
		if !at.IsZero() {
			d = min(d, at.Sub(now))
		}
	}
	return max(d, 0)
}

// targetsFetched applies a target list (or its failure).
func (p *Pipeline) targetsFetched(f targets.Fetched, now time.Time) {
	// With several locations, their health is judged by their probes (a
	// location's list that fails is replaced by its last one).
	multi := p.cfg.MultiLocation()
	if f.Err != nil {
		p.source.Failed(f.Err)
		if !multi {
			p.health.Failed(f.Err, now)
		}
		return
	}
	if !multi {
		p.health.Answered(now)
	}
	if f.Unchanged {
		p.applyUpdate(p.source.Unchanged(p.announced, now), now)
		return
	}
	p.applyTargets(f.Groups, now)
}

// probeDone feeds one probe result through the stages: an exporter error
// to the exporter's health only (nothing is known about the target), a
// result to the state machine, its change to the incident stage, and the
// next run to the scheduler.
func (p *Pipeline) probeDone(d scheduler.Done, now time.Time) {
	if !p.sched.Finish(&d) {
		return
	}
	p.ownResults(d.ID) // its own results from now on
	res := d.Result
	if len(res.Locations) > 0 {
		p.probedFrom(d.ID, res, now)
		if res.Err != nil {
			// No location answered: each location's health says it.
			p.sched.Reschedule(&d, p.pending(d.ID), now)
			return
		}
	} else if res.Err != nil {
		if res.Refused {
			p.health.Answered(now) // it is up, this check is misconfigured
		} else {
			p.health.Failed(res.Err, now)
		}
		p.sched.Reschedule(&d, p.pending(d.ID), now)
		return
	}
	p.health.Answered(now)
	ch, st := p.machine.Observe(d.ID, res.Success, res.Reason, now)
	if st == nil {
		return
	}
	p.incident.Observe(d.ID, ch, now)
	p.sched.Reschedule(&d, st.Pending(), now)
	if len(p.o.Observers) > 0 {
		if t, ok := p.source.Get(d.ID); ok {
			for _, o := range p.o.Observers {
				o.Probed(t, res, ch, now)
			}
		}
	}
}

// shutdown writes what is not saved yet, trying again a few times: a
// store that cannot be written at the end loses what it did not take,
// and that is said.
func (p *Pipeline) shutdown() error {
	now := p.clock.Now()
	p.collect(now)
	var err error
	for attempt := 1; ; attempt++ {
		if err = p.write(now, true); err == nil {
			return nil
		}
		if attempt >= p.o.ShutdownRetries {
			break
		}
		p.logger.Warn("Cannot save the last changes before stopping; trying again", "attempt", attempt, "of", p.o.ShutdownRetries, "err", err)
		<-p.clock.After(p.o.FlushInterval)
		now = p.clock.Now()
	}
	p.logger.Error("Could not save the last changes before stopping: the next run starts from the last saved states, so checks that changed since may be announced again",
		"attempts", p.o.ShutdownRetries, "err", err, "lost", p.writes.lostText())
	p.dispatcher.SubmitUnsaved(p.dispatcher.Expand(p.writes.outbox, now), err)
	return fmt.Errorf("pipeline: last changes not saved: %w", err)
}
