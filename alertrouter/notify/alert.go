package notify

import (
	"errors"
	"fmt"

	"github.com/prometheus/common/model"
)

// Alert validation and fingerprints live here, once, for every way an
// alert enters the router (the Alertmanager API, the pipeline's ingest).

// maxInError bounds a bad label name or value quoted in an error.
const maxInError = 64

// Fingerprint is Alertmanager's fingerprint of a label set: the hash of
// its sorted pairs. It identifies an alert (and a check's alert).
func Fingerprint(labels map[string]string) string {
	ls := make(model.LabelSet, len(labels))
	for k, v := range labels {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return ls.Fingerprint().String()
}

// ValidateAlert applies Alertmanager's rules to a posted alert (after its
// defaults: empty label values dropped, a missing start set): an end not
// before its start, at least one label, valid label and annotation names
// and values, and an alertname, which rules, messages and groups all name
// alerts by. Label names follow Prometheus 3 and Alertmanager 0.28: any
// non-empty UTF-8 name (rules and silences can only name the classic ones,
// [a-zA-Z_][a-zA-Z0-9_]*, but such labels still travel with the alert).
func ValidateAlert(a *Alert) error {
	if !a.StartsAt.IsZero() && !a.EndsAt.IsZero() && a.EndsAt.Before(a.StartsAt) {
		return errors.New("start time must be before end time")
	}
	if len(a.Labels) == 0 {
		return errors.New("at least one label pair required")
	}
	if err := validLabels(a.Labels); err != nil {
		return fmt.Errorf("invalid label set: %w", err)
	}
	if a.Labels[model.AlertNameLabel] == "" {
		return errors.New("alertname label required")
	}
	if err := validLabels(a.Annotations); err != nil {
		return fmt.Errorf("invalid annotations: %w", err)
	}
	return nil
}

func validLabels(m map[string]string) error {
	for k, v := range m {
		if !model.UTF8Validation.IsValidLabelName(k) {
			return fmt.Errorf("invalid name %q", Truncate(maxInError, k))
		}
		if !model.LabelValue(v).IsValid() {
			return fmt.Errorf("invalid value %q", Truncate(maxInError, v))
		}
	}
	return nil
}
