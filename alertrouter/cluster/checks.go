package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

// Check state moves with the check. The owner of a check writes its
// record (what the pipeline saves of it: state, retries, flap history,
// who was told and when) under checks/<shard>/<hash of the id> whenever
// it changes; every member follows those keys with blocking queries and
// keeps a replica. The pipeline shows the replica's state for the checks
// other members probe (the status page, the API and /status are the
// cluster's), and a member that takes a check over continues from it:
// the incident keeps its start, its reminders their schedule, its flap
// history its changes.
//
// Cost. A record is written when what it says changes, not at every
// probe: a DOWN check's growing failure count alone is not a change
// (see significant). Writes are coalesced per check and batched into
// transactions of at most maxTxnOps records, at most checkTxnsPerSecond
// of them. The keys are split into checkShards folders, each followed by
// its own blocking query, so that a change makes every member read again
// one shard, not every record; a shard is read at most once per
// checkReadGap and a millisecond per record it holds.

const (
	// checkShards is the number of folders the records are split into
	// (the first hex digit of the key's hash).
	checkShards = 16
	// checkWriteGap coalesces the changes of a burst into one write.
	checkWriteGap = 250 * time.Millisecond
	// checkTxnsPerSecond bounds the writes: 64 records a transaction.
	checkTxnsPerSecond = 20
	// checkReadGap is the least time between two reads of a shard, plus
	// checkReadGapPerRecord for each record it holds: under churn a
	// member reads each shard at most that often, which bounds what it
	// reads per second (about 16 × 300 B × 1000 = 5 MB/s, whatever the
	// number of checks) at the price of a later view of large shards.
	checkReadGap          = 250 * time.Millisecond
	checkReadGapPerRecord = time.Millisecond
	// checkWatchWait is how long Consul holds a shard's query when
	// nothing changes. Its answer is then the whole shard again, every
	// record decoded by the client to be found unchanged: with the usual
	// 30 s, a member of a cluster of 50,000 checks decoded 15 MB of
	// records every 30 s for nothing. A change answers at once whatever
	// the wait.
	checkWatchWait = 5 * time.Minute
)

// sharedCheck is a check's record in KV: compact, without what every
// member knows from discovery (target, module, labels).
type sharedCheck struct {
	ID     string             `json:"id"`
	Member string             `json:"m"`
	Record *store.CheckRecord `json:"r"`
}

// replica is this member's copy of the records in KV.
type replica struct {
	mu sync.Mutex
	// shards are the records read (or written), per shard, by the hash
	// that names their key, decoded once into a compact form
	// (sharedState). The JSON of each record and its key were kept
	// before, and with a second index by check id they were the largest
	// part of a member's heap beyond a lone router's.
	shards [checkShards]map[keyHash]*replicated
	// failing is, per shard, since when Consul does not answer its
	// reads (zero: it does).
	failing [checkShards]time.Time
	// members interns the names of the members that wrote records (a
	// handful), so that records share them.
	members map[string]string

	// pending are the records this member owns and must write (nil:
	// delete), latest only.
	pending map[string]*store.CheckRecord
	wake    chan struct{}

	onChange func(ids []string)
}

// replicated is one record of the replica.
type replicated struct {
	id     string
	member string
	// index is the modify index of its key when it was read; 0 when this
	// member wrote it and has not read it back yet.
	index uint64
	st    sharedState
}

// get is the record of a check, nil when there is none.
func (r *replica) get(id string) *replicated {
	h := hashOf(id)
	return r.shards[h.shard()][h]
}

// each calls f with every record.
func (r *replica) each(f func(e *replicated)) {
	for _, m := range r.shards {
		for _, e := range m {
			f(e)
		}
	}
}

// sharedState is what a shared record says of a check (store.CheckRecord
// without what discovery says), in 40 bytes instead of a record's 208
// (plus its JSON): times as Unix nanoseconds (0: zero), counts as int32,
// the state as a byte, the last failure's reason behind a pointer (nil:
// none; an UP check keeps the reason of its last failure, but most never
// failed), and what an UP check does not have (a streak of failures, flap
// history, who was told) behind another. A member keeps one for every
// check of the cluster: at 50,000 checks, each 8 bytes here are 400 kB on
// every member.
type sharedState struct {
	since               int64
	more                *sharedMore
	reason              *string
	failures, successes int32
	state               uint8
	flapping            bool
}

// sharedMore is the part of a sharedState most checks do not have.
type sharedMore struct {
	failingSince, flappingSince int64
	changes                     []int64
	notified                    map[string]store.Notified
}

// sharedStates are the states a record may have, by sharedState.state.
var sharedStates = [...]string{"unknown", "up", "down"}

// newSharedState is rec's compact form; nil when its state is not one of
// sharedStates.
func newSharedState(rec *store.CheckRecord) *sharedState {
	st := -1
	for i, name := range sharedStates {
		if rec.State == name {
			st = i
		}
	}
	if st < 0 || rec.Failures != int(int32(rec.Failures)) || rec.Successes != int(int32(rec.Successes)) ||
		!nanoTime(rec.Since) || !nanoTime(rec.FailingSince) || !nanoTime(rec.FlappingSince) ||
		slices.ContainsFunc(rec.Changes, func(t time.Time) bool { return !nanoTime(t) }) {
		return nil
	}
	c := &sharedState{
		since: unixNano(rec.Since), failures: int32(rec.Failures), successes: int32(rec.Successes),
		state: uint8(st), flapping: rec.Flapping,
	}
	if rec.Reason != "" {
		reason := rec.Reason
		c.reason = &reason
	}
	if rec.FailingSince.IsZero() && rec.FlappingSince.IsZero() && len(rec.Changes) == 0 && len(rec.Notified) == 0 {
		return c
	}
	c.more = &sharedMore{failingSince: unixNano(rec.FailingSince), flappingSince: unixNano(rec.FlappingSince)}
	if len(rec.Changes) > 0 {
		c.more.changes = make([]int64, len(rec.Changes))
		for i, at := range rec.Changes {
			c.more.changes[i] = unixNano(at)
		}
	}
	if len(rec.Notified) > 0 {
		c.more.notified = maps.Clone(rec.Notified)
	}
	return c
}

// record is the store.CheckRecord c stands for (a new one: the caller
// may keep it).
func (c *sharedState) record() *store.CheckRecord {
	rec := &store.CheckRecord{
		State: sharedStates[c.state], Failures: int(c.failures), Successes: int(c.successes),
		Since: fromUnixNano(c.since), Flapping: c.flapping,
	}
	if c.reason != nil {
		rec.Reason = *c.reason
	}
	if c.more == nil {
		return rec
	}
	rec.FailingSince, rec.FlappingSince = fromUnixNano(c.more.failingSince), fromUnixNano(c.more.flappingSince)
	if len(c.more.changes) > 0 {
		rec.Changes = make([]time.Time, len(c.more.changes))
		for i, at := range c.more.changes {
			rec.Changes[i] = fromUnixNano(at)
		}
	}
	if len(c.more.notified) > 0 {
		rec.Notified = maps.Clone(c.more.notified)
	}
	return rec
}

// nanoTime reports whether t is zero or fits in Unix nanoseconds (years
// 1678 to 2262, the Unix epoch itself excluded: 0 is the zero time).
func nanoTime(t time.Time) bool {
	return t.IsZero() || (t.UnixNano() != 0 && time.Unix(0, t.UnixNano()).Equal(t))
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// intern returns the replica's copy of a member's name. r.mu is held.
func (r *replica) intern(name string) string {
	if n, ok := r.members[name]; ok {
		return n
	}
	if len(r.members) < 64 { // names are few; a flood of odd ones is not kept
		r.members[name] = name
	}
	return name
}

func newReplica() *replica {
	r := &replica{members: map[string]string{}, pending: map[string]*store.CheckRecord{}, wake: make(chan struct{}, 1)}
	for i := range r.shards {
		r.shards[i] = map[keyHash]*replicated{}
	}
	return r
}

// SetChecksChanged gives the store the function it calls with the ids of
// the records other members changed (pipeline.ReplicaChanged).
func (s *Store) SetChecksChanged(f func(ids []string)) {
	s.rep.mu.Lock()
	s.rep.onChange = f
	s.rep.mu.Unlock()
}

// SharedCheck returns the cluster's record of a check written by another
// member, nil when there is none (pipeline.Replica). The caller must not
// change it.
func (s *Store) SharedCheck(id string) *store.CheckRecord {
	s.rep.mu.Lock()
	defer s.rep.mu.Unlock()
	e := s.rep.get(id)
	if e == nil {
		return nil
	}
	// The caller's id is the one its target list holds (the pipeline
	// asks for every check it lists): the replica keeps that string
	// rather than the copy decoded from the record, one less per check.
	if e.id == id {
		e.id = id
	}
	if e.member == s.c.name {
		return nil
	}
	return e.st.record()
}

// SharedOwner returns the member that last wrote a check's record.
func (s *Store) SharedOwner(id string) string {
	s.rep.mu.Lock()
	defer s.rep.mu.Unlock()
	if e := s.rep.get(id); e != nil {
		return e.member
	}
	return ""
}

// ReplicaStale reports since when the replica may be out of date (zero:
// it is not): Consul did not answer the last read of some shard.
func (s *Store) ReplicaStale() time.Time {
	s.rep.mu.Lock()
	defer s.rep.mu.Unlock()
	var oldest time.Time
	for _, at := range s.rep.failing {
		if !at.IsZero() && (oldest.IsZero() || at.Before(oldest)) {
			oldest = at
		}
	}
	return oldest
}

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
	queued := false
	for id, rec := range checks {
		if owner != nil && !owner(id) {
			continue // another member writes it
		}
		prev := r.get(id)
		known := prev != nil
		if rec == nil {
			if known || r.pending[id] != nil {
				r.pending[id] = nil
				queued = true
			}
			continue
		}
		if p, ok := r.pending[id]; ok && p != nil && sameSay(p, rec) {
			continue
		}
		if known && sameSay(prev.st.record(), rec) {
			continue
		}
		r.pending[id] = compact(rec)
		queued = true
	}
	r.mu.Unlock()
	if queued {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// compact is rec without what discovery says.
func compact(rec *store.CheckRecord) *store.CheckRecord {
	c := *rec
	c.Target, c.Module, c.Labels, c.Locations = "", "", nil, nil
	return &c
}

// sameSay reports whether rec tells the cluster nothing prev did not:
// they differ at most in the failure count of a check already DOWN (it
// grows with every probe and decides nothing).
func sameSay(prev, rec *store.CheckRecord) bool {
	a, b := *compact(prev), *compact(rec)
	if a.State == "down" && b.State == "down" {
		b.Failures = a.Failures
	}
	ja, err1 := json.Marshal(&a)
	jb, err2 := json.Marshal(&b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
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
	ids := slices.Sorted(maps.Keys(r.pending))
	r.mu.Unlock()
	if len(ids) == 0 {
		return false, true
	}
	for len(ids) > 0 && *budget > 0 {
		n := min(len(ids), maxTxnOps)
		chunk := ids[:n]
		ids = ids[n:]
		var ops api.TxnOps
		sent := map[string]*store.CheckRecord{}
		r.mu.Lock()
		for _, id := range chunk {
			rec, queued := r.pending[id]
			if !queued {
				continue
			}
			sent[id] = rec
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
		for id, rec := range sent {
			// What changed while it was written waits for the next round.
			if cur, ok := r.pending[id]; ok && cur == rec {
				delete(r.pending, id)
			}
			// The replica has it now: the watch confirms it later.
			h := hashOf(id)
			m := r.shards[h.shard()]
			e, known := m[h]
			var st *sharedState
			if rec != nil {
				st = newSharedState(rec)
			}
			switch {
			case st == nil:
				delete(m, h)
			case known:
				// id is the pipeline's (its batch's): kept rather than a
				// copy decoded from a record (SharedCheck).
				e.id, e.member, e.index, e.st = id, s.c.name, 0, *st
			default:
				m[h] = &replicated{id: id, member: s.c.name, st: *st}
			}
			if known != (st != nil) {
				s.known.Add(1)
			}
		}
		r.mu.Unlock()
	}
	r.mu.Lock()
	left := len(r.pending)
	r.mu.Unlock()
	return left > 0, true
}

// watchChecks follows one shard of the records with blocking queries and
// tells the pipeline which changed.
func (s *Store) watchChecks(ctx context.Context, shard int) {
	r := s.rep
	failed := func() {
		r.mu.Lock()
		if r.failing[shard].IsZero() {
			r.failing[shard] = time.Now()
		}
		r.mu.Unlock()
	}
	folder := shardFolder(s.c.prefix, shard)
	known := func(key string, index uint64) bool {
		h, ok := parseKeyHash(key, folder)
		if !ok {
			return false
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		e := r.shards[shard][h]
		return e != nil && e.index == index
	}
	s.watchRaw(ctx, folder, checkWatchWait, failed, known, func(pairs []rawPair) time.Duration {
		changed := s.applyShard(shard, pairs)
		r.mu.Lock()
		r.failing[shard] = time.Time{}
		f := r.onChange
		r.mu.Unlock()
		if f != nil && len(changed) > 0 {
			f(changed)
		}
		return checkReadGap + time.Duration(len(pairs))*checkReadGapPerRecord
	})
}

// applyShard takes one answer of a shard into the replica and returns
// the ids of the records that changed (other members' only).
func (s *Store) applyShard(shard int, pairs []rawPair) []string {
	r := s.rep
	r.mu.Lock()
	defer r.mu.Unlock()
	folder := shardFolder(s.c.prefix, shard)
	prev := r.shards[shard]
	next := make(map[keyHash]*replicated, len(pairs))
	var changed []string
	for i := range pairs {
		p := &pairs[i]
		h, ok := parseKeyHash(p.Key, folder)
		e := prev[h]
		if ok && e != nil && (e.index == p.ModifyIndex || p.Value == nil) {
			// Unchanged; or, without its value (listRaw was told it was
			// known), changed here since: the next answer has it.
			next[h] = e
			continue
		}
		if ok && e == nil && p.Value == nil {
			continue // known when read, deleted here since: so is the key
		}
		var sc sharedCheck
		value, err := p.value()
		if err == nil {
			err = json.Unmarshal(value, &sc)
		}
		var st *sharedState
		if err == nil && sc.Record != nil {
			st = newSharedState(sc.Record)
		}
		if !ok || err != nil || sc.ID == "" || st == nil || s.checkKey(sc.ID) != p.Key {
			s.logger.Warn("Ignoring an unreadable shared check record", "key", p.Key, "err", err)
			continue
		}
		if e == nil {
			e = &replicated{id: sc.ID}
			s.known.Add(1)
		}
		e.member, e.index, e.st = r.intern(sc.Member), p.ModifyIndex, *st
		next[h] = e
		if sc.Member != s.c.name {
			changed = append(changed, e.id)
		}
	}
	for h, e := range prev {
		if _, ok := next[h]; ok {
			continue
		}
		if e.index == 0 {
			// Written here, not in this answer yet: the next one has it.
			next[h] = e
			continue
		}
		s.known.Add(1)
	}
	r.shards[shard] = next
	return changed
}

// keyHash is the hash that names a record's key (hashKey, decoded): the
// replica's index of a shard keeps it rather than the key, a string of
// the prefix and 40 hex digits per check.
type keyHash [20]byte

// hashOf is the hash that names the key of a check's record.
func hashOf(id string) keyHash {
	sum := sha256.Sum256([]byte(id))
	return keyHash(sum[:len(keyHash{})])
}

// shard is the shard of the key h names (its first hex digit).
func (h keyHash) shard() int { return int(h[0] >> 4) }

// parseKeyHash is the hash of key, a record's key in folder.
func parseKeyHash(key, folder string) (keyHash, bool) {
	var h keyHash
	rest, ok := strings.CutPrefix(key, folder)
	if !ok || len(rest) != 2*len(h) {
		return h, false
	}
	for i := range h {
		hi, ok1 := unhex(rest[2*i])
		lo, ok2 := unhex(rest[2*i+1])
		if !ok1 || !ok2 {
			return h, false
		}
		h[i] = hi<<4 | lo
	}
	return h, true
}

// unhex is the value of a lower-case hex digit (hashKey's).
func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// ReadChecks reads from Consul the records of the checks owned gives this
// member (nil: every check) that another member wrote last, by check id:
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
			if sc.Member == s.c.name || (owned != nil && !owned(sc.ID)) {
				continue
			}
			if newSharedState(sc.Record) == nil {
				s.logger.Warn("Ignoring a shared check record with an unknown state", "key", p.Key, "state", sc.Record.State)
				continue
			}
			out[sc.ID] = sc.Record
		}
	}
	return out, nil
}
