package prober

import (
	"context"
	"errors"
	"log/slog"

	"github.com/vigie-monitoring/vigie/config"
)

// ProbeFTP is a placeholder until the ftp prober lands.
func ProbeFTP(ctx context.Context, target string, module config.Module, registry *Registry, logger *slog.Logger) error {
	return errors.New("the ftp prober is not implemented yet")
}
