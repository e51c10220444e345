package history

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// write is one pending bucket, with the record it goes to.
type write struct {
	e     *entry
	slot  int32
	e5    uint32
	delta *counts
}

// Flush writes what was added up since the last flush: buckets,
// incidents, who was told. It may take long; the pipeline does not wait
// for it.
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
	for k, d := range pending {
		writes = append(writes, write{e: k.e, slot: k.e.slot, e5: k.e5, delta: d})
	}
	type initRec struct {
		slot int32
		id   string
	}
	recs := make([]initRec, 0, len(inits))
	for _, e := range inits {
		if e.slot >= 0 {
			recs = append(recs, initRec{e.slot, e.id})
		}
	}
	evSlots := make([]int32, len(events))
	for i, ev := range events {
		evSlots[i] = ev.e.slot
	}
	h.mu.Unlock()
	if dropped > 0 {
		h.logger.Error("History buckets dropped: the disk refused writes for too long", "dropped", dropped)
	}

	size, err := h.size()
	if err != nil {
		h.requeue(writes, events, inits)
		return err
	}
	var index strings.Builder
	for _, r := range recs {
		if err := h.initRecord(r.slot, size); err != nil {
			h.requeue(writes, events, inits)
			return err
		}
		fmt.Fprintf(&index, "%d\t%s\n", r.slot, strconv.Quote(r.id))
	}
	if index.Len() > 0 {
		if _, err := h.index.WriteString(index.String()); err != nil {
			h.requeue(writes, events, inits)
			return fmt.Errorf("history: write the index: %w", err)
		}
		h.indexLines += len(recs)
	}
	var errs []error
	done := writes[:0]
	var failed []write
	for _, w := range writes {
		if w.slot < 0 {
			continue
		}
		if err := h.addBuckets(w.slot, w.e5, w.delta); err != nil {
			errs = append(errs, err)
			failed = append(failed, w)
			continue
		}
		done = append(done, w)
	}
	for i, ev := range events {
		if evSlots[i] < 0 {
			continue
		}
		if err := h.writeEvent(evSlots[i], ev); err != nil {
			errs = append(errs, err)
		}
	}
	h.updateTold()
	if len(done) > 0 || len(events) > 0 {
		if err := h.data.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("history: sync: %w", err))
		}
	}
	h.settleSums(done)
	if len(failed) > 0 {
		h.requeue(failed, nil, nil)
	}
	return errors.Join(errs...)
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

func (h *History) size() (int64, error) {
	fi, err := h.data.Stat()
	if err != nil {
		return 0, fmt.Errorf("history: %w", err)
	}
	return fi.Size(), nil
}

// initRecord starts a record: beyond the end of the file it is sparse and
// reads as zeros already; a record given up by another check is cleared.
func (h *History) initRecord(slot int32, size int64) error {
	off := int64(slot) * RecordSize
	if off < size {
		if _, err := h.data.WriteAt(make([]byte, RecordSize), off); err != nil {
			return fmt.Errorf("history: clear a record: %w", err)
		}
	}
	var hdr [headerSize]byte
	copy(hdr[:], magic[:])
	if _, err := h.data.WriteAt(hdr[:], off); err != nil {
		return fmt.Errorf("history: start a record: %w", err)
	}
	return nil
}

// addBuckets adds d to the buckets of the 5 minutes at epoch e5, of its
// hour and of its day.
func (h *History) addBuckets(slot int32, e5 uint32, d *counts) error {
	base := int64(slot) * RecordSize
	var b [bucketSize]byte
	for r := range resolutions {
		epoch := e5 * 300 / uint32(resolutions[r].width)
		off := base + bucketOffset(Resolution(r), epoch)
		clear(b[:])
		if _, err := h.data.ReadAt(b[:], off); err != nil && !isEOF(err) {
			return fmt.Errorf("history: read a bucket: %w", err)
		}
		got, c := getBucket(b[:])
		if got != epoch {
			c = counts{}
		}
		c.add(d)
		putBucket(b[:], epoch, &c)
		if _, err := h.data.WriteAt(b[:], off); err != nil {
			return fmt.Errorf("history: write a bucket: %w", err)
		}
	}
	return nil
}

func isEOF(err error) bool { return errors.Is(err, io.EOF) }

// writeEvent opens or closes an incident.
func (h *History) writeEvent(slot int32, ev event) error {
	base := int64(slot) * RecordSize
	n, last, err := h.lastIncident(slot)
	if err != nil {
		return err
	}
	var b [incidentSize]byte
	if ev.open {
		if last != nil && last.End.IsZero() {
			// Still open (the router stopped before it ended): it ended
			// when this one began, as far as anyone knows.
			last.End = ev.at
			putIncident(b[:], last)
			if _, err := h.data.WriteAt(b[:], base+offInc+int64((n-1)%MaxIncidents)*incidentSize); err != nil {
				return fmt.Errorf("history: close an incident: %w", err)
			}
		}
		putIncident(b[:], &Incident{Start: ev.at, Reason: ev.reason})
		if _, err := h.data.WriteAt(b[:], base+offInc+int64(n%MaxIncidents)*incidentSize); err != nil {
			return fmt.Errorf("history: open an incident: %w", err)
		}
		var hdr [8]byte
		binary.LittleEndian.PutUint64(hdr[:], n+1)
		if _, err := h.data.WriteAt(hdr[:], base+8); err != nil {
			return fmt.Errorf("history: open an incident: %w", err)
		}
		return nil
	}
	if last == nil || !last.End.IsZero() {
		return nil
	}
	last.End = ev.at
	putIncident(b[:], last)
	if _, err := h.data.WriteAt(b[:], base+offInc+int64((n-1)%MaxIncidents)*incidentSize); err != nil {
		return fmt.Errorf("history: close an incident: %w", err)
	}
	return nil
}

// lastIncident returns how many incidents the record saw and the last.
func (h *History) lastIncident(slot int32) (uint64, *Incident, error) {
	base := int64(slot) * RecordSize
	var hdr [headerSize]byte
	if _, err := h.data.ReadAt(hdr[:], base); err != nil && !isEOF(err) {
		return 0, nil, fmt.Errorf("history: read a record: %w", err)
	}
	n := binary.LittleEndian.Uint64(hdr[8:])
	if n == 0 {
		return 0, nil, nil
	}
	var b [incidentSize]byte
	if _, err := h.data.ReadAt(b[:], base+offInc+int64((n-1)%MaxIncidents)*incidentSize); err != nil && !isEOF(err) {
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
		if _, err := h.data.WriteAt(b[:], int64(slot)*RecordSize+offInc+int64((n-1)%MaxIncidents)*incidentSize); err != nil {
			delete(told, p.ID)
		}
	}
	h.told = told
}

// union adds what b has that a lacks (who was told stays told).
func union(a, b []string) []string {
	out := a
	for _, s := range b {
		found := false
		for _, x := range a {
			if x == s {
				found = true
				break
			}
		}
		if !found {
			out = append(out, s)
		}
	}
	return out
}

// settleSums moves what was written from the entries' pending counts to
// their sums, and reads the sums again from disk for the entries whose
// 5-minute bucket changed (older buckets left the windows).
func (h *History) settleSums(done []write) {
	now := h.clock.Now()
	e5 := epochOf(FiveMinutes, now)
	h.mu.Lock()
	var full []*entry
	seen := map[*entry]bool{}
	for _, w := range done {
		e := w.e
		e.pend.sub(w.delta)
		for i := range e.sums {
			e.sums[i].add(w.delta)
		}
		if (e.full || !e.known) && !seen[e] && e.slot >= 0 {
			seen[e] = true
			full = append(full, e)
		}
	}
	h.mu.Unlock()
	buf := make([]byte, offDay-off5m)
	for _, e := range full {
		h.mu.RLock()
		slot := e.slot
		h.mu.RUnlock()
		if slot < 0 {
			continue
		}
		clear(buf)
		if _, err := h.data.ReadAt(buf, int64(slot)*RecordSize+off5m); err != nil && !isEOF(err) {
			h.logger.Warn("Cannot read a check's history", "check", e.id, "err", err)
			continue
		}
		sums := windowSums(buf, e5)
		h.mu.Lock()
		e.sums, e.sumEpoch, e.full, e.known = sums, e5, false, true
		h.mu.Unlock()
	}
}

// Windows over which availability is given.
var Windows = [3]time.Duration{24 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour}

// windowSums adds up the buckets of the last 24 hours (5-minute buckets),
// 7 and 30 days (hours) ending with the 5 minutes at e5; buf holds the
// 5-minute and hourly rings.
func windowSums(buf []byte, e5 uint32) [3]counts {
	var out [3]counts
	bucket := func(r Resolution, epoch uint32) (counts, bool) {
		off := bucketOffset(r, epoch) - off5m
		got, c := getBucket(buf[off : off+bucketSize])
		return c, got == epoch && epoch != 0
	}
	for e := e5 - 287; e <= e5; e++ {
		if c, ok := bucket(FiveMinutes, e); ok {
			out[0].add(&c)
		}
	}
	hour := e5 / 12
	for e := hour - NHour + 1; e <= hour; e++ {
		c, ok := bucket(Hour, e)
		if !ok {
			continue
		}
		if e > hour-168 {
			out[1].add(&c)
		}
		out[2].add(&c)
	}
	return out
}
