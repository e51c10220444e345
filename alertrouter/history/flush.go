package history

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// write is one pending 5-minute bucket of a check, with its slot.
type write struct {
	e     *entry
	slot  int32
	e5    uint32
	delta *counts
}

// Flush writes what was added up since the last flush: buckets,
// incidents, who was told, the window sums. It may take long; the
// pipeline does not wait for it. It does not fsync: a crash of the
// router loses nothing written, a crash of the machine what the kernel
// had not written back.
func (h *History) Flush() error {
	h.flushMu.Lock()
	defer h.flushMu.Unlock()
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	pending, events, inits, dropped := h.pending, h.events, h.newSlots, h.dropped
	h.pending, h.events, h.newSlots, h.dropped = map[pkey]*counts{}, nil, nil, 0
	writes := make([]write, 0, len(pending))
	target := max(h.sumEpoch, epochOf(FiveMinutes, h.clock.Now()))
	for k, d := range pending {
		writes = append(writes, write{e: k.e, slot: h.slotOfLocked(k.e), e5: k.e5, delta: d})
		target = max(target, k.e5)
	}
	type initRec struct {
		slot   int32
		id     string
		reused bool
	}
	recs := make([]initRec, 0, len(inits))
	for _, e := range inits {
		e.unflushed = false
		if slot := h.slotOfLocked(e); slot >= 0 {
			recs = append(recs, initRec{slot, e.id, e.reused})
		}
	}
	evSlots := make([]int32, len(events))
	for i, ev := range events {
		evSlots[i] = h.slotOfLocked(ev.e)
	}
	// Which records are kept or freed, after the checks' lines (a
	// record given to a check since is that check's).
	var keptText strings.Builder
	for _, l := range h.keptLines {
		if h.bySlot[l.slot] == nil {
			keptText.WriteString(l.String())
		}
	}
	keptLines := h.keptLines
	h.keptLines = nil
	h.mu.Unlock()
	if dropped > 0 {
		h.logger.Error("History buckets dropped: the disk refused writes for too long", "dropped", dropped)
		h.statsMu.Lock()
		h.droppedTotal += uint64(dropped)
		h.statsMu.Unlock()
	}

	// The index first: cells are never written for a slot the index does
	// not give to their check.
	var index strings.Builder
	for _, r := range recs {
		if r.reused {
			if err := h.clearSlot(r.slot); err != nil {
				h.requeue(writes, events, inits)
				return err
			}
		}
		fmt.Fprintf(&index, "%d\t%s\n", r.slot, strconv.Quote(r.id))
	}
	index.WriteString(keptText.String())
	if index.Len() > 0 {
		if _, err := h.index.WriteString(index.String()); err != nil {
			h.requeue(writes, events, inits)
			h.mu.Lock()
			h.keptLines = append(keptLines, h.keptLines...)
			h.mu.Unlock()
			return fmt.Errorf("history: write the index: %w", err)
		}
		h.indexLines += len(recs) + len(keptLines)
	}
	var errs []error
	if err := h.roll(target); err != nil {
		errs = append(errs, err)
	}
	// A row that cannot be written loses that flush's buckets in it
	// (trying them again could count twice those of the rows that were
	// written): the loss is counted and logged.
	okRows, lost := h.writeCells(writes)
	if lost > 0 {
		errs = append(errs, fmt.Errorf("history: %d buckets could not be written and are lost", lost))
		h.statsMu.Lock()
		h.droppedTotal += uint64(lost)
		h.statsMu.Unlock()
	}
	h.settle(writes, okRows)
	for i, ev := range events {
		if evSlots[i] < 0 {
			continue
		}
		if err := h.writeEvent(evSlots[i], ev); err != nil {
			errs = append(errs, err)
		}
	}
	h.updateTold()
	if err := h.saveSums(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// slotOfLocked is the record what waits for the flush of e goes to: its
// own, or, once another member probes it, the one kept for it while it
// is (-1: none). h.mu is held.
func (h *History) slotOfLocked(e *entry) int32 {
	if !e.forgotten || e.slot < 0 {
		return e.slot
	}
	if s, ok := h.kept[idHash(e.id)]; ok && s == e.slot {
		return s
	}
	if o := h.bySlot[e.slot]; o != nil && o.id == e.id && !o.reused {
		return e.slot // back to this member, in the same record
	}
	return -1
}

// requeue puts back what a flush could not write.
func (h *History) requeue(writes []write, events []event, inits []*entry) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, w := range writes {
		k := pkey{w.e, w.e5}
		if p := h.pending[k]; p != nil {
			p.add(w.delta)
		} else if len(h.pending) < maxPending {
			h.pending[k] = w.delta
		} else {
			h.dropped++
		}
	}
	h.events = append(events, h.events...)
	h.newSlots = append(inits, h.newSlots...)
}

// clearSlot forgets what another check left in a slot.
func (h *History) clearSlot(slot int32) error {
	var zero [cellSize]byte
	for r := range resolutions {
		for i := range resolutions[r].n {
			if _, err := h.rings[r].WriteAt(zero[:], int64(i)*h.stride+int64(slot)*cellSize); err != nil {
				return fmt.Errorf("history: clear a slot: %w", err)
			}
		}
	}
	if _, err := h.incs.WriteAt(make([]byte, incRecord), int64(slot)*incRecord); err != nil {
		return fmt.Errorf("history: clear a slot: %w", err)
	}
	return nil
}

// writeCells adds the pending buckets to their cells, one read and one
// write per row touched. It says which rows of each write were written,
// and how many buckets were lost.
func (h *History) writeCells(writes []write) (okRows [][3]bool, lost int) {
	slices.SortFunc(writes, func(a, b write) int {
		if a.e5 != b.e5 {
			return int(int64(a.e5) - int64(b.e5))
		}
		return int(a.slot - b.slot)
	})
	var buf []byte
	okRows = make([][3]bool, len(writes))
	for r := range resolutions {
		res := Resolution(r)
		div := uint32(resolutions[r].width / 300)
		// Writes are sorted by 5-minute epoch, so those of one row of
		// this resolution are contiguous (but not sorted by slot).
		for i := 0; i < len(writes); {
			epoch := writes[i].e5 / div
			j := i
			lo, hi := int32(-1), int32(-1)
			for ; j < len(writes) && writes[j].e5/div == epoch; j++ {
				if s := writes[j].slot; s >= 0 {
					if lo < 0 || s < lo {
						lo = s
					}
					hi = max(hi, s)
				}
			}
			if lo >= 0 {
				n := int(hi-lo+1) * cellSize
				buf = slices.Grow(buf[:0], n)[:n]
				clear(buf)
				off := row(res, epoch, h.stride) + int64(lo)*cellSize
				_, err := h.rings[r].ReadAt(buf, off)
				if err == nil || errors.Is(err, io.EOF) {
					for k := i; k < j; k++ {
						w := writes[k]
						if w.slot < 0 {
							continue
						}
						c := buf[int(w.slot-lo)*cellSize:][:cellSize]
						got, cn := getCell(c)
						if got != epoch {
							cn = counts{}
						}
						cn.add(w.delta)
						putCell(c, epoch, &cn)
					}
					_, err = h.rings[r].WriteAt(buf, off)
				}
				for k := i; k < j; k++ {
					if writes[k].slot >= 0 {
						okRows[k][r] = err == nil
						if err != nil {
							lost++
						}
					}
				}
				if err != nil {
					h.logger.Warn("Cannot write a row of the history", "resolution", res, "err", err)
				}
			}
			i = j
		}
	}
	return okRows, lost
}

// inWindows says which windows ending at 5-minute epoch end hold the
// 5-minute epoch e5 (24 h in 5-minute buckets, 7 and 30 days in hours).
func inWindows(e5, end uint32) [3]bool {
	h, hend := e5/12, end/12
	return [3]bool{e5+288 > end && e5 <= end, h+168 > hend && h <= hend, h+720 > hend && h <= hend}
}

// settle moves what was flushed from the entries' pending counts to
// their sums: the 24-hour window if its 5-minute row was written, the 7
// and 30-day ones if their hourly row was.
func (h *History) settle(writes []write, okRows [][3]bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, w := range writes {
		e := w.e
		e.pend.sub(w.delta)
		if w.slot < 0 {
			continue
		}
		in := inWindows(w.e5, h.sumEpoch)
		written := [3]bool{okRows[k][FiveMinutes], okRows[k][Hour], okRows[k][Hour]}
		for i := range e.sums {
			if in[i] && written[i] {
				e.sums[i].add(w.delta)
			}
		}
	}
}

// roll moves the windows' end to the 5-minute epoch to: the buckets that
// leave them are read, one row at a time, and taken out of every check's
// sums.
func (h *History) roll(to uint32) error {
	h.mu.RLock()
	from := h.sumEpoch
	h.mu.RUnlock()
	if from == 0 {
		if h.used == 0 { // a new history: nothing to read
			h.mu.Lock()
			h.sumEpoch = to
			h.mu.Unlock()
			return nil
		}
		return h.recompute(to)
	}
	if to <= from {
		return nil
	}
	type leaving struct {
		res    Resolution
		window int
		lo, hi uint32 // epochs, inclusive
	}
	hf, ht := from/12, to/12
	var ls []leaving
	// Only epochs the old windows held can leave them: at most a
	// window's length, never more than its ring.
	add := func(res Resolution, window int, lo, hi, end uint32) {
		hi = min(hi, end)
		if lo <= hi {
			ls = append(ls, leaving{res, window, lo, hi})
		}
	}
	add(FiveMinutes, 0, from-287, to-288, from)
	if ht > hf {
		add(Hour, 1, hf-167, ht-168, hf)
		add(Hour, 2, hf-719, ht-720, hf)
	}
	buf := make([]byte, h.rowBytes())
	var errs []error
	for _, l := range ls {
		for epoch := l.lo; epoch <= l.hi; epoch++ {
			if err := h.readRow(l.res, epoch, buf); err != nil {
				errs = append(errs, err)
				continue
			}
			h.mu.Lock()
			for slot, e := range h.bySlot {
				// A slot given since buf was sized (checks added by a
				// target list meanwhile) has no cell in the row read.
				if e == nil || (slot+1)*cellSize > len(buf) {
					continue
				}
				got, c := getCell(buf[slot*cellSize:])
				if got == epoch && epoch != 0 {
					e.sums[l.window].sub(&c)
				}
			}
			h.mu.Unlock()
		}
	}
	h.mu.Lock()
	h.sumEpoch = to
	h.mu.Unlock()
	return errors.Join(errs...)
}

// recompute reads every row of the windows ending at to: when no saved
// sums could be read (a new or damaged sums.dat).
func (h *History) recompute(to uint32) error {
	buf := make([]byte, h.rowBytes())
	sums := make([][3]counts, len(buf)/cellSize)
	var errs []error
	scan := func(res Resolution, lo, hi uint32, windows func(epoch uint32) [3]bool) {
		for epoch := lo; epoch <= hi; epoch++ {
			if err := h.readRow(res, epoch, buf); err != nil {
				errs = append(errs, err)
				continue
			}
			in := windows(epoch)
			for slot := range sums {
				got, c := getCell(buf[slot*cellSize:])
				if got != epoch || epoch == 0 || c.zero() {
					continue
				}
				for i := range in {
					if in[i] {
						sums[slot][i].add(&c)
					}
				}
			}
		}
	}
	scan(FiveMinutes, to-287, to, func(uint32) [3]bool { return [3]bool{true} })
	ht := to / 12
	scan(Hour, ht-NHour+1, ht, func(e uint32) [3]bool { return [3]bool{false, e+168 > ht, true} })
	h.mu.Lock()
	defer h.mu.Unlock()
	for slot, e := range h.bySlot {
		if e != nil && slot < len(sums) {
			e.sums = sums[slot]
		}
	}
	h.sumEpoch = to
	return errors.Join(errs...)
}

// rowBytes is how much of a row holds cells of slots in use.
func (h *History) rowBytes() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.bySlot) * cellSize
}

func (h *History) readRow(res Resolution, epoch uint32, buf []byte) error {
	clear(buf)
	if _, err := h.rings[res].ReadAt(buf, row(res, epoch, h.stride)); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("history: read a row: %w", err)
	}
	return nil
}

// The sums file: a header (magic, the epoch the sums end at, how many
// slots) and, per slot, rounds and successes of the three windows.
const sumsHeader = 16

func (h *History) saveSums() error {
	h.mu.RLock()
	b := make([]byte, sumsHeader+len(h.bySlot)*24)
	copy(b, magic[:])
	binary.LittleEndian.PutUint32(b[4:], h.sumEpoch)
	binary.LittleEndian.PutUint32(b[8:], uint32(len(h.bySlot)))
	for slot, e := range h.bySlot {
		if e == nil {
			continue
		}
		p := b[sumsHeader+slot*24:]
		for i := range e.sums {
			binary.LittleEndian.PutUint32(p[i*8:], e.sums[i].Rounds)
			binary.LittleEndian.PutUint32(p[i*8+4:], e.sums[i].OK)
		}
	}
	h.mu.RUnlock()
	if _, err := h.sumsF.WriteAt(b, 0); err != nil {
		return fmt.Errorf("history: save the sums: %w", err)
	}
	return nil
}

// loadSums reads the sums saved by the last flush; without them, the
// first flush reads every row of the windows.
func (h *History) loadSums() error {
	fi, err := h.sumsF.Stat()
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	b := make([]byte, fi.Size())
	if _, err := h.sumsF.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("history: read the sums: %w", err)
	}
	if len(b) < sumsHeader || [4]byte(b[:4]) != magic {
		return nil
	}
	n := int(binary.LittleEndian.Uint32(b[8:]))
	if len(b) < sumsHeader+n*24 {
		h.logger.Warn("The history's sums are cut short; they are read again from the rings")
		return nil
	}
	for slot, e := range h.bySlot {
		if e == nil || slot >= n {
			continue
		}
		p := b[sumsHeader+slot*24:]
		for i := range e.sums {
			e.sums[i].Rounds = binary.LittleEndian.Uint32(p[i*8:])
			e.sums[i].OK = binary.LittleEndian.Uint32(p[i*8+4:])
		}
	}
	h.sumEpoch = binary.LittleEndian.Uint32(b[4:])
	return nil
}

// incidentAt is where incident i (0-based, counted since the slot was
// given) of a slot lives.
func incidentAt(slot int32, i uint64) int64 {
	return int64(slot)*incRecord + incHeader + int64(i%MaxIncidents)*incidentSize
}

// writeEvent opens or closes an incident.
func (h *History) writeEvent(slot int32, ev event) error {
	n, last, err := h.lastIncident(slot)
	if err != nil {
		return err
	}
	var b [incidentSize]byte
	if ev.resume && last != nil && (last.End.IsZero() || last.Start.UnixMilli() == ev.at.UnixMilli()) {
		return nil
	}
	if ev.open {
		if last != nil && last.End.IsZero() {
			// Still open (the router stopped before it ended): it ended
			// when this one began, as far as anyone knows.
			last.End = ev.at
			putIncident(b[:], last)
			if _, err := h.incs.WriteAt(b[:], incidentAt(slot, n-1)); err != nil {
				return fmt.Errorf("history: close an incident: %w", err)
			}
		}
		putIncident(b[:], &Incident{Start: ev.at, Reason: ev.reason})
		if _, err := h.incs.WriteAt(b[:], incidentAt(slot, n)); err != nil {
			return fmt.Errorf("history: open an incident: %w", err)
		}
		var hdr [8]byte
		binary.LittleEndian.PutUint64(hdr[:], n+1)
		if _, err := h.incs.WriteAt(hdr[:], int64(slot)*incRecord); err != nil {
			return fmt.Errorf("history: open an incident: %w", err)
		}
		return nil
	}
	if last == nil || !last.End.IsZero() {
		return nil
	}
	last.End = ev.at
	putIncident(b[:], last)
	if _, err := h.incs.WriteAt(b[:], incidentAt(slot, n-1)); err != nil {
		return fmt.Errorf("history: close an incident: %w", err)
	}
	return nil
}

// lastIncident returns how many incidents the slot saw and the last.
func (h *History) lastIncident(slot int32) (uint64, *Incident, error) {
	var hdr [8]byte
	if _, err := h.incs.ReadAt(hdr[:], int64(slot)*incRecord); err != nil && !errors.Is(err, io.EOF) {
		return 0, nil, fmt.Errorf("history: read the incidents: %w", err)
	}
	n := binary.LittleEndian.Uint64(hdr[:])
	if n == 0 {
		return 0, nil, nil
	}
	var b [incidentSize]byte
	if _, err := h.incs.ReadAt(b[:], incidentAt(slot, n-1)); err != nil && !errors.Is(err, io.EOF) {
		return 0, nil, fmt.Errorf("history: read an incident: %w", err)
	}
	in, ok := getIncident(b[:])
	if !ok {
		return n, nil, nil
	}
	return n, &in, nil
}

// updateTold writes who was told of the open incidents, and what muted
// them, as the View says.
func (h *History) updateTold() {
	if h.o.Problems == nil {
		return
	}
	told := make(map[string]string, len(h.told))
	for _, p := range h.o.Problems() {
		if p.State != "down" {
			continue
		}
		text := strings.Join(p.Notified, ",") + "|" + strings.Join(p.MutedBy, ",")
		told[p.ID] = text
		if h.told[p.ID] == text {
			continue
		}
		h.mu.RLock()
		slot := int32(-1)
		if e := h.checks[p.ID]; e != nil {
			slot = e.slot
		}
		h.mu.RUnlock()
		if slot < 0 {
			continue
		}
		n, last, err := h.lastIncident(slot)
		if err != nil || last == nil || !last.End.IsZero() {
			delete(told, p.ID) // try again at the next flush
			continue
		}
		last.Notified = union(last.Notified, p.Notified)
		last.MutedBy = union(last.MutedBy, p.MutedBy)
		var b [incidentSize]byte
		putIncident(b[:], last)
		if _, err := h.incs.WriteAt(b[:], incidentAt(slot, n-1)); err != nil {
			delete(told, p.ID)
		}
	}
	h.told = told
}

// union adds what b has that a lacks (who was told stays told).
func union(a, b []string) []string {
	out := a
	for _, s := range b {
		if !slices.Contains(a, s) {
			out = append(out, s)
		}
	}
	return out
}
