package store

import (
	"testing"
	"time"
)

func TestTelegramSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if off, err := s.TelegramOffset("42"); err != nil || off != 0 {
		t.Fatalf("offset before any = %d, %v", off, err)
	}
	if err := s.SaveTelegramOffset("42", 17); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for id := int64(1); id <= 3; id++ {
		if err := s.SaveTelegramMessage(&TelegramMessageRecord{Bot: "42", Chat: -100, MessageID: id, Incidents: []string{"x@1"}, Text: "t", SentAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SaveTelegramMessage(&TelegramMessageRecord{Bot: "43", Chat: -100, MessageID: 1, SentAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(dir); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if off, err := s.TelegramOffset("42"); err != nil || off != 17 {
		t.Errorf("offset after reopen = %d, %v", off, err)
	}
	if off, _ := s.TelegramOffset("43"); off != 0 {
		t.Errorf("another bot's offset = %d", off)
	}
	msgs, err := s.TelegramMessages("42")
	if err != nil || len(msgs) != 3 {
		t.Fatalf("messages = %d, %v", len(msgs), err)
	}
	if err := s.DeleteTelegramMessages(msgs[0]); err != nil {
		t.Fatal(err)
	}
	if m, err := s.TelegramMessage("42", -100, 1); m != nil || err != nil {
		t.Errorf("deleted message = %+v, %v", m, err)
	}
	if m, err := s.TelegramMessage("42", -100, 2); m == nil || err != nil || m.Incidents[0] != "x@1" || !m.SentAt.Equal(now) {
		t.Errorf("message 2 = %+v, %v", m, err)
	}
}

func TestTelegramMessagesBounded(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// Old ones go after the retention.
	for id := int64(1); id <= 300; id++ {
		at := start
		if id > 100 {
			at = start.Add(TelegramMessageRetention + time.Hour)
		}
		if err := s.SaveTelegramMessage(&TelegramMessageRecord{Bot: "42", Chat: 1, MessageID: id, SentAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	msgs, _ := s.TelegramMessages("42")
	if len(msgs) != 200 {
		t.Errorf("%d messages kept, want the 200 within the retention", len(msgs))
	}
}
