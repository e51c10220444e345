package discovery

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/vigie-monitoring/vigie/config"
)

// ApplyConfig runs the providers of cfg's `discovery:` block: static blocks
// first, then Consul blocks, in configuration order (which is also the order
// in which duplicates are resolved). Unchanged blocks keep running. A Consul
// block that cannot be set up (unreadable token or TLS file) keeps its
// previous provider, if any, and is returned as an error.
func (m *Manager) ApplyConfig(cfg *config.Config) error {
	modules := moduleProbers(cfg)
	modulesKey := probersKey(modules)
	var (
		ps   []NamedProvider
		errs []error
	)
	for i, sc := range cfg.Discovery.Static {
		name := fmt.Sprintf("static[%d]", i)
		p := NewStaticProvider(sc, modules, m.opts.Logger.With("provider", name), m.opts.Metrics)
		// It keeps only this exporter's share of what it reads.
		p.shard = m.opts.Shard
		ps = append(ps, NamedProvider{
			Name:     name,
			Kind:     "static",
			Key:      fmt.Sprintf("%+v|%s", sc, modulesKey),
			Provider: p,
		})
	}
	for i, cc := range cfg.Discovery.Consul {
		name := fmt.Sprintf("consul[%d]", i)
		p, err := NewConsulProvider(cc, modules, m.opts.Logger.With("provider", name), m.opts.Metrics)
		if err != nil {
			errs = append(errs, fmt.Errorf("discovery.consul[%d]: %w", i, err))
			ps = append(ps, NamedProvider{Name: name, Kind: "consul"}) // keep the running one
			continue
		}
		ps = append(ps, NamedProvider{
			Name: name,
			Kind: "consul",
			// The files' contents are part of the key so that a reload
			// picks up a rotated token or certificate.
			Key:      fmt.Sprintf("%+v|%s|%s", cc, modulesKey, filesSum(cc.TokenFile, cc.TLSConfig.CAFile, cc.TLSConfig.CertFile, cc.TLSConfig.KeyFile)),
			Provider: p,
		})
	}
	m.SetProviders(ps)
	return errors.Join(errs...)
}

// moduleProbers maps each configured module to its prober: the Consul
// provider writes targets according to it, and both providers warn about
// modules that do not exist.
func moduleProbers(cfg *config.Config) map[string]string {
	m := make(map[string]string, len(cfg.Modules))
	for name, mod := range cfg.Modules {
		m[name] = mod.Prober
	}
	return m
}

func probersKey(modules map[string]string) string {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(modules)) {
		b.WriteString(name + "=" + modules[name] + ";")
	}
	return b.String()
}

func filesSum(paths ...string) string {
	h := sha256.New()
	for _, p := range paths {
		if p == "" {
			continue
		}
		data, _ := os.ReadFile(p) // a read error is reported when the provider is built
		h.Write([]byte(p))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil))
}
