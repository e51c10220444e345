package rules

import (
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
)

func TestSetFor(t *testing.T) {
	cfg, err := config.ParseRouter([]byte(`
rules:
  - matchers: ['group="web"']
    failures: 5
    successes: 1
    repeat_interval: 1h
    receivers: [ops]
    continue: true
  - matchers: ['module=~"http.*"']
    repeat_interval: 30m
    send_resolved: false
    receivers: [ops, audit]
  - matchers: ['group="db"']
    depends_on: ['instance="gw"']
    receivers: [dba]
receivers:
  - name: ops
  - name: audit
  - name: dba
`))
	if err != nil {
		t.Fatal(err)
	}
	s := NewSet(cfg)
	web := s.For(map[string]string{"group": "web", "module": "http_2xx", "instance": "a"})
	if !web.Matched || web.Failures != 5 || web.Successes != 1 || len(web.Routes) != 2 {
		t.Fatalf("web: %+v", web)
	}
	if ops := web.RouteTo("ops"); ops == nil || ops.Repeat != 30*time.Minute || !ops.SendResolved {
		t.Errorf("ops reached twice: %+v (want the shortest repeat, send_resolved from either rule)", ops)
	}
	if audit := web.RouteTo("audit"); audit == nil || audit.SendResolved {
		t.Errorf("audit: %+v", audit)
	}
	// The same rules match: the same Policy, shared.
	if other := s.For(map[string]string{"group": "web", "module": "http_post", "instance": "b"}); other != web {
		t.Error("two checks matched by the same rules got different policies")
	}
	if db := s.For(map[string]string{"group": "db", "module": "tcp_connect"}); db == web || len(db.DependsOn) != 1 || db.RouteTo("dba") == nil {
		t.Errorf("db: %+v", db)
	}
	if none := s.For(map[string]string{"group": "other", "module": "icmp"}); none.Matched || none.Failures != 3 || none.Successes != 2 || len(none.Routes) != 0 ||
		none != s.For(map[string]string{"group": "another"}) {
		t.Errorf("unmatched: %+v", none)
	}
}
