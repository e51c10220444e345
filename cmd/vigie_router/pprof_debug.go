//go:build vigie_pprof

package main

import (
	"net"
	"net/http"
	_ "net/http/pprof" // the handlers on http.DefaultServeMux, this build only
	"os"
)

// A build for profiling the router in place (`go build -tags vigie_pprof`):
// with VIGIE_PPROF_ADDR set (e.g. 127.0.0.1:6061) it serves
// net/http/pprof there, apart from the router's own listener. Release
// builds have no such endpoint.
func init() {
	addr := os.Getenv("VIGIE_PPROF_ADDR")
	if addr == "" {
		return
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		panic("VIGIE_PPROF_ADDR: " + err.Error())
	}
	go func() { _ = http.Serve(l, nil) }()
}
