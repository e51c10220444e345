package prober

import (
	"context"
	"errors"
	"log/slog"

	"github.com/vigie-monitoring/vigie/config"
)

// ProbeTLS is a placeholder until the tls prober lands.
func ProbeTLS(ctx context.Context, target string, module config.Module, registry *Registry, logger *slog.Logger) error {
	return errors.New("the tls prober is not implemented yet")
}
