// Package pgtest starts real PostgreSQL servers for tests.
//
// Each server is throw-away: a fresh cluster (initdb) in its own temporary
// directory, listening on 127.0.0.1 only, on a free TCP port, with trust
// authentication for 127.0.0.1 (tests only), stopped and removed by
// t.Cleanup. The binaries are Debian's (the newest
// /usr/lib/postgresql/*/bin; scripts/install-deps installs them): a machine
// without them skips the test, except when $CI is set, where it fails.
//
// As root (initdb and postgres refuse root) the server programs run as the
// postgres user, which owns the temporary directory. The postmaster is the
// test process's own child, not pg_ctl's daemon: the test reaps it, and on
// Linux the kernel shuts it down (SIGQUIT, an immediate shutdown) when the
// test process dies without stopping it. fsync and synchronous_commit stay
// on by default: the index tests crash servers (StopImmediate) and check
// what survives.
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// wait bounds every wait of the package: a server start or stop, a
// standby's catching up, a promotion, one psql command.
const wait = 30 * time.Second

// Options tunes a server started by Start.
type Options struct {
	// Fsync is the server's fsync setting; nil is on.
	Fsync *bool
	// Database is created after initdb and is the one URL names;
	// "" is "minipacs".
	Database string
}

// Server is one running (or stopped) PostgreSQL server of a test.
type Server struct {
	pg       *install
	dir      string // temporary directory: data/, log, the Unix socket
	port     int
	database string
	pm       *postmaster // nil: stopped

	mu       sync.Mutex // guards standbys and syncs (standbys may start in parallel)
	standbys int        // standbys started from this server, for their application_name
	syncs    []string   // application_names of its synchronous standbys
}

// Start initializes a cluster in a new temporary directory, starts it on
// a free port of 127.0.0.1 and creates opt.Database. t.Cleanup stops the
// server (a fast shutdown, as pg_ctl stop -m fast) and removes the
// directory.
func Start(t testing.TB, opt Options) *Server {
	t.Helper()
	pg := find(t)
	if opt.Database == "" {
		opt.Database = "minipacs"
	}
	s := newServer(t, pg, opt.Database)
	data := filepath.Join(s.dir, "data")
	// --no-sync: the cluster is throw-away; a crashed server (StopImmediate)
	// loses nothing the page cache holds, only a crashed machine would.
	s.run(t, "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
	fsync := "on"
	if opt.Fsync != nil && !*opt.Fsync {
		fsync = "off"
	}
	conf := fmt.Sprintf(`
# pgtest
listen_addresses = '127.0.0.1'
fsync = %s
synchronous_commit = on
shared_buffers = 64MB
max_connections = 100
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
wal_keep_size = 256MB
hot_standby = on
log_line_prefix = '%%m [%%p] '
include_if_exists = 'pgtest.instance.conf'
`, fsync)
	s.appendFile(t, filepath.Join(data, "postgresql.conf"), conf)
	hba := `# pgtest: trust on 127.0.0.1 and the socket only (tests only)
local all all trust
local replication all trust
host all all 127.0.0.1/32 trust
host replication all 127.0.0.1/32 trust
`
	s.writeFile(t, filepath.Join(data, "pg_hba.conf"), hba)
	s.startFresh(t)
	if s.database != "postgres" { // initdb made that one
		db := strings.ReplaceAll(s.database, `"`, `""`)
		s.psql(t, "postgres", `CREATE DATABASE "`+db+`"`)
	}
	return s
}

// newServer makes the server's temporary directory, owned by the user the
// server runs as, and registers the cleanup that stops the server and
// removes the directory.
func newServer(t testing.TB, pg *install, database string) *Server {
	t.Helper()
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	s := &Server{pg: pg, dir: dir, database: database}
	t.Cleanup(func() {
		if s.pm != nil {
			if err := s.stop(syscall.SIGINT); err != nil {
				t.Errorf("pgtest: stopping the server of %s: %v\n%s", s.dir, err, s.logTail())
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if pg.cred != nil {
		if err := os.Chown(dir, int(pg.cred.Uid), int(pg.cred.Gid)); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
	}
	if err := checkTraversable(filepath.Dir(dir), pg.cred); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return s
}

// URL is the server's database as a libpq/pgx URL:
// postgres://postgres@127.0.0.1:PORT/minipacs?sslmode=disable.
func (s *Server) URL() string {
	return "postgres://postgres@" + s.Host() + "/" + url.PathEscape(s.database) + "?sslmode=disable"
}

// NewDatabase creates a new empty database on the server and returns its
// URL (as URL gives the server's own): tests that need a fresh index
// share one server.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("db%d", dbSeq.Add(1))
	s.psql(t, s.database, "CREATE DATABASE "+name)
	return "postgres://postgres@" + s.Host() + "/" + name + "?sslmode=disable"
}

// dbSeq numbers the databases of NewDatabase.
var dbSeq atomic.Int64

// MultiHostURL is one URL naming every server, in order, with
// target_session_attrs=read-write: libpq and pgx v5 connect to the first
// that accepts writes (the primary, after a failover the promoted
// standby). The database is the first server's.
func MultiHostURL(servers ...*Server) string {
	if len(servers) == 0 {
		return ""
	}
	hosts := make([]string, len(servers))
	for i, s := range servers {
		hosts[i] = s.Host()
	}
	return "postgres://postgres@" + strings.Join(hosts, ",") + "/" + url.PathEscape(servers[0].database) +
		"?sslmode=disable&target_session_attrs=read-write"
}

// Port is the server's TCP port on 127.0.0.1.
func (s *Server) Port() int { return s.port }

// Host is "127.0.0.1:PORT".
func (s *Server) Host() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Psql runs sql (one or more statements) with psql -At in the server's
// database and returns its standard output without the final newline: one
// line a row, columns separated by '|'. An error fails the test, so call
// it from the test's goroutine.
func (s *Server) Psql(t testing.TB, sql string) string {
	t.Helper()
	return s.psql(t, s.database, sql)
}

func (s *Server) psql(t testing.TB, database, sql string) string {
	t.Helper()
	out, err := s.query(database, sql)
	if err != nil {
		t.Fatalf("pgtest: psql on %s: %v\n%s", s.Host(), err, s.logTail())
	}
	return out
}

// query runs sql with psql; ON_ERROR_STOP makes any failing statement an
// error.
func (s *Server) query(database, sql string) (string, error) {
	out, err := s.exec(wait, "psql", "-X", "-At", "-v", "ON_ERROR_STOP=1",
		"-h", "127.0.0.1", "-p", strconv.Itoa(s.port), "-U", "postgres", "-d", database, "-c", sql)
	return strings.TrimSuffix(out, "\n"), err
}

// StopImmediate stops the server like a crash (an immediate shutdown, as
// pg_ctl stop -m immediate: SIGQUIT): no checkpoint, the next start
// recovers from the WAL.
func (s *Server) StopImmediate(t testing.TB) {
	t.Helper()
	if err := s.stop(syscall.SIGQUIT); err != nil {
		t.Fatalf("pgtest: %v\n%s", err, s.logTail())
	}
}

// Stop stops the server cleanly (a fast shutdown, as pg_ctl stop -m fast:
// SIGINT).
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if err := s.stop(syscall.SIGINT); err != nil {
		t.Fatalf("pgtest: %v\n%s", err, s.logTail())
	}
}

// stop sends the postmaster sig (SIGINT: fast shutdown, SIGQUIT:
// immediate) and waits for it to exit, killing it after wait. A stopped
// server is left alone.
func (s *Server) stop(sig syscall.Signal) error {
	pm := s.pm
	if pm == nil {
		return nil
	}
	s.pm = nil
	if err := pm.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		pm.cmd.Process.Kill()
		<-pm.done
		return fmt.Errorf("postgres on port %d: %v: %w", s.port, sig, err)
	}
	select {
	case <-pm.done:
		return nil
	case <-time.After(wait):
		pm.cmd.Process.Kill()
		<-pm.done
		return fmt.Errorf("postgres on port %d: still running %v after %v; killed", s.port, sig, wait)
	}
}

// Restart starts the server again on the same port and directory, after
// stopping it (fast) when it runs. After StopImmediate it recovers from
// the WAL.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if s.pm != nil {
		s.Stop(t)
	}
	if err := s.start(); err != nil {
		t.Fatalf("pgtest: %v\n%s", err, s.logTail())
	}
}

// startFresh starts a server that has no port yet on a free one, and on
// another once when the start fails: another process may have taken the
// first between its pick and the server's bind.
func (s *Server) startFresh(t testing.TB) {
	t.Helper()
	var err error
	for try := 0; try < 2; try++ {
		if s.port, err = pickPort(); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		s.writeFile(t, filepath.Join(s.dir, "data", "pgtest.instance.conf"), fmt.Sprintf(
			"port = %d\nunix_socket_directories = '%s'\n", s.port, strings.ReplaceAll(s.dir, "'", "''")))
		if err = s.start(); err == nil {
			return
		}
		t.Logf("pgtest: %v", err)
	}
	t.Fatalf("pgtest: %v\n%s", err, s.logTail())
}

// postmaster is a running postgres process, a child of the test process.
type postmaster struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when it exited and was reaped
	err  error         // its exit, once done is closed
}

// start runs postgres on the data directory, its output appended to the
// log, and waits (at most wait) until postmaster.pid says it accepts
// connections: "ready", or "standby" for a hot standby (what pg_ctl start
// -w waits for).
func (s *Server) start() error {
	logf, err := os.OpenFile(s.logFile(), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close() // the child has its own copy
	if s.pg.cred != nil {
		if err := logf.Chown(int(s.pg.cred.Uid), int(s.pg.cred.Gid)); err != nil {
			return err
		}
	}
	data := filepath.Join(s.dir, "data")
	cmd := exec.Command(filepath.Join(s.pg.bin, "postgres"), "-D", data)
	cmd.Dir = s.dir
	cmd.Env = s.pg.env(s.dir)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = procAttr()
	cmd.SysProcAttr.Credential = s.pg.cred
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	pm := &postmaster{cmd: cmd, done: make(chan struct{})}
	go func() {
		pm.err = cmd.Wait()
		close(pm.done)
	}()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	pidFile := filepath.Join(data, "postmaster.pid")
	for {
		select {
		case <-pm.done:
			return fmt.Errorf("postgres on port %d exited while starting: %v", s.port, pm.err)
		case <-deadline.C:
			cmd.Process.Kill()
			<-pm.done
			return fmt.Errorf("postgres on port %d: not accepting connections after %v; killed", s.port, wait)
		case <-tick.C:
		}
		b, err := os.ReadFile(pidFile)
		if err != nil {
			continue
		}
		lines := strings.Split(string(b), "\n")
		if len(lines) < 8 || strings.TrimSpace(lines[0]) != strconv.Itoa(cmd.Process.Pid) {
			continue
		}
		if st := strings.TrimSpace(lines[7]); st == "ready" || st == "standby" {
			s.pm = pm
			return nil
		}
	}
}

// StartStandby starts a streaming replica of s (which must run): a
// pg_basebackup -R -X stream of s into a new directory, on its own free
// port, connecting to s with application_name standbyN (standby1 for the
// first standby of s). When synchronous, s gets synchronous_standby_names
// 'FIRST 1 (standbyN)' (listing every synchronous standby of s) and
// synchronous_commit=on, reloaded. It returns once pg_stat_replication of
// s shows the standby streaming (and, when synchronous, sync_state sync).
// Its cleanup is t's.
func (s *Server) StartStandby(t testing.TB, synchronous bool) *Server {
	t.Helper()
	s.mu.Lock()
	s.standbys++
	name := fmt.Sprintf("standby%d", s.standbys)
	s.mu.Unlock()

	r := newServer(t, s.pg, s.database)
	data := filepath.Join(r.dir, "data")
	conninfo := fmt.Sprintf("host=127.0.0.1 port=%d user=postgres application_name=%s", s.port, name)
	if _, err := r.exec(2*wait, "pg_basebackup", "-d", conninfo, "-D", data, "-R", "-X", "stream", "-c", "fast", "--no-sync"); err != nil {
		t.Fatalf("pgtest: pg_basebackup of %s: %v\n%s", s.Host(), err, s.logTail())
	}
	// -R wrote primary_conninfo from conninfo; make sure application_name
	// made it, whatever pg_basebackup's version keeps.
	auto, err := os.ReadFile(filepath.Join(data, "postgresql.auto.conf"))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if !bytes.Contains(auto, []byte("application_name="+name)) {
		r.appendFile(t, filepath.Join(data, "postgresql.auto.conf"), fmt.Sprintf("primary_conninfo = '%s'\n", conninfo))
	}
	// The copied pgtest.instance.conf names s's port and socket; startFresh
	// writes r's own.
	r.startFresh(t)

	cond := "state = 'streaming'"
	if synchronous {
		s.mu.Lock()
		s.syncs = append(s.syncs, name)
		names := strings.Join(s.syncs, ", ")
		s.mu.Unlock()
		s.Psql(t, fmt.Sprintf("ALTER SYSTEM SET synchronous_standby_names = 'FIRST 1 (%s)'", names))
		s.Psql(t, "ALTER SYSTEM SET synchronous_commit = on")
		s.Psql(t, "SELECT pg_reload_conf()")
		if len(s.syncs) == 1 {
			cond += " AND sync_state = 'sync'"
		} else {
			cond += " AND sync_state IN ('sync', 'potential')"
		}
	}
	q := fmt.Sprintf("SELECT count(*) FROM pg_stat_replication WHERE application_name = '%s' AND %s", name, cond)
	if err := s.poll("postgres", q, "1"); err != nil {
		t.Fatalf("pgtest: standby %s (%s) of %s: %v\nprimary's log:\n%s\nstandby's log:\n%s",
			name, r.Host(), s.Host(), err, s.logTail(), r.logTail())
	}
	return r
}

// Promote makes a standby a primary (pg_ctl promote -w) and returns once
// pg_is_in_recovery() is false.
func (s *Server) Promote(t testing.TB) {
	t.Helper()
	if _, err := s.exec(wait+5*time.Second, "pg_ctl", "promote", "-D", filepath.Join(s.dir, "data"), "-w", "-t", strconv.Itoa(int(wait/time.Second))); err != nil {
		t.Fatalf("pgtest: pg_ctl promote: %v\n%s", err, s.logTail())
	}
	if err := s.poll("postgres", "SELECT pg_is_in_recovery()", "f"); err != nil {
		t.Fatalf("pgtest: promote: %v\n%s", err, s.logTail())
	}
}

// poll runs the query q in database until it prints want, for at most
// wait.
func (s *Server) poll(database, q, want string) error {
	deadline := time.Now().Add(wait)
	for {
		out, err := s.query(database, q)
		if err == nil && out == want {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("%s: still failing after %v: %w", q, wait, err)
			}
			return fmt.Errorf("%s: %q after %v, want %q", q, out, wait, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Log is the server's log so far, across its restarts.
func (s *Server) Log() string {
	b, err := os.ReadFile(s.logFile())
	if err != nil {
		return fmt.Sprintf("(no server log: %v)", err)
	}
	return string(b)
}

// logTail is the end of the log, for failure messages.
func (s *Server) logTail() string {
	const limit = 8 << 10
	l := s.Log()
	if len(l) > limit {
		l = "...\n" + l[len(l)-limit:]
	}
	return "server log (" + s.logFile() + "):\n" + l
}

func (s *Server) logFile() string { return filepath.Join(s.dir, "log") }

// exec runs one of the PostgreSQL programs as the server's user in the
// server's directory and returns its standard output; its standard error
// is in the error.
func (s *Server) exec(timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(s.pg.bin, name), args...)
	cmd.Dir = s.dir
	cmd.Env = s.pg.env(s.dir)
	cmd.WaitDelay = 5 * time.Second
	if s.pg.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.pg.cred}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (after %v)", ctx.Err(), timeout)
		}
		return stdout.String(), fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// run is exec failing the test on error.
func (s *Server) run(t testing.TB, name string, args ...string) {
	t.Helper()
	if _, err := s.exec(2*wait, name, args...); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
}

func (s *Server) writeFile(t testing.TB, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	s.own(t, name)
}

func (s *Server) appendFile(t testing.TB, name, content string) {
	t.Helper()
	f, err := os.OpenFile(name, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	_, err = f.WriteString(content)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
}

// own gives a file we wrote to the server's user.
func (s *Server) own(t testing.TB, name string) {
	t.Helper()
	if s.pg.cred == nil {
		return
	}
	if err := os.Chown(name, int(s.pg.cred.Uid), int(s.pg.cred.Gid)); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
}

// install is the PostgreSQL installation found on the machine.
type install struct {
	bin  string              // directory of initdb, pg_ctl, psql, ...
	cred *syscall.Credential // the postgres user when we are root; nil: run as ourselves
}

// env is the environment of the PostgreSQL programs: ours without the PG*
// variables (a PGHOST or PGPORT of the caller must not redirect them),
// with HOME the server's directory.
func (pg *install) env(home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "HOME=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+home)
}

var findOnce = sync.OnceValues(lookInstall)

// find returns the installation, skipping the test when there is none,
// except under CI (scripts/install-deps installs it), where it fails.
func find(t testing.TB) *install {
	t.Helper()
	pg, err := findOnce()
	if err == nil {
		return pg
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("pgtest: %v (CI must have it: scripts/install-deps)", err)
	}
	t.Skipf("pgtest: %v", err)
	return nil
}

// lookInstall finds the newest /usr/lib/postgresql/*/bin with an initdb
// and, when we are root, the postgres user.
func lookInstall() (*install, error) {
	inits, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(inits) == 0 {
		return nil, errors.New("no PostgreSQL server: no /usr/lib/postgresql/*/bin/initdb (Debian package postgresql)")
	}
	sort.Slice(inits, func(i, j int) bool { return versionLess(inits[i], inits[j]) })
	pg := &install{bin: filepath.Dir(inits[len(inits)-1])}
	if os.Geteuid() != 0 {
		return pg, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, and initdb refuses root: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user postgres: uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user postgres: gid %q: %w", u.Gid, err)
	}
	pg.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	return pg, nil
}

// versionLess orders /usr/lib/postgresql/V/bin/initdb paths by V's
// numbers: 9.6 < 10 < 15.
func versionLess(a, b string) bool {
	va := strings.Split(filepath.Base(filepath.Dir(filepath.Dir(a))), ".")
	vb := strings.Split(filepath.Base(filepath.Dir(filepath.Dir(b))), ".")
	for i := 0; i < len(va) && i < len(vb); i++ {
		na, erra := strconv.Atoi(va[i])
		nb, errb := strconv.Atoi(vb[i])
		if erra != nil || errb != nil {
			if va[i] != vb[i] {
				return va[i] < vb[i]
			}
			continue
		}
		if na != nb {
			return na < nb
		}
	}
	return len(va) < len(vb)
}

// checkTraversable fails when a directory on the way to dir cannot be
// searched by the server's user (others' x bit; we do not chmod
// directories we did not make).
func checkTraversable(dir string, cred *syscall.Credential) error {
	if cred == nil {
		return nil
	}
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		perm := fi.Mode().Perm()
		x := perm & 0o001 // others'
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid == cred.Uid {
			x = perm & 0o100
		} else if ok && st.Gid == cred.Gid {
			x = perm & 0o010
		}
		if x == 0 {
			return fmt.Errorf("the postgres user cannot traverse %s (mode %v): set TMPDIR to a directory it can reach", d, perm)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// ports are those handed out in this process, never handed out twice:
// servers started in parallel get distinct ports even when the kernel
// hands a closed port out again.
var ports struct {
	sync.Mutex
	used map[int]bool
}

// pickPort is freePort; a test replaces it to hand out a taken port.
var pickPort = freePort

// freePort picks a free TCP port of 127.0.0.1: the kernel's pick for a
// listener we close at once.
func freePort() (int, error) {
	ports.Lock()
	defer ports.Unlock()
	if ports.used == nil {
		ports.used = map[int]bool{}
	}
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("free port: %w", err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !ports.used[p] {
			ports.used[p] = true
			return p, nil
		}
	}
	return 0, errors.New("free port: the kernel kept handing out ports already used")
}
