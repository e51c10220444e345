package webserver

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Reloader reloads a binary's configuration file, one reload at a time,
// whatever asks for it (SIGHUP, POST /-/reload, the exporter's
// --config.enable-auto-reload), logs the outcome and reports it in
// <namespace>_config_last_reload_successful and
// <namespace>_config_last_reload_success_timestamp_seconds.
type Reloader struct {
	o ReloaderOptions

	mu            sync.Mutex // one reload at a time
	success, time prometheus.Gauge
}

// ReloaderOptions configure a Reloader.
type ReloaderOptions struct {
	// Namespace prefixes the metrics ("vigie_exporter").
	Namespace  string
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// File is the configuration file, "" for the embedded default.
	File string
	// Load reads the file and makes it the running configuration; with
	// ifChanged, only when its content changed since the last successful
	// load. It reports whether a new configuration became current. On
	// error the running configuration must stay as it was.
	Load func(ifChanged bool) (loaded bool, err error)
}

// NewReloader returns a reloader; its metrics are registered on
// o.Registerer (when not nil).
func NewReloader(o ReloaderOptions) *Reloader {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Reloader{
		o: o,
		success: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: o.Namespace,
			Name:      "config_last_reload_successful",
			Help:      "Whether the last configuration reload attempt was successful.",
		}),
		time: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: o.Namespace,
			Name:      "config_last_reload_success_timestamp_seconds",
			Help:      "Timestamp of the last successful configuration reload.",
		}),
	}
	if o.Registerer != nil {
		o.Registerer.MustRegister(r.success, r.time)
	}
	return r
}

// Loaded records the configuration loaded at start-up, which a binary
// loads itself (a bad one stops it: there is nothing to keep running).
func (r *Reloader) Loaded() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.succeeded()
}

// Reload reloads the configuration. A bad file is refused with the error,
// logged, and the running configuration kept.
func (r *Reloader) Reload() error {
	_, err := r.reload(false)
	return err
}

// ReloadIfChanged reloads the configuration if the file's content changed
// since the last successful load, and reports whether it did.
func (r *Reloader) ReloadIfChanged() (bool, error) {
	return r.reload(true)
}

func (r *Reloader) reload(ifChanged bool) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	loaded, err := r.o.Load(ifChanged)
	if err != nil {
		r.success.Set(0)
		r.o.Logger.Error("Error reloading config; keeping the running one", "file", DescribeFile(r.o.File), "err", err)
		return false, err
	}
	if !loaded {
		return false, nil
	}
	r.succeeded()
	msg := "Reloaded config file"
	if ifChanged {
		msg = "Reloaded changed config file"
	}
	r.o.Logger.Info(msg, "file", DescribeFile(r.o.File))
	return true, nil
}

func (r *Reloader) succeeded() {
	r.success.Set(1)
	r.time.SetToCurrentTime()
}

// Watch reloads the configuration on SIGHUP and, when interval is not 0,
// whenever the file's content changed, checked every interval, until ctx
// ends. SIGHUP is caught from the moment Watch returns (its default action
// would end the process). Errors are logged by the reload itself.
func (r *Reloader) Watch(ctx context.Context, interval time.Duration) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	var tick <-chan time.Time
	var ticker *time.Ticker
	if interval > 0 {
		ticker = time.NewTicker(interval)
		tick = ticker.C
	}
	go func() {
		defer signal.Stop(hup)
		if ticker != nil {
			defer ticker.Stop()
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				_ = r.Reload()
			case <-tick:
				_, _ = r.ReloadIfChanged()
			}
		}
	}()
}

// DescribeFile names a configuration file in logs: its path, or "(embedded
// default)".
func DescribeFile(path string) string {
	if path == "" {
		return "(embedded default)"
	}
	return path
}
