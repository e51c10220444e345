package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/history/historytest"
	"github.com/vigie-monitoring/vigie/internal/testenv"
)

// a11yScript is the accessibility pass run on every page: inputs have
// labels, text has the contrast WCAG 2 AA asks (4.5:1, 3:1 for large
// text), graphics 3:1 against what is behind them, one h1 and headings
// that do not skip a level, the SVG and the bars have a role and a name,
// the page has a language. It returns the problems found.
const a11yScript = `
var problems = [];
function lum(rgb) { var c = rgb.map(function (v) { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
  return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]; }
function parse(s) { var m = /rgba?\(([^)]+)\)/.exec(s || ""); if (!m) return null; var p = m[1].split(",").map(parseFloat);
  return { rgb: p.slice(0, 3), a: p.length > 3 ? p[3] : 1 }; }
function bg(el) { for (; el; el = el.parentElement) { var c = parse(getComputedStyle(el).backgroundColor); if (c && c.a > 0) return c.rgb; } return [255, 255, 255]; }
function ratio(a, b) { var l1 = lum(a), l2 = lum(b); return (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05); }
function visible(el) { var r = el.getBoundingClientRect(); var s = getComputedStyle(el); return r.width > 0 && r.height > 0 && s.visibility !== "hidden"; }
document.querySelectorAll("body *").forEach(function (el) {
  if (!visible(el)) return;
  var own = Array.prototype.some.call(el.childNodes, function (n) { return n.nodeType === 3 && n.textContent.trim() !== ""; });
  if (!own) return;
  var s = getComputedStyle(el);
  var fg = parse(el.closest("svg") ? s.fill : s.color); if (!fg) return;
  var r = ratio(fg.rgb, bg(el)), size = parseFloat(s.fontSize), bold = parseInt(s.fontWeight, 10) >= 700;
  var need = (size >= 24 || (bold && size >= 18.66)) ? 3 : 4.5;
  if (r < need) problems.push("contrast " + r.toFixed(2) + " < " + need + ' for "' + el.textContent.trim().slice(0, 40) + '" (' + s.color + ")");
});
document.querySelectorAll(".bars span, svg.chart rect, svg.chart polyline").forEach(function (el) {
  var s = getComputedStyle(el), tag = el.tagName.toLowerCase();
  var c = parse(tag === "span" ? s.backgroundColor : tag === "polyline" ? s.stroke : s.fill); if (!c) return;
  var r = ratio(c.rgb, bg(el.closest("svg") || el.parentElement));
  if (r < 3) problems.push("graphic contrast " + r.toFixed(2) + " for " + tag + "." + el.getAttribute("class"));
});
document.querySelectorAll("input:not([type=hidden]), select, textarea").forEach(function (el) {
  if (!(el.labels && el.labels.length) && !el.getAttribute("aria-label")) problems.push("no label for " + (el.id || el.name));
});
var hs = Array.prototype.slice.call(document.querySelectorAll("h1, h2, h3, h4, h5, h6"));
var h1s = hs.filter(function (h) { return h.tagName === "H1"; }).length;
if (h1s !== 1) problems.push(h1s + " h1 on the page");
var prev = 0;
hs.forEach(function (h) { var l = +h.tagName[1]; if (prev && l > prev + 1) problems.push("heading skips from h" + prev + " to h" + l); prev = l; });
document.querySelectorAll("svg").forEach(function (s) {
  var ids = (s.getAttribute("aria-labelledby") || "").split(" ").filter(Boolean);
  var named = s.getAttribute("aria-label") || (ids.length && ids.every(function (id) { return document.getElementById(id); }));
  if (s.getAttribute("role") !== "img" || !named) problems.push("svg without role=img and a name");
});
document.querySelectorAll("img").forEach(function (i) { if (!i.hasAttribute("alt")) problems.push("img without alt"); });
document.querySelectorAll("[role=img]").forEach(function (e) { if (!e.getAttribute("aria-label") && !e.getAttribute("aria-labelledby")) problems.push("role=img without a name"); });
if (!document.documentElement.lang) problems.push("no lang on html");
return problems;
`

// TestHistoryPagesInChromium runs the real router on a storage path that
// already holds 30 days of history (three checks in two groups, with
// outages), with the public status page on: the summary, the list with
// search, a check's page (latency chart, incidents), the grouped view and
// the public page render in headless Chromium at desktop and phone
// widths, pass an accessibility check, and are saved as screenshots
// ($VIGIE_ARTIFACTS, else the test's temporary directory). The public
// page refuses writes and shows no reason or credentials.
func TestHistoryPagesInChromium(t *testing.T) {
	w := newBrowser(t)
	groups := `[{"targets":["https://shop.example","https://cart.example"],"labels":{"module":"http_2xx","group":"shop"}},` +
		`{"targets":["https://api.example"],"labels":{"module":"http_2xx","group":"api"}}]`
	x := newMultiExporter(t, groups, map[string]string{"https://shop.example": "up", "https://cart.example": "up", "https://api.example": "down"})
	h := newHook(t)
	storage := t.TempDir()
	hour := time.Hour
	if err := historytest.Fill(storage, time.Now(), 30*24*hour, []historytest.Check{
		{Target: "https://shop.example", Module: "http_2xx", Labels: map[string]string{"group": "shop"}, Latency: 120 * time.Millisecond,
			Down: []historytest.Period{{From: 3*24*hour + 2*hour, To: 3 * 24 * hour}, {From: 26 * hour, To: 25*hour + 40*time.Minute}}},
		{Target: "https://cart.example", Module: "http_2xx", Labels: map[string]string{"group": "shop"}, Latency: 300 * time.Millisecond,
			Down: []historytest.Period{{From: 10*24*hour + 6*hour, To: 10 * 24 * hour}}},
		{Target: "https://api.example", Module: "http_2xx", Labels: map[string]string{"group": "api"}, Latency: 60 * time.Millisecond,
			Down: []historytest.Period{{From: 30 * time.Minute, To: 0}, {From: 12 * 24 * hour, To: 12*24*hour - 45*time.Minute}}},
	}); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, fmt.Sprintf(routerConfig, x.srv.URL, x.srv.URL+"/sd", h.srv.URL))
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	publicAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	router, public := "http://"+addr, "http://"+publicAddr
	start(t, filepath.Join(binaries(t), "vigie_router"), "--config.file="+cfg, "--storage.path="+storage,
		"--web.listen-address="+addr, "--web.public-status=shop,api", "--web.public-status.listen-address="+publicAddr)
	waitHTTP(t, router+"/-/ready", http.StatusOK)
	testenv.WaitForPort(t, publicAddr, 20*time.Second)

	dir := os.Getenv("VIGIE_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.cdp("Emulation.clearDeviceMetricsOverride", map[string]any{}) })
	// shoot checks the page at a width (accessibility, no page-wide
	// horizontal scrolling) and saves a full-page screenshot.
	shoot := func(name string, width int, wide bool) {
		t.Helper()
		w.cdp("Emulation.setDeviceMetricsOverride", map[string]any{"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600})
		var height float64
		w.exec("return document.documentElement.scrollHeight;", &height)
		w.cdp("Emulation.setDeviceMetricsOverride", map[string]any{"width": width, "height": min(int(height), 4000), "deviceScaleFactor": 1, "mobile": width < 600})
		var problems []string
		w.exec(a11yScript, &problems)
		for _, p := range problems {
			t.Errorf("%s: accessibility: %s", name, p)
		}
		if !wide {
			var overflow bool
			w.exec("return document.documentElement.scrollWidth > window.innerWidth + 1;", &overflow)
			if overflow {
				t.Errorf("%s: the page scrolls sideways at %d px", name, width)
			}
		}
		w.exec("window.scrollTo(0, 0); return null;", nil)
		path := filepath.Join(dir, name+".png")
		if err := os.WriteFile(path, w.screenshot(), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}

	// The summary: counts, the DOWN check with its availability.
	w.open(router + "/")
	w.waitText("#count-down", "1")
	w.waitText("#problems", "https://api.example")
	w.waitText("#problems td.avail", "%")
	// The accessibility pass finds what it looks for: a faint text and an
	// input without a label, added to the page for a moment.
	var found []string
	w.exec(`var p = document.createElement("p"); p.id = "a11y-bad"; p.style.color = "#cccccc"; p.textContent = "faint";
		var i = document.createElement("input"); i.id = "a11y-unlabelled"; p.appendChild(i); document.body.appendChild(p); return null;`, nil)
	w.exec(a11yScript, &found)
	if got := strings.Join(found, "; "); !strings.Contains(got, "contrast") || !strings.Contains(got, "no label for a11y-unlabelled") {
		t.Errorf("the accessibility pass missed planted problems: %q", got)
	}
	w.exec(`document.getElementById("a11y-bad").remove(); return null;`, nil)
	shoot("summary-desktop", 1280, true)
	shoot("summary-phone", 390, true) // the summary's tables predate this page

	// The search box of the summary leads to the list.
	w.cdp("Emulation.setDeviceMetricsOverride", map[string]any{"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false})
	w.typeInto("#search", "shop.example")
	w.click("form.search button")
	w.waitText("#checks-count", "1 check ")
	w.waitText("#checks", "https://shop.example")
	if strings.Contains(w.text("#checks"), "cart.example") {
		t.Error("search shop.example lists cart")
	}
	w.open(router + "/checks")
	w.waitText("#checks-count", "3 checks")
	shoot("checks-desktop", 1280, false)
	shoot("checks-phone", 390, false)

	// A check's page: availability, latency chart, incidents.
	w.open(router + "/checks/" + url.PathEscape("http_2xx https://shop.example"))
	w.mustFind("svg#latency-chart polyline")
	w.waitText("#incidents", "HTTP status 503 not in 2xx")
	w.waitText("#availability", "%")
	shoot("check-desktop", 1280, false)
	shoot("check-phone", 390, false)

	w.open(router + "/groups?by=group")
	w.waitText("#groups", "shop")
	w.waitText("#groups", "api")
	shoot("groups-desktop", 1280, false)
	shoot("groups-phone", 390, false)

	w.open(public + "/")
	w.waitText("main", "1 check down")
	w.waitText("#group-api", "api")
	shoot("public-desktop", 1280, false)
	shoot("public-phone", 390, false)

	// The public page: read only, no reasons.
	code, body := httpDo(t, "GET", public+"/", "")
	if code != 200 || strings.Contains(body, "503") || strings.Contains(body, "<form") {
		t.Errorf("public page: %d, shows a reason or a form:\n%s", code, body)
	}
	for _, path := range []string{"/", "/silences", "/api/v2/silences", "/api/v2/alerts", "/-/reload"} {
		if code, _ := httpDo(t, "POST", public+path, `{}`); code != http.StatusMethodNotAllowed {
			t.Errorf("POST %s through the public page: %d, want 405", path, code)
		}
	}
	for _, path := range []string{"/api/v1/checks", "/checks", "/metrics", "/config", "/api/v2/status"} {
		if code, _ := httpDo(t, "GET", public+path, ""); code != http.StatusNotFound {
			t.Errorf("GET %s through the public page: %d, want 404", path, code)
		}
	}

	// The API says the same.
	var list struct {
		Total  int `json:"total"`
		Checks []struct {
			ID           string              `json:"id"`
			State        string              `json:"state"`
			Availability map[string]*float64 `json:"availability"`
		} `json:"checks"`
	}
	_, body = httpDo(t, "GET", router+"/api/v1/checks?label=group%3Dshop", "")
	if err := json.Unmarshal([]byte(body), &list); err != nil || list.Total != 2 || list.Checks[0].Availability["30d"] == nil ||
		*list.Checks[0].Availability["30d"] >= 1 || *list.Checks[0].Availability["30d"] < 0.98 {
		t.Errorf("/api/v1/checks: %v %s", err, body)
	}
	_, body = httpDo(t, "GET", router+"/api/v1/summary", "")
	if !strings.Contains(body, `"down":1`) || !strings.Contains(body, `"total":3`) {
		t.Errorf("/api/v1/summary: %s", body)
	}
}

func httpDo(t *testing.T, method, u, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
