package doccheck

import (
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocLinks: every relative link of README and docs/ leads to a file
// of the repository, every #anchor to a heading of its page (GitHub's
// anchors), and no page has two headings with the same anchor (the second
// could never be linked to).
func TestDocLinks(t *testing.T) {
	pages := docPages(t)
	anchors := map[string]map[string]int{}
	for _, p := range pages {
		a, dups := p.anchors()
		anchors[p.path] = a
		for _, d := range dups {
			t.Errorf("%s: %s", p.path, d)
		}
	}
	links := 0
	for _, p := range pages {
		for i, l := range p.lines {
			if p.code[i] {
				continue
			}
			l = codeSpanRE.ReplaceAllString(l, "")
			for _, m := range inlineLinkRE.FindAllStringSubmatch(l, -1) {
				target := m[2]
				if target == "" {
					t.Errorf("%s:%d: empty link %q", p.path, i+1, m[0])
					continue
				}
				if u, err := url.Parse(target); err == nil && u.Scheme != "" {
					continue // http://, https://, mailto:
				}
				links++
				file, frag, _ := strings.Cut(target, "#")
				rel := p.path
				if file != "" {
					rel = path.Clean(path.Join(path.Dir(p.path), file))
					if strings.HasPrefix(rel, "../") {
						t.Errorf("%s:%d: link %q leaves the repository", p.path, i+1, target)
						continue
					}
					if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(rel))); err != nil {
						t.Errorf("%s:%d: link %q: no file %s", p.path, i+1, target, rel)
						continue
					}
				}
				if frag == "" {
					continue
				}
				a, ok := anchors[rel]
				if !ok {
					if strings.HasSuffix(rel, ".md") {
						a, _ = readPage(t, rel).anchors()
					} else {
						t.Errorf("%s:%d: link %q: an anchor in %s, which is not a page", p.path, i+1, target, rel)
						continue
					}
				}
				if _, ok := a[frag]; !ok {
					t.Errorf("%s:%d: link %q: %s has no heading with the anchor #%s", p.path, i+1, target, rel, frag)
				}
			}
		}
	}
	if links < 100 {
		t.Errorf("only %d relative links found: the scan is broken", links)
	}
}

// The link check sees what it must: relative links, anchors, links in
// tables; not links in code.
func TestLinkScanner(t *testing.T) {
	p := &page{path: "docs/x.md", lines: []string{
		"See [a](b.md#c) and [d](#e), | [f](https://g) |",
		"```",
		"[not](a-link.md)",
		"```",
		"and `[nor](this.md)`",
	}}
	p.code = []bool{false, true, true, true, false}
	var got []string
	for i, l := range p.lines {
		if p.code[i] {
			continue
		}
		l = codeSpanRE.ReplaceAllString(l, "")
		for _, m := range inlineLinkRE.FindAllStringSubmatch(l, -1) {
			got = append(got, m[2])
		}
	}
	if strings.Join(got, " ") != "b.md#c #e https://g" {
		t.Errorf("links found: %v", got)
	}
}
