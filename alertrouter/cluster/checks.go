package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

// Check state moves with the check. The owner of a check writes its
// record (what the pipeline saves of it: state, retries, flap history,
// who was told and when) under checks/<shard>/<hash of the id> whenever
// it changes. A member that gains a check (a member died or joined)
// reads its record from Consul before its first probe (ReadChecks) and
// continues from it: the incident keeps its start, its reminders their
// schedule, its flap history its changes. Nothing else reads them: the
// members do not keep a copy of one another's records (the view is
// merged from the members' summaries, summaries.go).
//
// Cost. A record is written when what it says changes, not at every
// probe: a DOWN check's growing failure count alone is not a change
// (see sayOf). Writes are coalesced per check and batched into
// transactions of at most maxTxnOps records, at most checkTxnsPerSecond
// of them. The keys are split into checkShards folders, so that a member
// that gains checks reads one folder at a time.

const (
	// checkShards is the number of folders the records are split into
	// (the first hex digit of the key's hash).
	checkShards = 16
	// checkWriteGap coalesces the changes of a burst into one write.
	checkWriteGap = 250 * time.Millisecond
	// checkTxnsPerSecond bounds the writes: 64 records a transaction.
	checkTxnsPerSecond = 20
)

// sharedCheck is a check's record in KV: compact, without what every
// member knows from discovery (target, module, labels).
type sharedCheck struct {
	ID     string             `json:"id"`
	Member string             `json:"m"`
	Record *store.CheckRecord `json:"r"`
}

// records are the records this member owns: what it must write, and a
// digest of what it wrote last of each (16 bytes a check, digests.go: the
// records themselves are in Consul and in the pipeline).
type records struct {
	mu sync.Mutex
	// pending are the records this member owns and must write (nil:
	// delete), latest only. peak is the most it held since it was made:
	// the start-up burst queues every check's first state, and a map
	// never shrinks, so it is made again once drained (wrote).
	pending map[string]queued
	peak    int
	// written is, per check this member owns, the digest of what its
	// record says (sayOf) as written or read last. It holds this
	// member's checks only: the pipeline tells the store of each check
	// it gives away (Store.Forget).
	written *digests
	wake    chan struct{}
}

// queued is a record to write (rec nil: delete), with its digest (sayOf,
// computed once when it is queued).
type queued struct {
	rec *store.CheckRecord
	say uint64
}

func newRecords() *records {
	return &records{pending: map[string]queued{}, written: newDigests(), wake: make(chan struct{}, 1)}
}

// pendingRebuilt is the size past which a drained pending map is made
// again rather than kept.
const pendingRebuilt = 1024

// knownStates are the states a record may have.
var knownStates = [...]string{"unknown", "up", "down"}

func (s *Store) checkKey(id string) string {
	h := hashKey(id)
	return s.c.prefix + "checks/" + h[:1] + "/" + h
}

func shardFolder(prefix string, i int) string {
	return prefix + "checks/" + "0123456789abcdef"[i:i+1] + "/"
}

// shareChecks queues the records of a committed batch that this member
// owns and that say something new.
func (s *Store) shareChecks(checks map[string]*store.CheckRecord) {
	if len(checks) == 0 {
		return
	}
	s.mu.Lock()
	owner := s.owner
	s.mu.Unlock()
	r := s.rep
	r.mu.Lock()
	wake := false
	for id, rec := range checks {
		if owner != nil && !owner(id) {
			continue // another member writes it
		}
		if rec == nil {
			if _, known := r.written.get(id); known || r.pending[id].rec != nil {
				r.pending[id] = queued{}
				wake = true
			}
			continue
		}
		say, ok := sayOf(rec)
		if !ok {
			continue
		}
		if p, ok := r.pending[id]; ok && p.rec != nil {
			if p.say == say {
				continue
			}
		} else if r.written.says(id, say) {
			continue
		}
		r.pending[id] = queued{rec: compact(rec), say: say}
		wake = true
	}
	r.peak = max(r.peak, len(r.pending))
	r.mu.Unlock()
	if wake {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// Forget drops the digest of a check the pipeline gave away to another
// member (pipeline.ForgetObserver): its new owner writes its record now.
// This is what keeps the digests to this member's checks: they are
// known by a hash of their id, which the ownership filter cannot judge.
func (s *Store) Forget(id string) {
	s.rep.mu.Lock()
	s.rep.written.remove(id)
	s.rep.mu.Unlock()
}

// wrote records that the records sent were written: what changed while
// they were written waits for the next round. Once pending drains after
// it grew large, it is made again at its real size.
func (r *records) wrote(sent map[string]queued) {
	for id, q := range sent {
		if cur, ok := r.pending[id]; ok && cur.rec == q.rec {
			delete(r.pending, id)
		}
		if q.rec == nil {
			r.written.remove(id)
		} else {
			r.written.set(id, q.say)
		}
	}
	if len(r.pending) == 0 && r.peak > pendingRebuilt {
		r.pending, r.peak = map[string]queued{}, 0
	}
}

// compact is rec without what discovery says.
func compact(rec *store.CheckRecord) *store.CheckRecord {
	c := *rec
	c.Target, c.Module, c.Labels, c.Locations = "", "", nil, nil
	return &c
}

// sayOf is a digest of what rec tells the cluster: records that differ
// at most in the failure count of a check DOWN (it grows with every probe
// and decides nothing) have the same. ok is false for a record in a
// state the cluster does not share.
func sayOf(rec *store.CheckRecord) (say uint64, ok bool) {
	if !slices.Contains(knownStates[:], rec.State) {
		return 0, false
	}
	c := compact(rec)
	if c.State == "down" {
		c.Failures = 0
	}
	b, err := json.Marshal(c)
	if err != nil {
		return 0, false
	}
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64(), true
}

// writeChecks writes the queued records until ctx ends.
func (s *Store) writeChecks(ctx context.Context) {
	r := s.rep
	budget := checkTxnsPerSecond
	refill := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		}
		if !sleepCtx(ctx, checkWriteGap) {
			return
		}
		for {
			if time.Since(refill) >= time.Second {
				budget, refill = checkTxnsPerSecond, time.Now()
			}
			if budget == 0 {
				if !sleepCtx(ctx, time.Second-time.Since(refill)) {
					return
				}
				continue
			}
			more, ok := s.writeSome(ctx, &budget)
			if !ok {
				// Consul does not answer: try again in a while (what
				// changes meanwhile replaces what waits).
				if !sleepCtx(ctx, 2*time.Second) {
					return
				}
				continue
			}
			if !more {
				break
			}
		}
	}
}

// writeSome writes up to budget transactions of queued records; more
// says some remain.
func (s *Store) writeSome(ctx context.Context, budget *int) (more, ok bool) {
	r := s.rep
	r.mu.Lock()
	ids := r.next(*budget * maxTxnOps)
	r.mu.Unlock()
	if len(ids) == 0 {
		return false, true
	}
	for len(ids) > 0 && *budget > 0 {
		n := min(len(ids), maxTxnOps)
		chunk := ids[:n]
		ids = ids[n:]
		r.mu.Lock()
		ops, sent := s.txnOps(chunk)
		r.mu.Unlock()
		if len(ops) == 0 {
			continue
		}
		if !s.c.consulUp.Load() {
			return true, false
		}
		tctx, cancel := context.WithTimeout(ctx, s.timeout)
		done, _, _, err := s.c.client.Txn().Txn(ops, (&api.QueryOptions{}).WithContext(tctx))
		cancel()
		*budget--
		if err != nil || !done {
			s.logger.Debug("Cannot write check records to Consul; trying again", "err", err)
			return true, false
		}
		s.checkWrites.Add(float64(len(ops)))
		r.mu.Lock()
		r.wrote(sent)
		r.mu.Unlock()
	}
	r.mu.Lock()
	left := len(r.pending)
	r.mu.Unlock()
	return left > 0, true
}

// next returns up to n of the queued ids, sorted. Only what the budget
// lets be written is taken and sorted, not every queued id (every check
// at a member's start): the map is walked from a random place each time,
// so no record waits for ever.
func (r *records) next(n int) []string {
	ids := make([]string, 0, min(n, len(r.pending)))
	for id := range r.pending {
		if len(ids) == n {
			break
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// txnOps are the operations that write the queued records of ids, and
// the records they write (nil: delete); r.mu is held.
func (s *Store) txnOps(ids []string) (api.TxnOps, map[string]queued) {
	r := s.rep
	ops := make(api.TxnOps, 0, len(ids))
	sent := make(map[string]queued, len(ids))
	for _, id := range ids {
		q, ok := r.pending[id]
		if !ok {
			continue
		}
		sent[id] = q
		rec := q.rec
		if rec == nil {
			ops = append(ops, &api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVDelete, Key: s.checkKey(id)}})
			continue
		}
		value, err := json.Marshal(sharedCheck{ID: id, Member: s.c.name, Record: rec})
		if err != nil {
			delete(r.pending, id)
			continue
		}
		ops = append(ops, &api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVSet, Key: s.checkKey(id), Value: value}})
	}
	return ops, sent
}

// ReadChecks reads from Consul the records of the checks owned gives this
// member (nil: every check) that another member wrote last (or this one,
// when it started without saved states: its disk was lost), by check id:
// a check this member gains continues from its record (the pipeline takes
// them with the ownership filter, before the first probe here). The
// shards are read one at a time and only the records kept are decoded
// whole: a member holds the records of what it gains, never the
// cluster's.
func (s *Store) ReadChecks(ctx context.Context, owned func(id string) bool) (map[string]*store.CheckRecord, error) {
	if !s.c.consulUp.Load() {
		return nil, errors.New("consul: read check records: Consul does not answer")
	}
	out := map[string]*store.CheckRecord{}
	for shard := range checkShards {
		folder := shardFolder(s.c.prefix, shard)
		pairs, _, err := s.c.listRaw(ctx, folder, 0, 0, nil)
		if err != nil {
			return out, fmt.Errorf("consul: read check records: %w", err)
		}
		for i := range pairs {
			p := &pairs[i]
			var sc sharedCheck
			value, err := p.value()
			if err == nil {
				err = json.Unmarshal(value, &sc)
			}
			if err != nil || sc.ID == "" || sc.Record == nil || s.checkKey(sc.ID) != p.Key {
				s.logger.Warn("Ignoring an unreadable shared check record", "key", p.Key, "err", err)
				continue
			}
			// Its own records are in its store, as new, unless it lost it.
			if (sc.Member == s.c.name && s.savedChecks.Load()) || (owned != nil && !owned(sc.ID)) {
				continue
			}
			if !slices.Contains(knownStates[:], sc.Record.State) {
				s.logger.Warn("Ignoring a shared check record with an unknown state", "key", p.Key, "state", sc.Record.State)
				continue
			}
			out[sc.ID] = sc.Record
			// What it says now: not written back unless it changes.
			if say, ok := sayOf(sc.Record); ok {
				s.rep.mu.Lock()
				s.rep.written.set(sc.ID, say)
				s.rep.mu.Unlock()
			}
		}
	}
	return out, nil
}
