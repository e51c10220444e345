package notify

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"
)

// The functions templates (and integrations) use to say times, durations,
// labels and text the same way everywhere.
func sinceText(t, now time.Time, failedProbes ...int) string {
	n := 0
	if len(failedProbes) > 0 {
		n = failedProbes[0]
	}
	return SinceText(t, now, n)
}

// FormatWhen renders t for someone who reads the message later, on a
// phone: the time alone when t is on the same day as now ("08:04 UTC"),
// with the day when it is not ("Fri 20 Nov 23:58 UTC") and the year when
// that differs too ("31 Dec 2025 23:58 UTC"). Times in the local zone are
// shown in UTC, as formatTime does; use inZone for another zone.
func FormatWhen(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	if t.Location() == time.Local {
		t = t.UTC()
	}
	now = now.In(t.Location())
	ty, tm, td := t.Date()
	ny, nm, nd := now.Date()
	switch {
	case ty == ny && tm == nm && td == nd:
		return t.Format("15:04 MST")
	case ty == ny:
		return t.Format("Mon 2 Jan 15:04 MST")
	}
	return t.Format("2 Jan 2006 15:04 MST")
}

// SinceText says since when something has been failing, as of now:
// "since 08:04 UTC, 3 failed probes over 45s" when the failed probes are
// known (a check announced DOWN), "since 08:04 UTC (for 2h)" otherwise.
// A duration under a second is left out rather than shown as "0s".
func SinceText(since, now time.Time, failedProbes int) string {
	if since.IsZero() {
		return ""
	}
	text := "since " + FormatWhen(since, now)
	d := now.Sub(since)
	switch {
	case failedProbes > 0:
		text += fmt.Sprintf(", %d %s", failedProbes, plural(failedProbes, "failed probe", "failed probes"))
		if d >= time.Second {
			text += " over " + HumanizeDuration(d)
		}
	case d >= time.Second:
		text += " (for " + HumanizeDuration(d) + ")"
	}
	return text
}

// FuncMap returns the functions available in every receiver template:
//
//	escapeHTML s           escape <, >, &, ' and " (Telegram HTML)
//	formatTime t [layout]  t in UTC, "2006-01-02 15:04 MST" by default
//	formatWhen t now       "08:04 UTC" on now's day, else with the date
//	sinceText t now [n]    "since 08:04 UTC (for 2h)"; with n failed probes
//	                       "since 08:04 UTC, 3 failed probes over 45s"
//	inZone name t          t in a time zone ("Europe/Paris")
//	humanizeDuration d     "42s", "5m", "1h12m", "3d4h"
//	truncate n s           s cut to n characters, ending with "…"
//	ascii s                s transliterated to printable ASCII ("é" → "e")
//	formatLabels m         "k1=v1, k2=v2", sorted
//	join sep list, upper, lower, trimSpace, title
//	json v                 v as JSON ("quoted string")
//	default def v          v, or def when v is empty
//	plural n one many      one when n == 1, many otherwise
func FuncMap() template.FuncMap {
	return template.FuncMap{
		"escapeHTML":       EscapeHTML,
		"formatTime":       formatTime,
		"formatWhen":       FormatWhen,
		"sinceText":        sinceText,
		"inZone":           inZone,
		"humanizeDuration": HumanizeDuration,
		"truncate":         Truncate,
		"ascii":            ASCII,
		"formatLabels":     formatLabels,
		"join":             func(sep string, list []string) string { return strings.Join(list, sep) },
		"upper":            strings.ToUpper,
		"lower":            strings.ToLower,
		"trimSpace":        strings.TrimSpace,
		"title":            title,
		"json":             toJSON,
		"default":          defaultValue,
		"plural":           plural,
	}
}

// EscapeHTML escapes the characters that HTML (and Telegram's HTML parse
// mode) treats specially.
func EscapeHTML(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch r {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '"':
			b.WriteString("&quot;")
		case '\'':
			b.WriteString("&#39;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TimeLayout is how templates show times by default.
const TimeLayout = "2006-01-02 15:04 MST"

func formatTime(t time.Time, layout ...string) string {
	if t.IsZero() {
		return ""
	}
	l := TimeLayout
	if len(layout) > 0 {
		l = layout[0]
	}
	if t.Location() == time.Local {
		t = t.UTC()
	}
	return t.Format(l)
}

func inZone(name string, t time.Time) (time.Time, error) {
	loc, err := time.LoadLocation(name)
	if err != nil {
		return t, err
	}
	return t.In(loc), nil
}

// HumanizeDuration renders d with its two largest units: "42s", "5m",
// "1h12m", "3d4h".
func HumanizeDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	if d < time.Minute {
		return fmt.Sprintf("%ds", int(d.Seconds()))
	}
	days := int(d / (24 * time.Hour))
	hours := int(d/time.Hour) % 24
	minutes := int(d/time.Minute) % 60
	switch {
	case days > 0 && hours > 0:
		return fmt.Sprintf("%dd%dh", days, hours)
	case days > 0:
		return fmt.Sprintf("%dd", days)
	case hours > 0 && minutes > 0:
		return fmt.Sprintf("%dh%dm", hours, minutes)
	case hours > 0:
		return fmt.Sprintf("%dh", hours)
	}
	return fmt.Sprintf("%dm", minutes)
}

// Truncate cuts s to at most n characters, the last one being "…".
func Truncate(n int, s string) string {
	if n <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i, count := 0, 0
	for i = range s {
		if count == n-1 {
			break
		}
		count++
	}
	return s[:i] + "…"
}

func formatLabels(m map[string]string) string {
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(m[k])
	}
	return b.String()
}

func title(s string) string {
	r, size := utf8.DecodeRuneInString(s)
	if size == 0 {
		return s
	}
	return strings.ToUpper(string(r)) + s[size:]
}

func toJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func defaultValue(def, v any) any {
	switch x := v.(type) {
	case nil:
		return def
	case string:
		if x == "" {
			return def
		}
	}
	return v
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
