package discovery

import (
	"bytes"
	"slices"
	"strings"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// Reading a target file piece by piece.
//
// parseTargetFile decodes a whole file at once: the YAML library first
// parses the document into a node tree (some 250 bytes per target), then
// decodes it, so that every exporter reading the file pays for every target
// in it, whatever its shard. readTargetFile instead splits a block-style
// file at its top-level items and decodes them a batch at a time; within a
// large item, the block list under `targets:` is decoded a batch of entries
// at a time, and only the shard's pairs are kept. Its transient memory is
// that of a batch, and what it keeps follows the shard's share.
//
// Splitting by lines is only done where a line's indentation tells the
// structure for sure; anything else (flow or JSON style, a multi-line
// scalar or collection where a split would fall, anchors used across
// pieces, document markers, unusual line breaks) makes a piece fail to
// decode or is refused up front, and the file is then read whole by
// parseTargetFile. So is a file with any error: its message, and the line
// it names, are exactly parseTargetFile's.

const (
	// streamBatch is about how many bytes of YAML are decoded at once.
	streamBatch = 64 << 10
)

// readTargetFile reads a target file keeping only shard's pairs: the
// groups as Shard.keep gives them from parseTargetFile's, the number of
// pairs before sharding, the warnings, or parseTargetFile's error.
func readTargetFile(data []byte, shard Shard, defaultModules []string, known map[string]string) ([]TargetGroup, int, []string, error) {
	if r, ok := streamTargetFile(data, shard, defaultModules, known); ok {
		return r.groups, r.pairs, r.warnings, nil
	}
	groups, warnings, err := parseTargetFile(data, defaultModules, known)
	if err != nil {
		return nil, 0, nil, err
	}
	kept, pairs := shard.keep(groups)
	return kept, pairs, warnings, nil
}

// streamed is what streamTargetFile read.
type streamed struct {
	groups   []TargetGroup
	pairs    int
	warnings []string
	split    int // items whose targets were read a batch at a time
}

// streamTargetFile reads data piece by piece; ok is false when it cannot
// (see above), and the file must be read whole.
func streamTargetFile(data []byte, shard Shard, defaultModules []string, known map[string]string) (r streamed, ok bool) {
	if !plainLineBreaks(data) || !plainCharacters(data) {
		return r, false
	}
	s := streamer{data: data, shard: shard, defaultModules: defaultModules, known: known}
	return s.run()
}

// plainLineBreaks reports whether data breaks lines with \n or \r\n only,
// and has no byte order mark: lines are then counted as YAML counts them.
func plainLineBreaks(data []byte) bool {
	if bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) || bytes.Contains(data, []byte("\u0085")) ||
		bytes.Contains(data, []byte("\u2028")) || bytes.Contains(data, []byte("\u2029")) {
		return false
	}
	for rest := data; ; {
		i := bytes.IndexByte(rest, '\r')
		if i < 0 {
			return true
		}
		if i+1 >= len(rest) || rest[i+1] != '\n' {
			return false
		}
		rest = rest[i+2:]
	}
}

// plainCharacters reports whether data is UTF-8 made of characters YAML
// allows anywhere (tab, line breaks, printable ASCII, U+00A0 to U+FFFD but
// U+FEFF): a piece that is decoded by no one (a comment between pieces) then
// hides no error that reading the file whole finds.
func plainCharacters(data []byte) bool {
	for i := 0; i < len(data); {
		c := data[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(data[i:])
		if r < 0xa0 || r > 0xd7ff && r < 0xe000 || r > 0xfffd || r == 0xfeff || r == utf8.RuneError && size == 1 {
			return false // the last: not UTF-8
		}
		i += size
	}
	return true
}

// srcLine is one line of the file.
type srcLine struct {
	start, end int // of the line in data, its line break included
	num        int // 1-based
	indent     int // leading spaces
	text       []byte
	kind       lineKind
}

type lineKind int

const (
	blankLine   lineKind = iota // empty, spaces only or a comment
	contentLine                 // something at column indent
	oddLine                     // a tab where indentation ends: not split
)

// lines iterates over data's lines from offset off, line number num.
type lines struct {
	data []byte
	off  int
	num  int
}

func (ls *lines) next() (srcLine, bool) {
	if ls.off >= len(ls.data) {
		return srcLine{}, false
	}
	l := srcLine{start: ls.off, num: ls.num}
	end := len(ls.data)
	text := ls.data[ls.off:]
	if i := bytes.IndexByte(text, '\n'); i >= 0 {
		end = ls.off + i + 1
		text = text[:i]
	}
	text = bytes.TrimSuffix(text, []byte("\r"))
	l.end, l.text = end, text
	ls.off, ls.num = end, ls.num+1
	for l.indent < len(text) && text[l.indent] == ' ' {
		l.indent++
	}
	rest := text[l.indent:]
	switch {
	case len(rest) == 0 || rest[0] == '#':
		l.kind = blankLine
	case rest[0] == '\t':
		l.kind = oddLine
	default:
		l.kind = contentLine
	}
	return l, true
}

// isEntry reports whether a content line starts a block list entry at
// column col ("- x" or a lone "-").
func (l srcLine) isEntry(col int) bool {
	if l.kind != contentLine || l.indent != col {
		return false
	}
	rest := l.text[col:]
	return len(rest) == 1 && rest[0] == '-' || len(rest) > 1 && rest[0] == '-' && rest[1] == ' '
}

type streamer struct {
	data           []byte
	shard          Shard
	defaultModules []string
	known          map[string]string
	out            streamed
}

// item is one top-level list item: its lines, from first to last (before
// the next item).
type item struct {
	first    srcLine
	end, num int // end offset; number of lines
}

func (s *streamer) run() (streamed, bool) {
	ls := lines{data: s.data, num: 1}
	// The start: blank lines, comments and a "---" document start.
	var first srcLine
	for {
		l, more := ls.next()
		if !more {
			return streamed{}, false // no items: read whole (empty file, `[]`...)
		}
		if l.kind == oddLine {
			return streamed{}, false
		}
		if l.kind == blankLine {
			continue
		}
		if l.indent == 0 && bytes.Equal(bytes.TrimRight(l.text, " "), []byte("---")) {
			continue
		}
		first = l
		break
	}
	col := first.indent
	if !first.isEntry(col) {
		return streamed{}, false
	}
	// Items end where the next starts; any other line at the list's
	// column or left of it ("---", "...", a key) is not for splitting.
	var (
		batch     []item
		batchSize int
	)
	cur := item{first: first, end: first.end, num: 1}
	flush := func() bool {
		if len(batch) == 0 {
			return true
		}
		ok := s.decodeItems(s.data[batch[0].first.start:batch[len(batch)-1].end], batch[0].first.num, len(batch))
		batch, batchSize = batch[:0], 0
		return ok
	}
	done := func(it item) bool {
		size := it.end - it.first.start
		if size >= streamBatch {
			if !flush() {
				return false
			}
			if s.splitItem(it, col) {
				return true
			}
			return s.decodeItems(s.data[it.first.start:it.end], it.first.num, 1)
		}
		if batchSize+size > streamBatch && !flush() {
			return false
		}
		batch = append(batch, it)
		batchSize += size
		return true
	}
	for {
		l, more := ls.next()
		if !more {
			break
		}
		switch {
		case l.kind == oddLine:
			return streamed{}, false
		case l.kind == blankLine || l.indent > col:
			cur.end, cur.num = l.end, cur.num+1
		case l.isEntry(col):
			if !done(cur) {
				return streamed{}, false
			}
			cur = item{first: l, end: l.end, num: 1}
		default:
			return streamed{}, false
		}
	}
	if !done(cur) || !flush() {
		return streamed{}, false
	}
	return s.out, true
}

// decodeItems decodes n whole items, the first on line num, and keeps the
// shard's pairs; it reports false on any error.
func (s *streamer) decodeItems(chunk []byte, num, n int) bool {
	var raw []TargetFileGroup
	dec := yaml.NewDecoder(bytes.NewReader(chunk))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil || len(raw) != n {
		return false
	}
	var doc *yaml.Node
	bad := false
	nodeOf := func(i int) *yaml.Node {
		if doc == nil {
			doc = s.nodes(chunk, num, n)
			if doc == nil {
				bad = true
				doc = &yaml.Node{Content: blankNodes(n)}
			}
		}
		return doc.Content[i]
	}
	groups, warnings, err := checkTargetGroups(raw, nodeOf, s.defaultModules, s.known)
	if err != nil || bad {
		return false
	}
	kept, pairs := s.shard.keep(groups)
	s.out.groups = append(s.out.groups, kept...)
	s.out.pairs += pairs
	s.out.warnings = append(s.out.warnings, warnings...)
	return true
}

// nodes parses chunk, a list of n items whose first line is line num of
// the file, into nodes numbered as in the file; nil if it is not that.
func (s *streamer) nodes(chunk []byte, num, n int) *yaml.Node {
	var root yaml.Node
	if err := yaml.Unmarshal(chunk, &root); err != nil || len(root.Content) == 0 {
		return nil
	}
	doc := root.Content[0]
	if doc.Kind != yaml.SequenceNode || len(doc.Content) != n {
		return nil
	}
	shiftLines(doc, num-1)
	return doc
}

func shiftLines(n *yaml.Node, by int) {
	n.Line += by
	for _, c := range n.Content {
		shiftLines(c, by)
	}
}

// splitItem reads a large item whose targets are a block list, the rest
// of the item apart, then its targets a batch at a time; it reports false
// if the item is not like that or has an error. The item is like
// "- modules: [http_2xx]", then "targets:" at the column of "modules",
// then one "- https://example.org" a line, at that column or right of it.
func (s *streamer) splitItem(it item, col int) bool {
	// The column of the item's keys: "- targets:" has them at col+2.
	first := it.first.text[col+1:]
	key := col + 1
	for len(first) > 0 && first[0] == ' ' {
		first, key = first[1:], key+1
	}
	if len(first) == 0 || first[0] == '#' {
		return false
	}
	ls := lines{data: s.data[:it.end], off: it.first.start, num: it.first.num}
	var keyLine srcLine
	found := false
	for l, more := ls.next(); more; l, more = ls.next() {
		text := l.text
		switch {
		case l.num == it.first.num:
			text = text[key:]
		case l.kind == contentLine && l.indent == key:
			text = text[key:]
		default:
			continue
		}
		if isTargetsKey(text) {
			keyLine, found = l, true
			break
		}
	}
	if !found {
		return false
	}
	// The entries: "- x" lines at one column, at or right of the key's,
	// with blank lines and comments between them; they end at a line left
	// of the key's column or at the key's, or at the item's end.
	type entryBatch struct{ start, end, n int }
	var (
		batches []entryBatch
		cur     entryBatch
		entries int
		last    int // end of the last entry line
		entryAt = -1
	)
	for l, more := ls.next(); more; l, more = ls.next() {
		if l.kind == oddLine {
			return false
		}
		if l.kind == blankLine {
			continue
		}
		if entryAt < 0 {
			if l.indent < key || !l.isEntry(l.indent) {
				return false
			}
			entryAt = l.indent
		}
		if !l.isEntry(entryAt) {
			if l.indent > key {
				return false // a continuation, or something else
			}
			break
		}
		if cur.n == 0 {
			cur.start = l.start
		} else if l.start-cur.start >= streamBatch {
			batches = append(batches, cur)
			cur = entryBatch{start: l.start}
		}
		cur.n++
		cur.end = l.end
		entries++
		last = l.end
	}
	if entries == 0 {
		return false
	}
	batches = append(batches, cur)
	regionStart := keyLine.end

	// The rest of the item, the entries blanked out so that the lines
	// stay where they are, must have `targets:` as a key of the item's
	// mapping with nothing after it.
	rest := make([]byte, 0, it.end-it.first.start-(last-regionStart))
	rest = append(rest, s.data[it.first.start:regionStart]...)
	rest = append(rest, bytes.Repeat([]byte("\n"), bytes.Count(s.data[regionStart:last], []byte("\n")))...)
	rest = append(rest, s.data[last:it.end]...)
	doc := s.nodes(rest, it.first.num, 1)
	if doc == nil {
		return false
	}
	item := doc.Content[0]
	k := mappingKey(item, "targets")
	v := mappingValue(item, "targets")
	if k == nil || v == nil || k.Line != keyLine.num || k.Column != key+1 || k.Style != 0 ||
		v.Kind != yaml.ScalarNode || v.Tag != "!!null" || v.Value != "" || v.Style != 0 {
		return false
	}
	var raw []TargetFileGroup
	dec := yaml.NewDecoder(bytes.NewReader(rest))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil || len(raw) != 1 || raw[0].Targets != nil {
		return false
	}

	targets := func(b entryBatch) ([]string, bool) {
		var ts []string
		if err := yaml.Unmarshal(s.data[b.start:b.end], &ts); err != nil || len(ts) != b.n {
			return nil, false
		}
		for _, t := range ts {
			if strings.TrimSpace(t) == "" || strings.ContainsAny(t, " \t\r\n") {
				return nil, false
			}
		}
		return ts, true
	}
	firstTargets, ok := targets(batches[0])
	if !ok {
		return false
	}
	raw[0].Targets = firstTargets
	groups, warnings, err := checkTargetGroups(raw, func(int) *yaml.Node { return item }, s.defaultModules, s.known)
	if err != nil {
		return false
	}
	g := groups[0]
	if s.shard.Count <= 1 {
		all := make([]string, 0, entries)
		all = append(all, firstTargets...)
		for _, b := range batches[1:] {
			ts, ok := targets(b)
			if !ok {
				return false
			}
			all = append(all, ts...)
		}
		g.Targets = all
		s.out.groups = append(s.out.groups, g)
	} else {
		kept := make([][]string, len(g.Modules))
		add := func(ts []string) {
			for j, m := range g.Modules {
				for _, t := range ts {
					if s.shard.Contains(t, m) {
						kept[j] = append(kept[j], t)
					}
				}
			}
		}
		add(firstTargets)
		for _, b := range batches[1:] {
			ts, ok := targets(b)
			if !ok {
				return false
			}
			add(ts)
		}
		for j := range g.Modules {
			if len(kept[j]) > 0 {
				// Cloned: what append grew is collected.
				s.out.groups = append(s.out.groups, TargetGroup{Targets: slices.Clone(kept[j]), Modules: g.Modules[j : j+1 : j+1], Labels: g.Labels})
			}
		}
	}
	s.out.pairs += entries * len(g.Modules)
	s.out.warnings = append(s.out.warnings, warnings...)
	s.out.split++
	return true
}

// isTargetsKey reports whether text is "targets:", maybe followed by
// spaces and a comment.
func isTargetsKey(text []byte) bool {
	rest, ok := bytes.CutPrefix(text, []byte("targets:"))
	if !ok {
		return false
	}
	rest = bytes.TrimLeft(rest, " ")
	return len(rest) == 0 || rest[0] == '#' && len(rest) < len(text)-len("targets:")
}
