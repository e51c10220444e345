package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/vigie-monitoring/vigie/internal/schema"
)

// TimeIntervalSet is a named list of recurring time intervals, as
// Alertmanager's `time_intervals:` entries: rules name it in
// mute_time_intervals (maintenance windows: no notifications while one of
// its intervals contains the current time) or active_time_intervals.
type TimeIntervalSet struct {
	Name          string         `yaml:"name"`
	TimeIntervals []TimeInterval `yaml:"time_intervals"`
}

// Contains reports whether one of the set's intervals contains t.
func (s *TimeIntervalSet) Contains(t time.Time) bool {
	for i := range s.TimeIntervals {
		if s.TimeIntervals[i].Contains(t) {
			return true
		}
	}
	return false
}

// TimeInterval is one recurring interval. Every field that is set must
// contain the time (a field left out contains every time); within a field,
// one of the ranges must. Times are read in Location (default UTC).
type TimeInterval struct {
	Times       []TimeRange       `yaml:"times,omitempty"`
	Weekdays    []WeekdayRange    `yaml:"weekdays,flow,omitempty"`
	DaysOfMonth []DayOfMonthRange `yaml:"days_of_month,flow,omitempty"`
	Months      []MonthRange      `yaml:"months,flow,omitempty"`
	Years       []YearRange       `yaml:"years,flow,omitempty"`
	Location    *Location         `yaml:"location,omitempty"`
}

// Contains reports whether the interval contains t.
func (ti *TimeInterval) Contains(t time.Time) bool {
	if ti.Location != nil && ti.Location.Location != nil {
		t = t.In(ti.Location.Location)
	} else {
		t = t.UTC()
	}
	if len(ti.Times) > 0 {
		minute := t.Hour()*60 + t.Minute()
		if !anyOf(ti.Times, func(r TimeRange) bool { return minute >= r.StartMinute && minute < r.EndMinute }) {
			return false
		}
	}
	if len(ti.Weekdays) > 0 {
		wd := int(t.Weekday())
		if !anyOf(ti.Weekdays, func(r WeekdayRange) bool { return r.contains(wd) }) {
			return false
		}
	}
	if len(ti.DaysOfMonth) > 0 {
		n := daysIn(t)
		if !anyOf(ti.DaysOfMonth, func(r DayOfMonthRange) bool { return r.containsDay(t.Day(), n) }) {
			return false
		}
	}
	if len(ti.Months) > 0 {
		m := int(t.Month())
		if !anyOf(ti.Months, func(r MonthRange) bool { return r.contains(m) }) {
			return false
		}
	}
	if len(ti.Years) > 0 {
		y := t.Year()
		if !anyOf(ti.Years, func(r YearRange) bool { return r.contains(y) }) {
			return false
		}
	}
	return true
}

func anyOf[T any](list []T, ok func(T) bool) bool {
	for _, x := range list {
		if ok(x) {
			return true
		}
	}
	return false
}

// daysIn returns the number of days of t's month.
func daysIn(t time.Time) int {
	// Day 0 of the next month is the last day of this one.
	return time.Date(t.Year(), t.Month()+1, 0, 12, 0, 0, 0, time.UTC).Day()
}

// TimeRange is a range of minutes of the day, [StartMinute, EndMinute):
// "start_time: 22:00, end_time: 24:00" is 1320–1440.
type TimeRange struct {
	StartMinute int
	EndMinute   int
}

// UnmarshalYAML parses {start_time: "HH:MM", end_time: "HH:MM"}; the end
// may be 24:00 and must be after the start (an interval does not cross
// midnight: write two).
func (r *TimeRange) UnmarshalYAML(node *yaml.Node) error {
	if node.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a time range is {start_time: \"HH:MM\", end_time: \"HH:MM\"}", node.Line)
	}
	var start, end string
	for i := 0; i+1 < len(node.Content); i += 2 {
		k, v := node.Content[i], node.Content[i+1]
		switch k.Value {
		case "start_time":
			start = v.Value
		case "end_time":
			end = v.Value
		default:
			return fmt.Errorf("line %d: field %s not found in time range (start_time, end_time)", k.Line, k.Value)
		}
	}
	if start == "" || end == "" {
		return fmt.Errorf("line %d: both start_time and end_time must be set", node.Line)
	}
	s, err := parseClock(start)
	if err != nil {
		return fmt.Errorf("line %d: start_time: %w", node.Line, err)
	}
	e, err := parseClock(end)
	if err != nil {
		return fmt.Errorf("line %d: end_time: %w", node.Line, err)
	}
	if s >= e {
		return fmt.Errorf("line %d: start_time %s is not before end_time %s (a range cannot cross midnight: split it in two)", node.Line, start, end)
	}
	r.StartMinute, r.EndMinute = s, e
	return nil
}

// MarshalYAML renders the range as it is written.
func (r TimeRange) MarshalYAML() (any, error) {
	return map[string]string{"start_time": clock(r.StartMinute), "end_time": clock(r.EndMinute)}, nil
}

func clock(minute int) string { return fmt.Sprintf("%02d:%02d", minute/60, minute%60) }

// parseClock reads "HH:MM" (00:00 to 23:59, or 24:00) as minutes of the day.
func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	if ok && len(h) == 2 && len(m) == 2 {
		hh, err1 := strconv.Atoi(h)
		mm, err2 := strconv.Atoi(m)
		if err1 == nil && err2 == nil && hh >= 0 && mm >= 0 && mm < 60 && (hh < 24 || hh == 24 && mm == 0) {
			return hh*60 + mm, nil
		}
	}
	return 0, fmt.Errorf("invalid time %q (want HH:MM, 00:00 to 24:00)", s)
}

// inclusiveRange is [Begin, End] of weekdays, days of the month, months or
// years, written "a" or "a:b".
type inclusiveRange struct {
	Begin, End int
}

func (r inclusiveRange) contains(v int) bool { return v >= r.Begin && v <= r.End }

// parseRange reads a range "a" or "a:b" from a YAML scalar; member turns
// each end into a number.
func parseRange(node *yaml.Node, member func(string) (int, error)) (inclusiveRange, error) {
	if node.Kind != yaml.ScalarNode {
		return inclusiveRange{}, errors.New("expected a string like \"a\" or \"a:b\"")
	}
	s := strings.ToLower(strings.TrimSpace(node.Value))
	first, last, isRange := strings.Cut(s, ":")
	b, err := member(strings.TrimSpace(first))
	if err != nil {
		return inclusiveRange{}, err
	}
	e := b
	if isRange {
		if e, err = member(strings.TrimSpace(last)); err != nil {
			return inclusiveRange{}, err
		}
	}
	return inclusiveRange{Begin: b, End: e}, nil
}

func (r inclusiveRange) render(name func(int) string) string {
	if r.Begin == r.End {
		return name(r.Begin)
	}
	return name(r.Begin) + ":" + name(r.End)
}

var weekdayNames = []string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}

var monthNames = []string{"january", "february", "march", "april", "may", "june", "july",
	"august", "september", "october", "november", "december"}

// WeekdayRange is a range of days of the week, Sunday (0) to Saturday (6):
// "monday:friday", "saturday".
type WeekdayRange struct{ inclusiveRange }

// UnmarshalYAML parses the range.
func (r *WeekdayRange) UnmarshalYAML(node *yaml.Node) error {
	ir, err := parseRange(node, func(s string) (int, error) {
		for i, n := range weekdayNames {
			if s == n {
				return i, nil
			}
		}
		return 0, fmt.Errorf("%q is not a day of the week (sunday … saturday)", s)
	})
	if err == nil && ir.Begin > ir.End {
		err = fmt.Errorf("%q: the week starts on sunday, so %s comes before %s: write two ranges", node.Value, weekdayNames[ir.End], weekdayNames[ir.Begin])
	}
	if err != nil {
		return fmt.Errorf("line %d: weekdays: %w", node.Line, err)
	}
	r.inclusiveRange = ir
	return nil
}

// MarshalYAML renders the range with day names.
func (r WeekdayRange) MarshalYAML() (any, error) {
	return r.render(func(i int) string { return weekdayNames[i] }), nil
}

// DayOfMonthRange is a range of days of the month, 1 to 31, or counted
// from the end of the month with negative numbers (-1 is the last day):
// "1:5", "-1", "-7:-1", "15:-1".
type DayOfMonthRange struct{ inclusiveRange }

// UnmarshalYAML parses and checks the range.
func (r *DayOfMonthRange) UnmarshalYAML(node *yaml.Node) error {
	ir, err := parseRange(node, func(s string) (int, error) {
		d, err := strconv.Atoi(s)
		if err != nil || d == 0 || d < -31 || d > 31 {
			return 0, fmt.Errorf("%q is not a day of the month (1 to 31, or -31 to -1 from the end)", s)
		}
		return d, nil
	})
	if err == nil {
		err = ir.checkDays()
	}
	if err != nil {
		return fmt.Errorf("line %d: days_of_month: %w", node.Line, err)
	}
	r.inclusiveRange = ir
	return nil
}

// checkDays refuses ranges that are empty in every month, even the
// longest (31 days).
func (r inclusiveRange) checkDays() error {
	if r.Begin < 0 && r.End > 0 {
		return fmt.Errorf("%d:%d: the end must be negative when the start is", r.Begin, r.End)
	}
	b, e := r.Begin, r.End
	if b < 0 {
		b += 32
	}
	if e < 0 {
		e += 32
	}
	if b > e {
		return fmt.Errorf("%d:%d: the end is always before the start", r.Begin, r.End)
	}
	return nil
}

// containsDay reports whether day (1-based) of a month of n days is in the
// range; negative ends count from the end of the month.
func (r DayOfMonthRange) containsDay(day, n int) bool {
	b, e := r.Begin, r.End
	if b < 0 {
		b += n + 1
	}
	if e < 0 {
		e += n + 1
	}
	if b > n { // "31" in a 30-day month: not this month
		return false
	}
	return day >= max(b, 1) && day <= min(e, n)
}

// MarshalYAML renders the range.
func (r DayOfMonthRange) MarshalYAML() (any, error) { return r.render(strconv.Itoa), nil }

// MonthRange is a range of months, by name or number: "january:march",
// "12".
type MonthRange struct{ inclusiveRange }

// UnmarshalYAML parses the range.
func (r *MonthRange) UnmarshalYAML(node *yaml.Node) error {
	ir, err := parseRange(node, func(s string) (int, error) {
		for i, n := range monthNames {
			if s == n {
				return i + 1, nil
			}
		}
		if m, err := strconv.Atoi(s); err == nil && m >= 1 && m <= 12 {
			return m, nil
		}
		return 0, fmt.Errorf("%q is not a month (january … december, or 1 to 12)", s)
	})
	if err == nil && ir.Begin > ir.End {
		err = fmt.Errorf("%q: %s comes before %s: write two ranges", node.Value, monthNames[ir.End-1], monthNames[ir.Begin-1])
	}
	if err != nil {
		return fmt.Errorf("line %d: months: %w", node.Line, err)
	}
	r.inclusiveRange = ir
	return nil
}

// MarshalYAML renders the range with month names.
func (r MonthRange) MarshalYAML() (any, error) {
	return r.render(func(i int) string { return monthNames[i-1] }), nil
}

// YearRange is a range of years: "2026", "2026:2028".
type YearRange struct{ inclusiveRange }

// UnmarshalYAML parses the range.
func (r *YearRange) UnmarshalYAML(node *yaml.Node) error {
	ir, err := parseRange(node, func(s string) (int, error) {
		y, err := strconv.Atoi(s)
		if err != nil || y < 1 || y > 9999 {
			return 0, fmt.Errorf("%q is not a year", s)
		}
		return y, nil
	})
	if err == nil && ir.Begin > ir.End {
		err = fmt.Errorf("%q: the end year is before the start year", node.Value)
	}
	if err != nil {
		return fmt.Errorf("line %d: years: %w", node.Line, err)
	}
	r.inclusiveRange = ir
	return nil
}

// MarshalYAML renders the range.
func (r YearRange) MarshalYAML() (any, error) { return r.render(strconv.Itoa), nil }

// Location is a time zone from the IANA database ("Europe/Paris"), "UTC"
// or "Local".
type Location struct {
	*time.Location
}

// UnmarshalYAML loads the zone.
func (l *Location) UnmarshalYAML(node *yaml.Node) error {
	var name string
	if err := node.Decode(&name); err != nil {
		return err
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return fmt.Errorf("line %d: location: unknown time zone %q: %w", node.Line, name, err)
	}
	l.Location = loc
	return nil
}

// MarshalYAML renders the zone's name.
func (l Location) MarshalYAML() (any, error) {
	if l.Location == nil {
		return nil, nil
	}
	return l.String(), nil
}

func (s *TimeIntervalSet) validate() error {
	if s.Name == "" {
		return schema.At(errors.New("name must be set"), "name")
	}
	return nil
}

// TimeIntervalSet returns the time_intervals entry called name.
func (c *RouterConfig) TimeIntervalSet(name string) (*TimeIntervalSet, bool) {
	for i := range c.TimeIntervals {
		if c.TimeIntervals[i].Name == name {
			return &c.TimeIntervals[i], true
		}
	}
	return nil, false
}
