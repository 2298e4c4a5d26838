package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/minipacs/minipacs/dicomweb/kind"
	"github.com/minipacs/minipacs/index"
)

// ErrUnavailable wraps the errors of a database that cannot be reached or
// cannot take writes (no primary during a failover): kind Unavailable, so
// HTTP answers 503 with Retry-After and the client sends again.
var ErrUnavailable = index.ErrUnavailable

// Index is the PostgreSQL index. It is safe for concurrent use, and any
// number of processes may share one database.
type Index struct {
	pool *pgxpool.Pool
	opt  index.Options

	mu     sync.RWMutex // guards closed; held (read) around every call
	closed bool

	commits, puts atomic.Uint64
	onCommit      atomic.Pointer[func(time.Duration)]
}

var _ index.Engine = (*Index)(nil)

// Open connects to the database at url (a libpq URL or key=value string;
// several hosts and target_session_attrs=read-write for a failover pair)
// and brings its schema to the current version. Open fails when the
// database cannot be reached within ctx.
func Open(ctx context.Context, url string, opt index.Options) (*Index, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("bad database URL: %v", err) // pgx masks the password
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	if cfg.MaxConns < 8 {
		cfg.MaxConns = 8
	}
	// A connection that went through a failover may point at a server
	// that is now a standby: check them before use now and then.
	cfg.HealthCheckPeriod = 5 * time.Second
	cfg.MaxConnIdleTime = time.Minute
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	ix := &Index{pool: pool, opt: opt}
	if err := ix.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open: %w", ix.classify(err))
	}
	return ix, nil
}

// Close waits for running calls and closes the connections. Calls after
// Close fail with index.ErrClosed; a second Close returns nil.
func (ix *Index) Close() error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.closed {
		return nil
	}
	ix.closed = true
	ix.pool.Close()
	return nil
}

// begin marks a call running; end must follow.
func (ix *Index) begin() error {
	ix.mu.RLock()
	if ix.closed {
		ix.mu.RUnlock()
		return index.ErrClosed
	}
	return nil
}

func (ix *Index) end() { ix.mu.RUnlock() }

// Ping checks that the database answers and takes writes.
func (ix *Index) Ping(ctx context.Context) error {
	if err := ix.begin(); err != nil {
		return err
	}
	defer ix.end()
	var ro string
	if err := ix.pool.QueryRow(ctx, "SHOW transaction_read_only").Scan(&ro); err != nil {
		return fmt.Errorf("index: ping: %w", ix.classify(err))
	}
	if ro == "on" {
		return fmt.Errorf("index: ping: %w: the server is read-only (a standby)", ErrUnavailable)
	}
	return nil
}

// Replaces reports the duplicate policy (index.Options.Replace).
func (ix *Index) Replaces() bool { return ix.opt.Replace }

// Commits returns the number of write transactions of Put and the Put
// requests they carried.
func (ix *Index) Commits() (commits, puts uint64) { return ix.commits.Load(), ix.puts.Load() }

// SetOnCommit makes Put call f with the duration of each successful write
// transaction (commit included). nil removes it.
func (ix *Index) SetOnCommit(f func(time.Duration)) {
	if f == nil {
		ix.onCommit.Store(nil)
		return
	}
	ix.onCommit.Store(&f)
}

// maxAttempts bounds the retries of a transaction that failed for a
// reason that another try may not meet (serialization failure, deadlock,
// a row changed by another node between read and write, a lost
// connection).
const maxAttempts = 8

// errRetry makes inTx run the transaction again (a race with another node
// seen by the transaction itself).
var errRetry = errors.New("index: concurrent change, retry")

// inTx runs fn in a read-write transaction, again when it fails with a
// retryable error, and commits. fn must be idempotent up to its side
// effects on the transaction.
func (ix *Index) inTx(ctx context.Context, what string, fn func(tx pgx.Tx) error) error {
	if err := ix.begin(); err != nil {
		return err
	}
	defer ix.end()
	var err error
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if attempt > 0 {
			d := time.Duration(1<<min(attempt, 6)) * time.Millisecond
			select {
			case <-ctx.Done():
				return fmt.Errorf("index: %s: %w", what, ctx.Err())
			case <-time.After(d + rand.N(d)):
			}
		}
		err = pgx.BeginTxFunc(ctx, ix.pool, pgx.TxOptions{}, fn)
		if err == nil || !retryable(err) {
			break
		}
	}
	if err != nil {
		return ix.wrap(what, err)
	}
	return nil
}

// read runs fn on a pooled connection, again once when the connection
// was lost.
func (ix *Index) read(ctx context.Context, what string, fn func(q querier) error) error {
	if err := ix.begin(); err != nil {
		return err
	}
	defer ix.end()
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		err = fn(ix.pool)
		if err == nil || !retryable(err) {
			break
		}
	}
	if err != nil {
		return ix.wrap(what, err)
	}
	return nil
}

// querier is what reads need of a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// callbackErr carries the error of a caller's callback through read,
// which returns it as is.
type callbackErr struct{ err error }

func (c callbackErr) Error() string { return c.err.Error() }

// wrap adds the operation to an error and classifies database errors;
// the errors of this package and of package index pass as they are, and
// a callback's error is returned as is.
func (ix *Index) wrap(what string, err error) error {
	var cb callbackErr
	if errors.As(err, &cb) {
		return cb.err
	}
	switch {
	case errors.Is(err, index.ErrNotFound):
		return err
	case kind.Of(err) != nil, errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("index: %s: %w", what, err)
	}
	return fmt.Errorf("index: %s: %w", what, ix.classify(err))
}

// classify turns connection failures and read-only servers into
// ErrUnavailable.
func (ix *Index) classify(err error) error {
	if unavailable(err) {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return err
}

// SQLSTATE codes handled here.
const (
	codeSerialization   = "40001"
	codeDeadlock        = "40P01"
	codeFKViolation     = "23503"
	codeUniqueViolation = "23505"
	codeReadOnly        = "25006"
	codeAdminShutdown   = "57P01"
	codeCrashShutdown   = "57P02"
	codeCannotConnect   = "57P03"
)

// retryable reports whether a transaction that failed with err may
// succeed when run again.
func retryable(err error) bool {
	if errors.Is(err, errRetry) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case codeSerialization, codeDeadlock, codeFKViolation, codeUniqueViolation:
			return true
		}
		return false
	}
	// A connection lost before anything was sent: nothing can have been
	// committed. Once the commit was sent the outcome is unknown and the
	// error goes to the caller (a client sending the instance again finds
	// it stored, or stores it).
	return pgconn.SafeToRetry(err)
}

// unavailable reports whether err says the database cannot be used now:
// no connection, a server shutting down or starting, a read-only server.
func unavailable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case codeReadOnly, codeAdminShutdown, codeCrashShutdown, codeCannotConnect:
			return true
		}
		return strings.HasPrefix(pe.Code, "08") // connection exceptions
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	return errors.As(err, &ce) || errors.As(err, &ne) || pgconn.Timeout(err) ||
		errors.Is(err, pgx.ErrTxClosed) || strings.Contains(err.Error(), "conn closed") ||
		strings.Contains(err.Error(), "unexpected EOF") || strings.Contains(err.Error(), "connection reset")
}
