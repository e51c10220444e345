package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/notify/telegram/telegramtest"
	"github.com/vigie-monitoring/vigie/internal/testenv"
)

// walkthroughSection is the README section a new user follows to get a
// first Telegram alert.
const walkthroughSection = "## Your first Telegram alert in five minutes"

// block is a fenced code block of a README section, with the tag before it.
type block struct {
	lang, tag string
	text      string
}

// sectionBlocks returns the code blocks of one section of a Markdown file,
// in order, and the section's text.
func sectionBlocks(t *testing.T, path, heading string) ([]block, string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []block
	var text []string
	in, fence := false, false
	var cur *block
	prev := ""
	for _, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if !fence && strings.HasPrefix(line, "## ") {
			if in {
				break
			}
			in = line == heading
			continue
		}
		if !in {
			continue
		}
		text = append(text, line)
		if strings.HasPrefix(trimmed, "```") {
			if !fence {
				cur = &block{lang: strings.TrimPrefix(trimmed, "```")}
				if m := regexp.MustCompile(`^<!--\s*config:\s*([a-z-]+)`).FindStringSubmatch(prev); m != nil {
					cur.tag = m[1]
				}
			} else {
				blocks = append(blocks, *cur)
			}
			fence = !fence
			continue
		}
		if fence {
			cur.text += line + "\n"
		}
		if trimmed != "" {
			prev = trimmed
		}
	}
	if !in && len(text) == 0 {
		t.Fatalf("%s has no section %q", path, heading)
	}
	return blocks, strings.Join(text, "\n")
}

// TestDocsTelegramWalkthrough follows README's "first Telegram alert"
// as a new user would, with the real binaries started as `make run` starts
// them and the fake Telegram in place of api.telegram.org: every command of
// the section is run (or, for curl, the request it makes is made), the
// configuration it shows is the one used, and the messages it promises
// arrive. Only the addresses change: loopback ports of the test's own, and
// api_url pointing at the fake.
func TestDocsTelegramWalkthrough(t *testing.T) {
	blocks, text := sectionBlocks(t, "../../README.md", walkthroughSection)
	if len(blocks) < 4 {
		t.Fatalf("the walkthrough has %d code blocks", len(blocks))
	}

	// The repository as the user has it after `make run`: the binaries at
	// its root, the quick start configuration in deploy/quickstart.
	repo := t.TempDir()
	qs := filepath.Join(repo, "deploy", "quickstart")
	if err := os.MkdirAll(qs, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"vigie_exporter", "vigie_router"} {
		if err := os.Symlink(filepath.Join(binaries(t), name), filepath.Join(repo, name)); err != nil {
			t.Fatal(err)
		}
	}
	exporterAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	routerAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	demoAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)) // the demo target, "127.0.0.1:9"
	ports := strings.NewReplacer("127.0.0.1:9115", exporterAddr, "127.0.0.1:9116", routerAddr, "127.0.0.1:9/", demoAddr+"/")
	for _, name := range []string{"vigie.yml", "targets.yml", "vigie-router.yml"} {
		data, err := os.ReadFile(filepath.Join("../../deploy/quickstart", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(qs, name), []byte(ports.Replace(string(data))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	demoURL := "http://" + demoAddr + "/"

	// make run: both binaries from deploy/quickstart, as scripts/run.sh
	// starts them.
	exporter := exec.Command(filepath.Join(repo, "vigie_exporter"), "--config.file=vigie.yml", "--web.listen-address="+exporterAddr)
	router := exec.Command(filepath.Join(repo, "vigie_router"), "--config.file=vigie-router.yml", "--storage.path="+t.TempDir(), "--web.listen-address="+routerAddr)
	var routerLog testenv.Buffer
	for _, c := range []*exec.Cmd{exporter, router} {
		c.Dir = qs
		if c == router {
			c.Stdout, c.Stderr = &routerLog, &routerLog
		}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- router log:\n%s", routerLog.String())
		}
	})
	waitHTTP(t, "http://"+routerAddr+"/-/ready", http.StatusOK)
	// The demo target goes DOWN (the quick start's log says so) before the
	// user starts.
	waitMetricLong(t, "http://"+routerAddr, `vigie_router_checks{state="down"}`, func(v float64) bool { return v >= 1 })

	// Telegram: a bot, and a private chat where its user pressed Start.
	const token = "7171717171:AAF-walkthrough_token_of_the_fake_bot"
	const chatID = 555000111
	tg := telegramtest.Start(t, token)
	tg.AddChat(telegramtest.Chat{ID: chatID, Type: "private"})
	tg.UserPosts(chatID, "Ann", "/start")

	cwd := repo
	foundChat := int64(0)
	sawConfig, sawTest, sawReload, sawServer := false, false, false, false
	for _, b := range blocks {
		switch b.lang {
		case "yaml":
			if b.tag != "router" || !strings.Contains(text, "Replace `deploy/quickstart/vigie-router.yml` with this") {
				t.Fatalf("the walkthrough's YAML is not the router configuration it replaces (tag %q)", b.tag)
			}
			if foundChat == 0 {
				t.Fatal("the configuration comes before the chat id is found")
			}
			cfg := ports.Replace(b.text)
			// The chat id the user found, and the fake in place of
			// api.telegram.org (the only key added).
			chatLine := regexp.MustCompile(`(?m)^(\s+)chat_id: 123456789\b.*$`)
			if !chatLine.MatchString(cfg) {
				t.Fatalf("the configuration has no chat_id placeholder to fill in:\n%s", cfg)
			}
			cfg = chatLine.ReplaceAllString(cfg, "${1}chat_id: "+strconv.FormatInt(foundChat, 10)+"\n${1}api_url: "+tg.URL)
			if err := os.WriteFile(filepath.Join(qs, "vigie-router.yml"), []byte(cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			sawConfig = true
		case "sh":
			for _, line := range strings.Split(b.text, "\n") {
				line = strings.TrimSpace(line)
				if line == "" || strings.HasPrefix(line, "#") {
					continue
				}
				switch {
				case line == "install -m 600 /dev/null deploy/quickstart/telegram.token":
					runStep(t, cwd, strings.Fields(line)...)
					// "paste the token in with your editor"
					path := filepath.Join(cwd, "deploy/quickstart/telegram.token")
					if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
						t.Fatalf("token file: %v %v", fi, err)
					}
					if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
						t.Fatal(err)
					}
				case strings.HasPrefix(line, "curl -s \"https://api.telegram.org/bot$(cat "):
					foundChat = getUpdatesChat(t, cwd, line, tg.URL)
					if foundChat != chatID {
						t.Fatalf("the documented getUpdates command gives chat %d, want %d", foundChat, chatID)
					}
				case line == "cd deploy/quickstart":
					cwd = filepath.Join(cwd, "deploy/quickstart")
				case strings.HasPrefix(line, "../../vigie_router "):
					out := runStep(t, cwd, append([]string{filepath.Join(cwd, "../../vigie_router")}, strings.Fields(line)[1:]...)...)
					if strings.Contains(line, "test-notification") {
						if !strings.Contains(out, "telegram/telegram/0: sent") {
							t.Errorf("test-notification printed:\n%s", out)
						}
						ms := waitTelegram(t, tg, "the test message", func(m telegramtest.Message) bool {
							return strings.Contains(m.PlainText, "TEST from vigie (receiver telegram)")
						})
						if ms.ChatID != chatID {
							t.Errorf("test message went to chat %d", ms.ChatID)
						}
						sawTest = true
					}
				case line == "curl -X POST http://127.0.0.1:9116/-/reload":
					resp, err := http.Post("http://"+routerAddr+"/-/reload", "", nil)
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						t.Fatalf("reload: %d", resp.StatusCode)
					}
					down := waitTelegram(t, tg, "the DOWN of the demo target", func(m telegramtest.Message) bool {
						return strings.Contains(m.PlainText, "DOWN "+demoURL+" (http_2xx)")
					})
					if !strings.Contains(down.PlainText, "connection refused by "+demoAddr) || !strings.Contains(down.PlainText, "since ") || down.ChatID != chatID {
						t.Errorf("DOWN message:\n%s", down.PlainText)
					}
					sawReload = true
				case line == "sudo python3 -m http.server 9 --bind 127.0.0.1":
					l, err := net.Listen("tcp", demoAddr)
					if err != nil {
						t.Fatal(err)
					}
					srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })}
					go func() { _ = srv.Serve(l) }()
					t.Cleanup(func() { srv.Close() })
					waitTelegram(t, tg, "the UP of the demo target", func(m telegramtest.Message) bool {
						return strings.Contains(m.PlainText, "UP "+demoURL+" (http_2xx)")
					})
					sawServer = true
				default:
					t.Fatalf("the walkthrough has a step this test does not know how to follow: %q", line)
				}
			}
		default:
			t.Fatalf("the walkthrough has a %q block this test does not know", b.lang)
		}
	}
	if !sawConfig || !sawTest || !sawReload || !sawServer || foundChat == 0 {
		t.Errorf("steps seen: configuration %v, test message %v, reload and DOWN %v, recovery %v, chat id %v", sawConfig, sawTest, sawReload, sawServer, foundChat != 0)
	}
}

// runStep runs a command of the walkthrough in dir and returns its output.
func runStep(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s (in %s): %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return string(out)
}

var getUpdatesRE = regexp.MustCompile(`^curl -s "https://api\.telegram\.org/bot\$\(cat ([^)]+)\)/getUpdates" \| jq '([^']+)'$`)

// getUpdatesChat makes the request of the documented curl command against
// the fake, and evaluates its jq path (.result[].message.chat.id).
func getUpdatesChat(t *testing.T, cwd, line, api string) int64 {
	t.Helper()
	m := getUpdatesRE.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("unexpected getUpdates command: %s", line)
	}
	token, err := os.ReadFile(filepath.Join(cwd, m[1]))
	if err != nil {
		t.Fatal(err)
	}
	if m[2] != ".result[].message.chat.id" {
		t.Fatalf("the jq filter changed (%s): teach the test", m[2])
	}
	resp, err := http.Get(api + "/bot" + strings.TrimSpace(string(token)) + "/getUpdates")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		OK     bool `json:"ok"`
		Result []struct {
			Message struct {
				Chat struct {
					ID int64 `json:"id"`
				} `json:"chat"`
			} `json:"message"`
		} `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || !body.OK || len(body.Result) != 1 {
		t.Fatalf("getUpdates: %+v, %v", body, err)
	}
	return body.Result[0].Message.Chat.ID
}

// waitTelegram waits until the fake Telegram accepted a message that matches.
func waitTelegram(t *testing.T, tg *telegramtest.Server, what string, match func(telegramtest.Message) bool) telegramtest.Message {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range tg.Messages() {
			if match(m) {
				return m
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no message on Telegram for %s; accepted: %+v", what, tg.Messages())
	return telegramtest.Message{}
}

// waitMetricLong is waitMetric with the quick start's pace (15 s checks).
func waitMetricLong(t *testing.T, base, series string, cond func(float64) bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		if v := metric(t, base, series); cond(v) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: condition not met in time", series)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
