package doccheck

import (
	"reflect"
	"sort"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
)

// key is a configuration key and where it is, from the schema's root.
type key struct {
	path []string // YAML keys, without list indexes and map keys
}

func (k key) name() string   { return k.path[len(k.path)-1] }
func (k key) String() string { return strings.Join(k.path, ".") }

var nodeUnmarshaler = reflect.TypeFor[yaml.Unmarshaler]()

// schemaKeys walks a schema's types by their yaml tags and returns every
// key a parser accepts. Types of vigie's own packages are walked; a type
// from elsewhere (Prometheus's HTTP client and TLS configurations) is one
// key, documented by its owner, unless it is inlined, when its keys are
// ours to document; a type that parses its node by hand is one key, plus
// what handParsed says it holds.
func schemaKeys(root reflect.Type) []key {
	var out []key
	var walk func(t reflect.Type, path []string, depth int)
	walk = func(t reflect.Type, path []string, depth int) {
		for {
			if keys, ok := handParsed[t]; ok {
				for _, k := range keys {
					out = append(out, key{append(append([]string(nil), path...), k)})
				}
				return
			}
			if len(path) > 0 && (t.Implements(nodeUnmarshaler) || reflect.PointerTo(t).Implements(nodeUnmarshaler)) {
				return // a scalar, or a list of them, parsed by hand
			}
			if t.Kind() != reflect.Pointer && t.Kind() != reflect.Slice && t.Kind() != reflect.Array && t.Kind() != reflect.Map {
				break
			}
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || depth > 12 {
			return
		}
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("yaml")
			if !f.IsExported() || tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if strings.Contains(","+opts+",", ",inline,") {
				walkInline(f.Type, path, &out)
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			p := append(append([]string(nil), path...), name)
			out = append(out, key{p})
			if ours(f.Type) {
				walk(f.Type, p, depth+1)
			}
		}
	}
	walk(root, nil, 0)
	return out
}

// walkInline adds the keys of an inlined struct (its fields are keys of the
// enclosing block).
func walkInline(t reflect.Type, path []string, out *[]key) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if !f.IsExported() || tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(","+opts+",", ",inline,") {
			walkInline(f.Type, path, out)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		*out = append(*out, key{append(append([]string(nil), path...), name)})
	}
}

// ours reports whether a type is vigie's (its keys are ours to document).
func ours(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	return strings.HasPrefix(t.PkgPath(), "github.com/vigie-monitoring/vigie/")
}

// TestDocsDocumentEveryConfigKey: every key the configuration parsers
// accept is named (in code: `key`, or in an example) on the page of its
// topic.
func TestDocsDocumentEveryConfigKey(t *testing.T) {
	words := map[string]map[string]bool{}
	for _, p := range docPages(t) {
		words[p.path] = p.codeWords()
	}
	for _, s := range schemas {
		keys := schemaKeys(s.root)
		if len(keys) < 3 {
			t.Fatalf("%s: only %d keys found: the walk is broken", s.name, len(keys))
		}
		var missing []string
		for _, k := range keys {
			pages := s.pages(k.path)
			found := false
			for _, p := range pages {
				if words[p] == nil {
					t.Fatalf("%s: key %s belongs on %s, which does not exist", s.name, k, p)
				}
				if words[p][k.name()] {
					found = true
				}
			}
			if !found {
				missing = append(missing, k.String()+" (on "+strings.Join(pages, " or ")+")")
			}
		}
		sort.Strings(missing)
		for _, m := range missing {
			t.Errorf("%s: key %s is not documented", s.name, m)
		}
	}
}

// The walk finds what the parsers accept: nested keys, inlined Prometheus
// keys, hand-parsed ones; not Prometheus's own nested keys.
func TestSchemaWalk(t *testing.T) {
	all := map[string]bool{}
	for _, s := range schemas {
		for _, k := range schemaKeys(s.root) {
			all[k.String()] = true
		}
	}
	for _, want := range []string{
		"modules.http.valid_status_codes", "modules.http.basic_auth", "modules.http.fail_if_header_matches.allow_missing",
		"modules.tcp.query_response.labels.value", "modules.dns.validate_answer_rrs.fail_if_all_match_regexp",
		"discovery.consul.token_file", "security.targets.deny",
		"receivers.telegram_configs.chat_id", "receivers.sms_configs.max_per_hour", "rules.flap_detection.window",
		"time_intervals.time_intervals.times.start_time", "exporter.sd_removal_guard.confirmations",
		"targets", "labels",
	} {
		if !all[want] {
			t.Errorf("the walk misses %s", want)
		}
	}
	for _, not := range []string{"modules.http.basic_auth.username", "exporter.http_config.tls_config", "modules.tcp.tls_config.ca_file"} {
		if all[not] {
			t.Errorf("the walk goes into Prometheus's %s", not)
		}
	}
}
