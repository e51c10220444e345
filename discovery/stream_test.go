package discovery

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// streamSeeds are target files of the shapes people and tools write.
var streamSeeds = []string{
	"- modules: [http_2xx]\n  targets:\n    - \"http://a/1\"\n    - \"http://a/2\"\n- modules: [tcp_connect]\n  targets:\n    - \"b:1\"\n",
	"---\n# web\n- targets:\n  - a\n  - b # second\n\n  - c\n  modules: [http_2xx, icmp]\n  labels:\n    team: ops\n",
	"- targets: [a, b]\n  modules:\n    - http_2xx\n    - nope\n",
	"- targets:\n    - a\n    - b c\n",
	"- targets:\n    - a\n  labels: {0bad: x}\n",
	"- targets:\n    - &t a\n- targets: [*t]\n",
	"  - targets:\n      - a\n  - targets:\n      - b\n",
	"- targets:\n    - a\n---\n- targets: [b]\n",
	"- targets:\n    - \"a\n  b\"\n",
	"- targets:\r\n    - a\r\n  modules: [icmp]\r\n",
	"- labels: {note: |\n    targets:\n      - x\n    }\n  targets: [a]\n",
	// Comments are not decoded when read in pieces, but are read.
	"# \x19\n- targets: [a]\n",
	"- targets:\n    - a\n    # \xff\n    - b\n",
}

// checkReadTargetFile checks that readTargetFile gives what parsing the
// file whole and keeping shard's pairs gives.
func checkReadTargetFile(t *testing.T, data []byte, shard Shard) {
	t.Helper()
	defaults := []string{"http_2xx"}
	groups, pairs, warnings, err := readTargetFile(data, shard, defaults, testModules)
	wantAll, wantWarnings, wantErr := parseTargetFile(data, defaults, testModules)
	if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
		t.Fatalf("shard %s: error %v, reading the file whole: %v, from %q", shard, err, wantErr, data)
	}
	if err != nil {
		return
	}
	wantGroups, wantPairs := shard.keep(wantAll)
	if !equalGroups(groups, wantGroups) || pairs != wantPairs || !slices.Equal(warnings, wantWarnings) {
		t.Fatalf("shard %s: groups %q pairs %d warnings %q, reading the file whole: %q %d %q, from %q",
			shard, groups, pairs, warnings, wantGroups, wantPairs, wantWarnings, data)
	}
}

// randomTargetFile writes a target file as people and tools do, with
// oddities: comments, blank lines, flow and block lists, multi-line flow
// lists, block scalars in labels, anchors, CRLF, and sometimes an error.
func randomTargetFile(rng *rand.Rand, big bool) string {
	var b strings.Builder
	if rng.IntN(4) == 0 {
		b.WriteString("---\n")
	}
	if rng.IntN(3) == 0 {
		b.WriteString("# generated\n\n")
	}
	ind := strings.Repeat(" ", rng.IntN(2)*2)
	odd := rng.IntN(2) == 0 // anchors, multi-line scalars, errors
	modules := []string{"http_2xx", "tcp_connect", "icmp", "nope", "dns_udp"}
	target := func(g, i int) string {
		t := fmt.Sprintf("host-%d-%d.example.org:%d", g, i, 80+rng.IntN(3))
		switch rng.IntN(8) {
		case 0:
			return `"` + t + `"`
		case 1:
			return "'" + t + "'"
		case 2:
			if odd && rng.IntN(20) == 0 {
				return `"bad target"` // an error
			}
		}
		return t
	}
	groups := 1 + rng.IntN(6)
	for g := range groups {
		keys := []string{"targets", "modules", "labels"}
		rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
		started := false
		for _, k := range keys {
			lead := ind + "- "
			if started {
				lead = ind + "  "
			}
			started = true
			switch k {
			case "targets":
				n := rng.IntN(6)
				if big && rng.IntN(2) == 0 {
					n = 3000 + rng.IntN(3000)
				}
				switch rng.IntN(5) {
				case 0: // flow
					var ts []string
					for i := range n {
						ts = append(ts, target(g, i))
					}
					fmt.Fprintf(&b, "%stargets: [%s]\n", lead, strings.Join(ts, ", "))
				case 1: // multi-line flow
					fmt.Fprintf(&b, "%stargets: [\n", lead)
					for i := range n {
						fmt.Fprintf(&b, "%s    %s,\n", ind, target(g, i))
					}
					fmt.Fprintf(&b, "%s  ]\n", ind)
				default: // block, maybe compact, with comments and blank lines
					fmt.Fprintf(&b, "%stargets:", lead)
					if rng.IntN(5) == 0 {
						b.WriteString(" # the targets")
					}
					b.WriteString("\n")
					at := ind + "  " + strings.Repeat(" ", rng.IntN(2)*2)
					for i := range n {
						r := rng.IntN(300)
						if !odd && r >= 2 {
							r = 10
						}
						switch r {
						case 0:
							b.WriteString("\n")
						case 1:
							fmt.Fprintf(&b, "%s# comment\n", strings.Repeat(" ", rng.IntN(6)))
						case 2:
							fmt.Fprintf(&b, "%s- &a%d %s\n", at, g, target(g, i))
							continue
						case 3:
							fmt.Fprintf(&b, "%s- *a%d\n", at, rng.IntN(groups))
							continue
						case 4:
							fmt.Fprintf(&b, "%s- \"multi\n%s  line\"\n", at, at)
							continue
						}
						fmt.Fprintf(&b, "%s- %s", at, target(g, i))
						if rng.IntN(50) == 0 {
							b.WriteString(" # note")
						}
						b.WriteString("\n")
					}
				}
			case "modules":
				if rng.IntN(4) == 0 {
					started = lead != ind+"- "
					continue // default modules
				}
				var ms []string
				for _, m := range modules {
					if rng.IntN(3) == 0 {
						ms = append(ms, m)
					}
				}
				if rng.IntN(2) == 0 {
					fmt.Fprintf(&b, "%smodules: [%s]\n", lead, strings.Join(ms, ", "))
				} else {
					fmt.Fprintf(&b, "%smodules:\n", lead)
					for _, m := range ms {
						fmt.Fprintf(&b, "%s    - %s\n", ind, m)
					}
				}
			case "labels":
				r := rng.IntN(6)
				if !odd && r >= 3 {
					r = 0
				}
				switch r {
				case 0:
					started = lead != ind+"- "
					continue
				case 1:
					fmt.Fprintf(&b, "%slabels: {team: ops, g: \"%d\"}\n", lead, g)
				case 2:
					fmt.Fprintf(&b, "%slabels:\n%s    note: |\n%s      targets:\n%s        - x\n", lead, ind, ind, ind)
				case 3:
					fmt.Fprintf(&b, "%slabels: &l%d\n%s    team: web\n", lead, g, ind)
				case 4:
					fmt.Fprintf(&b, "%slabels: *l%d\n", lead, rng.IntN(groups))
				case 5:
					bad := []string{"0bad", "module", "ok"}[rng.IntN(3)]
					fmt.Fprintf(&b, "%slabels:\n%s    %s: x\n", lead, ind, bad)
				}
			}
		}
		if !started {
			fmt.Fprintf(&b, "%s- targets: []\n", ind)
		}
		if rng.IntN(10) == 0 {
			b.WriteString("\n# between groups\n")
		}
	}
	s := b.String()
	if rng.IntN(8) == 0 {
		s = strings.ReplaceAll(s, "\n", "\r\n")
	}
	if odd && rng.IntN(10) == 0 {
		s += "unknown: 1\n"
	}
	return s
}

// TestReadTargetFileAsWhole: random target files, small and large, read
// piece by piece give what reading them whole gives, errors included.
func TestReadTargetFileAsWhole(t *testing.T) {
	shards := []Shard{AllTargets(), {0, 2}, {1, 2}, {1, 3}}
	streamedFiles, split := 0, 0
	for seed := range uint64(400) {
		rng := rand.New(rand.NewPCG(seed, 5))
		data := []byte(randomTargetFile(rng, seed%4 == 0))
		shard := shards[seed%uint64(len(shards))]
		checkReadTargetFile(t, data, shard)
		if r, ok := streamTargetFile(data, shard, []string{"http_2xx"}, testModules); ok {
			streamedFiles++
			split += r.split
		}
	}
	for _, seed := range streamSeeds {
		for _, shard := range shards {
			checkReadTargetFile(t, []byte(seed), shard)
		}
	}
	t.Logf("%d of 400 random files read piece by piece, %d large groups a batch of targets at a time", streamedFiles, split)
	if streamedFiles < 50 || split < 5 {
		t.Errorf("only %d of 400 random files were read piece by piece, %d large groups a batch at a time", streamedFiles, split)
	}
}

// TestReadTargetFileInPieces: the files tools write are read piece by
// piece, large groups a batch of targets at a time; what cannot be split
// for sure is read whole.
func TestReadTargetFileInPieces(t *testing.T) {
	var big strings.Builder
	big.WriteString("---\n# written by benchcompare\n- modules: [http_2xx]\n  targets:\n")
	for i := range 20000 {
		fmt.Fprintf(&big, "    - \"http://127.0.0.1:9/t/http-%d\"\n", i)
	}
	big.WriteString("- targets:\n  # compact\n")
	for i := range 5000 {
		fmt.Fprintf(&big, "  - 127.0.0.2:%d\n", 1024+i)
	}
	big.WriteString("  modules: [tcp_connect, icmp]\n  labels: {team: ops}\n")
	cases := []struct {
		name   string
		data   string
		pieces bool
		split  int
	}{
		{"large groups", big.String(), true, 2},
		{"large groups, CRLF", strings.ReplaceAll(big.String(), "\n", "\r\n"), true, 2},
		{"small groups", streamSeeds[0], true, 0},
		{"JSON", `[{"targets": ["a", "b"], "modules": ["http_2xx"]}]`, false, 0},
		{"empty", "", false, 0},
		{"a second document", "- targets: [a]\n---\n- targets: [b]\n", false, 0},
		{"tab", "- targets: [a]\n\t\n", false, 0},
		{"an error", "- targets: [a]\n  modules: [http_2xx]\n- targets: [b c]\n", false, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, shard := range []Shard{AllTargets(), {1, 2}} {
				r, ok := streamTargetFile([]byte(c.data), shard, []string{"http_2xx"}, testModules)
				if ok != c.pieces || r.split != c.split {
					t.Errorf("shard %s: read in pieces %v with %d groups split, want %v with %d", shard, ok, r.split, c.pieces, c.split)
				}
				checkReadTargetFile(t, []byte(c.data), shard)
			}
		})
	}
}
