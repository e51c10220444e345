package config

import (
	"strings"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

func parseInterval(t *testing.T, text string) TimeInterval {
	t.Helper()
	var ti TimeInterval
	if err := yaml.Unmarshal([]byte(text), &ti); err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	return ti
}

func TestTimeIntervalContains(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	utc := func(s string) time.Time {
		v, err := time.Parse("2006-01-02 15:04", s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		name     string
		interval string
		at       time.Time
		want     bool
	}{
		{"empty interval is always", `{}`, utc("2026-11-21 10:00"), true},
		// Times: start inclusive, end exclusive; 24:00 ends the day.
		{"inside times", `times: [{start_time: "22:00", end_time: "24:00"}]`, utc("2026-11-21 23:59"), true},
		{"start is inclusive", `times: [{start_time: "22:00", end_time: "24:00"}]`, utc("2026-11-21 22:00"), true},
		{"end is exclusive", `times: [{start_time: "08:00", end_time: "12:00"}]`, utc("2026-11-21 12:00"), false},
		{"midnight after 24:00 end", `times: [{start_time: "22:00", end_time: "24:00"}]`, utc("2026-11-22 00:00"), false},
		{"second range", `times: [{start_time: "01:00", end_time: "02:00"}, {start_time: "22:00", end_time: "23:00"}]`, utc("2026-11-21 22:30"), true},
		// Weekdays (2026-11-21 is a Saturday).
		{"saturday", `weekdays: ['saturday']`, utc("2026-11-21 10:00"), true},
		{"weekday range excludes saturday", `weekdays: ['monday:friday']`, utc("2026-11-21 10:00"), false},
		{"weekday range includes friday", `weekdays: ['monday:friday']`, utc("2026-11-20 10:00"), true},
		{"case-insensitive", `weekdays: ['Saturday', 'SUNDAY']`, utc("2026-11-22 10:00"), true},
		{"weekend as two ranges", `weekdays: ['sunday', 'saturday']`, utc("2026-11-21 10:00"), true},
		// Days of the month, negative from the end.
		{"day range", `days_of_month: ['1:5']`, utc("2026-11-05 10:00"), true},
		{"day range end", `days_of_month: ['1:5']`, utc("2026-11-06 10:00"), false},
		{"last day of a 30-day month", `days_of_month: ['-1']`, utc("2026-11-30 10:00"), true},
		{"not the last day", `days_of_month: ['-1']`, utc("2026-11-29 10:00"), false},
		{"last day of february", `days_of_month: ['-1']`, utc("2026-02-28 10:00"), true},
		{"last day of a leap february", `days_of_month: ['-1']`, utc("2028-02-29 10:00"), true},
		{"last three days", `days_of_month: ['-3:-1']`, utc("2026-12-29 10:00"), true},
		{"last three days, before", `days_of_month: ['-3:-1']`, utc("2026-12-28 10:00"), false},
		{"unquoted numbers", `{days_of_month: [1, -1], years: [2026]}`, utc("2026-11-30 10:00"), true},
		{"positive start, negative end", `days_of_month: ['15:-1']`, utc("2026-12-31 10:00"), true},
		{"31st in a 30-day month", `days_of_month: ['31']`, utc("2026-11-30 10:00"), false},
		{"29:31 clamped in february", `days_of_month: ['29:31']`, utc("2026-02-28 10:00"), false},
		{"-31 is the 1st of a 31-day month", `days_of_month: ['-31']`, utc("2026-01-01 10:00"), true},
		{"-31 is no day of february", `days_of_month: ['-31:-30']`, utc("2026-02-01 10:00"), false},
		{"-31:-28 is the 1st of february", `days_of_month: ['-31:-28']`, utc("2026-02-01 10:00"), true},
		// Months and years.
		{"month names", `months: ['january:march']`, utc("2026-02-10 10:00"), true},
		{"month numbers", `months: ['10:12']`, utc("2026-02-10 10:00"), false},
		{"single month number", `months: ['11']`, utc("2026-11-10 10:00"), true},
		{"year range", `years: ['2025:2026']`, utc("2026-11-10 10:00"), true},
		{"past year", `years: ['2025']`, utc("2026-11-10 10:00"), false},
		// Time zone: 2026-11-21 23:30 UTC is Sunday 00:30 in Paris.
		{"in Paris it is already sunday", `{weekdays: ['sunday'], times: [{start_time: "00:00", end_time: "01:00"}], location: 'Europe/Paris'}`, utc("2026-11-21 23:30"), true},
		{"in UTC it is still saturday", `{weekdays: ['sunday'], times: [{start_time: "00:00", end_time: "01:00"}]}`, utc("2026-11-21 23:30"), false},
		{"a time given in another zone", `{times: [{start_time: "22:00", end_time: "23:00"}], location: 'Europe/Paris'}`, time.Date(2026, 7, 1, 22, 30, 0, 0, paris), true},
		{"summer time in Paris", `{times: [{start_time: "22:00", end_time: "23:00"}], location: 'Europe/Paris'}`, utc("2026-07-01 20:30"), true},
		// Every field must match.
		{"all fields match", `{weekdays: ['saturday'], days_of_month: ['21'], months: ['november'], years: ['2026'], times: [{start_time: "09:00", end_time: "11:00"}]}`, utc("2026-11-21 10:00"), true},
		{"one field does not", `{weekdays: ['saturday'], days_of_month: ['22']}`, utc("2026-11-21 10:00"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ti := parseInterval(t, tc.interval)
			if got := ti.Contains(tc.at); got != tc.want {
				t.Errorf("Contains(%s) = %v, want %v", tc.at, got, tc.want)
			}
		})
	}
}

func TestTimeIntervalErrors(t *testing.T) {
	cases := []struct{ interval, want string }{
		{`times: [{start_time: "10:00"}]`, "both start_time and end_time must be set"},
		{`times: [{start_time: "10:00", end_time: "09:00"}]`, "is not before end_time"},
		{`times: [{start_time: "10:00", end_time: "10:00"}]`, "is not before end_time"},
		{`times: [{start_time: "10:00", end_time: "24:01"}]`, `invalid time "24:01"`},
		{`times: [{start_time: "9:00", end_time: "10:00"}]`, `invalid time "9:00"`},
		{`times: [{start_time: "09:60", end_time: "10:00"}]`, `invalid time "09:60"`},
		{`times: [{start: "09:00", end_time: "10:00"}]`, "field start not found"},
		{`weekdays: ['funday']`, `"funday" is not a day of the week`},
		{`weekdays: ['friday:monday']`, "the week starts on sunday"},
		{`weekdays: ['1']`, `"1" is not a day of the week`},
		{`days_of_month: ['0']`, "is not a day of the month"},
		{`days_of_month: ['32']`, "is not a day of the month"},
		{`days_of_month: ['-32']`, "is not a day of the month"},
		{`days_of_month: ['10:5']`, "the end is always before the start"},
		{`days_of_month: ['-1:-3']`, "the end is always before the start"},
		{`days_of_month: ['-3:5']`, "the end must be negative"},
		{`months: ['smarch']`, `"smarch" is not a month`},
		{`months: ['13']`, `"13" is not a month`},
		{`months: ['december:january']`, "write two ranges"},
		{`years: ['2027:2026']`, "end year is before"},
		{`years: ['twenty']`, "is not a year"},
		{`location: 'Mars/Olympus'`, `unknown time zone "Mars/Olympus"`},
	}
	for _, tc := range cases {
		var ti TimeInterval
		err := yaml.Unmarshal([]byte(tc.interval), &ti)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%s: error %v, want %q with its line", tc.interval, err, tc.want)
		}
	}
}

func TestTimeIntervalsInRouterConfig(t *testing.T) {
	c, err := ParseRouter([]byte(`
time_intervals:
  - name: nightly-backup
    time_intervals:
      - times: [{start_time: "02:00", end_time: "03:00"}]
        location: Europe/Paris
  - name: business-hours
    time_intervals:
      - weekdays: ['monday:friday']
        times: [{start_time: "09:00", end_time: "18:00"}]
receivers:
  - name: ops
rules:
  - matchers: ['group="db"']
    mute_time_intervals: [nightly-backup]
    active_time_intervals: [business-hours]
    receivers: [ops]
`))
	if err != nil {
		t.Fatal(err)
	}
	s, ok := c.TimeIntervalSet("nightly-backup")
	if !ok || !s.Contains(time.Date(2026, 11, 21, 1, 30, 0, 0, time.UTC)) || s.Contains(time.Date(2026, 11, 21, 2, 30, 0, 0, time.UTC)) {
		t.Errorf("nightly-backup = %+v", s)
	}
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"start_time: \"02:00\"", "location: Europe/Paris", "monday:friday", "mute_time_intervals:", "- nightly-backup"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("marshalled config lacks %q:\n%s", want, out)
		}
	}
	// What /config shows parses back to the same intervals.
	again, err := ParseRouter(out)
	if err != nil {
		t.Fatalf("re-parse: %v\n%s", err, out)
	}
	s2, _ := again.TimeIntervalSet("business-hours")
	if !s2.Contains(time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)) || s2.Contains(time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("re-parsed business-hours = %+v", s2)
	}
}
