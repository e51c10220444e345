package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// ErrDamaged is wrapped by the error of Open when the file cannot be read:
// bbolt refuses it (invalid or unchecksummable meta pages), panics reading
// it (truncated file, garbage pages) or its consistency check fails.
var ErrDamaged = errors.New("store file is damaged")

type damagedError struct {
	path string
	err  error
}

func (e *damagedError) Error() string        { return fmt.Sprintf("store: %s is damaged: %v", e.path, e.err) }
func (e *damagedError) Unwrap() error        { return e.err }
func (e *damagedError) Is(target error) bool { return target == ErrDamaged }

// Options configure OpenWith.
type Options struct {
	// Logger receives the damage report and the unreadable records.
	Logger *slog.Logger
	// Recover moves a damaged file aside and starts with an empty store,
	// instead of failing.
	Recover bool
	// Now dates a damaged file moved aside; default time.Now.
	Now func() time.Time
}

// Damage says that the store file could not be used and was replaced.
type Damage struct {
	// Path is the store file, now a new, empty store.
	Path string
	// MovedTo is the damaged file, kept for inspection
	// (vigie-router.db.damaged-20261121T100000Z).
	MovedTo string
	// Err says what was wrong with it.
	Err error
	At  time.Time
}

// OpenWith opens (creating it if needed) the database in dir. With
// o.Recover, a damaged file is moved aside with a timestamp suffix and
// replaced by an empty store, loudly (ERROR log) and reported as a Damage
// for the caller to alert on: under a supervisor, failing would be a
// restart loop that tells nobody, and a panic inside bbolt is what a
// damaged file otherwise gives. Errors that say nothing about the file's
// content (permissions, I/O, another process holding the lock) are
// returned as they are.
func OpenWith(dir string, o Options) (*Store, *Damage, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("store: create %s: %w", dir, err)
	}
	path := filepath.Join(dir, FileName)
	db, err := openDB(path)
	var damage *Damage
	if err != nil {
		if !o.Recover || !errors.Is(err, ErrDamaged) {
			return nil, nil, err
		}
		now := o.Now()
		moved, mvErr := moveAside(path, now)
		if mvErr != nil {
			return nil, nil, fmt.Errorf("%w; moving it aside failed: %v", err, mvErr)
		}
		o.Logger.Error("The store is damaged: moved it aside and started with an empty one; check states, silences and pending notifications are lost",
			"file", path, "moved_to", moved, "err", err)
		damage = &Damage{Path: path, MovedTo: moved, Err: err, At: now}
		if db, err = openDB(path); err != nil {
			return nil, nil, err
		}
	}
	res := newResident(db)
	res.drop() // opening read every page (verify)
	return &Store{db: db, resident: res, logger: o.Logger}, damage, nil
}

// lockTimeout is how long opening waits for another process's lock on the
// file: a second router on the same directory fails instead of hanging.
const lockTimeout = 2 * time.Second

// initialMmapSize is the address space mapped for the file from the start
// (address space, not memory: only the pages read are resident). bbolt
// maps the file anew each time it outgrows the mapping, and then copies
// every node the transaction holds onto the heap: with the default (the
// file's size, doubled as it grows) the first commit of 10^5 checks
// copied them some ten times, 0.5 GB of garbage at start. 256 MiB holds
// about a million checks.
const initialMmapSize = 256 << 20

// openChecked checks the file's page structure (checkStructure), opens it
// with bbolt, reads every page of it once and runs bbolt's consistency
// check, then init. A panic on the way (bbolt panics on
// pages it cannot make sense of; a page beyond the end of a truncated file
// is a memory fault, turned into a panic here) is a damaged file. The
// *bolt.DB of a file that panicked is abandoned, not closed: the panic may
// have left its locks held, and Close would wait for them forever. Only
// its file lock is released and its file closed; its mapping stays until
// the process ends.
func openChecked(path string, init func(*bolt.DB) error) (db *bolt.DB, err error) {
	var file *os.File
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if file != nil {
				unlock(file)
			}
			db, err = nil, &damagedError{path: path, err: fmt.Errorf("reading it panics: %v", r)}
		}
	}()
	structureErr := whileLocked(path, lockTimeout, func() error {
		if err := checkStructure(path); err != nil {
			var pathErr *fs.PathError
			if errors.As(err, &pathErr) {
				return fmt.Errorf("store: read %s: %w", path, err)
			}
			return &damagedError{path: path, err: err}
		}
		return nil
	})
	if structureErr != nil {
		return nil, structureErr
	}
	db, err = bolt.Open(path, 0o600, &bolt.Options{
		Timeout:         lockTimeout,
		InitialMmapSize: initialMmapSize,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			file = f
			return f, err
		},
	})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, err
		}
		// The system's errors (permissions, I/O, memory) say nothing about
		// the content; the others (bad meta pages, a file too small, …)
		// are bbolt's verdict on it.
		var pathErr *fs.PathError
		var errno syscall.Errno
		if errors.As(err, &pathErr) || errors.As(err, &errno) {
			return nil, fmt.Errorf("store: open %s: %w", path, err)
		}
		return nil, &damagedError{path: path, err: err}
	}
	// bbolt grows a file mapped beyond its size by AllocSize (16 MiB)
	// past what it needs; without the large mapping it grew to the
	// mapping's size. The file grows by what it needs instead: no
	// megabytes of zeros after a small store.
	db.AllocSize = 0
	if err := verify(db); err != nil {
		db.Close()
		return nil, &damagedError{path: path, err: err}
	}
	if err := init(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: init %s: %w", path, err)
	}
	return db, nil
}

// verify reads every key and value of every bucket, so that each page in
// use is read once now, where a bad one is recoverable, rather than in the
// middle of the router later; then it runs bbolt's consistency check
// (free pages, reachability, key order). For a store of 10,000 checks this
// takes milliseconds.
func verify(db *bolt.DB) error {
	return db.View(func(tx *bolt.Tx) error {
		var sum byte
		walkErr := tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			return walk(b, &sum)
		})
		// Check runs in its own goroutine and reports its own panics; its
		// channel must be drained before the transaction ends.
		var problems []error
		for err := range tx.Check() {
			if len(problems) < 5 {
				problems = append(problems, err)
			}
		}
		if walkErr != nil {
			return walkErr
		}
		if len(problems) > 0 {
			return fmt.Errorf("consistency check: %w", errors.Join(problems...))
		}
		return nil
	})
}

func walk(b *bolt.Bucket, sum *byte) error {
	return b.ForEach(func(k, v []byte) error {
		if v == nil {
			nested := b.Bucket(k)
			if nested == nil {
				return fmt.Errorf("key %q has no value and is not a bucket", k)
			}
			return walk(nested, sum)
		}
		for _, c := range v { // every byte: large values span overflow pages
			*sum ^= c
		}
		return nil
	})
}

// moveAside renames the damaged file to <path>.damaged-<UTC time>, never
// over an existing file.
func moveAside(path string, now time.Time) (string, error) {
	base := path + ".damaged-" + now.UTC().Format("20060102T150405Z")
	target := base
	for i := 1; ; i++ {
		if _, err := os.Lstat(target); errors.Is(err, fs.ErrNotExist) {
			break
		}
		target = fmt.Sprintf("%s-%d", base, i)
	}
	if err := os.Rename(path, target); err != nil {
		return "", err
	}
	return target, nil
}

// unreadable remembers the records that could not be decoded, by bucket:
// each is logged once, and counted (vigie_router_store_unreadable_records).
type unreadable struct {
	mu   sync.Mutex
	keys map[string]map[string]bool
}

// decode reads a record into v. An unreadable one is skipped rather than
// stopping the router: one bad record must not cost the others.
func (s *Store) decode(bucket, key, data []byte, v any) bool {
	if err := json.Unmarshal(data, v); err != nil {
		s.Unreadable(string(bucket), string(key), err)
		return false
	}
	return true
}

// Unreadable reports a record that cannot be used (it does not decode, or
// says something its reader cannot parse): logged once as an error and
// counted. The record stays in place.
func (s *Store) Unreadable(bucket, key string, err error) {
	u := &s.unreadable
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.keys == nil {
		u.keys = map[string]map[string]bool{}
	}
	if u.keys[bucket] == nil {
		u.keys[bucket] = map[string]bool{}
	}
	if u.keys[bucket][key] {
		return
	}
	u.keys[bucket][key] = true
	logger := s.logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger.Error("Unreadable record in the store; skipped", "bucket", bucket, "key", key, "err", err)
}

// UnreadableRecords counts the unreadable records met so far, by bucket.
func (s *Store) UnreadableRecords() map[string]int {
	u := &s.unreadable
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make(map[string]int, len(u.keys))
	for b, keys := range u.keys {
		out[b] = len(keys)
	}
	return out
}
