package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestRouterLinksNoProberLibrary: vigie_router links neither the exporter's
// schema nor what only the probers need (CEL for http bodies, a DNS client,
// SSH, gRPC, QUIC for HTTP/3): its own schema is alertrouter/config, and
// what both schemas share is internal/schema. A stray import of package
// config, prober or discovery brings them back; this test names it.
func TestRouterLinksNoProberLibrary(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the router's dependencies: %v", err)
	}
	out, err := exec.Command(goBin, "list", "-deps", "github.com/vigie-monitoring/vigie/cmd/vigie_router").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	forbidden := []string{
		"github.com/google/cel-go/",
		"github.com/miekg/dns",
		"golang.org/x/crypto/ssh",
		"google.golang.org/grpc",
		"github.com/quic-go/",
		"github.com/vigie-monitoring/vigie/config",
		"github.com/vigie-monitoring/vigie/prober",
		"github.com/vigie-monitoring/vigie/discovery",
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps listed only %v", deps)
	}
	for _, dep := range deps {
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, strings.TrimSuffix(f, "/")+"/") {
				t.Errorf("vigie_router links %s", dep)
			}
		}
	}
}
