package pgtest

import (
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fatalRecorder is a testing.TB whose Fatal ends only the goroutine it runs
// in and records the message: mustFail checks that a helper fails its test.
type fatalRecorder struct {
	testing.TB
	failed bool
	msg    string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *fatalRecorder) Fatal(args ...any) {
	r.failed, r.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}

// mustFail runs f and fails t unless f fails its test; it returns the
// failure message.
func mustFail(t *testing.T, f func(tb testing.TB)) string {
	t.Helper()
	r := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	if !r.failed {
		t.Fatal("did not fail the test")
	}
	return r.msg
}

// waitFor polls sql on s until it prints want (a standby applies the WAL it
// flushed a little later).
func waitFor(t *testing.T, s *Server, sql, want string) {
	t.Helper()
	if err := s.poll(s.database, sql, want); err != nil {
		t.Fatalf("%s: %v\n%s", s.Host(), err, s.logTail())
	}
}

// psqlURL runs sql with psql connecting to the libpq URL u (not through
// a Server's port) and returns its output.
func psqlURL(s *Server, u, sql string) (string, error) {
	out, err := s.exec(wait, "psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", u, "-c", sql)
	return strings.TrimSuffix(out, "\n"), err
}

func TestMultiHostURL(t *testing.T) {
	a := &Server{port: 5433, database: "minipacs"}
	b := &Server{port: 6000, database: "other"}
	odd := &Server{port: 7000, database: "a b/c"}
	for _, tc := range []struct {
		name    string
		servers []*Server
		want    string
	}{
		{"none", nil, ""},
		{"one", []*Server{a}, "postgres://postgres@127.0.0.1:5433/minipacs?sslmode=disable&target_session_attrs=read-write"},
		{"two", []*Server{a, b}, "postgres://postgres@127.0.0.1:5433,127.0.0.1:6000/minipacs?sslmode=disable&target_session_attrs=read-write"},
		{"first's database", []*Server{b, a}, "postgres://postgres@127.0.0.1:6000,127.0.0.1:5433/other?sslmode=disable&target_session_attrs=read-write"},
		{"escaped database", []*Server{odd}, "postgres://postgres@127.0.0.1:7000/a%20b%2Fc?sslmode=disable&target_session_attrs=read-write"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := MultiHostURL(tc.servers...); got != tc.want {
				t.Errorf("MultiHostURL = %q, want %q", got, tc.want)
			}
		})
	}
	if got, want := a.URL(), "postgres://postgres@127.0.0.1:5433/minipacs?sslmode=disable"; got != want {
		t.Errorf("URL = %q, want %q", got, want)
	}
}

func TestVersionLess(t *testing.T) {
	path := func(v string) string { return "/usr/lib/postgresql/" + v + "/bin/initdb" }
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"9.6", "10", true},
		{"10", "9.6", false},
		{"15", "16", true},
		{"16", "15", false},
		{"15", "15", false},
		{"9.5", "9.6", true},
	} {
		if got := versionLess(path(tc.a), path(tc.b)); got != tc.want {
			t.Errorf("versionLess(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

// TestStartPortTaken hands Start a port another listener holds first: the
// start fails there and succeeds on the next port picked.
func TestStartPortTaken(t *testing.T) {
	// Not parallel: it replaces pickPort, and the parallel tests wait until
	// the sequential ones are done.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	picks := 0
	pickPort = func() (int, error) {
		picks++
		if picks == 1 {
			return taken, nil
		}
		return freePort()
	}
	defer func() { pickPort = freePort }()
	s := Start(t, Options{})
	if picks != 2 || s.Port() == taken {
		t.Errorf("%d picks, port %d (the taken one is %d); want 2 picks, another port", picks, s.Port(), taken)
	}
	if !strings.Contains(s.Log(), "could not bind IPv4 address") {
		t.Errorf("no bind failure in the log:\n%s", s.Log())
	}
	if got := s.Psql(t, "SELECT 1"); got != "1" {
		t.Errorf("SELECT 1 printed %q", got)
	}
}

// TestStart starts servers in parallel with each option and checks each
// is configured as asked, on a port of its own.
func TestStart(t *testing.T) {
	off := false
	var mu sync.Mutex
	ports := map[int]string{}
	t.Cleanup(func() {
		if len(ports) != 3 && !t.Failed() && !t.Skipped() {
			t.Errorf("%d distinct ports for 3 servers: %v", len(ports), ports)
		}
	})
	for _, tc := range []struct {
		name      string
		opt       Options
		wantFsync string
		wantDB    string
	}{
		{"default", Options{}, "on", "minipacs"},
		{"fsync off", Options{Fsync: &off}, "off", "minipacs"},
		{"database", Options{Database: "other db"}, "on", "other db"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := Start(t, tc.opt)
			mu.Lock()
			ports[s.Port()] = tc.name
			mu.Unlock()
			if want := "127.0.0.1:" + strconv.Itoa(s.Port()); s.Host() != want {
				t.Errorf("Host = %q, want %q", s.Host(), want)
			}
			got := s.Psql(t, "SELECT current_database(), current_setting('fsync'), current_setting('synchronous_commit'), "+
				"current_setting('listen_addresses'), current_setting('shared_buffers'), current_setting('max_connections'), "+
				"current_setting('port'), current_setting('wal_level')")
			want := strings.Join([]string{tc.wantDB, tc.wantFsync, "on", "127.0.0.1", "64MB", "100", strconv.Itoa(s.Port()), "replica"}, "|")
			if got != want {
				t.Errorf("settings %q, want %q", got, want)
			}
			// The URL is one libpq (and pgx) connects with.
			if got, err := psqlURL(s, s.URL(), "SELECT current_database() || ' ' || inet_server_port()"); err != nil || got != tc.wantDB+" "+strconv.Itoa(s.Port()) {
				t.Errorf("psql %s: %q, %v", s.URL(), got, err)
			}
		})
	}
}

func TestServer(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	if got := s.Psql(t, "CREATE TABLE study (uid text PRIMARY KEY, n int); INSERT INTO study VALUES ('1.2.3', 1), ('1.2.4', 2)"); got != "CREATE TABLE\nINSERT 0 2" {
		t.Errorf("insert printed %q", got)
	}
	if got, want := s.Psql(t, "SELECT uid, n FROM study ORDER BY uid"), "1.2.3|1\n1.2.4|2"; got != want {
		t.Errorf("select = %q, want %q", got, want)
	}
	if got := s.Psql(t, "CREATE EXTENSION pg_trgm; SELECT similarity('minipacs', 'minipax') > 0.3"); got != "CREATE EXTENSION\nt" {
		t.Errorf("pg_trgm: %q", got)
	}

	// A failing statement fails the test, and stops psql (ON_ERROR_STOP).
	msg := mustFail(t, func(tb testing.TB) {
		s.Psql(tb, "INSERT INTO study VALUES ('1.2.3', 9); INSERT INTO study VALUES ('1.2.9', 9)")
	})
	if !strings.Contains(msg, "duplicate key") {
		t.Errorf("failure message %q lacks psql's error", msg)
	}
	if got := s.Psql(t, "SELECT count(*) FROM study"); got != "2" {
		t.Errorf("after the failed insert, %s rows, want 2", got)
	}

	// A crash keeps what was committed; the restart is on the same port.
	s.Psql(t, "INSERT INTO study VALUES ('1.2.5', 3)")
	s.StopImmediate(t)
	if _, err := s.query(s.database, "SELECT 1"); err == nil {
		t.Fatal("the server answers after StopImmediate")
	}
	s.Restart(t)
	if got := s.Psql(t, "SELECT count(*), current_setting('port') FROM study"); got != "3|"+strconv.Itoa(s.Port()) {
		t.Errorf("after crash and restart: %q, want 3 rows on port %d", got, s.Port())
	}
	if !strings.Contains(s.Log(), "database system was interrupted") {
		t.Errorf("no crash recovery in the log:\n%s", s.Log())
	}

	s.Stop(t)
	s.Restart(t)
	s.Restart(t) // on a running server: stop, then start
	if got := s.Psql(t, "SELECT count(*) FROM study"); got != "3" {
		t.Errorf("after stop and restarts: %s rows, want 3", got)
	}
}

// TestStandby fails over: a synchronous standby has what the primary
// committed, even when the primary crashes right after the commit.
func TestStandby(t *testing.T) {
	t.Parallel()
	primary := Start(t, Options{})
	primary.Psql(t, "CREATE TABLE study (uid text PRIMARY KEY)")
	start := time.Now()
	standby := primary.StartStandby(t, true)
	t.Logf("standby streaming after %v", time.Since(start))
	if standby.Port() == primary.Port() {
		t.Fatalf("standby on the primary's port %d", primary.Port())
	}
	if got := primary.Psql(t, "SELECT application_name, state, sync_state FROM pg_stat_replication"); got != "standby1|streaming|sync" {
		t.Errorf("pg_stat_replication on the primary: %q", got)
	}
	if got := primary.Psql(t, "SHOW synchronous_standby_names"); got != "FIRST 1 (standby1)" {
		t.Errorf("synchronous_standby_names = %q", got)
	}
	if got := standby.Psql(t, "SELECT pg_is_in_recovery()"); got != "t" {
		t.Errorf("standby: pg_is_in_recovery() = %s", got)
	}

	primary.Psql(t, "INSERT INTO study VALUES ('1.2.3')")
	waitFor(t, standby, "SELECT string_agg(uid, ',') FROM study", "1.2.3")
	if msg := mustFail(t, func(tb testing.TB) { standby.Psql(tb, "INSERT INTO study VALUES ('1.2.4')") }); !strings.Contains(msg, "read-only transaction") {
		t.Errorf("write on the standby: %q, want a read-only error", msg)
	}

	// The multi-host URL reaches the writable one of the two.
	u := MultiHostURL(primary, standby)
	if got, err := psqlURL(primary, MultiHostURL(standby, primary), "SELECT inet_server_port()"); err != nil || got != strconv.Itoa(primary.Port()) {
		t.Errorf("psql %s: %q, %v; want the primary's port %d", u, got, err, primary.Port())
	}

	// Committed on the primary means flushed on the synchronous standby:
	// a crash right after the commit loses nothing after the failover.
	primary.Psql(t, "INSERT INTO study VALUES ('1.2.5')")
	primary.StopImmediate(t)
	if out, err := psqlURL(standby, u, "SELECT 1"); err == nil {
		t.Errorf("psql %s reached a writable server (%q) with the primary down and the standby in recovery", u, out)
	}
	standby.Promote(t)
	if got := standby.Psql(t, "SELECT pg_is_in_recovery(), string_agg(uid, ',' ORDER BY uid) FROM study"); got != "f|1.2.3,1.2.5" {
		t.Errorf("promoted standby: %q, want f|1.2.3,1.2.5", got)
	}
	standby.Psql(t, "INSERT INTO study VALUES ('1.2.6')")
	if got, err := psqlURL(standby, u, "SELECT inet_server_port(), count(*) FROM study"); err != nil || got != strconv.Itoa(standby.Port())+"|3" {
		t.Errorf("psql %s after the failover: %q, %v; want the promoted standby's port %d and 3 rows", u, got, err, standby.Port())
	}
}
