package index

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minipacs/minipacs/dicomweb/kind"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// ErrSchema is returned by Open when the file was written by an
// incompatible version of the index.
var ErrSchema = kind.New(kind.Unsupported, "index: unsupported schema version")

// schemaVersion is stored under meta/"schema".
const schemaVersion = "3"

// schemaReadable says whether Open accepts a file of schema v: the current
// one, or schema 2, which differs only in that its records are all of
// version 1 (attr lists not packed). Open then sets the file's schema to
// the current one, as records written from then on are packed (older
// binaries refuse the file).
func schemaReadable(v []byte) bool {
	return string(v) == schemaVersion || string(v) == "2"
}

// Bucket names (see doc.go).
var (
	bMeta      = []byte("meta")
	bInstances = []byte("instances")
	bHier      = []byte("hier")
	bSeries    = []byte("series")
	bSeriesUID = []byte("seriesuid")
	bStudies   = []byte("studies")
	bPatients  = []byte("patients")
	bMetadata  = []byte("metadata")
	bMDict     = []byte("mdict")
	bObjects   = []byte("objects")
	bxDate     = []byte("x_date")
	bxPID      = []byte("x_pid")
	bxAcc      = []byte("x_acc")
	bxPN       = []byte("x_pn")
	bxPNC      = []byte("x_pnc")
	bxMod      = []byte("x_mod")
	bPatAdt    = []byte("x_padt")

	allBuckets = [][]byte{bMeta, bInstances, bHier, bSeries, bSeriesUID, bStudies, bPatients,
		bMetadata, bMDict, bObjects, bxDate, bxPID, bxAcc, bxPN, bxPNC, bxMod, bPatAdt}

	keySchema    = []byte("schema")
	keyStudies   = []byte("studies")
	keySeries    = []byte("series")
	keyInstances = []byte("instances")
)

// Default group commit limits.
const (
	defaultTimeout       = 5 * time.Second
	defaultMaxGroup      = 256
	defaultMaxGroupBytes = 8 << 20
)

// Options configure an Index.
type Options struct {
	// Timeout bounds the wait for the database file lock (another process
	// holding it). Default 5s.
	Timeout time.Duration
	// Replace selects the duplicate policy: when set, Put of a known
	// SOPInstanceUID with different content replaces the old instance and
	// reports the old object key in PutResult.ReplacedObjectKey; when not,
	// such a Put fails with ErrConflict.
	Replace bool
	// MaxGroup and MaxGroupBytes cap one group commit (defaults 256
	// instances, 8 MiB of metadata, layout and attribute data).
	MaxGroup      int
	MaxGroupBytes int
}

// Index is the bbolt metadata index. It is safe for concurrent use.
type Index struct {
	db  *bolt.DB
	opt Options

	mu     sync.RWMutex // guards closed; held (read) around every db use
	closed bool

	reqs chan []*putReq // units of Put requests, for the committer
	done chan struct{}  // closed when the committer has exited

	dicts dictCache // series metadata dictionaries (metadata.go)
	order keyOrder  // key arrival order per bucket (fill.go); committer only

	commits  atomic.Uint64
	puts     atomic.Uint64
	onCommit atomic.Pointer[func(time.Duration)] // SetOnCommit

	// failHook, set by tests only, fails the transaction after the
	// instance with that SOP UID was written.
	failHook func(sop string) error
}

// Open opens (creating if needed) the index file at path.
func Open(ctx context.Context, path string, opt Options) (*Index, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("index: open: %w", err)
	}
	if opt.Timeout <= 0 {
		opt.Timeout = defaultTimeout
	}
	if opt.MaxGroup <= 0 {
		opt.MaxGroup = defaultMaxGroup
	}
	if opt.MaxGroupBytes <= 0 {
		opt.MaxGroupBytes = defaultMaxGroupBytes
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opt.Timeout})
	if err != nil {
		return nil, fmt.Errorf("index: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		for _, k := range recordKinds {
			if _, err := tx.CreateBucketIfNotExists([]byte(k)); err != nil {
				return fmt.Errorf("create bucket %s: %w", k, err)
			}
		}
		meta := tx.Bucket(bMeta)
		switch v := meta.Get(keySchema); {
		case v == nil || (string(v) != schemaVersion && schemaReadable(v)):
			return meta.Put(keySchema, []byte(schemaVersion))
		case string(v) != schemaVersion:
			return fmt.Errorf("%w: file has %q, want %q (written by an older minipacs: move the file aside "+
				"and run `minipacs reindex` to rebuild the index from the stored objects)", ErrSchema, v, schemaVersion)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("index: open %s: %w", path, err)
	}
	ix := &Index{
		db:   db,
		opt:  opt,
		reqs: make(chan []*putReq, 4*opt.MaxGroup),
		done: make(chan struct{}),
	}
	go ix.commitLoop()
	return ix, nil
}

// Close stops accepting calls, waits for queued Puts to be committed and
// for running reads to finish, and closes the file. Calls after Close
// return ErrClosed; a second Close returns nil.
func (ix *Index) Close() error {
	ix.mu.Lock()
	if ix.closed {
		ix.mu.Unlock()
		return nil
	}
	ix.closed = true
	close(ix.reqs)
	ix.mu.Unlock()
	<-ix.done
	if err := ix.db.Close(); err != nil {
		return fmt.Errorf("index: close: %w", err)
	}
	return nil
}

// Ping checks that the index is open and readable.
func (ix *Index) Ping(ctx context.Context) error {
	return ix.view(ctx, "ping", func(tx *bolt.Tx) error {
		if tx.Bucket(bMeta) == nil {
			return errCorrupt
		}
		return nil
	})
}

// Commits returns the number of group commits (write transactions of Put)
// and the number of Put requests they carried since Open, for metrics.
func (ix *Index) Commits() (commits, puts uint64) {
	return ix.commits.Load(), ix.puts.Load()
}

// SetOnCommit makes the committer call f with the duration of each
// successful group commit (the write transaction of Put, fsync included),
// for metrics. f runs on the committer goroutine: it must be quick. nil
// removes it. Safe to call at any time.
func (ix *Index) SetOnCommit(f func(time.Duration)) {
	if f == nil {
		ix.onCommit.Store(nil)
		return
	}
	ix.onCommit.Store(&f)
}

// view runs fn in a read transaction, wrapping errors with the operation.
// ErrNotFound passes through wrapped, so errors.Is works.
func (ix *Index) view(ctx context.Context, op string, fn func(tx *bolt.Tx) error) error {
	return ix.tx(ctx, op, ix.db.View, fn)
}

// update runs fn in its own read-write transaction.
func (ix *Index) update(ctx context.Context, op string, fn func(tx *bolt.Tx) error) error {
	return ix.tx(ctx, op, ix.db.Update, fn)
}

// tx runs fn through run (db.View or db.Update) unless ctx is done or the
// index is closed.
func (ix *Index) tx(ctx context.Context, op string, run func(func(*bolt.Tx) error) error, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("index: %s: %w", op, err)
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.closed {
		return fmt.Errorf("index: %s: %w", op, ErrClosed)
	}
	if err := run(fn); err != nil {
		return fmt.Errorf("index: %s: %w", op, mapBoltErr(err))
	}
	return nil
}

func mapBoltErr(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// addCount adds delta to one of the meta counters.
func addCount(tx *bolt.Tx, key []byte, delta int64) error {
	b := tx.Bucket(bMeta)
	var n uint64
	if v := b.Get(key); len(v) == 8 {
		n = binary.BigEndian.Uint64(v)
	}
	n = uint64(int64(n) + delta)
	if int64(n) < 0 {
		n = 0
	}
	out := make([]byte, 8)
	binary.BigEndian.PutUint64(out, n)
	return b.Put(key, out)
}

// Stats returns the numbers of indexed studies, series and instances.
func (ix *Index) Stats(ctx context.Context) (studies, series, instances int, err error) {
	err = ix.view(ctx, "stats", func(tx *bolt.Tx) error {
		b := tx.Bucket(bMeta)
		get := func(k []byte) int {
			if v := b.Get(k); len(v) == 8 {
				return int(binary.BigEndian.Uint64(v))
			}
			return 0
		}
		studies, series, instances = get(keyStudies), get(keySeries), get(keyInstances)
		return nil
	})
	return studies, series, instances, err
}

// Replaces reports the duplicate policy (Options.Replace): whether a Put
// of a known SOP Instance UID with different content replaces the stored
// instance.
func (ix *Index) Replaces() bool { return ix.opt.Replace }
