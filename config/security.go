package config

import (
	"fmt"
	"net/netip"
	"path"
	"strings"

	"github.com/vigie-monitoring/vigie/internal/schema"
)

// SecurityConfig is vigie's `security:` block.
type SecurityConfig struct {
	Targets TargetPolicy `yaml:"targets,omitempty"`
}

// TargetPolicy restricts which targets may be probed. Entries are CIDRs
// ("10.0.0.0/8", "::1/128"), single addresses, or host globs ("*.example.org").
// Deny wins over allow; an empty allow list allows everything not denied.
// The policy is off when both lists are empty.
type TargetPolicy struct {
	Allow []string `yaml:"allow,omitempty"`
	Deny  []string `yaml:"deny,omitempty"`
}

// Enabled reports whether any rule is configured.
func (p TargetPolicy) Enabled() bool { return len(p.Allow) > 0 || len(p.Deny) > 0 }

func (c *SecurityConfig) validate() error {
	for i, e := range c.Targets.Allow {
		if err := validatePolicyEntry(e); err != nil {
			return schema.At(err, "targets", "allow", schema.Index(i))
		}
	}
	for i, e := range c.Targets.Deny {
		if err := validatePolicyEntry(e); err != nil {
			return schema.At(err, "targets", "deny", schema.Index(i))
		}
	}
	return nil
}

func validatePolicyEntry(e string) error {
	if e == "" {
		return fmt.Errorf("empty entry")
	}
	if strings.Contains(e, "/") {
		if _, err := netip.ParsePrefix(e); err != nil {
			return fmt.Errorf("invalid CIDR %q: %w", e, err)
		}
		return nil
	}
	if _, err := netip.ParseAddr(e); err == nil {
		return nil
	}
	if _, err := path.Match(strings.ToLower(e), "x"); err != nil {
		return fmt.Errorf("invalid host pattern %q: %w", e, err)
	}
	return nil
}
