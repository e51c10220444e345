package prober

import (
	"context"
	"errors"
	"log/slog"

	"github.com/vigie-monitoring/vigie/config"
)

// ProbeTCP is a placeholder until the tcp prober lands.
func ProbeTCP(ctx context.Context, target string, module config.Module, registry *Registry, logger *slog.Logger) error {
	return errors.New("the tcp prober is not implemented yet")
}
