package dispatch

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

// countingNotifier accepts every notification at once and counts them.
type countingNotifier struct {
	n    atomic.Int64
	done chan struct{}
	want int64
}

func (c *countingNotifier) Notify(context.Context, *notify.Notification) (bool, error) {
	if c.n.Add(1) == c.want {
		close(c.done)
	}
	return false, nil
}

// BenchmarkDispatch measures the outbox path of one notification: expanded
// to its integration, committed to the store with the state change that
// caused it, delivered by a notifier that accepts it at once, and recorded
// as delivered (a transaction of its own). ns/op is per notification.
func BenchmarkDispatch(b *testing.B) {
	st, err := store.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	notifier := &countingNotifier{done: make(chan struct{}), want: int64(b.N)}
	d := New(Options{Store: st, Policy: Policy{MaxAge: time.Hour, MinBackoff: time.Second, MaxBackoff: time.Minute, Timeout: 5 * time.Second}})
	d.SetIntegrations([]*Integration{{ID: "ops/webhook/0", Receiver: "ops", Type: "webhook", Notifier: notifier, SendResolved: true}}, d.policy)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	// Entries are due when created: the real clock, not a fixed date.
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		target := fmt.Sprintf("https://site%d.example", i)
		n := &notify.Notification{
			Key: target + "|http_2xx|" + now.Format(time.RFC3339) + "|down", Receiver: "ops", Kind: notify.KindDown, Status: notify.StatusFiring,
			Alerts: []notify.Alert{{
				Labels:      map[string]string{"alertname": "ProbeFailed", "instance": target, "module": "http_2xx"},
				Annotations: map[string]string{"summary": target + " (http_2xx) is DOWN: connection refused", "description": "connection refused"},
				StartsAt:    now, Status: notify.StatusFiring, Reason: "connection refused",
			}},
			CreatedAt: now,
		}
		entries := d.Expand([]*notify.Notification{n}, now)
		added, err := st.Commit(&store.Batch{Checks: map[string]*store.CheckRecord{target + "|http_2xx": {Target: target, Module: "http_2xx", State: "down", Since: now}}, Outbox: entries})
		if err != nil {
			b.Fatal(err)
		}
		d.Submit(added)
	}
	select {
	case <-notifier.done:
	case <-time.After(time.Minute):
		b.Fatalf("%d of %d notifications delivered after a minute", notifier.n.Load(), b.N)
	}
}
