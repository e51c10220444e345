package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/internal/testenv"
)

// A minimal W3C WebDriver client for chromedriver (JSON over HTTP), enough
// to drive headless Chromium through the status page.

type webDriver struct {
	t       *testing.T
	base    string // http://127.0.0.1:port/session/<id>
	timeout time.Duration
}

// elementKey is the W3C element reference's key.
const elementKey = "element-6066-11e4-a52e-4f735466cecf"

// newBrowser starts chromedriver and a headless Chromium session; both
// stop with the test.
func newBrowser(t *testing.T) *webDriver {
	t.Helper()
	chromium := testenv.Binary(t, "chromium", "/usr/bin/chromium", "chromium-browser", "google-chrome")
	driver := testenv.Binary(t, "chromedriver", "/usr/bin/chromedriver")
	port := testenv.FreePort(t)
	start(t, driver, fmt.Sprintf("--port=%d", port), "--allowed-ips=127.0.0.1")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	testenv.WaitForPort(t, addr, 30*time.Second)

	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName": "chrome",
		"goog:chromeOptions": map[string]any{
			"binary": chromium,
			"args": []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
				"--disable-background-networking", "--disable-component-update", "--disable-sync",
				"--disable-dev-shm-usage", "--window-size=1280,1000", "--user-data-dir=" + t.TempDir()},
		},
	}}}
	var created struct {
		SessionID string `json:"sessionId"`
	}
	w := &webDriver{t: t, base: "http://" + addr, timeout: 60 * time.Second}
	w.call("POST", "/session", caps, &created)
	if created.SessionID == "" {
		t.Fatal("chromedriver returned no session")
	}
	w.base += "/session/" + created.SessionID
	t.Cleanup(func() {
		req, _ := http.NewRequest("DELETE", w.base, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	})
	return w
}

// call does one WebDriver command and decodes its "value" into out.
func (w *webDriver) call(method, path string, in, out any) {
	w.t.Helper()
	if err := w.try(method, path, in, out); err != nil {
		w.t.Fatalf("webdriver %s %s: %v", method, path, err)
	}
}

func (w *webDriver) try(method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		data, _ := json.Marshal(in)
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, w.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Timeout: w.timeout}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var envelope struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(data, &envelope); err != nil {
		return fmt.Errorf("%d: %s", resp.StatusCode, data)
	}
	if resp.StatusCode != 200 {
		var e struct{ Error, Message string }
		if err := json.Unmarshal(envelope.Value, &e); err != nil {
			return fmt.Errorf("%d: %s", resp.StatusCode, envelope.Value)
		}
		return fmt.Errorf("%d %s: %s", resp.StatusCode, e.Error, e.Message)
	}
	if out != nil {
		return json.Unmarshal(envelope.Value, out)
	}
	return nil
}

func (w *webDriver) open(url string) {
	w.t.Helper()
	w.call("POST", "/url", map[string]string{"url": url}, nil)
}

// cdp runs a Chrome DevTools Protocol command through chromedriver.
func (w *webDriver) cdp(cmd string, params map[string]any) {
	w.t.Helper()
	w.call("POST", "/goog/cdp/execute", map[string]any{"cmd": cmd, "params": params}, nil)
}

// find returns the element matching a CSS selector, or "".
func (w *webDriver) find(css string) string {
	var el map[string]string
	if err := w.try("POST", "/element", map[string]string{"using": "css selector", "value": css}, &el); err != nil {
		return ""
	}
	return el[elementKey]
}

func (w *webDriver) mustFind(css string) string {
	w.t.Helper()
	var el map[string]string
	if err := w.try("POST", "/element", map[string]string{"using": "css selector", "value": css}, &el); err != nil {
		w.t.Fatalf("no element %s on the page: %v\n%s", css, err, w.source())
	}
	return el[elementKey]
}

func (w *webDriver) text(css string) string {
	el := w.find(css)
	if el == "" {
		return ""
	}
	var s string
	if w.try("GET", "/element/"+el+"/text", nil, &s) != nil {
		return "" // replaced by a live update meanwhile
	}
	return s
}

// waitText waits until the element's text contains want.
func (w *webDriver) waitText(css, want string) {
	w.t.Helper()
	deadline := time.Now().Add(w.timeout)
	for !strings.Contains(w.text(css), want) {
		if time.Now().After(deadline) {
			w.t.Fatalf("%s never showed %q; it shows %q", css, want, w.text(css))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (w *webDriver) typeInto(css, text string) {
	w.t.Helper()
	el := w.mustFind(css)
	w.call("POST", "/element/"+el+"/clear", map[string]any{}, nil)
	w.call("POST", "/element/"+el+"/value", map[string]any{"text": text}, nil)
}

// click clicks the element css selects. A live update may replace it
// between finding and clicking (a stale element): it is found again.
func (w *webDriver) click(css string) {
	w.t.Helper()
	for attempt := 1; ; attempt++ {
		path := "/element/" + w.mustFind(css) + "/click"
		err := w.try("POST", path, map[string]any{}, nil)
		if err == nil {
			return
		}
		if !strings.Contains(err.Error(), "stale element") || attempt == 10 {
			w.t.Fatalf("webdriver POST %s: %v", path, err)
		}
	}
}

func (w *webDriver) exec(script string, out any) {
	w.t.Helper()
	w.call("POST", "/execute/sync", map[string]any{"script": script, "args": []any{}}, out)
}

func (w *webDriver) source() string {
	var s string
	_ = w.try("GET", "/source", nil, &s)
	return s
}

// screenshot returns the page as PNG.
func (w *webDriver) screenshot() []byte {
	w.t.Helper()
	var b64 string
	w.call("GET", "/screenshot", nil, &b64)
	png, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		w.t.Fatal(err)
	}
	return png
}
