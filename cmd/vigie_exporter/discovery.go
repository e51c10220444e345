package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigie-monitoring/vigie/config"
	"github.com/vigie-monitoring/vigie/discovery"
)

// startDiscovery runs target discovery for the store's configuration,
// restarting the providers whose settings change on every reload, and
// returns the /sd handler and the function that stops discovery.
func startDiscovery(store *config.Store, shard discovery.Shard, reg prometheus.Registerer, logger *slog.Logger) (http.Handler, func()) {
	logger = logger.With("component", "discovery")
	mgr := discovery.NewManager(discovery.ManagerOptions{
		Shard:   shard,
		Logger:  logger,
		Metrics: discovery.NewMetrics(reg),
	})
	apply := func(c *config.Config) {
		if err := mgr.ApplyConfig(c); err != nil {
			logger.Error("Error applying the discovery configuration", "err", err)
		}
	}
	apply(store.Get())
	store.OnReload(apply)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		mgr.Run(ctx)
	}()
	return mgr, func() {
		cancel()
		<-done
	}
}
