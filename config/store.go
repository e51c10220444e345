package config

import (
	"crypto/sha256"
	_ "embed"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultYAML is the embedded configuration used when no file is given: the
// usual blackbox modules plus vigie's own.
//
//go:embed default.yml
var DefaultYAML []byte

// Store holds the current exporter configuration. Readers get it without
// locking; a reload swaps it only when the new one is valid, so a bad file
// never replaces a good configuration.
type Store struct {
	path    string // empty: the embedded default
	current atomic.Pointer[Config]

	mu       sync.Mutex // serialises reloads and listeners
	lastSum  [32]byte
	onReload []func(*Config)

	reloadSuccess prometheus.Gauge
	reloadTime    prometheus.Gauge
}

// NewStore returns a store for the file at path ("" means the embedded
// default). Its reload metrics are registered on reg under the given
// namespace (e.g. "vigie_exporter").
func NewStore(path string, reg prometheus.Registerer, namespace string) *Store {
	s := &Store{
		path: path,
		reloadSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace,
			Name:      "config_last_reload_successful",
			Help:      "Whether the last configuration reload attempt was successful.",
		}),
		reloadTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace,
			Name:      "config_last_reload_success_timestamp_seconds",
			Help:      "Timestamp of the last successful configuration reload.",
		}),
	}
	if reg != nil {
		reg.MustRegister(s.reloadSuccess, s.reloadTime)
	}
	s.current.Store(&Config{Modules: map[string]Module{}})
	return s
}

// Path returns the configuration file, or "" for the embedded default.
func (s *Store) Path() string { return s.path }

// Get returns the current configuration. It must not be modified.
func (s *Store) Get() *Config { return s.current.Load() }

// OnReload registers fn to be called with every configuration that becomes
// current, including the first one.
func (s *Store) OnReload(fn func(*Config)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onReload = append(s.onReload, fn)
}

// Reload reads and validates the file and makes it current. On error the
// previous configuration stays in place.
func (s *Store) Reload() error {
	_, err := s.reload(false)
	return err
}

// ReloadIfChanged reloads only when the file's content changed since the last
// successful load; it reports whether a new configuration became current.
func (s *Store) ReloadIfChanged() (bool, error) {
	return s.reload(true)
}

func (s *Store) reload(onlyIfChanged bool) (changed bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	data := DefaultYAML
	if s.path != "" {
		data, err = os.ReadFile(s.path)
		if err != nil {
			s.reloadSuccess.Set(0)
			return false, fmt.Errorf("error reading config file: %w", err)
		}
	}
	sum := sha256.Sum256(data)
	if onlyIfChanged && sum == s.lastSum {
		return false, nil
	}
	c, err := Parse(data)
	if err != nil {
		s.reloadSuccess.Set(0)
		return false, fmt.Errorf("error parsing config file: %w", err)
	}
	s.current.Store(c)
	s.lastSum = sum
	s.reloadSuccess.Set(1)
	s.reloadTime.SetToCurrentTime()
	for _, fn := range s.onReload {
		fn(c)
	}
	return true, nil
}
