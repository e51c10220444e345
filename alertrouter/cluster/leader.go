package cluster

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/hashicorp/consul/api"
)

// Leader is a Consul lock under the cluster's key prefix: at most one live
// member holds it, for work only one member may do (polling Telegram's
// getUpdates, say). It satisfies interface{ IsLeader() bool }.
//
// A member is leader while Consul confirms it holds the lock; when Consul
// cannot confirm it for longer than the session TTL (the lock may have
// been released by then) it stops being leader, so that two members never
// both believe they lead for longer than that.
type Leader struct {
	c       *Cluster
	key     string
	leader  atomic.Bool
	changes chan bool
}

// NewLeader makes a lock named name (a key under the prefix's "leader/").
// Run it with Run.
func (c *Cluster) NewLeader(name string) *Leader {
	return &Leader{c: c, key: c.prefix + "leader/" + name, changes: make(chan bool, 1)}
}

// IsLeader reports whether this member holds the lock now.
func (l *Leader) IsLeader() bool { return l.leader.Load() }

// Changes receives the new value each time leadership changes (the latest
// only, if the reader is slow).
func (l *Leader) Changes() <-chan bool { return l.changes }

func (l *Leader) set(v bool) {
	if l.leader.Swap(v) == v {
		return
	}
	l.c.logger.Info("Leadership changed", "lock", l.key, "leader", v)
	select {
	case <-l.changes:
	default:
	}
	l.changes <- v
}

// Run acquires the lock whenever it is free and follows who holds it,
// until ctx ends; then it releases it.
func (l *Leader) Run(ctx context.Context) error {
	kv := l.c.client.KV()
	var index uint64
	confirmed := time.Time{}
	for ctx.Err() == nil {
		session := l.c.Session()
		if l.leader.Load() && time.Since(confirmed) > l.c.o.TTL {
			l.set(false)
		}
		if session == "" {
			l.set(false)
			if !sleepCtx(ctx, time.Second) {
				break
			}
			continue
		}
		// Short blocking queries: each answer confirms the lock.
		qctx, cancel := context.WithTimeout(ctx, l.c.o.TTL)
		q := (&api.QueryOptions{WaitIndex: index, WaitTime: l.c.o.TTL / 3}).WithContext(qctx)
		pair, meta, err := kv.Get(l.key, q)
		cancel()
		if err != nil {
			index = 0
			if !sleepCtx(ctx, time.Second) {
				break
			}
			continue
		}
		index = meta.LastIndex
		if pair == nil || pair.Session == "" {
			actx, cancel := context.WithTimeout(ctx, l.c.o.TTL)
			ok, _, err := kv.Acquire(&api.KVPair{Key: l.key, Value: []byte(l.c.name), Session: session}, (&api.WriteOptions{}).WithContext(actx))
			cancel()
			if err == nil && ok {
				confirmed = time.Now()
				l.set(true)
			} else if err == nil {
				l.set(false) // the lock is free but not ours (a dead session, or the lock delay)
			}
			index = 0
			if !ok || err != nil {
				// Lock delay after a holder died, or Consul trouble.
				if !sleepCtx(ctx, time.Second) {
					break
				}
			}
			continue
		}
		if pair.Session == session {
			confirmed = time.Now()
			l.set(true)
		} else {
			l.set(false)
		}
	}
	if l.leader.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, _, _ = kv.Release(&api.KVPair{Key: l.key, Session: l.c.Session()}, (&api.WriteOptions{}).WithContext(ctx)) // the session's end releases it anyway
	}
	l.set(false)
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}
