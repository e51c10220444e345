package loadfixture

import (
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func post(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Post(url, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestHTTPServer(t *testing.T) {
	for _, size := range []int{0, 1, 100, 5000} {
		s, err := StartHTTP("127.0.0.1:0", size)
		if err != nil {
			t.Fatal(err)
		}
		want := size
		if size == 0 {
			want = DefaultBodySize
		}
		for _, url := range []string{s.URL(""), s.URL("a"), s.URL("a") + "?x=1"} {
			code, body := get(t, url)
			if code != http.StatusOK || len(body) != want || body[len(body)-1] != '\n' {
				t.Errorf("size %d: GET %s = %d with %d bytes, want 200 with %d bytes ending in a newline", size, url, code, len(body), want)
			}
		}
		if got := s.Requests(); got != 3 {
			t.Errorf("Requests() = %d, want 3", got)
		}
		s.Close()
	}
}

func TestHTTPServerDown(t *testing.T) {
	s, err := StartHTTP("127.0.0.1:0", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetDown("a", true)
	if code, _ := get(t, s.URL("a")); code != http.StatusServiceUnavailable {
		t.Errorf("down target answered %d, want 503", code)
	}
	if code, _ := get(t, s.URL("b")); code != http.StatusOK {
		t.Errorf("other target answered %d, want 200", code)
	}
	if code, _ := get(t, s.URL("")); code != http.StatusOK {
		t.Errorf("anonymous target answered %d, want 200", code)
	}
	s.SetDown("a", false)
	if code, _ := get(t, s.URL("a")); code != http.StatusOK {
		t.Errorf("target brought up answered %d, want 200", code)
	}
}

// expectClosedByPeer dials addr and expects the fixture to close the
// connection: a read ends with EOF (or a reset), not a timeout.
func expectClosedByPeer(t *testing.T, addr string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = c.Read(make([]byte, 1))
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("read from %s: %v, want the connection closed by the fixture", addr, err)
	}
}

func expectRefused(t *testing.T, addr string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err == nil {
		c.Close()
		t.Fatalf("dial %s succeeded, want connection refused", addr)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial %s: %v, want connection refused", addr, err)
	}
}

func TestTCPListener(t *testing.T) {
	l, err := StartTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	expectClosedByPeer(t, l.Addr())
	if l.IsDown() {
		t.Error("IsDown() = true for a listening fixture")
	}

	if err := l.SetDown(true); err != nil {
		t.Fatal(err)
	}
	if !l.IsDown() {
		t.Error("IsDown() = false after SetDown(true)")
	}
	expectRefused(t, l.Addr())

	if err := l.SetDown(false); err != nil {
		t.Fatal(err)
	}
	expectClosedByPeer(t, l.Addr())
	if got := l.Accepted(); got != 2 {
		t.Errorf("Accepted() = %d, want 2", got)
	}

	l.Close()
	expectRefused(t, l.Addr())
	if err := l.SetDown(false); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("SetDown after Close: %v, want an error saying the listener is closed", err)
	}
}

func TestScale(t *testing.T) {
	s, err := StartScale(ScaleOptions{HTTPTargets: 3, TCPTargets: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	targets := s.Targets()
	if len(targets) != 5 {
		t.Fatalf("%d targets, want 5: %v", len(targets), targets)
	}
	for _, tg := range targets[:3] {
		if tg.Module != HTTPModule || !strings.HasPrefix(tg.Name, "http-") {
			t.Errorf("target %+v, want an http target", tg)
		}
		if code, _ := get(t, tg.Address); code != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", tg.Address, code)
		}
	}
	for _, tg := range targets[3:] {
		if tg.Module != TCPModule || !strings.HasPrefix(tg.Name, "tcp-") {
			t.Errorf("target %+v, want a tcp target", tg)
		}
		expectClosedByPeer(t, tg.Address)
	}

	code, body := get(t, s.ControlURL()+"targets")
	var groups []fileSDGroup
	if err := json.Unmarshal(body, &groups); code != http.StatusOK || err != nil {
		t.Fatalf("GET targets = %d, %v:\n%s", code, err, body)
	}
	if len(groups) != 2 || len(groups[0].Targets) != 3 || groups[0].Labels["module"] != HTTPModule ||
		len(groups[1].Targets) != 2 || groups[1].Labels["module"] != TCPModule {
		t.Errorf("file_sd groups = %+v, want 3 http_2xx targets then 2 tcp_connect targets", groups)
	}

	// Down and up through the control API, by name and by address.
	httpTarget, tcpTarget := targets[1], targets[4]
	for _, key := range []string{httpTarget.Name, tcpTarget.Address} {
		if code := post(t, s.ControlURL()+"down?target="+key); code != http.StatusNoContent {
			t.Fatalf("POST down %s = %d, want 204", key, code)
		}
		if down, err := s.IsDown(key); !down || err != nil {
			t.Errorf("IsDown(%s) = %v, %v after down", key, down, err)
		}
	}
	if code, _ := get(t, httpTarget.Address); code != http.StatusServiceUnavailable {
		t.Errorf("down http target answered %d, want 503", code)
	}
	if code, _ := get(t, targets[0].Address); code != http.StatusOK {
		t.Errorf("other http target answered %d, want 200", code)
	}
	expectRefused(t, tcpTarget.Address)
	expectClosedByPeer(t, targets[3].Address)

	for _, key := range []string{httpTarget.Address, tcpTarget.Name} {
		if code := post(t, s.ControlURL()+"up?target="+key); code != http.StatusNoContent {
			t.Fatalf("POST up %s = %d, want 204", key, code)
		}
	}
	if code, _ := get(t, httpTarget.Address); code != http.StatusOK {
		t.Errorf("http target brought up answered %d, want 200", code)
	}
	expectClosedByPeer(t, tcpTarget.Address)

	if code := post(t, s.ControlURL()+"down?target=nope"); code != http.StatusNotFound {
		t.Errorf("POST down of an unknown target = %d, want 404", code)
	}
	if code, _ := get(t, s.ControlURL()+"down?target="+httpTarget.Name); code != http.StatusMethodNotAllowed {
		t.Errorf("GET down = %d, want 405", code)
	}
	if _, err := s.IsDown("nope"); err == nil || !strings.Contains(err.Error(), `no target "nope"`) {
		t.Errorf("IsDown(nope) error = %v, want one naming the target", err)
	}
}

func TestScaleBasePort(t *testing.T) {
	// Find a free run of ports below the ephemeral range (where the
	// kernel's own port choices for other tests' connections cannot take
	// a neighbour); retry, as another program may use some.
	var s *Scale
	var err error
	var base int
	for range 50 {
		base = 20000 + rand.IntN(10000)
		if s, err = StartScale(ScaleOptions{TCPTargets: 3, TCPBasePort: base}); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i, tg := range s.Targets() {
		_, port, _ := net.SplitHostPort(tg.Address)
		if want := base + i; port != strconv.Itoa(want) {
			t.Errorf("target %d on port %s, want %d", i, port, want)
		}
	}
}

func TestScaleErrors(t *testing.T) {
	if _, err := StartScale(ScaleOptions{HTTPTargets: -1}); err == nil {
		t.Error("negative target count accepted")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port
	_, err = StartScale(ScaleOptions{TCPTargets: 1, TCPBasePort: busy})
	if err == nil || !strings.Contains(err.Error(), "tcp target 1 of 1") {
		t.Errorf("busy port: %v, want an error naming the target", err)
	}
}
