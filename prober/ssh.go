package prober

import (
	"context"
	"errors"
	"log/slog"

	"github.com/vigie-monitoring/vigie/config"
)

// ProbeSSH is a placeholder until the ssh prober lands.
func ProbeSSH(ctx context.Context, target string, module config.Module, registry *Registry, logger *slog.Logger) error {
	return errors.New("the ssh prober is not implemented yet")
}
