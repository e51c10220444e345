package webserver

import (
	"fmt"
	"log/slog"
	"net/http"
)

// Ops are the operational endpoints both binaries serve, as Prometheus's
// servers do: /-/healthy, /-/ready (when the binary has a readiness to
// report), /-/reload and /config.
type Ops struct {
	// Reloader serves POST /-/reload.
	Reloader *Reloader
	// Config renders the running configuration for /config, secrets
	// masked.
	Config func() ([]byte, error)
	// Ready, when set, serves /-/ready: nil when ready, else why not.
	Ready  func() error
	Logger *slog.Logger
}

// Register adds the endpoints to mux under prefix ("" or "/path").
func (o Ops) Register(mux *http.ServeMux, prefix string) {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// blackbox_exporter's answer; any method, as upstream.
	mux.HandleFunc(prefix+"/-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("Healthy"))
	})
	if o.Ready != nil {
		mux.HandleFunc(prefix+"/-/ready", func(w http.ResponseWriter, _ *http.Request) {
			if err := o.Ready(); err != nil {
				http.Error(w, "Not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte("Ready"))
		})
	}
	mux.Handle(prefix+"/-/reload", o.Reloader)
	mux.HandleFunc(prefix+"/config", func(w http.ResponseWriter, _ *http.Request) {
		out, err := o.Config()
		if err != nil {
			logger.Warn("Error marshalling configuration", "err", err)
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write(out)
	})
}

// ServeHTTP serves /-/reload: a POST reloads the configuration (200, or
// 500 with the error, the running configuration kept); other methods are
// refused with 405, as upstream.
func (r *Reloader) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "This endpoint requires a POST request.", http.StatusMethodNotAllowed)
		return
	}
	if err := r.Reload(); err != nil {
		http.Error(w, fmt.Sprintf("failed to reload config: %s", err), http.StatusInternalServerError)
	}
}
