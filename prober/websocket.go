package prober

import (
	"context"
	"errors"
	"log/slog"

	"github.com/vigie-monitoring/vigie/config"
)

// ProbeWebsocket is a placeholder until the websocket prober lands.
func ProbeWebsocket(ctx context.Context, target string, module config.Module, registry *Registry, logger *slog.Logger) error {
	return errors.New("the websocket prober is not implemented yet")
}
