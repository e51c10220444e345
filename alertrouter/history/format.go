package history

import (
	"encoding/binary"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// The on-disk layout: one file per resolution (5m.dat, 1h.dat, 1d.dat),
// each a ring of rows indexed by the bucket's epoch modulo the ring's
// length; a row holds one cell per check, at its slot. Every cell carries
// its epoch: a cell whose epoch is not the one asked for is empty (the
// ring wrapped, or nothing was probed then), so old data ages out without
// compaction. Writes of one flush land in the current row of each ring:
// a few contiguous pages, whatever the number of checks. Incidents live
// in incidents.dat, one fixed-size record per slot; sums.dat keeps the
// checks' window sums, so that a restart reads no ring.
const (
	cellSize     = 24
	incidentSize = 256

	// N5m, NHour and NDay are the lengths of the rings: 48 hours of 5-minute
	// buckets, 30 days of hours, a year (and a day) of days.
	N5m   = 576
	NHour = 720
	NDay  = 366
	// MaxIncidents is how many incidents a check keeps (the newest).
	MaxIncidents = 32

	incHeader = 64
	incRecord = incHeader + MaxIncidents*incidentSize

	// RecordSize is the disk a check takes: its cells in the three rings
	// and its incidents (48,144 bytes).
	RecordSize = (N5m+NHour+NDay)*cellSize + incRecord

	maxReason   = 140
	maxNotified = 64
	maxMuted    = 32
)

var magic = [4]byte{'V', 'G', 'H', '1'}

// Resolution is the width of a bucket.
type Resolution int

// The resolutions kept.
const (
	FiveMinutes Resolution = iota
	Hour
	Day
)

var resolutions = [...]struct {
	name  string
	width int64 // seconds
	n     int
}{
	{"5m", 300, N5m},
	{"1h", 3600, NHour},
	{"1d", 86400, NDay},
}

func (r Resolution) String() string { return resolutions[r].name }

// Width is how long one bucket lasts.
func (r Resolution) Width() time.Duration { return time.Duration(resolutions[r].width) * time.Second }

// Span is how far back the resolution goes.
func (r Resolution) Span() time.Duration { return time.Duration(resolutions[r].n) * r.Width() }

// ParseResolution reads "5m", "1h" or "1d".
func ParseResolution(s string) (Resolution, bool) {
	for i, r := range resolutions {
		if r.name == s {
			return Resolution(i), true
		}
	}
	return 0, false
}

func epochOf(r Resolution, t time.Time) uint32 { return uint32(t.Unix() / resolutions[r].width) }

// row is where epoch's row starts in its ring file, with stride bytes
// per row.
func row(r Resolution, epoch uint32, stride int64) int64 {
	return int64(epoch%uint32(resolutions[r].n)) * stride
}

// counts are what a bucket holds. Rounds and OK leave out the rounds in a
// maintenance window (counted in Maint); latency is that of the
// successful rounds counted in OK.
type counts struct {
	Rounds, OK, Maint uint32
	LatSum, LatMax    float32 // seconds
}

func (c *counts) add(d *counts) {
	c.Rounds += d.Rounds
	c.OK += d.OK
	c.Maint += d.Maint
	c.LatSum += d.LatSum
	c.LatMax = max(c.LatMax, d.LatMax)
}

func (c *counts) zero() bool { return c.Rounds == 0 && c.Maint == 0 }

func putCell(b []byte, epoch uint32, c *counts) {
	le := binary.LittleEndian
	le.PutUint32(b[0:], epoch)
	le.PutUint32(b[4:], c.Rounds)
	le.PutUint32(b[8:], c.OK)
	le.PutUint32(b[12:], c.Maint)
	le.PutUint32(b[16:], math.Float32bits(c.LatSum))
	le.PutUint32(b[20:], math.Float32bits(c.LatMax))
}

func getCell(b []byte) (uint32, counts) {
	le := binary.LittleEndian
	return le.Uint32(b[0:]), counts{
		Rounds: le.Uint32(b[4:]), OK: le.Uint32(b[8:]), Maint: le.Uint32(b[12:]),
		LatSum: math.Float32frombits(le.Uint32(b[16:])), LatMax: math.Float32frombits(le.Uint32(b[20:])),
	}
}

// Incident is one DOWN episode of a check.
type Incident struct {
	Start time.Time `json:"start"`
	// End is zero while the incident goes on.
	End time.Time `json:"end,omitzero"`
	// Reason is the failure that confirmed it (at most 140 bytes kept).
	Reason string `json:"reason"`
	// Notified lists the receivers told (as far as 64 bytes go).
	Notified []string `json:"notified"`
	// MutedBy lists the silences and time intervals that held its
	// notifications back while it went on.
	MutedBy []string `json:"muted_by"`
}

// Duration is how long it lasted, or has lasted at now.
func (in *Incident) Duration(now time.Time) time.Duration {
	if in.End.IsZero() {
		return now.Sub(in.Start)
	}
	return in.End.Sub(in.Start)
}

func putIncident(b []byte, in *Incident) {
	clear(b[:incidentSize])
	le := binary.LittleEndian
	le.PutUint64(b[0:], uint64(in.Start.UnixMilli()))
	if !in.End.IsZero() {
		le.PutUint64(b[8:], uint64(in.End.UnixMilli()))
	}
	r := truncate(in.Reason, maxReason)
	n := truncate(strings.Join(in.Notified, ","), maxNotified)
	m := truncate(strings.Join(in.MutedBy, ","), maxMuted)
	b[17], b[18], b[19] = byte(len(r)), byte(len(n)), byte(len(m))
	copy(b[20:], r)
	copy(b[20+maxReason:], n)
	copy(b[20+maxReason+maxNotified:], m)
}

func getIncident(b []byte) (Incident, bool) {
	le := binary.LittleEndian
	start := int64(le.Uint64(b[0:]))
	if start == 0 {
		return Incident{}, false
	}
	in := Incident{Start: time.UnixMilli(start).UTC()}
	if end := int64(le.Uint64(b[8:])); end != 0 {
		in.End = time.UnixMilli(end).UTC()
	}
	rl, nl, ml := min(int(b[17]), maxReason), min(int(b[18]), maxNotified), min(int(b[19]), maxMuted)
	in.Reason = string(b[20 : 20+rl])
	in.Notified = split(string(b[20+maxReason : 20+maxReason+nl]))
	in.MutedBy = split(string(b[20+maxReason+maxNotified : 20+maxReason+maxNotified+ml]))
	return in, true
}

func split(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

func (c *counts) sub(d *counts) {
	c.Rounds -= min(c.Rounds, d.Rounds)
	c.OK -= min(c.OK, d.OK)
	c.Maint -= min(c.Maint, d.Maint)
	c.LatSum = max(0, c.LatSum-d.LatSum)
}

func getUint64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }
