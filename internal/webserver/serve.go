package webserver

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"
)

// ShutdownTimeout is how long requests in flight get to finish once the
// server is asked to stop.
const ShutdownTimeout = 5 * time.Second

// Flags are the server flags both binaries share: exporter-toolkit's
// (--web.listen-address, --web.config.file, --web.systemd-socket), the time
// limits (--web.read-timeout, …), and promslog's --log.level and
// --log.format.
type Flags struct {
	Web      *web.FlagConfig
	Timeouts *Timeouts
	Log      *promslog.Config
}

// AddServerFlags adds the shared server flags to app, listening on
// defaultAddress by default.
func AddServerFlags(app *kingpin.Application, defaultAddress string) *Flags {
	f := &Flags{
		Web:      kingpinflag.AddFlags(app, defaultAddress),
		Timeouts: AddFlags(app),
		Log:      &promslog.Config{},
	}
	promslogflag.AddFlags(app, f.Log)
	return f
}

// Logger returns the logger the log flags ask for.
func (f *Flags) Logger() *slog.Logger { return promslog.New(f.Log) }

// LogStart logs the start of program, as Prometheus's servers do.
func LogStart(logger *slog.Logger, program string) {
	logger.Info("Starting "+program, "version", version.Info())
	logger.Info(version.BuildContext())
}

// NewCrossOriginRefused returns the counter of the state-changing requests
// refused as cross-site, <namespace>_http_cross_origin_refused_total,
// registered on reg.
func NewCrossOriginRefused(namespace string, reg prometheus.Registerer) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "http_cross_origin_refused_total",
		Help:      "State-changing requests refused because a browser said they came from another site.",
	})
	reg.MustRegister(c)
	return c
}

// Serve serves h until ctx ends, on the listeners the flags say (with
// exporter-toolkit: TLS, basic auth, systemd sockets), with the flags' time
// limits and the cross-origin protection (refused requests counted in
// crossOriginRefused, which may be nil). Requests in flight then get
// ShutdownTimeout to finish. It returns the error that stopped the server
// before ctx ended, such as an address already in use.
//
// Requests for fastPaths take the FastPath when the listeners are plain
// TCP ones (no --web.config.file, no systemd socket, no vsock address).
func (f *Flags) Serve(ctx context.Context, h http.Handler, crossOriginRefused prometheus.Counter, logger *slog.Logger, fastPaths ...string) error {
	srv := NewServer(h, *f.Timeouts, crossOriginRefused)
	var fast *FastPath
	listenAndServe := func() error { return web.ListenAndServe(srv, f.Web, logger) }
	if len(fastPaths) > 0 && plainListeners(f.Web) {
		fast = NewFastPath(srv, fastPaths...)
		listenAndServe = func() error {
			var listeners []net.Listener
			for _, address := range *f.Web.WebListenAddresses {
				l, err := net.Listen("tcp", address)
				if err != nil {
					return err
				}
				defer l.Close()
				listeners = append(listeners, fast.Listener(l))
			}
			return web.ServeMultiple(listeners, srv, f.Web, logger)
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- listenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("Shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if fast != nil {
		err = errors.Join(err, fast.Shutdown(shutdownCtx))
	}
	if err != nil {
		logger.Warn("Requests still in flight at shutdown were cut", "err", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// plainListeners reports whether the flags ask for plain TCP listeners
// only, served by net/http as they are: no TLS, basic auth, headers or
// rate limit from a web configuration file, no systemd socket, no vsock.
func plainListeners(w *web.FlagConfig) bool {
	if w.WebConfigFile != nil && *w.WebConfigFile != "" {
		return false
	}
	if w.WebSystemdSocket != nil && *w.WebSystemdSocket {
		return false
	}
	if w.WebListenAddresses == nil || len(*w.WebListenAddresses) == 0 {
		return false
	}
	for _, a := range *w.WebListenAddresses {
		if strings.HasPrefix(a, "vsock://") {
			return false
		}
	}
	return true
}
