package discovery

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	yaml "go.yaml.in/yaml/v3"

	"github.com/vigie-monitoring/vigie/config"
	"github.com/vigie-monitoring/vigie/internal/schema"
)

// racyWindow: a file whose mtime is this close to our last read of it may
// have been written again within the same mtime tick, so it is re-read even
// if its mtime and size did not change.
const racyWindow = time.Second

// StaticProvider reads target groups from YAML files matching globs and polls
// them for changes. A file that becomes broken keeps its last good targets
// and is reported (log line naming file and line, metrics); a file that
// disappears takes its targets with it.
type StaticProvider struct {
	globs          []string
	defaultModules []string
	interval       time.Duration
	modules        map[string]string // known module → prober, for warnings
	logger         *slog.Logger
	metrics        *Metrics
	// shard is the manager's: the provider reads only its pairs, and
	// sends them as sharded updates.
	shard Shard

	// Owned by Run.
	files          map[string]*staticFile
	missingLiteral map[string]bool
}

type staticFile struct {
	size    int64
	modTime time.Time
	readAt  time.Time
	sum     [32]byte // of the content last parsed (good or not)
	parsed  bool
	parseOK bool // the content of sum parsed fine
	good    bool // the file had good content, whose groups hash to groupsSum
	// groupsSum identifies the groups last sent (the shard's) and the
	// number of pairs read, so that a change that leaves them alone (a
	// comment, another shard's target) sends nothing. The groups
	// themselves are not kept here: the manager keeps them.
	groupsSum [32]byte
	lastErr   string
	// sentErr is the error sent to the manager for a file without good
	// content, so that it is not taken for a file without targets.
	sentErr string
}

// NewStaticProvider returns a provider for one `discovery.static` block.
// modules maps the configured module names to their probers; target files
// naming other modules get a warning.
func NewStaticProvider(cfg config.StaticSDConfig, modules map[string]string, logger *slog.Logger, metrics *Metrics) *StaticProvider {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	interval := time.Duration(cfg.RefreshInterval)
	if interval <= 0 {
		interval = time.Duration(config.DefaultStaticRefreshInterval)
	}
	return &StaticProvider{
		globs:          cfg.Files,
		defaultModules: cfg.DefaultModules,
		interval:       interval,
		modules:        modules,
		logger:         logger,
		metrics:        metrics,
	}
}

// Run implements Provider.
func (p *StaticProvider) Run(ctx context.Context, ch chan<- []Update) {
	p.files = map[string]*staticFile{}
	p.missingLiteral = map[string]bool{}
	defer func() {
		for path := range p.files {
			p.metrics.staticFileFailing.DeleteLabelValues(path)
		}
	}()
	ticker := time.NewTicker(p.interval)
	defer ticker.Stop()
	first := true
	for {
		updates := p.poll()
		if first || len(updates) > 0 {
			select {
			case <-ctx.Done():
				return
			case ch <- updates:
			}
			first = false
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// poll expands the globs and re-reads what changed; it returns the updates
// of the files whose targets changed, appeared or disappeared.
func (p *StaticProvider) poll() []Update {
	var updates []Update
	present := map[string]bool{}
	for _, path := range p.expand() {
		f := p.files[path]
		if f == nil {
			f = &staticFile{}
		}
		exists, groups, pairs, changed := p.refresh(path, f)
		if !exists {
			continue
		}
		present[path] = true
		p.files[path] = f
		switch {
		case changed:
			f.sentErr = ""
			updates = append(updates, Update{Source: "static:" + path, Groups: groups, sharded: true, pairs: pairs})
		case !f.good && f.lastErr != "" && f.lastErr != f.sentErr:
			// Broken with no good content to keep: "failed", not "empty".
			f.sentErr = f.lastErr
			updates = append(updates, Update{Source: "static:" + path, Err: errors.New(f.lastErr)})
		}
	}
	for path, f := range p.files {
		if present[path] {
			continue
		}
		delete(p.files, path)
		p.metrics.staticFileFailing.DeleteLabelValues(path)
		if f.good {
			p.logger.Info("Target file removed, dropping its targets", "file", path)
		}
		if f.good || f.sentErr != "" {
			updates = append(updates, Update{Source: "static:" + path})
		}
	}
	return updates
}

// expand returns the files matching the globs, sorted and without repeats.
func (p *StaticProvider) expand() []string {
	var paths []string
	for _, g := range p.globs {
		matches, err := filepath.Glob(g)
		if err != nil { // only a bad pattern, which validation refuses
			p.logger.Error("Invalid target file glob", "glob", g, "err", err)
			continue
		}
		// A file named without wildcards that does not exist is most likely
		// a mistake: say so once.
		if !hasMeta(g) {
			if len(matches) == 0 && !p.missingLiteral[g] {
				p.logger.Warn("Target file does not exist (yet)", "file", g)
			}
			p.missingLiteral[g] = len(matches) == 0
		}
		paths = append(paths, matches...)
	}
	slices.Sort(paths)
	return slices.Compact(paths)
}

func hasMeta(path string) bool { return strings.ContainsAny(path, `*?[\`) }

// refresh re-reads the file if it may have changed. It reports whether the
// file exists (as a regular file) and, when its targets changed, the
// shard's groups and the number of pairs in the file.
func (p *StaticProvider) refresh(path string, f *staticFile) (exists bool, groups []TargetGroup, pairs int, changed bool) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil, 0, false
	}
	if err == nil && !fi.Mode().IsRegular() {
		return false, nil, 0, false
	}
	if err == nil && f.parsed && fi.ModTime().Equal(f.modTime) && fi.Size() == f.size && f.readAt.Sub(f.modTime) > racyWindow {
		return true, nil, 0, false
	}
	readAt := time.Now()
	var data []byte
	if err == nil {
		data, err = os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil, 0, false
		}
	}
	if err != nil {
		p.fail(path, f, err)
		return true, nil, 0, false
	}
	f.modTime, f.size, f.readAt = fi.ModTime(), fi.Size(), readAt
	sum := sha256.Sum256(data)
	if f.parsed && sum == f.sum {
		if f.parseOK {
			p.recovered(path, f) // it was unreadable, not broken
		}
		return true, nil, 0, false
	}
	f.sum, f.parsed = sum, true
	groups, pairs, warnings, err := readTargetFile(data, p.shard, p.defaultModules, p.modules)
	f.parseOK = err == nil
	if err != nil {
		p.fail(path, f, err)
		return true, nil, 0, false
	}
	for _, w := range warnings {
		p.logger.Warn("Suspicious target file", "file", path, "warning", w)
	}
	p.recovered(path, f)
	gsum := groupsSum(groups, pairs)
	if f.good && gsum == f.groupsSum {
		return true, nil, 0, false
	}
	f.groupsSum, f.good = gsum, true
	return true, groups, pairs, true
}

// groupsSum hashes what equalGroups compares (targets and modules in order,
// labels by name) and the number of pairs. Every string is length-prefixed,
// so that no two different lists of groups are written the same.
func groupsSum(groups []TargetGroup, pairs int) [32]byte {
	h := sha256.New()
	var b []byte
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
		if len(b) >= 4096 {
			h.Write(b)
			b = b[:0]
		}
	}
	list := func(ss []string) {
		b = binary.AppendUvarint(b, uint64(len(ss)))
		for _, s := range ss {
			str(s)
		}
	}
	b = binary.AppendUvarint(b, uint64(pairs))
	b = binary.AppendUvarint(b, uint64(len(groups)))
	for _, g := range groups {
		list(g.Targets)
		list(g.Modules)
		names := slices.Sorted(maps.Keys(g.Labels))
		b = binary.AppendUvarint(b, uint64(len(names)))
		for _, name := range names {
			str(name)
			str(g.Labels[name])
		}
	}
	h.Write(b)
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// recovered marks the file as good.
func (p *StaticProvider) recovered(path string, f *staticFile) {
	if f.lastErr != "" {
		p.logger.Info("Target file is good again", "file", path)
		f.lastErr = ""
	}
	p.metrics.staticFileFailing.WithLabelValues(path).Set(0)
}

// fail reports a broken or unreadable file once per distinct error; its last
// good targets stay.
func (p *StaticProvider) fail(path string, f *staticFile, err error) {
	p.metrics.staticFileFailing.WithLabelValues(path).Set(1)
	if msg := err.Error(); msg != f.lastErr {
		f.lastErr = msg
		p.metrics.staticFileErrors.Inc()
		p.logger.Error("Error reading target file, keeping its last good targets", "file", path, "err", err)
	}
}

// TargetFileGroup is one element of a static target file, as its YAML
// reads.
type TargetFileGroup struct {
	Targets []string          `yaml:"targets"`
	Modules []string          `yaml:"modules"`
	Labels  map[string]string `yaml:"labels"`
}

// reservedLabels are set by vigie or Prometheus, not by target files.
var reservedLabels = map[string]bool{ModuleLabel: true, SourceLabel: true, model.AddressLabel: true}

// parseTargetFile decodes and checks a target file:
//
//   - targets: [https://example.org, example.org:443]
//     modules: [http_2xx, tls_expiry]
//     labels: {group: web}
//
// Unknown keys are errors; errors and warnings name the line. Modules that are
// not configured here are warnings, not errors: the file may be shared with
// exporters that have them.
//
// A file that decodes as a non-empty list is read once: the YAML node tree
// that gives the lines is parsed only for a message that needs one. Held
// alongside the decoder's own tree, it doubled the transient heap of reading
// a large file (some 110 MB at 200,000 targets), which every shard pays,
// since each reads the whole file. Anything else takes the path that parses
// the node tree first, for its messages.
func parseTargetFile(data []byte, defaultModules []string, known map[string]string) ([]TargetGroup, []string, error) {
	var raw []TargetFileGroup
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil || len(raw) == 0 {
		return parseTargetFileNodesFirst(data, defaultModules, known)
	}
	var nodes []*yaml.Node
	nodeOf := func(i int) *yaml.Node {
		if nodes == nil {
			var root yaml.Node
			// The decoder read this document as a list of raw's
			// length: the same parser cannot see anything else.
			var list *yaml.Node
			if err := yaml.Unmarshal(data, &root); err == nil && len(root.Content) > 0 {
				list = root.Content[0]
			}
			nodes = groupNodesOr(list, len(raw))
		}
		return nodes[i]
	}
	return checkTargetGroups(raw, nodeOf, defaultModules, known)
}

// groupNodesOr gives the nodes of list's n groups (groupNodes), or n
// blank nodes when list does not hold n (not expected: messages then name
// no line).
func groupNodesOr(list *yaml.Node, n int) []*yaml.Node {
	if list != nil {
		if nodes := groupNodes(list); len(nodes) == n {
			return nodes
		}
	}
	return blankNodes(n)
}

// blankNodes gives n nodes that name no line.
func blankNodes(n int) []*yaml.Node {
	nodes := make([]*yaml.Node, n)
	for i := range nodes {
		nodes[i] = &yaml.Node{}
	}
	return nodes
}

// groupNodes gives the nodes of the groups a list decodes to: the decoder
// leaves out an item that is null ("-" alone, "~", an alias of either),
// so that the i-th group read is not the list's i-th item after one.
func groupNodes(list *yaml.Node) []*yaml.Node {
	nodes := make([]*yaml.Node, 0, len(list.Content))
	for _, n := range list.Content {
		v := n
		if v.Kind == yaml.AliasNode && v.Alias != nil {
			v = v.Alias
		}
		if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null" {
			continue
		}
		nodes = append(nodes, n)
	}
	return nodes
}

// parseTargetFileNodesFirst parses the node tree, checks that it is a list,
// then decodes it.
func parseTargetFileNodesFirst(data []byte, defaultModules []string, known map[string]string) ([]TargetGroup, []string, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, nil, cleanYAMLError(err)
	}
	if len(root.Content) == 0 {
		return nil, nil, nil // empty file: no targets
	}
	doc := root.Content[0]
	if doc.Kind == yaml.ScalarNode && doc.Tag == "!!null" {
		return nil, nil, nil
	}
	if doc.Kind != yaml.SequenceNode {
		return nil, nil, fmt.Errorf("line %d: a target file must be a list of target groups (- targets: [...])", doc.Line)
	}
	var raw []TargetFileGroup
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil {
		return nil, nil, cleanYAMLError(err)
	}
	nodes := groupNodesOr(doc, len(raw))
	return checkTargetGroups(raw, func(i int) *yaml.Node { return nodes[i] }, defaultModules, known)
}

// checkTargetGroups checks the decoded groups; nodeOf gives the node of
// group i, for the line of a message.
func checkTargetGroups(raw []TargetFileGroup, nodeOf func(i int) *yaml.Node, defaultModules []string, known map[string]string) ([]TargetGroup, []string, error) {
	var warnings []string
	groups := make([]TargetGroup, 0, len(raw))
	for i, g := range raw {
		lineOf := func(key string, j int) int {
			node := nodeOf(i)
			n := mappingValue(node, key)
			if n == nil {
				return node.Line
			}
			if j >= 0 && j < len(n.Content) {
				return n.Content[j].Line
			}
			return n.Line
		}
		for j, t := range g.Targets {
			if strings.TrimSpace(t) == "" || strings.ContainsAny(t, " \t\r\n") {
				return nil, nil, fmt.Errorf("line %d: target %q is not valid (empty or containing spaces)", lineOf("targets", j), t)
			}
		}
		modules := g.Modules
		if len(modules) == 0 {
			modules = defaultModules
		}
		if len(modules) == 0 && len(g.Targets) > 0 {
			return nil, nil, fmt.Errorf("line %d: no modules for these targets: list them (modules: [http_2xx]) or set default_modules", nodeOf(i).Line)
		}
		for j, m := range g.Modules {
			if strings.TrimSpace(m) == "" || strings.ContainsAny(m, " \t,") {
				return nil, nil, fmt.Errorf("line %d: module name %q is not valid", lineOf("modules", j), m)
			}
		}
		for _, m := range modules {
			if _, ok := known[m]; !ok && known != nil {
				warnings = append(warnings, fmt.Sprintf("line %d: module %q is not configured on this exporter; its targets are published anyway", lineOf("modules", slices.Index(g.Modules, m)), m))
			}
		}
		if err := checkLabelNames(g.Labels, func() *yaml.Node { return nodeOf(i) }); err != nil {
			return nil, nil, err
		}
		groups = append(groups, TargetGroup{Targets: g.Targets, Modules: modules, Labels: g.Labels})
	}
	return groups, warnings, nil
}

// checkLabelNames refuses a label name that is not valid or is reserved;
// node gives the group's node, for the line of the message.
func checkLabelNames(labels map[string]string, node func() *yaml.Node) error {
	bad := false
	for name := range labels {
		if !model.LegacyValidation.IsValidLabelName(name) || reservedLabels[name] {
			bad = true
			break
		}
	}
	if !bad {
		return nil
	}
	// The first in order, so that the same file always gives the same
	// message; sorting only then spares it to every good group.
	for _, name := range slices.Sorted(maps.Keys(labels)) {
		valid, reserved := model.LegacyValidation.IsValidLabelName(name), reservedLabels[name]
		if valid && !reserved {
			continue
		}
		node := node()
		line := node.Line
		if n := mappingValue(node, "labels"); n != nil {
			line = n.Line
			if kn := mappingKey(n, name); kn != nil {
				line = kn.Line
			}
		}
		if !valid {
			return fmt.Errorf("line %d: label name %q is not valid (letters, digits and underscores, not starting with a digit)", line, name)
		}
		return fmt.Errorf("line %d: label %q is reserved (modules are given with modules:)", line, name)
	}
	return nil
}

// ParseTargetFile reads a static target file as the exporter does, strictly,
// with no default modules: the groups it holds, or an error naming the line.
func ParseTargetFile(data []byte) ([]TargetGroup, error) {
	groups, _, err := parseTargetFile(data, nil, nil)
	return groups, err
}

// cleanYAMLError keeps the line numbers of a YAML error and drops the Go
// type names it mentions.
func cleanYAMLError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
	msg = strings.ReplaceAll(msg, " in type discovery.TargetFileGroup", "")
	msg = strings.ReplaceAll(msg, "discovery.TargetFileGroup", "target group")
	lines := strings.Split(msg, "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	msg = strings.Join(lines, "; ")
	if fixed := schema.FixYAMLSyntaxLine(errors.New(msg)); fixed.Error() != msg {
		return errors.New(strings.TrimPrefix(fixed.Error(), "yaml: "))
	}
	return errors.New(msg)
}

func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func mappingKey(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i]
		}
	}
	return nil
}
