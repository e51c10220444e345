package doccheck

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// example is a fenced YAML block of the documentation and the tag before it.
type example struct {
	page      *page
	line      int // of the opening fence, 1-based
	kind, why string
	data      []byte
}

var tagRE = regexp.MustCompile(`^<!--\s*config:\s*([a-z-]+)\s*(?:\((.*)\))?\s*-->$`)

// examples returns the page's ```yaml blocks with their tags: the HTML
// comment `<!-- config: KIND -->` on the line before the fence (blank lines
// between are allowed), `<!-- config: skip (why) -->` for a fragment.
func (p *page) examples() []example {
	var out []example
	for i := 0; i < len(p.lines); i++ {
		l := strings.TrimSpace(p.lines[i])
		if !p.code[i] || !strings.HasPrefix(l, "```") || strings.TrimLeft(l, "`") != "yaml" {
			continue
		}
		indent := len(p.lines[i]) - len(strings.TrimLeft(p.lines[i], " "))
		ex := example{page: p, line: i + 1}
		for j := i - 1; j >= 0; j-- {
			prev := strings.TrimSpace(p.lines[j])
			if prev == "" {
				continue
			}
			if m := tagRE.FindStringSubmatch(prev); m != nil {
				ex.kind, ex.why = m[1], m[2]
			}
			break
		}
		var body []string
		for i++; i < len(p.lines) && strings.TrimSpace(p.lines[i]) != "```"; i++ {
			l := p.lines[i]
			if len(l) >= indent && strings.TrimSpace(l[:indent]) == "" {
				l = l[indent:]
			}
			body = append(body, l)
		}
		ex.data = []byte(strings.Join(body, "\n") + "\n")
		out = append(out, ex)
	}
	return out
}

// TestDocYAMLExamples: every YAML example of README and docs/ says what it
// is, and parses with the real loader of that kind, so that an example
// copied into a file works.
func TestDocYAMLExamples(t *testing.T) {
	counts := map[string]int{}
	for _, p := range docPages(t) {
		exs := p.examples()
		// Blocks that name their file ("# vigie-rules.yml") are written
		// first, so that a configuration finds the files it names.
		named := map[string][]byte{}
		for _, ex := range exs {
			if n := fileNameOf(ex.data); n != "" {
				named[n] = ex.data
			}
		}
		for _, ex := range exs {
			counts[ex.kind]++
			where := p.path + ":" + strconv.Itoa(ex.line)
			switch {
			case ex.kind == "":
				t.Errorf("%s: a ```yaml block without a tag: put <!-- config: KIND --> before it (kinds: %s, or skip (why))", where, strings.Join(kinds(), ", "))
				continue
			case ex.kind == "skip":
				if strings.TrimSpace(ex.why) == "" {
					t.Errorf("%s: <!-- config: skip --> must say why in parentheses", where)
				}
				continue
			case loaders[ex.kind] == nil:
				t.Errorf("%s: unknown kind %q (kinds: %s, or skip (why))", where, ex.kind, strings.Join(kinds(), ", "))
				continue
			}
			t.Run(strings.ReplaceAll(where, "/", "_"), func(t *testing.T) {
				dir := t.TempDir()
				for name, data := range named {
					if err := os.WriteFile(filepath.Join(dir, name), withFiles(t, data, dir), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				if err := loaders[ex.kind](t, withFiles(t, ex.data, dir), dir); err != nil {
					t.Errorf("%s: the %s example does not load: %v\n%s", where, ex.kind, err, ex.data)
				}
			})
		}
	}
	if counts["exporter"] < 10 || counts["router"] < 8 {
		t.Errorf("too few examples found (%v): the scan is broken", counts)
	}
}

func kinds() []string {
	var out []string
	for k := range loaders {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestExampleScanner: blocks, tags and indentation are read as written.
func TestExampleScanner(t *testing.T) {
	p := &page{path: "x.md", lines: strings.Split("<!-- config: router -->\n```yaml\na: 1\n```\n\n1. step\n   <!-- config: skip (a fragment) -->\n\n   ```yaml\n   b: 2\n   ```\n```yaml\nc: 3\n```\n```json\n{}\n```", "\n")}
	p.code = make([]bool, len(p.lines))
	in := false
	for i, l := range p.lines {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			p.code[i] = true
			in = !in
			continue
		}
		p.code[i] = in
	}
	exs := p.examples()
	if len(exs) != 3 {
		t.Fatalf("%d examples: %+v", len(exs), exs)
	}
	if exs[0].kind != "router" || string(exs[0].data) != "a: 1\n" ||
		exs[1].kind != "skip" || exs[1].why != "a fragment" || string(exs[1].data) != "b: 2\n" ||
		exs[2].kind != "" || string(exs[2].data) != "c: 3\n" {
		t.Errorf("examples: %q %q %q / %q %q %q", exs[0].kind, exs[1].kind, exs[2].kind, exs[0].data, exs[1].data, exs[2].data)
	}
}
