package benchcompare

import (
	"compress/gzip"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"testing"
)

// fakeExporterEnv makes the test binary act as an exporter: the harness
// starts it as a separate process, as it starts the real ones.
const fakeExporterEnv = "BENCHCOMPARE_FAKE_EXPORTER"

func TestMain(m *testing.M) {
	if os.Getenv(fakeExporterEnv) == "1" {
		if len(os.Args) > 1 && os.Args[1] == "relay" {
			os.Exit(ServeRelay(os.Args[2:], os.Stdout, os.Stderr))
		}
		os.Exit(fakeExporter(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// fakeExporter serves /-/healthy and a /probe that checks the harness's
// request looks like Prometheus's and answers probe_success, gzipped when
// asked. Flags:
//
//	--config.file=…, --web.listen-address=…  as the real exporters
//	--fake.probe-success=0                   fail every probe
//	--fake.no-connect                        do not connect to tcp targets
//	--fake.exit                              exit at once with status 1
//	--web.enable-pprof, --fake.pprof         serve /debug/pprof/profile
//	--version                                print a version
func fakeExporter(args []string) int {
	var addr, config, success = "", "", "1"
	pprofOn, connect := false, true
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		switch k {
		case "--version":
			fmt.Println("fake_exporter, version 1.0")
			return 0
		case "--config.file":
			config = v
		case "--web.listen-address":
			addr = v
		case "--fake.probe-success":
			success = v
		case "--fake.no-connect":
			connect = false
		case "--fake.exit":
			fmt.Fprintln(os.Stderr, "fake exporter: told to exit")
			return 1
		case "--web.enable-pprof", "--fake.pprof":
			pprofOn = true
		default:
			fmt.Fprintf(os.Stderr, "fake exporter: unknown flag %s\n", a)
			return 2
		}
	}
	if b, err := os.ReadFile(config); err != nil || !strings.Contains(string(b), "modules:") {
		fmt.Fprintf(os.Stderr, "fake exporter: bad config %s: %v\n", config, err)
		return 1
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("Healthy")) })
	mux.HandleFunc("/probe", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch {
		case q.Get("module") == "" || q.Get("target") == "":
			http.Error(w, "module and target needed", http.StatusBadRequest)
			return
		case r.Header.Get("Accept") != prometheusAccept,
			r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds") != scrapeTimeout,
			r.Header.Get("User-Agent") != prometheusUserAgent:
			http.Error(w, "not a Prometheus-like request", http.StatusBadRequest)
			return
		}
		result := success
		if connect && q.Get("module") == "tcp_connect" {
			c, err := net.Dial("tcp", q.Get("target"))
			if err != nil {
				result = "0"
			} else {
				c.Close()
			}
		}
		body := "# HELP probe_duration_seconds x\nprobe_duration_seconds 0.001\nprobe_success " + result + "\n"
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		if r.Header.Get("Accept-Encoding") != "gzip" {
			w.Write([]byte(body))
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		gz := gzip.NewWriter(w)
		_, _ = gz.Write([]byte(body))
		gz.Close()
	})
	if pprofOn {
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	}
	if err := http.ListenAndServe(addr, mux); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
