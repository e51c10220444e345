// Package history keeps what the router saw of each check over time, on
// disk under --storage.path: availability and latency in buckets (5
// minutes for 48 hours, hours for 30 days, days for a year) and the last
// incidents (start, end, reason, who was told, what muted them). It taps
// the pipeline (it is a pipeline.Observer) and never makes the pipeline
// wait for the disk: results are added up in memory and written by a
// background flush every FlushInterval.
//
// Disk: RecordSize (48,144 bytes) per check at most, in rings that
// overwrite themselves (see format.go), and an index of which check owns
// which slot (history/index). At most MaxChecks slots: beyond, the check
// probed least recently gives its slot up. The files are sparse: a check
// takes disk as its rows are written.
//
// Memory: a small entry per check (its identity is the pipeline's Target,
// shared; its availability sums over 24 h, 7 d and 30 d, so that lists and
// groups read no disk), and what waits for the next flush.
//
// Availability is successful rounds over rounds, a round being one probe
// result. Rounds in a maintenance window (every route of the check muted
// by mute_time_intervals or outside its active_time_intervals) count for
// neither: planned work is not downtime. Silenced rounds count like any
// other: a silence keeps people from being told, the service is still
// down. Time the router does not run has no rounds and counts for neither.
package history

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/checkstate"
	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
	"github.com/vigie-monitoring/vigie/alertrouter/internal/clock"
	"github.com/vigie-monitoring/vigie/alertrouter/rules"
	"github.com/vigie-monitoring/vigie/alertrouter/targets"
	"github.com/vigie-monitoring/vigie/alertrouter/view"
)

// Files inside --storage.path.
const (
	Dir           = "history"
	IndexFile     = "index"
	MetaFile      = "meta.json"
	IncidentsFile = "incidents.dat"
	SumsFile      = "sums.dat"
)

// ringFiles are the rings' files, by resolution.
var ringFiles = [...]string{"5m.dat", "1h.dat", "1d.dat"}

// Defaults.
const (
	DefaultFlushInterval = 10 * time.Second
	DefaultMaxChecks     = 200_000
	// maxPending bounds the buckets waiting for a flush when the disk
	// refuses writes: beyond, the oldest are dropped (and logged).
	maxPending = 1 << 20
)

// Options configure a History.
type Options struct {
	// Path is --storage.path; the history lives in its subdirectory Dir.
	Path string
	// Config gives the maintenance windows (SetConfig changes it).
	Config *config.RouterConfig
	// Problems returns the checks that are down, with who was told and
	// what mutes them (the pipeline's View); nil: incidents do not say.
	Problems func() []view.CheckView
	Clock    clock.Clock
	Logger   *slog.Logger
	// FlushInterval is how often what was added up is written (default
	// 10s): a crash loses at most that much history.
	FlushInterval time.Duration
	// MaxChecks bounds the checks kept (default 200,000). It is fixed
	// when the history is created (the rings' rows are that wide): later
	// values are ignored.
	MaxChecks int
}

// History is the per-check history. Probed is called by the pipeline's
// goroutine; the readers from any goroutine.
type History struct {
	o      Options
	logger *slog.Logger
	clock  clock.Clock
	dir    string
	rings  [3]*os.File
	incs   *os.File
	sumsF  *os.File
	index  *os.File
	stride int64 // bytes per row of a ring: MaxChecks cells
	// used is one past the highest slot that held a check when the
	// history was opened: a slot below it may hold another check's cells.
	used int32

	cfgMu   sync.Mutex
	cfg     *config.RouterConfig
	rules   *rules.Set // for Probed's goroutine only
	rulesOf *config.RouterConfig

	mu       sync.RWMutex
	checks   map[string]*entry
	grown    int      // the most checks had since their map was made
	bySlot   []*entry // nil: free
	pending  map[pkey]*counts
	events   []event
	newSlots []*entry // records to initialise at the next flush
	free     []int32  // records no check owns
	dropped  int
	// kept are the records of checks another cluster member probes now
	// (Forget), by the hash of their id: their rows stay on disk for
	// their history (Detail) until the record is needed (allocate) or
	// the check is removed. 8+4 bytes of map per check, no entry.
	kept      map[uint64]int32
	keptGrown int
	// keptLines are the index lines saying which records are kept or
	// freed since the last flush.
	keptLines []keptLine

	statsMu      sync.Mutex // guards the metrics below
	writeErrors  uint64
	droppedTotal uint64
	lastWrite    time.Duration

	flushMu    sync.Mutex // one flush at a time
	sumEpoch   uint32     // the 5-minute epoch the entries' sums end at
	told       map[string]string
	indexLines int
	closed     bool
}

// entry is one check in memory: 120 bytes (one per check, 10^5 on a
// large router).
type entry struct {
	id      string
	t       *targets.Target // nil until probed since the start
	slot    int32           // -1: gave its record up
	state   checkstate.State
	reused  bool // its slot may hold another check's cells: clear them
	removed bool // gone from discovery (Removed)
	// forgotten: another cluster member probes it now (Forget); what
	// waits for the flush still goes to its record while it is kept.
	forgotten bool
	// resumed: the incident its state says is open was looked for
	// (once per run: a check taken over DOWN continues its incident).
	resumed bool
	// unflushed: its record was given since the last flush, which has
	// not written it yet.
	unflushed bool
	last      int64 // last probe, Unix nanoseconds (0: none since the start)

	// sums are the windows' rounds and successes as written (ending at
	// History.sumEpoch); pend what waits for the flush.
	sums [3]counts
	pend counts
}

// lastProbe is when the check was last probed (zero: not since the start).
func (e *entry) lastProbe() time.Time {
	if e.last == 0 {
		return time.Time{}
	}
	return time.Unix(0, e.last)
}

type pkey struct {
	e  *entry
	e5 uint32
}

type event struct {
	e    *entry
	open bool
	// resume opens the incident only if the record has not got it open
	// (or under the same start) already.
	resume bool
	at     time.Time
	reason string
}

// Open opens (or creates) the history under o.Path.
func Open(o Options) (*History, error) {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.MaxChecks <= 0 {
		o.MaxChecks = DefaultMaxChecks
	}
	dir := filepath.Join(o.Path, Dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	h := newHistory(o, dir)
	err := h.open()
	if errors.Is(err, errDamaged) {
		// History is statistics: a damaged one is moved aside and a new
		// one started, rather than the router refusing to start.
		_ = h.closeFiles() // read only so far
		moved := fmt.Sprintf("%s.damaged-%s", dir, o.Clock.Now().UTC().Format("20060102T150405Z"))
		if mvErr := os.Rename(dir, moved); mvErr != nil {
			return nil, fmt.Errorf("%w; moving it aside failed: %v", err, mvErr)
		}
		o.Logger.Error("The history is damaged: moved it aside and started a new one", "moved_to", moved, "err", err)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
		h = newHistory(o, dir)
		err = h.open()
	}
	if err != nil {
		_ = h.closeFiles() // the error that matters is err
		return nil, err
	}
	return h, nil
}

func newHistory(o Options, dir string) *History {
	return &History{o: o, logger: o.Logger, clock: o.Clock, dir: dir, cfg: o.Config,
		checks: map[string]*entry{}, pending: map[pkey]*counts{}, told: map[string]string{}, kept: map[uint64]int32{}}
}

// errDamaged is a history this version cannot read.
var errDamaged = errors.New("history: damaged")

type meta struct {
	Version   int `json:"version"`
	MaxChecks int `json:"max_checks"`
}

func (h *History) open() error {
	path := filepath.Join(h.dir, MetaFile)
	var m meta
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		m = meta{Version: 1, MaxChecks: h.o.MaxChecks}
		b, _ = json.Marshal(m)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return fmt.Errorf("history: %w", err)
		}
	case err != nil:
		return fmt.Errorf("history: %w", err)
	default:
		if err := json.Unmarshal(b, &m); err != nil || m.Version != 1 || m.MaxChecks <= 0 || m.MaxChecks > 1<<24 {
			return fmt.Errorf("%w: %s is not a history of this version: %q", errDamaged, path, truncate(string(b), 200))
		}
	}
	if m.MaxChecks != h.o.MaxChecks && h.o.MaxChecks != DefaultMaxChecks {
		h.logger.Warn("The history keeps the number of checks it was created with", "max_checks", m.MaxChecks)
	}
	h.o.MaxChecks = m.MaxChecks
	h.stride = int64(m.MaxChecks) * cellSize
	for r, name := range ringFiles {
		if h.rings[r], err = os.OpenFile(filepath.Join(h.dir, name), os.O_RDWR|os.O_CREATE, 0o644); err != nil {
			return fmt.Errorf("history: %w", err)
		}
	}
	if h.incs, err = os.OpenFile(filepath.Join(h.dir, IncidentsFile), os.O_RDWR|os.O_CREATE, 0o644); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	if h.sumsF, err = os.OpenFile(filepath.Join(h.dir, SumsFile), os.O_RDWR|os.O_CREATE, 0o644); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	if err := h.loadIndex(); err != nil {
		return err
	}
	return h.loadSums()
}

func (h *History) closeFiles() error {
	var errs []error
	for _, f := range append(h.rings[:], h.incs, h.sumsF, h.index) {
		if f != nil {
			errs = append(errs, f.Close())
		}
	}
	return errors.Join(errs...)
}

// The index is a log of lines, the last line of a record saying what it
// holds: `<slot>\t"<id>"` (a check), `<slot>\tk<hash>` (kept for a check
// another cluster member probes now, by idHash) or `<slot>\t-` (free).
// An older version skips the last two kinds as unreadable lines.

// keptLine is an index line to write: slot is kept for hash, or free
// (free true).
type keptLine struct {
	slot int32
	hash uint64
	free bool
}

func (l keptLine) String() string {
	if l.free {
		return fmt.Sprintf("%d\t-\n", l.slot)
	}
	return fmt.Sprintf("%d\tk%016x\n", l.slot, l.hash)
}

// idHash identifies a check whose record is kept (64-bit FNV-1a of its
// id): stable across restarts, and 10^5 checks collide with odds of
// about 3 in 10^10.
func idHash(id string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	return h
}

// loadIndex reads which check owns which record, and rewrites the index
// when it holds more superseded lines than live ones.
func (h *History) loadIndex() error {
	path := filepath.Join(h.dir, IndexFile)
	f, err := os.Open(path)
	owners := map[int32]string{}
	kept := map[int32]uint64{}
	lines := 0
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("history: %w", err)
	default:
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			lines++
			slotText, what, ok := strings.Cut(sc.Text(), "\t")
			slot, err1 := strconv.ParseInt(slotText, 10, 32)
			if !ok || err1 != nil || slot < 0 || int(slot) >= h.o.MaxChecks {
				h.logger.Warn("Skipping an unreadable line of the history index", "line", lines)
				continue
			}
			switch {
			case what == "-":
				delete(owners, int32(slot))
				delete(kept, int32(slot))
				continue
			case strings.HasPrefix(what, "k"):
				if hash, err := strconv.ParseUint(what[1:], 16, 64); err == nil {
					delete(owners, int32(slot))
					kept[int32(slot)] = hash
					continue
				}
			default:
				if id, err := strconv.Unquote(what); err == nil {
					delete(kept, int32(slot))
					owners[int32(slot)] = id
					continue
				}
			}
			// A line cut by a crash: the record it names is
			// initialised again when its check comes back.
			h.logger.Warn("Skipping an unreadable line of the history index", "line", lines)
		}
		err := sc.Err()
		_ = f.Close() // read only
		if err != nil {
			return fmt.Errorf("history: read %s: %w", path, err)
		}
	}
	grow := func(slot int32) {
		for int(slot) >= len(h.bySlot) {
			h.bySlot = append(h.bySlot, nil)
		}
	}
	for slot, id := range owners {
		if prev, ok := h.checks[id]; ok {
			// Two records for one id (a line for the newer was written,
			// the older's release was not): keep the higher slot.
			if prev.slot > slot {
				continue
			}
			h.bySlot[prev.slot] = nil
		}
		e := &entry{id: id, slot: slot}
		h.checks[id] = e
		grow(slot)
		h.bySlot[slot] = e
	}
	owned := make(map[uint64]bool, len(kept))
	if len(kept) > 0 {
		for id := range h.checks {
			owned[idHash(id)] = true
		}
	}
	keptSlots := map[int32]bool{}
	for slot, hash := range kept {
		// A check that is this member's again has its record; a hash
		// kept twice keeps the higher slot (as ids do).
		if prev, ok := h.kept[hash]; owned[hash] || (ok && prev > slot) {
			continue
		} else if ok {
			delete(keptSlots, prev)
		}
		h.kept[hash] = slot
		keptSlots[slot] = true
		grow(slot)
	}
	h.keptGrown = len(h.kept)
	for i, e := range h.bySlot {
		if e == nil && !keptSlots[int32(i)] {
			h.free = append(h.free, int32(i))
		}
	}
	h.used = int32(len(h.bySlot))
	if lines > 2*(len(h.checks)+len(h.kept))+64 {
		if err := h.rewriteIndex(); err != nil {
			return err
		}
		lines = len(h.checks) + len(h.kept)
	}
	h.indexLines = lines
	if h.index, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	return nil
}

func (h *History) rewriteIndex() error {
	path := filepath.Join(h.dir, IndexFile)
	var b strings.Builder
	for slot, e := range h.bySlot {
		if e != nil {
			fmt.Fprintf(&b, "%d\t%s\n", slot, strconv.Quote(e.id))
		}
	}
	for hash, slot := range h.kept {
		b.WriteString(keptLine{slot: slot, hash: hash}.String())
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("history: rewrite the index: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("history: rewrite the index: %w", err)
	}
	return nil
}

// SetConfig gives the maintenance windows of a new configuration.
func (h *History) SetConfig(cfg *config.RouterConfig) {
	h.cfgMu.Lock()
	h.cfg = cfg
	h.cfgMu.Unlock()
}

// inMaintenance reports whether every route of the check is muted by a
// time interval at now. A check that notifies nobody is never in
// maintenance.
func (h *History) inMaintenance(t *targets.Target, now time.Time) bool {
	h.cfgMu.Lock()
	cfg := h.cfg
	h.cfgMu.Unlock()
	if cfg == nil {
		return false
	}
	if h.rulesOf != cfg {
		h.rules, h.rulesOf = rules.NewSet(cfg), cfg
	}
	pol := h.rules.ForLabel(t.MatchLabel) // every probe: no map built
	if len(pol.Routes) == 0 {
		return false
	}
	for i := range pol.Routes {
		if len(pol.Routes[i].MutedBy(now)) == 0 {
			return false
		}
	}
	return true
}

// Probed records one probe result (pipeline.Observer). It never waits for
// the disk.
func (h *History) Probed(t *targets.Target, res exporter.Result, ch checkstate.Change, now time.Time) {
	maint := h.inMaintenance(t, now)
	var d counts
	switch {
	case maint:
		d.Maint = 1
	case res.Success:
		d.Rounds, d.OK = 1, 1
		lat := float32(res.Duration.Seconds())
		d.LatSum, d.LatMax = lat, lat
	default:
		d.Rounds = 1
	}
	state := ch.Before.State
	switch ch.Transition {
	case checkstate.WentDown:
		state = checkstate.Down
	case checkstate.BecameUp, checkstate.CameBackUp:
		state = checkstate.Up
	}
	e5 := epochOf(FiveMinutes, now)
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.entryLocked(t, now)
	if e == nil {
		return
	}
	if !e.resumed {
		e.resumed = true
		if ch.Before.State == checkstate.Down && ch.Transition != checkstate.WentDown && !ch.Before.Since.IsZero() {
			// DOWN before its first probe here: taken over from another
			// member (its state record says since when) or from the last
			// run. Its incident continues in this record, under the same
			// start (the cluster's view of its history merges the two).
			h.events = append(h.events, event{e: e, open: true, resume: true, at: ch.Before.Since, reason: ch.Before.Reason})
		}
	}
	e.t, e.state, e.last, e.removed = t, state, now.UnixNano(), false
	e.pend.add(&d)
	k := pkey{e, e5}
	if p := h.pending[k]; p != nil {
		p.add(&d)
	} else if len(h.pending) < maxPending {
		h.pending[k] = &d
	} else {
		h.dropped++
	}
	switch ch.Transition {
	case checkstate.WentDown:
		start := ch.Before.FailingSince
		if start.IsZero() || start.After(now) {
			start = now
		}
		h.events = append(h.events, event{e: e, open: true, at: start, reason: res.Reason})
	case checkstate.CameBackUp:
		h.events = append(h.events, event{e: e, at: now})
	}
}

// Forget drops a check this router no longer probes: another member of
// its cluster owns it now (pipeline.ForgetObserver). Its entry goes (a
// member keeps entries for its own checks only) but its record stays,
// known by the hash of its id only: its history (Detail) still shows
// the rounds and incidents recorded here, for the cluster's view of the
// check, until the record is needed for another check (before any
// record of a check this member probes) or the check is removed. An
// incident still open is its new owner's to end.
func (h *History) Forget(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.checks[id]
	if e == nil || h.closed {
		return
	}
	delete(h.checks, id)
	// A map keeps the room it grew to: one that held every check (a
	// member owns them all until it knows the membership) is rebuilt
	// once it holds less than 3/4 (a member of a pair keeps about half).
	if len(h.checks) < h.grown*3/4 {
		h.checks = targets.Shrunk(h.checks)
		h.grown = len(h.checks)
	}
	e.forgotten = true
	if e.slot >= 0 && e.unflushed && e.pend.Rounds+e.pend.Maint <= 1 && e.state != checkstate.Down {
		// Given since the last flush (10 s) for one round, and not
		// DOWN: what a member probes in the moment at its start when it
		// owns every check (before it knows the membership). It keeps
		// nothing of them: that round is not written.
		h.bySlot[e.slot] = nil
		h.free = append(h.free, e.slot)
		e.slot = -1
		return
	}
	if e.slot >= 0 {
		// What waits for the next flush is still written to the record
		// while it is kept (see Flush).
		h.bySlot[e.slot] = nil
		hash := idHash(id)
		if old, ok := h.kept[hash]; ok && old != e.slot {
			h.freeKeptLocked(hash, old)
		}
		h.kept[hash] = e.slot
		h.keptGrown = max(h.keptGrown, len(h.kept))
		h.keptLines = append(h.keptLines, keptLine{slot: e.slot, hash: hash})
	}
}

// freeKeptLocked gives up the record kept for hash. h.mu is held.
func (h *History) freeKeptLocked(hash uint64, slot int32) {
	delete(h.kept, hash)
	if len(h.kept) < h.keptGrown/2 {
		h.kept = targets.Shrunk(h.kept)
		h.keptGrown = len(h.kept)
	}
	h.free = append(h.free, slot)
	h.keptLines = append(h.keptLines, keptLine{slot: slot, free: true})
}

// entryLocked is t's entry, made and given its row when it has none; nil
// once the history is closed or when no row is left. h.mu is held.
func (h *History) entryLocked(t *targets.Target, now time.Time) *entry {
	if h.closed {
		return nil
	}
	e := h.checks[t.ID]
	if e == nil {
		e = &entry{id: t.ID, slot: -1}
		h.checks[t.ID] = e
		h.grown = max(h.grown, len(h.checks))
	}
	if e.slot < 0 && !h.allocate(e, now) {
		return nil
	}
	return e
}

// Removed records that a check left the target list
// (pipeline.RemovalObserver): lists no longer show it; its history stays
// until its slot is needed, and it is listed again if it comes back. An
// incident still open ends now. The record kept for a check another
// cluster member probed is given up.
func (h *History) Removed(id string, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	e := h.checks[id]
	if e == nil {
		hash := idHash(id)
		if slot, ok := h.kept[hash]; ok {
			h.freeKeptLocked(hash, slot)
		}
		return
	}
	e.removed = true
	// Closing is a no-op when no incident is open; the state in memory
	// says nothing of a check not probed since the start.
	h.events = append(h.events, event{e: e, at: now})
	e.state = checkstate.Unknown
}

// allocate gives e a record: the one kept for it if it was this member's
// before, else a free one, else one kept for a check another member
// probes, else that of the check probed least recently (which forgets
// its history). Called with h.mu held.
func (h *History) allocate(e *entry, now time.Time) bool {
	slot := int32(-1)
	e.reused = true
	hash := idHash(e.id)
	if s, ok := h.kept[hash]; ok {
		// Back to this member: its rows continue. Its window sums (lists,
		// groups) count from now; its page reads the rows.
		delete(h.kept, hash)
		e.slot, e.reused, e.sums = s, false, [3]counts{}
		h.bySlot[s] = e
		h.newSlots = append(h.newSlots, e)
		return true
	}
	if n := len(h.free); n > 0 {
		slot, h.free = h.free[n-1], h.free[:n-1]
	} else if len(h.bySlot) < h.o.MaxChecks {
		e.reused = int32(len(h.bySlot)) < h.used
		slot = int32(len(h.bySlot))
		h.bySlot = append(h.bySlot, nil)
	}
	if slot < 0 {
		for kh, ks := range h.kept {
			// Rows of a check another member probes now: they go first.
			h.logger.Debug("History full: a record kept for a check another member probes is given up", "max_checks", h.o.MaxChecks)
			delete(h.kept, kh)
			slot = ks
			break
		}
	}
	if slot < 0 {
		var oldest *entry
		for _, o := range h.bySlot {
			if o != nil && o != e && (oldest == nil || o.last < oldest.last) {
				oldest = o
			}
		}
		if oldest == nil || oldest.last >= now.UnixNano() {
			return false
		}
		h.logger.Info("History full: the check probed least recently gives its record up", "check", oldest.id, "max_checks", h.o.MaxChecks)
		slot = oldest.slot
		oldest.slot = -1
		delete(h.checks, oldest.id)
	}
	e.slot, e.unflushed = slot, true
	e.sums = [3]counts{}
	h.bySlot[slot] = e
	h.newSlots = append(h.newSlots, e)
	return true
}

// Run flushes every FlushInterval until ctx ends, then flushes a last
// time and closes the files.
func (h *History) Run(ctx context.Context) error {
	t := h.clock.NewTimer(h.o.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return h.Close()
		case <-t.C():
			if err := h.timedFlush(); err != nil {
				h.logger.Error("Cannot write the history; trying again at the next flush", "err", err)
			}
			t.Reset(h.o.FlushInterval)
		}
	}
}

// timedFlush flushes and counts it for the metrics (with the wall
// clock: how long the disk took is not the router's time).
func (h *History) timedFlush() error {
	start := time.Now()
	err := h.Flush()
	h.statsMu.Lock()
	defer h.statsMu.Unlock()
	h.lastWrite = time.Since(start)
	if err != nil {
		h.writeErrors++
	}
	return err
}

// Close flushes what is pending and closes the files.
func (h *History) Close() error {
	err := h.Flush()
	h.flushMu.Lock()
	defer h.flushMu.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return err
	}
	h.closed = true
	return errors.Join(err, h.closeFiles())
}
