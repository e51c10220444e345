package prober

import (
	"context"
	"errors"
	"log/slog"

	"github.com/vigie-monitoring/vigie/config"
)

// ProbeGRPC is a placeholder until the grpc prober lands.
func ProbeGRPC(ctx context.Context, target string, module config.Module, registry *Registry, logger *slog.Logger) error {
	return errors.New("the grpc prober is not implemented yet")
}
