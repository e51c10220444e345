package prober

import (
	"context"
	"errors"
	"log/slog"

	"github.com/vigie-monitoring/vigie/config"
)

// ProbeICMP is a placeholder until the icmp prober lands.
func ProbeICMP(ctx context.Context, target string, module config.Module, registry *Registry, logger *slog.Logger) error {
	return errors.New("the icmp prober is not implemented yet")
}
