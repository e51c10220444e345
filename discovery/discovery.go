// Package discovery owns target discovery: providers (static YAML files,
// Consul) send target-group updates to a Manager, which merges them,
// de-duplicates (target, module) pairs, keeps this exporter's shard and
// renders a snapshot that /sd serves as Prometheus HTTP SD JSON.
//
// Data flows one way: providers → manager → snapshot → /sd. Providers are
// independent of each other and of the manager, and testable alone.
package discovery

import (
	"context"
)

// TargetGroup is a set of targets probed with the same modules and carrying
// the same labels. Each (target, module) pair becomes one probe.
type TargetGroup struct {
	Targets []string
	Modules []string
	// Labels are extra target labels, including __meta_* labels. They must
	// not contain "module" or "__meta_vigie_source", which the manager sets.
	Labels map[string]string
}

// Update is the complete current content of one source of a provider (a
// file, a Consul service). It replaces whatever the provider sent earlier
// for that source; an update without groups removes the source.
//
// An update with Err says that the source could not be read: its groups
// are ignored and whatever the source had is kept. A provider reports
// this for a source it has no good content for (a target file broken
// since the start, a Consul service that has not answered), so that the
// manager does not take "failed" for "no targets". Source "" is the
// provider as a whole (Consul unreachable). An update without Err for the
// same source clears the error.
type Update struct {
	// Source names where the groups come from, e.g. "static:targets/web.yml"
	// or "consul:web". It is published as the __meta_vigie_source label.
	Source string
	Groups []TargetGroup
	Err    error

	// sharded says that Groups are already what the manager keeps of the
	// source for its shard (see Shard.keep), and pairs how many (target,
	// module) pairs the source has before sharding: a static provider
	// drops the other shards' pairs while it reads a file. A sharded
	// update without groups and without pairs removes the source.
	sharded bool
	pairs   int
}

// Provider discovers targets.
//
// Run sends batches of updates on ch until ctx is done, then returns. A
// provider is good once it has sent a batch and no error it reported is
// outstanding: its targets are then complete. Until every provider has been
// good once, /sd answers 503; when a reload replaces a provider, the
// manager keeps serving what the old one had until the new one is good, so
// a configuration reload does not make targets blink. Every send must also
// select on ctx.Done(). A provider must not modify a batch once sent.
type Provider interface {
	Run(ctx context.Context, ch chan<- []Update)
}

// NamedProvider is a provider as configured: Name identifies its place in the
// configuration ("static[0]", "consul[1]"), Key its settings. On a reload a
// provider whose name and key are unchanged keeps running.
type NamedProvider struct {
	Name     string
	Key      string
	Kind     string // "static" or "consul": the provider label of metrics
	Provider Provider
}
