package config

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
)

//go:embed default.yml
var defaultYAML []byte

// DefaultYAML returns the embedded configuration used when no file is
// given: the usual blackbox modules plus vigie's own. Each call returns a
// copy, so that no caller can change what the next one gets.
func DefaultYAML() []byte { return bytes.Clone(defaultYAML) }

// Store holds the current exporter configuration. Readers get it without
// locking; a reload swaps it only when the new one is valid, so a bad file
// never replaces a good configuration. (The reload metrics and logs are the
// server's: internal/webserver.Reloader.)
type Store struct {
	path    string // empty: the embedded default
	current atomic.Pointer[Config]

	mu       sync.Mutex // serialises reloads and listeners
	lastSum  [32]byte
	onReload []func(*Config)
}

// NewStore returns a store for the file at path ("" means the embedded
// default), empty until the first Reload.
func NewStore(path string) *Store {
	s := &Store{path: path}
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

// Load is Reload, but with ifChanged only when the file's content changed
// since the last successful load; it reports whether a new configuration
// became current.
func (s *Store) Load(ifChanged bool) (bool, error) {
	return s.reload(ifChanged)
}

func (s *Store) reload(onlyIfChanged bool) (changed bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	data := defaultYAML
	if s.path != "" {
		data, err = os.ReadFile(s.path)
		if err != nil {
			return false, fmt.Errorf("error reading config file: %w", err)
		}
	}
	sum := sha256.Sum256(data)
	if onlyIfChanged && sum == s.lastSum {
		return false, nil
	}
	c, err := Parse(data)
	if err != nil {
		return false, fmt.Errorf("error parsing config file: %w", err)
	}
	s.current.Store(c)
	s.lastSum = sum
	for _, fn := range s.onReload {
		fn(c)
	}
	return true, nil
}
