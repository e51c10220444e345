package notify

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// TestValidateAlert: one set of rules for every way an alert enters the
// router, with Prometheus 3's label names (any non-empty UTF-8 name).
func TestValidateAlert(t *testing.T) {
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		alert Alert
		want  string // "" when valid
	}{
		{Alert{Labels: map[string]string{"alertname": "A", "job": "node"}}, ""},
		{Alert{Labels: map[string]string{"alertname": "A", "service.name": "shop", "é": "x"}}, ""},
		{Alert{}, "at least one label pair required"},
		{Alert{Labels: map[string]string{"instance": "x"}}, "alertname label required"},
		{Alert{Labels: map[string]string{"alertname": "A", "": "x"}}, `invalid label set: invalid name ""`},
		{Alert{Labels: map[string]string{"alertname": "A", "\xff": "x"}}, `invalid label set: invalid name "\xff"`},
		{Alert{Labels: map[string]string{"alertname": "A", "v": "\xff"}}, `invalid label set: invalid value "\xff"`},
		{Alert{Labels: map[string]string{"alertname": "A"}, Annotations: map[string]string{"": "x"}}, `invalid annotations: invalid name ""`},
		{Alert{Labels: map[string]string{"alertname": "A"}, StartsAt: t0, EndsAt: t0.Add(-time.Second)}, "start time must be before end time"},
	}
	for i, tc := range cases {
		err := ValidateAlert(&tc.alert)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("case %d: %v", i, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("case %d: error %v, want %q", i, err, tc.want)
		}
	}
}

func TestFingerprintIsAlertmanagers(t *testing.T) {
	labels := map[string]string{"alertname": "HighLatency", "instance": "shop"}
	want := model.LabelSet{"alertname": "HighLatency", "instance": "shop"}.Fingerprint().String()
	if got := Fingerprint(labels); got != want {
		t.Errorf("Fingerprint = %s, want %s", got, want)
	}
}
