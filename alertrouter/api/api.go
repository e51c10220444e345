// Package api serves the subset of Alertmanager's API v2 that Prometheus,
// amtool and Grafana use: alerts in (POST /api/v2/alerts) and out,
// silences, receivers and status. Answers are byte-for-byte the shapes of
// Alertmanager's OpenAPI models, always with Content-Type
// application/json, so that those clients work unchanged. The package
// also holds the Go client the `vigie_router silence` commands use.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/version"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/silence"
	"github.com/vigie-monitoring/vigie/alertrouter/view"
)

// Limits bound what a client can make the router hold. Zero (or less)
// means no limit.
type Limits struct {
	// MaxRequestBytes bounds the body of a POST (--web.max-request-bytes).
	MaxRequestBytes int64
	// MaxAlertsPerRequest bounds the alerts of one POST /api/v2/alerts
	// (--alerts.max-alerts-per-request). Prometheus sends at most a few
	// hundred.
	MaxAlertsPerRequest int
	// MaxAlertSizeBytes bounds one alert: its label and annotation names
	// and values and its generatorURL (--alerts.max-alert-size-bytes).
	MaxAlertSizeBytes int
}

// The limits, by flag name: the label of vigie_router_limit_refused_total
// and what refusals name.
const (
	LimitRequestBytes      = "web.max-request-bytes"
	LimitAlertsPerRequest  = "alerts.max-alerts-per-request"
	LimitAlertSize         = "alerts.max-alert-size-bytes"
	maxProblemsInAnswer    = 20  // invalid alerts named in one answer
	maxLabelsInProblem     = 200 // characters of an alert's labels in an error
	maxValueInProblem      = 64  // characters of a bad label value in an error
	defaultMaxRequestBytes = 32 << 20
)

// Pipeline is what the API needs of the router's pipeline.
type Pipeline interface {
	IngestAlerts(ctx context.Context, alerts []notify.Alert) error
	View() *view.View
}

// Options configure the API.
type Options struct {
	Pipeline Pipeline
	Silences *silence.Silences
	// Config returns the running configuration.
	Config func() *config.RouterConfig
	Logger *slog.Logger
	// Registerer receives the API's metrics (nil: none).
	Registerer prometheus.Registerer
	Limits     Limits
	// Refused counts what a limit refused, by limit name (nil: not
	// counted); silence limits are the silence package's names.
	Refused *prometheus.CounterVec
	// Name identifies this router in /api/v2/status (cluster.name).
	Name string
	// Cluster, when set, gives /api/v2/status's cluster (a router in a
	// cluster); nil: the router is alone, "disabled" with no peers (what
	// Alertmanager answers when clustering is off).
	Cluster func() ClusterStatus
	// Started is the start time reported as uptime.
	Started time.Time
	// Now defaults to time.Now.
	Now func() time.Time
}

// API serves /api/v2/.
type API struct {
	o       Options
	invalid prometheus.Counter
}

// New prepares the API.
func New(o Options) *API {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Started.IsZero() {
		o.Started = o.Now()
	}
	if o.Limits.MaxRequestBytes <= 0 {
		o.Limits.MaxRequestBytes = defaultMaxRequestBytes
	}
	// The engine counts the valid alerts it takes
	// (vigie_router_alerts_received_total).
	a := &API{
		o: o,
		invalid: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigie_router_alerts_invalid_total",
			Help: "Alerts refused by the Alertmanager API as invalid.",
		}),
	}
	if o.Registerer != nil {
		o.Registerer.MustRegister(a.invalid)
	}
	return a
}

// Register adds the API's routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v2/status", a.status)
	mux.HandleFunc("GET /api/v2/receivers", a.receivers)
	mux.HandleFunc("GET /api/v2/alerts", a.getAlerts)
	mux.HandleFunc("POST /api/v2/alerts", a.postAlerts)
	mux.HandleFunc("GET /api/v2/alerts/groups", a.getAlertGroups)
	mux.HandleFunc("GET /api/v2/silences", a.getSilences)
	mux.HandleFunc("POST /api/v2/silences", a.postSilence)
	mux.HandleFunc("GET /api/v2/silence/{id}", a.getSilence)
	mux.HandleFunc("DELETE /api/v2/silence/{id}", a.deleteSilence)
	mux.HandleFunc("/api/v2/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("%s %s is not part of the router's Alertmanager API", r.Method, r.URL.Path))
	})
	mux.HandleFunc("/api/v1/", func(w http.ResponseWriter, r *http.Request) {
		// As Alertmanager 0.27+: v1 is gone.
		writeError(w, http.StatusGone, "the Alertmanager API v1 is not supported: use /api/v2 (Prometheus: alerting.alertmanagers[].api_version: v2)")
	})
}

func (a *API) status(w http.ResponseWriter, r *http.Request) {
	original := ""
	if cfg := a.o.Config(); cfg != nil {
		out, err := cfg.Marshal() // secrets masked
		if err != nil {
			writeError(w, http.StatusInternalServerError, fmt.Sprintf("cannot render the configuration: %v", err))
			return
		}
		original = string(out)
	}
	// Alone, as Alertmanager without --cluster.listen-address: "disabled".
	cluster := ClusterStatus{Name: a.o.Name, Status: "disabled", Peers: []PeerStatus{}}
	if a.o.Cluster != nil {
		cluster = a.o.Cluster()
	}
	writeJSON(w, http.StatusOK, Status{
		Cluster: cluster,
		VersionInfo: VersionInfo{
			Version: version.Version, Revision: version.GetRevision(), Branch: version.Branch,
			BuildUser: version.BuildUser, BuildDate: version.BuildDate, GoVersion: version.GoVersion,
		},
		Config: ConfigStatus{Original: original},
		Uptime: a.o.Started.UTC(),
	})
}

func (a *API) receivers(w http.ResponseWriter, r *http.Request) {
	out := []Receiver{}
	if cfg := a.o.Config(); cfg != nil {
		for _, rc := range cfg.Receivers {
			out = append(out, Receiver{Name: rc.Name})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// body checks that a posted body is JSON (a browser cannot send that to
// another site without its consent, CORS, which the router never gives)
// and bounds it.
func (a *API) body(w http.ResponseWriter, r *http.Request) (io.Reader, error) {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return nil, fmt.Errorf("Content-Type must be application/json, not %q", ct)
	}
	return http.MaxBytesReader(w, r.Body, a.o.Limits.MaxRequestBytes), nil
}

func (a *API) decodeStatus(err error) int {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		a.refused(LimitRequestBytes, 1)
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

func (a *API) decodeError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return fmt.Errorf("request body larger than %d bytes (--%s)", mbe.Limit, LimitRequestBytes)
	}
	return fmt.Errorf("cannot decode the request body: %v", err)
}

func (a *API) refused(limit string, n int) {
	if a.o.Refused != nil {
		a.o.Refused.WithLabelValues(limit).Add(float64(n))
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v) // the client went away
}

// writeJSONArray answers a list one element at a time, with the bytes
// json.Encoder would write for the whole: a request for thousands of
// alerts or silences costs the largest of them in memory, not all of them.
func writeJSONArray[T any](w http.ResponseWriter, items []T) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	sep := "["
	for i := range items {
		data, err := json.Marshal(&items[i])
		if err != nil {
			return // cannot happen with these types; the client sees a truncated answer
		}
		if _, err := io.WriteString(w, sep); err != nil {
			return // the client went away
		}
		if _, err := w.Write(data); err != nil {
			return
		}
		sep = ","
	}
	if sep == "[" {
		io.WriteString(w, "[")
	}
	io.WriteString(w, "]\n")
}

// writeError answers with a JSON string, as Alertmanager does.
func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, msg)
}
