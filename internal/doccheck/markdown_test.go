package doccheck

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// root is the repository, from this package's directory.
const root = "../.."

// page is one Markdown file of the documentation.
type page struct {
	path  string // relative to the repository, with slashes: docs/router.md
	text  string
	lines []string
	// code[i] is true when line i is inside a fenced code block (the
	// fences included).
	code []bool
}

func readPage(t *testing.T, rel string) *page {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	p := &page{path: rel, text: string(data), lines: strings.Split(string(data), "\n")}
	p.code = make([]bool, len(p.lines))
	fence := ""
	for i, l := range p.lines {
		trimmed := strings.TrimLeft(l, " ")
		if fence == "" {
			if m := fenceRE.FindString(trimmed); m != "" {
				fence = m
				p.code[i] = true
			}
			continue
		}
		p.code[i] = true
		if strings.HasPrefix(trimmed, fence) && strings.TrimSpace(strings.TrimLeft(trimmed, fence[:1])) == "" {
			fence = ""
		}
	}
	return p
}

var fenceRE = regexp.MustCompile("^(```+|~~~+)")

// docPages lists README.md, every page under docs/, and the other
// Markdown files users read (deploy/consul/README.md), sorted.
func docPages(t *testing.T) []*page {
	t.Helper()
	rels := []string{"README.md", "deploy/consul/README.md"}
	err := filepath.WalkDir(filepath.Join(root, "docs"), func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".md") {
			rel, _ := filepath.Rel(root, path)
			rels = append(rels, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(rels)
	if len(rels) < 15 {
		t.Fatalf("only %d pages found: %v", len(rels), rels)
	}
	var out []*page
	for _, r := range rels {
		out = append(out, readPage(t, r))
	}
	return out
}

// heading is a Markdown ATX heading outside code.
type heading struct {
	level int
	text  string
	line  int // 1-based
}

var headingRE = regexp.MustCompile(`^(#{1,6})[ \t]+(.*?)[ \t#]*$`)

func (p *page) headings() []heading {
	var out []heading
	for i, l := range p.lines {
		if p.code[i] {
			continue
		}
		if m := headingRE.FindStringSubmatch(l); m != nil {
			out = append(out, heading{level: len(m[1]), text: m[2], line: i + 1})
		}
	}
	return out
}

var (
	inlineLinkRE = regexp.MustCompile(`!?\[([^\]]*)\]\(([^)\s]*)(?:\s+"[^"]*")?\)`)
	codeSpanRE   = regexp.MustCompile("`+[^`]*`+")
)

// slug is the anchor GitHub gives a heading: its text as rendered (code
// spans and links reduced to their text), lower-cased, without what is not
// a letter, a digit, a space, '-' or '_', spaces made '-'.
func slug(text string) string {
	text = inlineLinkRE.ReplaceAllString(text, "$1")
	text = strings.ReplaceAll(text, "`", "")
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// anchors returns the page's heading anchors; duplicates are reported.
func (p *page) anchors() (map[string]int, []string) {
	out := map[string]int{}
	var dups []string
	for _, h := range p.headings() {
		s := slug(h.text)
		if first, ok := out[s]; ok {
			dups = append(dups, "line "+strconv.Itoa(h.line)+": heading "+strings.Repeat("#", h.level)+" "+h.text+" has the anchor #"+s+" of line "+strconv.Itoa(first))
			continue
		}
		out[s] = h.line
	}
	return out, dups
}

// section returns the lines of the section under the first heading with
// this text, up to the next heading of the same or a higher level.
func (p *page) section(text string) []string {
	in, level := false, 0
	var out []string
	for i, l := range p.lines {
		if !p.code[i] {
			if m := headingRE.FindStringSubmatch(l); m != nil {
				if in && len(m[1]) <= level {
					break
				}
				if !in && m[2] == text {
					in, level = true, len(m[1])
					continue
				}
			}
		}
		if in {
			out = append(out, l)
		}
	}
	return out
}

var wordRE = regexp.MustCompile(`[A-Za-z0-9_]+`)

// codeWords are the words of the page's code: inline code spans and
// fenced blocks, where keys, flags and metric names are written.
func (p *page) codeWords() map[string]bool {
	out := map[string]bool{}
	for i, l := range p.lines {
		spans := []string{l}
		if !p.code[i] {
			spans = codeSpanRE.FindAllString(l, -1)
		}
		for _, s := range spans {
			for _, w := range wordRE.FindAllString(s, -1) {
				out[w] = true
			}
		}
	}
	return out
}

// tableRows are the lines of the page's tables (outside code).
func tableRows(lines []string) []string {
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "|") {
			out = append(out, l)
		}
	}
	return out
}

func (p *page) tableRows() []string {
	var ls []string
	for i, l := range p.lines {
		if !p.code[i] {
			ls = append(ls, l)
		}
	}
	return tableRows(ls)
}

func TestSlug(t *testing.T) {
	for text, want := range map[string]string{
		"Target policy (`security.targets`)":                                                     "target-policy-securitytargets",
		"Discovery and `/sd` with 10,000 targets":                                                "discovery-and-sd-with-10000-targets",
		"Credentials stay with the target's host":                                                "credentials-stay-with-the-targets-host",
		"`vigie_router silence`":                                                                 "vigie_router-silence",
		"Grouping (`group_by`, `group_wait`)":                                                    "grouping-group_by-group_wait",
		"Your first Telegram alert in five minutes":                                              "your-first-telegram-alert-in-five-minutes",
		"Prometheus alerts (`POST /api/v2/alerts`)":                                              "prometheus-alerts-post-apiv2alerts",
		"Running the comparison (`make bench-compare`)":                                          "running-the-comparison-make-bench-compare",
		"The conversation: [`query_response`](#x)":                                               "the-conversation-query_response",
		"Maintenance windows (`time_intervals`, `mute_time_intervals`, `active_time_intervals`)": "maintenance-windows-time_intervals-mute_time_intervals-active_time_intervals",
	} {
		if got := slug(text); got != want {
			t.Errorf("slug(%q) = %q, want %q", text, got, want)
		}
	}
}
