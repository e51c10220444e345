package web

import (
	"fmt"
	"net/http"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/dispatch"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

// Receiver is a configured receiver and the IDs of its integrations.
type Receiver struct {
	Name         string
	Integrations []string
}

type receiverRow struct {
	Receiver
	Test *receiverTest // a copy; nil: never tested since the router started
}

// receiverTest is a test of a receiver started from the page.
type receiverTest struct {
	Running           bool
	Started, Finished time.Time
	Results           []dispatch.TestResult
	Error             string // the receiver could not be tested at all
}

// Failed counts the integrations that refused the test.
func (t *receiverTest) Failed() int {
	n := 0
	for _, r := range t.Results {
		if r.Error != "" {
			n++
		}
	}
	return n
}

// receiverRows lists the configured receivers with their last test, and
// whether they can be tested; nil when the page has no receivers section.
func (p *Page) receiverRows() ([]receiverRow, bool) {
	if p.o.Receivers == nil {
		return nil, false
	}
	receivers := p.o.Receivers()
	rows := make([]receiverRow, 0, len(receivers))
	p.testsMu.Lock()
	defer p.testsMu.Unlock()
	for _, rc := range receivers {
		row := receiverRow{Receiver: rc}
		if t := p.tests[rc.Name]; t != nil {
			c := *t
			row.Test = &c
		}
		rows = append(rows, row)
	}
	return rows, p.o.TestReceiver != nil
}

// testReceiver starts a test of a receiver (the "Send test" button) and
// sends the browser back to the page, where the result appears when the
// providers have answered: a Telegram attempt may take over a minute,
// longer than a request may last.
func (p *Page) testReceiver(w http.ResponseWriter, r *http.Request) {
	if !p.postedForm(w, r) {
		return
	}
	name := r.PathValue("name")
	if p.o.TestReceiver == nil || p.o.Receivers == nil {
		http.Error(w, "Receivers cannot be tested here.", http.StatusNotFound)
		return
	}
	if !p.startTest(name) {
		http.Error(w, fmt.Sprintf("Unknown receiver %q: the configuration may have changed; reload the page.", name), http.StatusNotFound)
		return
	}
	seeOther(w, "../../#receivers-title")
}

// startTest starts a test of a configured receiver unless one is running;
// it reports whether the receiver exists. Results of receivers no longer
// configured are forgotten, so what is kept stays bounded by the
// configuration.
func (p *Page) startTest(name string) bool {
	configured := map[string]bool{}
	for _, rc := range p.o.Receivers() {
		configured[rc.Name] = true
	}
	if !configured[name] {
		return false
	}
	p.testsMu.Lock()
	for n := range p.tests {
		if !configured[n] {
			delete(p.tests, n)
		}
	}
	if t := p.tests[name]; t != nil && t.Running {
		p.testsMu.Unlock()
		return true // a second click does not send a second message
	}
	t := &receiverTest{Running: true, Started: p.o.Now()}
	p.tests[name] = t
	p.testsMu.Unlock()
	p.o.Logger.Info("Test notification requested on the status page", "receiver", name)
	go func() {
		results, err := p.o.TestReceiver(p.testsCtx, name)
		for _, r := range results {
			if r.Error != "" {
				p.o.Logger.Warn("Test notification failed", "receiver", name, "integration", r.Integration, "temporary", r.Retry, "err", r.Error)
			} else {
				p.o.Logger.Info("Test notification delivered", "receiver", name, "integration", r.Integration)
			}
		}
		p.testsMu.Lock()
		t.Running, t.Finished, t.Results = false, p.o.Now(), results
		if err != nil {
			t.Error = notify.ScrubErrorText(err.Error())
		}
		p.testsMu.Unlock()
		p.poke()
	}()
	p.poke()
	return true
}

// Changed asks for a live update: something the page shows changed
// outside the pipeline and the silences (the cluster's members). Safe
// from any goroutine; it never blocks.
func (p *Page) Changed() { p.poke() }

// poke asks Run for a live update.
func (p *Page) poke() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}
