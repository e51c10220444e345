package clock

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

func fired(ch <-chan time.Time) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestFakeTimer(t *testing.T) {
	f := NewFake(t0)
	tm := f.NewTimer(time.Minute)
	f.Advance(59 * time.Second)
	if fired(tm.C()) {
		t.Fatal("fired early")
	}
	f.Advance(time.Second)
	if !fired(tm.C()) {
		t.Fatal("not fired at its deadline")
	}
	// Reset leaves no stale value, Stop none either.
	tm.Reset(time.Second)
	f.Advance(time.Second)
	tm.Reset(time.Minute)
	if fired(tm.C()) {
		t.Fatal("a stale value after Reset")
	}
	tm.Stop()
	f.Advance(time.Hour)
	if fired(tm.C()) || len(f.Waiters()) != 0 {
		t.Fatalf("fired after Stop; waiters %v", f.Waiters())
	}
	tm.Reset(0)
	if !fired(tm.C()) {
		t.Fatal("Reset(0) does not fire at once")
	}
	// The wall clock may be set back: waiters then wait longer.
	after := f.After(time.Minute)
	f.Set(t0)
	f.Advance(time.Hour)
	if fired(after) {
		t.Fatal("After fired before its deadline after the clock was set back")
	}
	f.Advance(time.Hour)
	if !fired(after) {
		t.Fatal("After never fired")
	}
}
