package prober

import (
	"context"
	"errors"
	"log/slog"

	"github.com/vigie-monitoring/vigie/config"
)

// ProbeUnix is a placeholder until the unix prober lands.
func ProbeUnix(ctx context.Context, target string, module config.Module, registry *Registry, logger *slog.Logger) error {
	return errors.New("the unix prober is not implemented yet")
}
