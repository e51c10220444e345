package prober

import (
	"context"
	"errors"
	"log/slog"

	"github.com/vigie-monitoring/vigie/config"
)

// ProbeHTTP is a placeholder until the http prober lands.
func ProbeHTTP(ctx context.Context, target string, module config.Module, registry *Registry, logger *slog.Logger) error {
	return errors.New("the http prober is not implemented yet")
}
