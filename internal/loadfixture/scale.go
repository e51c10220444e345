package loadfixture

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
)

// Modules the scale fixture's targets are meant to be probed with: those of
// blackbox_exporter's example configuration.
const (
	HTTPModule = "http_2xx"
	TCPModule  = "tcp_connect"
)

// ScaleOptions configures a Scale fixture.
type ScaleOptions struct {
	// Host is the address the fixtures listen on; 127.0.0.1 when empty.
	Host string
	// HTTPPort is the HTTP server's port (targets and control); 0 for any.
	HTTPPort int
	// HTTPTargets is how many HTTP targets the HTTP server names.
	HTTPTargets int
	// TCPTargets is how many TCP listeners to open, one per target.
	TCPTargets int
	// TCPBasePort is the port of the first TCP listener, the others
	// following it; 0 lets the system choose. Thousands of listeners are
	// best kept below the ephemeral range (net.ipv4.ip_local_port_range):
	// there they would take ports the probes' own connections need.
	TCPBasePort int
	// BodySize is the size of the HTTP answer (DefaultBodySize when 0).
	BodySize int
}

// Target is one probe target of a Scale fixture.
type Target struct {
	Name    string `json:"name"`    // http-<i> or tcp-<i>
	Module  string `json:"module"`  // HTTPModule or TCPModule
	Address string `json:"address"` // the probe's target parameter
}

// Scale is many targets for a scale test: one HTTP server naming HTTP
// targets by path, and one TCP listener per TCP target. Its HTTP server also
// serves a control API under /-/fixture/ so that another process can list
// targets and take them down:
//
//	GET  /-/fixture/targets            Prometheus file_sd JSON of every target
//	POST /-/fixture/down?target=<t>    take a target down (name or address)
//	POST /-/fixture/up?target=<t>      bring it back up
type Scale struct {
	HTTP    *HTTPServer
	TCP     []*TCPListener
	targets []Target
	byKey   map[string]int // name or address → index in targets
}

// StartScale starts the fixtures. On error, whatever was started is closed.
func StartScale(o ScaleOptions) (_ *Scale, err error) {
	if o.HTTPTargets < 0 || o.TCPTargets < 0 {
		return nil, errors.New("loadfixture: target counts must not be negative")
	}
	host := o.Host
	if host == "" {
		host = "127.0.0.1"
	}
	s := &Scale{byKey: map[string]int{}}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.HTTP, err = StartHTTP(net.JoinHostPort(host, strconv.Itoa(o.HTTPPort)), o.BodySize); err != nil {
		return nil, err
	}
	s.HTTP.mux.HandleFunc("/-/fixture/targets", s.serveTargets)
	s.HTTP.mux.HandleFunc("/-/fixture/down", s.serveSetDown(true))
	s.HTTP.mux.HandleFunc("/-/fixture/up", s.serveSetDown(false))
	for i := range o.HTTPTargets {
		name := "http-" + strconv.Itoa(i)
		s.add(Target{Name: name, Module: HTTPModule, Address: s.HTTP.URL(name)})
	}
	for i := range o.TCPTargets {
		port := 0
		if o.TCPBasePort > 0 {
			port = o.TCPBasePort + i
		}
		l, err := StartTCP(net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return nil, fmt.Errorf("tcp target %d of %d: %w", i+1, o.TCPTargets, err)
		}
		s.TCP = append(s.TCP, l)
		s.add(Target{Name: "tcp-" + strconv.Itoa(i), Module: TCPModule, Address: l.Addr()})
	}
	return s, nil
}

func (s *Scale) add(t Target) {
	s.byKey[t.Name] = len(s.targets)
	s.byKey[t.Address] = len(s.targets)
	s.targets = append(s.targets, t)
}

// Targets returns every target, HTTP ones first.
func (s *Scale) Targets() []Target { return s.targets }

// ControlURL returns the base URL of the control API.
func (s *Scale) ControlURL() string { return "http://" + s.HTTP.Addr() + "/-/fixture/" }

// SetDown takes the target named by key (its name or address) down, or
// brings it back up.
func (s *Scale) SetDown(key string, down bool) error {
	i, ok := s.byKey[key]
	if !ok {
		return fmt.Errorf("loadfixture: no target %q", key)
	}
	t := s.targets[i]
	if t.Module == HTTPModule {
		s.HTTP.SetDown(t.Name, down)
		return nil
	}
	n, _ := strconv.Atoi(t.Name[len("tcp-"):])
	return s.TCP[n].SetDown(down)
}

// IsDown reports whether the target named by key is down.
func (s *Scale) IsDown(key string) (bool, error) {
	i, ok := s.byKey[key]
	if !ok {
		return false, fmt.Errorf("loadfixture: no target %q", key)
	}
	t := s.targets[i]
	if t.Module == HTTPModule {
		return s.HTTP.IsDown(t.Name), nil
	}
	n, _ := strconv.Atoi(t.Name[len("tcp-"):])
	return s.TCP[n].IsDown(), nil
}

// fileSDGroup is one target group of Prometheus's file_sd format.
type fileSDGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// WriteFileSD writes every target as Prometheus file_sd JSON, one group per
// module, labelled module=<module> for the usual blackbox relabelling.
func (s *Scale) WriteFileSD(w io.Writer) error {
	groups := []fileSDGroup{}
	index := map[string]int{}
	for _, t := range s.targets {
		i, ok := index[t.Module]
		if !ok {
			i = len(groups)
			index[t.Module] = i
			groups = append(groups, fileSDGroup{Labels: map[string]string{"module": t.Module}})
		}
		groups[i].Targets = append(groups[i].Targets, t.Address)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(groups)
}

func (s *Scale) serveTargets(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = s.WriteFileSD(w)
}

func (s *Scale) serveSetDown(down bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "use POST", http.StatusMethodNotAllowed)
			return
		}
		if err := s.SetDown(r.URL.Query().Get("target"), down); err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// Close stops every fixture.
func (s *Scale) Close() error {
	var errs []error
	if s.HTTP != nil {
		errs = append(errs, s.HTTP.Close())
	}
	for _, l := range s.TCP {
		errs = append(errs, l.Close())
	}
	return errors.Join(errs...)
}
