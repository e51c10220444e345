package log

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

func TestNotifyLogsOneLine(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n, err := New(config.LogConfig{Level: "warn"}, logger)
	if err != nil {
		t.Fatal(err)
	}
	msg := &notify.Notification{
		Receiver: "log", Kind: notify.KindDown, Status: notify.StatusFiring,
		Alerts: []notify.Alert{
			{Annotations: map[string]string{"summary": "https://a.example (http_2xx) is DOWN:\nconnection refused"}},
			{Labels: map[string]string{"instance": "b", "module": "tcp"}, Reason: "timeout"},
		},
	}
	retry, err := n.Notify(context.Background(), msg)
	if retry || err != nil {
		t.Fatalf("Notify = %v, %v", retry, err)
	}
	out := buf.String()
	for _, want := range []string{
		"level=WARN", "msg=Notification", "receiver=log", "kind=down", "status=firing", "alerts=2",
		`text="https://a.example (http_2xx) is DOWN: connection refused; {instance=\"b\", module=\"tcp\"}: timeout"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log line lacks %s:\n%s", want, out)
		}
	}
	if strings.Count(out, "\n") != 1 {
		t.Errorf("want one line, got:\n%s", out)
	}
}

func TestDefaultLevelInfo(t *testing.T) {
	var buf bytes.Buffer
	n, _ := New(config.LogConfig{}, slog.New(slog.NewTextHandler(&buf, nil)))
	_, _ = n.Notify(context.Background(), &notify.Notification{Kind: notify.KindUp, Status: notify.StatusResolved})
	if !strings.Contains(buf.String(), "level=INFO") {
		t.Errorf("got %s", buf.String())
	}
}

// A test notification has no alert; its line still says what it is.
func TestTestNotificationSaysWhatItIs(t *testing.T) {
	var buf bytes.Buffer
	n, _ := New(config.LogConfig{}, slog.New(slog.NewTextHandler(&buf, nil)))
	if _, err := n.Notify(context.Background(), &notify.Notification{Receiver: "ops", Kind: notify.KindTest, Status: notify.StatusFiring}); err != nil {
		t.Fatal(err)
	}
	if want := `text="TEST notification for receiver ops: log notifications work"`; !strings.Contains(buf.String(), want) {
		t.Errorf("got %s, want %s", buf.String(), want)
	}
}
