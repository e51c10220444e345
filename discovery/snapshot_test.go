package discovery

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestRenderGroupsSortsAndLabels(t *testing.T) {
	inputs := []sourceInput{
		{kind: "static", source: "static:b.yml", groups: []TargetGroup{
			{Targets: []string{"https://z.example", "https://a.example"}, Modules: []string{"tls_expiry", "http_2xx"}, Labels: map[string]string{"group": "web", "empty": ""}},
			// Same labels and module as the first group: merged into its entry.
			{Targets: []string{"https://m.example"}, Modules: []string{"http_2xx"}, Labels: map[string]string{"group": "web"}},
			{Targets: []string{"10.0.0.1"}, Modules: []string{"icmp"}},
		}},
	}
	snap, stats := renderAll(inputs, AllTargets())
	want := `[
{"targets":["https://a.example","https://m.example","https://z.example"],"labels":{"__meta_vigie_source":"static:b.yml","group":"web","module":"http_2xx"}},
{"targets":["10.0.0.1"],"labels":{"__meta_vigie_source":"static:b.yml","module":"icmp"}},
{"targets":["https://a.example","https://z.example"],"labels":{"__meta_vigie_source":"static:b.yml","group":"web","module":"tls_expiry"}}
]
`
	if got := string(snap.full.body); got != want {
		t.Errorf("body:\n%s\nwant:\n%s", got, want)
	}
	if stats.served != 6 || stats.discovered["static"] != 6 || stats.duplicates != 0 {
		t.Errorf("stats = %+v", stats)
	}
	// Deterministic: the same input renders the same bytes.
	again, _ := renderAll(inputs, AllTargets())
	if string(again.full.body) != want || again.full.etag != snap.full.etag {
		t.Error("rendering is not deterministic")
	}
}

func TestRenderDuplicatesFirstSourceWins(t *testing.T) {
	inputs := []sourceInput{
		{kind: "static", source: "static:a.yml", groups: []TargetGroup{
			{Targets: []string{"example.org:443"}, Modules: []string{"tcp_connect"}, Labels: map[string]string{"team": "a"}},
		}},
		{kind: "consul", source: "consul:web", groups: []TargetGroup{
			{Targets: []string{"example.org:443"}, Modules: []string{"tcp_connect", "tls_expiry"}, Labels: map[string]string{"team": "b"}},
		}},
	}
	snap, stats := renderAll(inputs, AllTargets())
	var groups []sdGroup
	if err := json.Unmarshal(snap.full.body, &groups); err != nil {
		t.Fatal(err)
	}
	if got := labelsOf(groups, "example.org:443", "tcp_connect"); got["team"] != "a" || got[SourceLabel] != "static:a.yml" {
		t.Errorf("tcp_connect labels = %v, want the first source's", got)
	}
	if got := labelsOf(groups, "example.org:443", "tls_expiry"); got["team"] != "b" {
		t.Errorf("tls_expiry (not duplicated) labels = %v", got)
	}
	if got := pairs(groups); strings.Join(got, ",") != "example.org:443 tcp_connect,example.org:443 tls_expiry" {
		t.Errorf("pairs = %v", got)
	}
	if stats.duplicates != 1 || stats.served != 2 || stats.discovered["static"] != 1 || stats.discovered["consul"] != 2 {
		t.Errorf("stats = %+v", stats)
	}
}

func TestRenderReservedLabelsCannotBeOverridden(t *testing.T) {
	snap, _ := renderAll([]sourceInput{{kind: "static", source: "static:x", groups: []TargetGroup{
		{Targets: []string{"t"}, Modules: []string{"m"}, Labels: map[string]string{"module": "other", SourceLabel: "forged"}},
	}}}, AllTargets())
	var groups []sdGroup
	if err := json.Unmarshal(snap.full.body, &groups); err != nil {
		t.Fatal(err)
	}
	if l := groups[0].Labels; l["module"] != "m" || l[SourceLabel] != "static:x" {
		t.Errorf("labels = %v", l)
	}
}

func TestRenderEscapesJSON(t *testing.T) {
	odd := "quote\" backslash\\ newline\n tab\t nul\x00 bell\x07 utf8é invalid\xff end"
	snap, _ := renderAll([]sourceInput{{kind: "static", source: "static:x", groups: []TargetGroup{
		{Targets: []string{odd}, Modules: []string{"m"}, Labels: map[string]string{"l": odd}},
	}}}, AllTargets())
	var groups []sdGroup
	if err := json.Unmarshal(snap.full.body, &groups); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, snap.full.body)
	}
	want := strings.ReplaceAll(odd, "\xff", "\uFFFD")
	if groups[0].Targets[0] != want || groups[0].Labels["l"] != want {
		t.Errorf("round trip: %q, %q; want %q", groups[0].Targets[0], groups[0].Labels["l"], want)
	}
}

func TestRenderEmpty(t *testing.T) {
	snap, stats := render(nil)
	if string(snap.full.body) != "[]\n" || stats.served != 0 {
		t.Errorf("empty render = %q, %+v", snap.full.body, stats)
	}
	if string(snap.forModule("http_2xx").body) != "[]\n" {
		t.Error("module of an empty snapshot must be an empty list")
	}
}

func TestRenderPerModuleSlices(t *testing.T) {
	var groups []TargetGroup
	for i := range 30 {
		groups = append(groups, TargetGroup{
			Targets: []string{fmt.Sprintf("host%d", i)},
			Modules: []string{[]string{"a", "b", "c"}[i%3]},
			Labels:  map[string]string{"i": fmt.Sprint(i)},
		})
	}
	snap, _ := renderAll([]sourceInput{{kind: "static", source: "static:x", groups: groups}}, AllTargets())
	total := 0
	for _, module := range []string{"a", "b", "c"} {
		var got []sdGroup
		if err := json.Unmarshal(snap.forModule(module).body, &got); err != nil {
			t.Fatalf("module %s: invalid JSON: %v\n%s", module, err, snap.forModule(module).body)
		}
		if len(got) != 10 {
			t.Errorf("module %s: %d entries, want 10", module, len(got))
		}
		for _, g := range got {
			if g.Labels["module"] != module {
				t.Errorf("module %s answer holds %v", module, g.Labels)
			}
		}
		total += len(got)
	}
	if total != 30 {
		t.Errorf("per-module answers hold %d entries, want 30", total)
	}
	if string(snap.forModule("nope").body) != "[]\n" {
		t.Error("unknown module must give an empty list")
	}
}

func TestRenderShard(t *testing.T) {
	var targets []string
	for i := range 100 {
		targets = append(targets, fmt.Sprintf("h%d:80", i))
	}
	in := []sourceInput{{kind: "static", source: "static:x", groups: []TargetGroup{{Targets: targets, Modules: []string{"tcp_connect"}}}}}
	seen := map[string]int{}
	for i := range uint64(3) {
		snap, stats := renderAll(in, Shard{i, 3})
		var groups []sdGroup
		if err := json.Unmarshal(snap.full.body, &groups); err != nil {
			t.Fatal(err)
		}
		for _, p := range pairs(groups) {
			seen[p]++
		}
		if stats.discovered["static"] != 100 || stats.served != len(pairs(groups)) {
			t.Errorf("shard %d stats = %+v", i, stats)
		}
	}
	if len(seen) != 100 {
		t.Errorf("3 shards serve %d distinct pairs, want 100", len(seen))
	}
	for p, n := range seen {
		if n != 1 {
			t.Errorf("%s served by %d shards", p, n)
		}
	}
}
