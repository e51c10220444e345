package benchcompare

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// ServeRelay runs the relay: the least a Go blackbox-like exporter can do
// per probe, for the "relay" row of the comparison. It answers /probe by
// making the probe's own traffic exactly as an exporter's probe does (http:
// a GET on a new connection, body read to the end; tcp: connect and close,
// TCP keep-alive off) and writing probe_success, nothing else: no
// resolution, target policy, metrics registry, logs, history or format
// negotiation. Its throughput against the direct row's is the ceiling any
// exporter built on net/http reaches on this machine: what the extra hop
// (Prometheus's keep-alive request to the exporter, the exporter's HTTP
// client) costs by itself.
//
// It takes the flags the harness gives exporters (--config.file is
// ignored, --web.listen-address is where it listens) and --version.
func ServeRelay(args []string, stdout, stderr io.Writer) int {
	addr := ""
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		switch k {
		case "--version":
			fmt.Fprintln(stdout, "benchcompare relay (a minimal exporter: the probe's traffic and probe_success)")
			return 0
		case "--web.listen-address":
			addr = v
		case "--config.file":
		default:
			fmt.Fprintf(stderr, "relay: unknown flag %s\n", a)
			return 2
		}
	}
	if addr == "" {
		fmt.Fprintln(stderr, "relay: --web.listen-address is needed")
		return 2
	}
	client := &http.Client{Transport: &http.Transport{
		Proxy:              nil,
		DialContext:        (&net.Dialer{KeepAlive: -1}).DialContext,
		DisableKeepAlives:  true,
		DisableCompression: true,
	}}
	dialer := &net.Dialer{KeepAlive: -1}
	mux := http.NewServeMux()
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "Healthy") })
	mux.HandleFunc("/probe", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		success := "1"
		switch q.Get("module") {
		case "tcp_connect":
			c, err := dialer.DialContext(ctx, "tcp", q.Get("target"))
			if err != nil {
				success = "0"
				break
			}
			c.Close()
		case "http_2xx":
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, q.Get("target"), nil)
			if err != nil {
				success = "0"
				break
			}
			resp, err := client.Do(req)
			if err != nil {
				success = "0"
				break
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode/100 != 2 {
				success = "0"
			}
		default:
			http.Error(w, "the relay knows http_2xx and tcp_connect", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		io.WriteString(w, "# HELP probe_success Displays whether or not the probe was a success\n# TYPE probe_success gauge\nprobe_success "+success+"\n")
	})
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintf(stderr, "relay: %v\n", err)
		return 1
	}
	return 0
}

// RelayExporter is the relay as tools/benchcompare runs it: its own binary
// with the relay sub-command.
func RelayExporter() (Exporter, error) {
	self, err := os.Executable()
	if err != nil {
		return Exporter{}, err
	}
	return Exporter{Name: Relay, Path: self, Prefix: []string{"relay"}}, nil
}
