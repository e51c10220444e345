// Command vigie_router probes the targets the exporter publishes, through
// the exporter, and turns their results into UP/DOWN notifications that are
// delivered durably to Telegram, e-mail, SMS, webhooks or the log.
package main

import (
	// First: only the pages of the executable the program uses stay
	// resident, not the neighbours the kernel maps with them.
	_ "github.com/vigie-monitoring/vigie/internal/residency/atstart"

	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/alecthomas/kingpin/v2"
	"github.com/alecthomas/units"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/version"

	"github.com/vigie-monitoring/vigie/alertrouter"
	"github.com/vigie-monitoring/vigie/internal/buildinfo"
	"github.com/vigie-monitoring/vigie/internal/residency"
	"github.com/vigie-monitoring/vigie/internal/webserver"
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

// defaultGOGC is the router's GOGC when the environment sets none.
const defaultGOGC = 50

func run(args []string) int {
	var publicGroups, publicAddress string
	app := kingpin.New("vigie_router", "Probes the exporter's targets and sends UP/DOWN notifications. Without a command, runs the router; 'vigie_router silence …' manages the silences of a running router; 'vigie_router test-notification --receiver NAME' tests a receiver of the configuration file.")
	// The router's flags are the application's, so that `vigie_router
	// --help` lists them and `vigie_router --config.file=…` runs as it
	// always did; the silence commands ignore them.
	var configFileSet bool
	configFile := app.Flag("config.file", "Router configuration file. When not given and vigie-router.yml does not exist, the embedded default is used (exporter on 127.0.0.1:9115, notifications to the log).").Default("vigie-router.yml").IsSetByUser(&configFileSet).String()
	configCheck := app.Flag("config.check", "If true validate the config file and then exit.").Default("false").Bool()
	storagePath := app.Flag("storage.path", "Directory of the router's store (check states, notification log, outbox, silences).").Default("data/").String()
	externalURL := app.Flag("web.external-url", "The URL under which the router is externally reachable; used in notifications. Overrides external_url of the configuration.").PlaceHolder("<url>").String()
	server := webserver.AddServerFlags(app, ":9116")
	var limits alertrouter.Limits
	app.Flag("web.max-request-bytes", "Maximum size of a request body posted to the Alertmanager API (alerts, silences); larger ones are refused with 413.").
		Default("4MiB").BytesVar((*units.Base2Bytes)(&limits.API.MaxRequestBytes))
	app.Flag("alerts.max-alerts-per-request", "Maximum number of alerts in one POST /api/v2/alerts; larger requests are refused whole with 413. 0: no limit.").
		Default("1000").IntVar(&limits.API.MaxAlertsPerRequest)
	app.Flag("alerts.max-alert-size-bytes", "Maximum size of one posted alert: its label and annotation names and values and its generatorURL; larger alerts are refused (400), the others of the request are taken. 0: no limit.").
		Default("8192").IntVar(&limits.API.MaxAlertSizeBytes)
	app.Flag("alerts.max-alerts", "Maximum number of Prometheus alerts kept firing; beyond it new alerts are refused (400) until some resolve, known ones still refresh. 0: no limit.").
		Default("10000").IntVar(&limits.MaxAlerts)
	app.Flag("silences.max-silences", "Maximum number of silences, expired ones included: at the limit the oldest expired ones are forgotten early, and a new silence is refused (400) only when all are active or pending. 0: no limit.").
		Default("2000").IntVar(&limits.Silences.MaxSilences)
	app.Flag("silences.max-silence-size-bytes", "Maximum size of a silence: its matchers' names and values, author and comment; larger ones are refused (400). 0: no limit.").
		Default("16384").IntVar(&limits.Silences.MaxSilenceSizeBytes)
	app.Flag("silences.max-comment-bytes", "Maximum size of a silence's comment; longer ones are refused (400). 0: no limit.").
		Default("4096").IntVar(&limits.Silences.MaxCommentBytes)
	var public alertrouter.PublicStatus
	app.Flag("web.public-status", "Comma-separated groups (values of --web.public-status.label) shown on a read-only public status page served at --web.public-status.listen-address. Empty: no public page.").
		PlaceHolder("<groups>").StringVar(&publicGroups)
	app.Flag("web.public-status.listen-address", "Address of the public status page (plain HTTP, no authentication: put it behind a proxy for TLS). It serves GET / only.").
		Default(":9117").StringVar(&publicAddress)
	app.Flag("web.public-status.label", "Label whose values name the groups of the public status page (and of the status page's grouped view by default).").
		Default("group").StringVar(&public.Label)
	app.Flag("web.public-status.reasons", "Show why checks fail on the public status page (off: only that they are down).").
		Default("false").BoolVar(&public.Reasons)
	app.Flag("web.public-status.title", "Title of the public status page.").Default("Service status").StringVar(&public.Title)
	app.Version(version.Print("vigie_router"))
	app.HelpFlag.Short('h')
	runCmd := app.Command("run", "Run the router (the default command).").Default()

	silences := addSilenceCommands(app)
	testNotification := addTestNotificationCommand(app)

	cmd, err := app.Parse(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	logger := server.Logger()
	path := *configFile
	if !configFileSet {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			path = ""
		}
	}
	switch cmd {
	case runCmd.FullCommand():
	case testNotification.cmd.FullCommand():
		return testNotification.run(path, *externalURL, logger, os.Stdout, os.Stderr)
	default:
		return silences.run(cmd, os.Stdout, os.Stderr)
	}
	if *configCheck {
		if _, err := alertrouter.CheckConfig(path, logger); err != nil {
			logger.Error("Error loading config", "file", webserver.DescribeFile(path), "err", err)
			return 1
		}
		logger.Info("Config file is ok exiting...", "file", webserver.DescribeFile(path))
		return 0
	}

	webserver.LogStart(logger, "vigie_router")
	if os.Getenv("GOGC") == "" {
		// As Prometheus does since 2.53: the router's heap is mostly its
		// checks' long-lived state and it makes little garbage per probe,
		// so Go's default (collect when the heap has doubled) kept about
		// as much garbage as state. At 100,000 checks 50 took the average
		// RSS from 151 to 114 MiB for no CPU per probe measurable
		// (docs/performance.md); GOGC in the environment still decides.
		debug.SetGCPercent(defaultGOGC)
	}

	reg := prometheus.NewRegistry()
	crossOriginRefused := webserver.NewCrossOriginRefused("vigie_router", reg)
	reg.MustRegister(
		versioncollector.NewCollector("vigie_router"),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	router, err := alertrouter.New(alertrouter.Options{
		ConfigFile:  path,
		StoragePath: *storagePath,
		ExternalURL: *externalURL,
		Logger:      logger,
		Registry:    reg,
		Limits:      limits,
		// A cluster member without advertise_url or external URL is
		// reached at its first listen address.
		AdvertiseURL: listenURL(*server.Web.WebListenAddresses),
		PublicStatus: func() alertrouter.PublicStatus {
			for g := range strings.SplitSeq(publicGroups, ",") {
				if g = strings.TrimSpace(g); g != "" {
					public.Groups = append(public.Groups, g)
				}
			}
			return public
		}(),
	})
	if err != nil {
		logger.Error("Cannot start", "file", webserver.DescribeFile(path), "err", err)
		return 1
	}
	logger.Info("Loaded config file", "file", webserver.DescribeFile(path), "storage", *storagePath)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	router.Reloader().Watch(ctx, 0)

	done := make(chan error, 1)
	go func() { done <- router.Run(ctx) }()
	publicDone := make(chan error, 1)
	if h := router.PublicHandler(); h != nil {
		go func() { publicDone <- servePublic(ctx, publicAddress, h, *server.Timeouts, logger) }()
	} else {
		publicDone <- nil
	}

	code := 0
	if err := server.Serve(ctx, router.Handler(), crossOriginRefused, logger); err != nil {
		logger.Error("Error starting HTTP server", "err", err)
		code = 1
		stop()
	}
	if err := <-done; err != nil {
		logger.Error("Error while shutting down", "err", err)
		code = 1
	}
	if err := <-publicDone; err != nil {
		logger.Error("Error serving the public status page", "err", err)
		code = 1
	}
	return code
}

// listenURL is the http URL of the first listen address (the host name
// when it listens on every address); with TLS, set cluster.advertise_url.
func listenURL(addrs []string) string {
	if len(addrs) == 0 {
		return ""
	}
	host, port, err := net.SplitHostPort(addrs[0])
	if err != nil {
		return ""
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		if h, err := os.Hostname(); err == nil {
			host = h
		}
	}
	return "http://" + net.JoinHostPort(host, port)
}

// servePublic serves the public status page on its own listener until
// ctx ends: nothing of the router's own page, API or forms is reachable
// through it.
func servePublic(ctx context.Context, addr string, h http.Handler, t webserver.Timeouts, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("public status page: %w", err)
	}
	srv := webserver.NewServer(h, t, nil)
	logger.Info("Serving the public status page", "address", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("public status page: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), webserver.ShutdownTimeout)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx) // requests cut at shutdown are only page views
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("public status page: %w", err)
	}
	return nil
}
