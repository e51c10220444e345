package prober

import (
	"fmt"

	"github.com/vigie-monitoring/vigie/config"
)

// parseTarget reads target as the prober table says the named prober does
// (config.Prober.ParseTarget): the probe and the target policy both read it
// so, and a target refused here fails the probe before any I/O. useTLS is
// the block's TLS switch where it changes the default port (ftp, grpc, dns
// over TLS). The refusal quotes the target redacted.
func parseTarget(prober, target string, useTLS bool) (config.Target, error) {
	p, ok := config.LookupProber(prober)
	if !ok {
		return config.Target{}, fmt.Errorf("unknown prober %q", prober)
	}
	t, err := p.ParseTarget(target, useTLS)
	if err != nil {
		return t, fmt.Errorf("invalid target %q: %w", redactTarget(target), err)
	}
	return t, nil
}
