// Command vigie_exporter is a drop-in replacement for Prometheus's
// blackbox_exporter: it answers /probe?target=…&module=… with probe metrics,
// and publishes discovered targets as Prometheus HTTP SD at /sd.
package main

import (
	// First: only the pages of the executable the program uses stay
	// resident, not the neighbours the kernel maps with them.
	_ "github.com/vigie-monitoring/vigie/internal/residency/atstart"

	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/version"

	"github.com/vigie-monitoring/vigie/config"
	"github.com/vigie-monitoring/vigie/discovery"
	"github.com/vigie-monitoring/vigie/exporter"
	"github.com/vigie-monitoring/vigie/internal/buildinfo"
	"github.com/vigie-monitoring/vigie/internal/residency"
	"github.com/vigie-monitoring/vigie/internal/webserver"
	"github.com/vigie-monitoring/vigie/prober"
)

func main() {
	// The pages of the executable only the initialisation read leave the
	// resident set (atstart turned fault-around off); those the program
	// reads again come back one by one.
	residency.DropExecutable()
	// Version information for builds without promu's -ldflags (go build,
	// go install), before --version, the build_info metric or a log line
	// reads it.
	buildinfo.Fill()
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	app := kingpin.New("vigie_exporter", "A blackbox_exporter-compatible probe exporter with target discovery.")
	var configFileSet bool
	configFile := app.Flag("config.file", "Exporter configuration file (blackbox.yml compatible). When not given and vigie.yml does not exist, the embedded default is used.").Default("vigie.yml").IsSetByUser(&configFileSet).String()
	configCheck := app.Flag("config.check", "If true validate the config file and then exit.").Default("false").Bool()
	autoReload := app.Flag("config.enable-auto-reload", "Reload the configuration file when its content changes.").Default("false").Bool()
	autoReloadInterval := app.Flag("config.auto-reload-interval", "How often to check the configuration file for changes.").Default("30s").Duration()
	timeoutOffset := app.Flag("timeout-offset", "Offset to subtract from timeout in seconds.").Default("0.5").Float64()
	historyLimit := app.Flag("history.limit", "The maximum amount of items to keep in the history.").Default("100").Uint()
	logLevelProber := app.Flag("log.prober", "Log level at which probe logs are forwarded to the exporter's log. One of: [debug, info, warn, error, none]").Default("debug").Enum("debug", "info", "warn", "error", "none")
	externalURL := app.Flag("web.external-url", "The URL under which the exporter is externally reachable (for example, if it is served via a reverse proxy). Used for generating relative and absolute links back to the exporter itself. If the URL has a path portion, it will be used to prefix all HTTP endpoints served by the exporter. If omitted, relevant URL components will be derived automatically.").PlaceHolder("<url>").String()
	routePrefix := app.Flag("web.route-prefix", "Prefix for the internal routes of web endpoints. Defaults to path of --web.external-url.").PlaceHolder("<path>").String()
	enablePprof := app.Flag("web.enable-pprof", "Serve Go profiling endpoints under /debug/pprof/.").Default("false").Bool()
	shardFlag := app.Flag("discovery.shard", "Serve only shard i of n (0 ≤ i < n) of the discovered targets at /sd, split like Prometheus's hashmod over target and module, so that n exporters share the work.").Default("0/1").PlaceHolder("i/n").String()
	server := webserver.AddServerFlags(app, ":9115")
	app.Version(version.Print("vigie_exporter"))
	app.HelpFlag.Short('h')
	if _, err := app.Parse(args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	logger := server.Logger()
	shard, err := discovery.ParseShard(*shardFlag)
	if err != nil {
		fmt.Fprintln(os.Stderr, "--discovery.shard:", err)
		return 2
	}

	path := *configFile
	if !configFileSet {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			path = ""
		}
	}

	store := config.NewStore(path)
	if err := store.Reload(); err != nil {
		logger.Error("Error loading config", "file", webserver.DescribeFile(path), "err", err)
		return 1
	}
	if *configCheck {
		logger.Info("Config file is ok exiting...", "file", webserver.DescribeFile(path))
		return 0
	}

	webserver.LogStart(logger, "vigie_exporter")
	logger.Info("Loaded config file", "file", webserver.DescribeFile(path))

	reg := prometheus.NewRegistry()
	reloader := webserver.NewReloader(webserver.ReloaderOptions{
		Namespace: "vigie_exporter", Registerer: reg, Logger: logger, File: path, Load: store.Load,
	})
	reloader.Loaded()

	unknownModules := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vigie_module_unknown_total",
		Help: "Count of unknown modules requested by probes.",
	})
	policyRefused := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vigie_exporter_target_policy_refused_total",
		Help: "Probes refused by the target policy (security.targets).",
	})
	crossOriginRefused := webserver.NewCrossOriginRefused("vigie_exporter", reg)
	reg.MustRegister(
		versioncollector.NewCollector("vigie_exporter"),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		unknownModules, policyRefused,
	)

	proberLevel := prober.LevelNone
	if *logLevelProber != "none" {
		var lvl slog.Level
		_ = lvl.UnmarshalText([]byte(*logLevelProber))
		proberLevel = lvl
	}
	history := prober.NewHistory(int(*historyLimit))
	probeHandler := &prober.Handler{
		Config:         store.Get,
		Logger:         logger,
		ProberLevel:    proberLevel,
		TimeoutOffset:  *timeoutOffset,
		History:        history,
		UnknownModules: unknownModules,
		PolicyRefused:  policyRefused,
	}

	var extPath string
	if *externalURL != "" {
		u, err := url.Parse(*externalURL)
		if err != nil {
			logger.Error("Invalid --web.external-url", "err", err)
			return 1
		}
		extPath = u.Path
	}
	prefix := exporter.RoutePrefix(*routePrefix, extPath)

	sd, stopDiscovery := startDiscovery(store, shard, reg, logger)
	defer stopDiscovery()

	handler := exporter.NewHandler(exporter.Options{
		Store:       store,
		Probe:       probeHandler,
		History:     history,
		Gatherer:    reg,
		Logger:      logger,
		RoutePrefix: prefix,
		Reloader:    reloader,
		SD:          sd,
		EnablePprof: *enablePprof,
	})

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var autoReloadEvery time.Duration
	if *autoReload && path != "" {
		autoReloadEvery = *autoReloadInterval
	}
	reloader.Watch(ctx, autoReloadEvery)

	// Prometheus's scrapes of /probe take the server's fast path.
	if err := server.Serve(ctx, handler, crossOriginRefused, logger, prefix+"/probe"); err != nil {
		logger.Error("Error starting HTTP server", "err", err)
		return 1
	}
	return 0
}
