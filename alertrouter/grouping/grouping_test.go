package grouping

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

func TestCommonPairs(t *testing.T) {
	got := common([]map[string]string{{"a": "1", "b": "2", "c": "3"}, {"a": "1", "b": "x"}, {"a": "1", "b": "2"}})
	if len(got) != 1 || got["a"] != "1" {
		t.Errorf("common = %v", got)
	}
	if got := common(nil); got == nil || len(got) != 0 {
		t.Errorf("common(nil) = %v", got)
	}
}

func TestGroupMessagesOrder(t *testing.T) {
	var members []*notify.Notification
	for i, k := range []notify.Kind{notify.KindUp, notify.KindReminder, notify.KindDown, notify.KindUp, notify.KindFlapping} {
		status := notify.StatusFiring
		if k == notify.KindUp {
			status = notify.StatusResolved
		}
		members = append(members, &notify.Notification{Key: fmt.Sprint(i), Kind: k, Status: status, Alerts: []notify.Alert{{Labels: map[string]string{"i": fmt.Sprint(i)}}}})
	}
	var kinds []notify.Kind
	for _, n := range groupMessages(&store.GroupRecord{Receiver: "ops", Members: members}, t0) {
		kinds = append(kinds, n.Kind)
	}
	if want := []notify.Kind{notify.KindDown, notify.KindFlapping, notify.KindReminder, notify.KindUp}; !slices.Equal(kinds, want) {
		t.Errorf("order %v, want %v", kinds, want)
	}
}
