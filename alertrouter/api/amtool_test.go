package api

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vigie-monitoring/vigie/internal/testenv"
)

var versionWarning = regexp.MustCompile(`(?m)^Warning: amtool version \(.*\) and alertmanager version \(.*\) are different\.$`)

// amtool runs the real amtool (Debian prometheus-alertmanager) against
// the API.
func (f *fixture) amtool(t *testing.T, args ...string) string {
	t.Helper()
	bin := testenv.Binary(t, "amtool", "/usr/bin/amtool")
	cmd := exec.Command(bin, append([]string{"--alertmanager.url=" + f.srv.URL}, args...)...)
	cmd.Env = []string{"HOME=" + t.TempDir()} // no ~/.config/amtool/config.yml
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("amtool %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	// amtool warns (on stderr) that the router's version is not its own;
	// anything else is a complaint.
	if msg := versionWarning.ReplaceAllString(stderr.String(), ""); strings.TrimSpace(msg) != "" {
		t.Errorf("amtool %s complained: %s", strings.Join(args, " "), msg)
	}
	return string(out)
}

// TestAmtool drives the API with amtool 0.25, unchanged: silences are
// added, queried and expired, alerts added and queried, the
// configuration shown.
func TestAmtool(t *testing.T) {
	f := setup(t)

	out := f.amtool(t, "silence", "add", "alertname=HighLatency", `instance=~"a.*"`, "--comment=deploy of a", "--author=ann", "--duration=1h")
	id := strings.TrimSpace(out)
	if _, err := uuid.Parse(id); err != nil {
		t.Fatalf("silence add printed %q, want a UUID", out)
	}
	sil, err := f.silences.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	if sil.CreatedBy != "ann" || sil.Comment != "deploy of a" || sil.MatchersString() != `{alertname="HighLatency", instance=~"a.*"}` {
		t.Errorf("silence made by amtool: %+v", sil)
	}
	if d := sil.EndsAt.Sub(sil.StartsAt); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("duration %v", d)
	}
	second := strings.TrimSpace(f.amtool(t, "silence", "add", "job=node", "--comment=c", "--author=bob", "--duration=2h"))

	out = f.amtool(t, "silence", "query")
	for _, want := range []string{id, second, "ann", "deploy of a", `alertname="HighLatency"`, `instance=~"a.*"`} {
		if !strings.Contains(out, want) {
			t.Errorf("silence query lacks %q:\n%s", want, out)
		}
	}
	out = f.amtool(t, "silence", "query", "-q")
	if got := strings.Fields(out); len(got) != 2 || got[0] != id || got[1] != second {
		t.Errorf("silence query -q = %q, want %s then %s", got, id, second)
	}
	out = f.amtool(t, "silence", "query", "-q", "job=node")
	if strings.TrimSpace(out) != second {
		t.Errorf("silence query -q job=node = %q", out)
	}

	// Alerts: one added by amtool, shown silenced or not.
	f.amtool(t, "alert", "add", "alertname=HighLatency", "instance=a:9100", "--annotation=summary=slow")
	f.amtool(t, "alert", "add", "alertname=DiskFull", "instance=b:9100")
	got := f.engine.got()
	if len(got) != 2 || got[0].Labels["instance"] != "a:9100" || got[0].Annotations["summary"] != "slow" || got[0].StartsAt.IsZero() ||
		!got[0].EndsAt.IsZero() {
		t.Fatalf("alerts from amtool alert add: %+v", got)
	}
	out = f.amtool(t, "alert", "query")
	if !strings.Contains(out, "DiskFull") || strings.Contains(out, "HighLatency") {
		t.Errorf("alert query (silenced alerts hidden by default):\n%s", out)
	}
	out = f.amtool(t, "alert", "query", "--silenced")
	if !strings.Contains(out, "HighLatency") || strings.Contains(out, "DiskFull") {
		t.Errorf("alert query --silenced:\n%s", out)
	}
	out = f.amtool(t, "alert", "query", "-a", "-s", "alertname=~.*")
	if !strings.Contains(out, "HighLatency") || !strings.Contains(out, "DiskFull") {
		t.Errorf("alert query -a -s:\n%s", out)
	}
	out = f.amtool(t, "-o", "extended", "alert", "query", "-a", "instance=b:9100")
	if !regexp.MustCompile(`DiskFull.*instance="b:9100"`).MatchString(out) || strings.Contains(out, "HighLatency") {
		t.Errorf("alert query -o extended instance=b:9100:\n%s", out)
	}

	f.amtool(t, "silence", "expire", id)
	time.Sleep(2 * time.Millisecond)
	if s, _ := f.silences.Get(id); s.State(time.Now()) != "expired" {
		t.Errorf("after amtool silence expire: %+v", s)
	}
	out = f.amtool(t, "silence", "query", "-q")
	if strings.TrimSpace(out) != second {
		t.Errorf("active silences after expire: %q", out)
	}
	out = f.amtool(t, "silence", "query", "-q", "--expired")
	if strings.TrimSpace(out) != id {
		t.Errorf("expired silences: %q", out)
	}

	out = f.amtool(t, "config", "show")
	if !strings.Contains(out, "name: ops") || strings.Contains(out, "hunter2") {
		t.Errorf("config show:\n%s", out)
	}
	out = f.amtool(t, "cluster", "show")
	if !strings.Contains(out, "disabled") {
		t.Errorf("cluster show:\n%s", out)
	}
}
