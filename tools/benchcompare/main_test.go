package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUsageErrors(t *testing.T) {
	// Work directories go to a temporary directory of the test's, where
	// none may be left behind by a run that could not start.
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	defer func() {
		if left, _ := os.ReadDir(tmp); len(left) > 0 {
			t.Errorf("work directories left behind: %v", left)
		}
	}()
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown flag", []string{"-nope"}, exitUsage, "flag provided but not defined: -nope"},
		{"stray argument", []string{"tcp"}, exitUsage, "unexpected arguments: tcp"},
		{"missing blackbox", []string{"-blackbox", "/nonexistent/blackbox"}, exitError, "no blackbox exporter at /nonexistent/blackbox"},
		{"not the repository", []string{"-blackbox", "/bin/true", "-repo", "/"}, exitError, "is not vigie's repository"},
		{"bad rounds", []string{"-blackbox", "/bin/true", "-vigie", "/bin/true", "-rounds", "0"}, exitError, "rounds must be at least 1"},
		{"bad scenario", []string{"-blackbox", "/bin/true", "-vigie", "/bin/true", "-scenarios", "tcp,ftp"}, exitError, `unknown scenario "ftp"`},
		{"fixture flag", []string{"fixture", "-nope"}, exitUsage, "flag provided but not defined: -nope"},
		{"fixture counts", []string{"fixture", "-http-targets", "-1"}, exitError, "must not be negative"},
		{"scale flag", []string{"scale", "-nope"}, exitUsage, "flag provided but not defined: -nope"},
		{"scale stray argument", []string{"scale", "now"}, exitUsage, "unexpected arguments: now"},
		{"scale not the repository", []string{"scale", "-repo", "/"}, exitError, "is not vigie's repository"},
		{"scale targets", []string{"scale", "-targets", "0"}, exitError, "targets must be at least 1"},
		{"scale warm-up", []string{"scale", "-warmup", "5m"}, exitError, "warm-up must be shorter than the duration"},
		{"sd flag", []string{"sd", "-nope"}, exitUsage, "flag provided but not defined: -nope"},
		{"sd targets", []string{"sd", "-targets", "0"}, exitError, "targets must be at least 1"},
		{"sd shards", []string{"sd", "-shards", "-1"}, exitError, "shards must be at least 1"},
		{"shards stray argument", []string{"shards", "now"}, exitUsage, "unexpected arguments: now"},
		{"shards count", []string{"shards", "-shards", "1"}, exitError, "shards must be at least 2"},
		{"relay without address", []string{"relay", "--config.file=x"}, exitUsage, "--web.listen-address is needed"},
	} {
		var stdout, stderr strings.Builder
		code := run(context.Background(), tc.args, &stdout, &stderr)
		if code != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit %d and %q", tc.name, code, stderr.String(), tc.code, tc.want)
		}
	}
}

func TestFixtureCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "targets.json")
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // start, write the targets, and return at once
	var stdout, stderr strings.Builder
	code := run(ctx, []string{"fixture", "-http-targets", "3", "-tcp-targets", "2", "-file-sd", path}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "serving 3 http and 2 tcp targets; control API http://127.0.0.1:") {
		t.Errorf("stdout = %q", stdout.String())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var groups []struct {
		Targets []string          `json:"targets"`
		Labels  map[string]string `json:"labels"`
	}
	if err := json.Unmarshal(b, &groups); err != nil {
		t.Fatalf("file_sd does not parse: %v\n%s", err, b)
	}
	if len(groups) != 2 || len(groups[0].Targets) != 3 || len(groups[1].Targets) != 2 {
		t.Errorf("file_sd = %s, want 3 http targets and 2 tcp targets", b)
	}
}
