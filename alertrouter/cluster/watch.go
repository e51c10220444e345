package cluster

import (
	"context"
	"time"

	"github.com/hashicorp/consul/api"
)

// watchKV follows the keys under prefix with blocking queries until ctx
// ends: got is given every answer and says how long to wait before the
// next query (0: at once; Consul holds it until something changes or
// wait passes, 30 s when 0); failed is called after a failed query, before a second's
// pause and a fresh (non-blocking) query. An index going backwards (Consul
// restored or its state reset) starts over from a fresh query, as Consul's
// documentation asks.
func (s *Store) watchKV(ctx context.Context, prefix string, wait time.Duration, failed func(), got func(api.KVPairs) time.Duration) {
	if wait <= 0 {
		wait = 30 * time.Second
	}
	var index uint64
	kv := s.c.client.KV()
	for ctx.Err() == nil {
		// Consul adds up to wait/16 to spread the answers.
		qctx, cancel := context.WithTimeout(ctx, wait+wait/16+10*time.Second)
		pairs, meta, err := kv.List(prefix, (&api.QueryOptions{WaitIndex: index, WaitTime: wait}).WithContext(qctx))
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			index = 0
			if failed != nil {
				failed()
			}
			if !sleepCtx(ctx, time.Second) {
				return
			}
			continue
		}
		if meta.LastIndex < index {
			index = 0
		} else {
			index = meta.LastIndex
		}
		if pause := got(pairs); pause > 0 && !sleepCtx(ctx, pause) {
			return
		}
	}
}
