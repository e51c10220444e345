package store

import (
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

// The router keeps everything that must survive a restart through these
// interfaces, implemented by Store (one bbolt file). They are the seam
// where part of that state may live elsewhere (a store shared by several
// routers) without the pipeline's stages knowing: the stages never touch
// a store; the pipeline commits what they changed, dispatch keeps the
// outbox and the notification log, package silence the silences.

// State is the pipeline's state: checks, Prometheus alerts, batches
// waiting for their group_wait and the exporter's health, committed in
// one transaction with the outbox entries they caused.
type State interface {
	LoadChecks() (map[string]*CheckRecord, error)
	LoadAlerts() (map[string]*AlertRecord, error)
	LoadGroups() (map[string]*GroupRecord, error)
	LoadExporter() (*CheckRecord, error)
	// Commit writes the batch atomically: states and the notifications
	// they caused are on disk together, or neither is.
	Commit(b *Batch) ([]*OutboxEntry, error)
	// Unreadable reports a record that could not be read (and was read
	// conservatively or skipped).
	Unreadable(bucket, key string, err error)
}

// Outbox is dispatch's memory: pending notifications and the
// notification log of those finished (idempotency).
type Outbox interface {
	Commit(b *Batch) ([]*OutboxEntry, error)
	LoadOutbox() ([]*OutboxEntry, error)
	UpdateOutbox(es ...*OutboxEntry) error
	Finish(es []*OutboxEntry, f Finished) error
	Dropped(integration string, n *notify.Notification) (bool, error)
	Logged(key string) (*LogRecord, error)
	PruneLog(before time.Time) (int, error)
	// Path names the store in logs and messages.
	Path() string
}

// Silences keeps the silences.
type Silences interface {
	SaveSilence(rec *SilenceRecord) error
	LoadSilences() ([]*SilenceRecord, error)
	DeleteSilences(ids []string) error
}

// Interface is the whole store.
type Interface interface {
	State
	Outbox
	Silences
	RecentNotifications(n int) ([]NotificationRecord, error)
	UnreadableRecords() map[string]int
	Close() error
}

var _ Interface = (*Store)(nil)
