// Command benchindex measures how an index grows: it generates synthetic
// instances directly into an index through its public API (no STOW, no
// objects), in steps (by default 10,000 → 100,000 → 1,000,000 instances,
// ten per study in two series), and after each step reports the put rate,
// the index size, and — in a fresh child process, so that the generator's
// garbage is not counted — the time to open the index, the QIDO study
// searches' p50/p99 and the process's peak RSS.
//
// The index is the embedded bbolt file (index.db in -dir) or, with
// -index-url, a PostgreSQL database (package index/postgres), which must
// be empty at the start for its size to be measured: the size reported is
// pg_database_size after the step minus its size once the schema was
// created (VACUUM ANALYZE runs after each step, as autovacuum would on a
// server, so that the planner knows the tables' sizes).
//
//	benchindex [-dir DIR | -index-url URL] [-sizes 10000,100000,1000000] [-per-study 10] [-n 200]
//	benchindex query (-db FILE | -index-url URL) [-n 200] [-studies N]    (the child; also usable alone)
//
// Output: one machine-readable line per measurement, "name=... key=value",
// like cmd/benchclient. The searches are those of scripts/bench-compare:
// PatientName exact and wildcard, PatientID, a one-month StudyDate range,
// and no filter, all with limit=25; then the newest 100 studies (no
// filter, limit=100), ModalitiesInStudy and AccessionNumber. All use the
// encoded result form that the QIDO handler uses; each result's attributes
// are read once, as the handler's JSON writer does.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/index/indextest"
	"github.com/minipacs/minipacs/index/postgres"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var err error
	if len(os.Args) > 1 && os.Args[1] == "query" {
		err = runQuery(ctx, os.Args[2:], os.Stdout, os.Stderr)
	} else {
		err = runGrow(ctx, os.Args[1:], os.Stdout, os.Stderr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchindex:", err)
		os.Exit(1)
	}
}

// gen returns the generator of instance i for perStudy instances per study:
// study s = i/perStudy takes indextest's default study s (patient s/3,
// names, dates, modality), and its instances are spread over two series.
func gen(perStudy int) func(i int) *index.Instance {
	return func(i int) *index.Instance {
		s, k := i/perStudy, i%perStudy
		spec := indextest.DefaultSpec(s)
		nSeries := 1
		if perStudy > 1 {
			nSeries = 2
		}
		se := k % nSeries
		spec.SeriesUID = fmt.Sprintf("%s.%d", spec.StudyUID, se+1)
		spec.SeriesNumber = strconv.Itoa(se + 1)
		spec.SOPInstanceUID = fmt.Sprintf("%s.%d", spec.SeriesUID, k+1)
		spec.InstanceNumber = strconv.Itoa(k/nSeries + 1)
		return indextest.Build(spec)
	}
}

func runGrow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("benchindex", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "work directory of the bbolt index (default: a new temporary one, removed at the end)")
	indexURL := fs.String("index-url", "", "PostgreSQL database to grow instead of a bbolt file (an empty database: its size is measured)")
	sizesFlag := fs.String("sizes", "10000,100000,1000000", "instance counts to grow the index to, ascending")
	perStudy := fs.Int("per-study", 10, "instances per study")
	n := fs.Int("n", 200, "measured searches per query")
	keep := fs.Bool("keep", false, "keep the index file")
	writers := fs.Int("writers", 1024, "concurrent Put callers (group commit batches them); with -index-url the default is 4")
	batch := fs.Int("batch", 1, "instances per call: 1 calls Put, more call PutMany (one transaction); with -index-url the default is 250")
	maxGroup := fs.Int("max-group", 1024, "index.Options.MaxGroup while generating (the server uses the default, 256)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *indexURL != "" {
		if !set["writers"] {
			*writers = 4
		}
		if !set["batch"] {
			*batch = 250
		}
	}
	var sizes []int
	for _, f := range strings.Split(*sizesFlag, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 1 || (len(sizes) > 0 && v <= sizes[len(sizes)-1]) {
			return fmt.Errorf("-sizes: %q is not an ascending list of positive counts", *sizesFlag)
		}
		sizes = append(sizes, v)
	}
	if *perStudy < 1 || *n < 1 || *writers < 1 || *maxGroup < 1 || *batch < 1 {
		return errors.New("-per-study, -n, -writers, -batch and -max-group must be at least 1")
	}
	var path string
	if *indexURL == "" {
		if *dir == "" {
			d, err := os.MkdirTemp("", "benchindex-")
			if err != nil {
				return fmt.Errorf("work directory: %w", err)
			}
			*dir = d
			if !*keep {
				defer os.RemoveAll(d)
			}
		}
		path = filepath.Join(*dir, "index.db")
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	done := 0
	g := gen(*perStudy)
	var emptyBytes int64 = -1 // PostgreSQL: the database's size with the schema and no rows
	for _, size := range sizes {
		var ix index.Engine
		if *indexURL != "" {
			ix, err = postgres.Open(ctx, *indexURL, index.Options{})
		} else {
			ix, err = index.Open(ctx, path, index.Options{MaxGroup: *maxGroup, MaxGroupBytes: *maxGroup * 32 << 10})
		}
		if err != nil {
			return err
		}
		if *indexURL != "" && done == 0 {
			emptyBytes, err = emptySize(ctx, ix, *indexURL)
			if err != nil {
				ix.Close()
				return err
			}
		}
		t0 := time.Now()
		from := done
		err = populate(ctx, ix, from, size, *writers, *batch, g)
		elapsed := time.Since(t0)
		commits, _ := ix.Commits()
		if cerr := ix.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("populate to %d: %w", size, err)
		}
		done = size
		r := newLine("grow")
		r.set("engine", engineName(*indexURL))
		r.int("instances", int64(size))
		r.int("studies", int64((size+*perStudy-1) / *perStudy))
		r.int("added", int64(size-from))
		r.float("seconds", elapsed.Seconds())
		r.float("puts_per_s", float64(size-from)/elapsed.Seconds())
		r.int("commits", int64(commits))
		var bytes int64
		if *indexURL != "" {
			db, err := vacuumAndSize(ctx, *indexURL)
			if err != nil {
				return err
			}
			r.int("db_bytes", db)
			r.int("empty_bytes", emptyBytes)
			bytes = db - emptyBytes
		} else {
			fi, err := os.Stat(path)
			if err != nil {
				return fmt.Errorf("index size: %w", err)
			}
			bytes = fi.Size()
		}
		r.int("file_bytes", bytes)
		r.float("file_mb", float64(bytes)/1e6)
		r.float("bytes_per_instance", float64(bytes)/float64(size))
		fmt.Fprintln(stdout, r)

		// The searches run in a fresh process: its RSS is what a server
		// that opens this index pays, not the generator's heap.
		where := []string{"-db", path}
		if *indexURL != "" {
			where = []string{"-index-url", *indexURL}
		}
		cmd := exec.CommandContext(ctx, self, append([]string{"query"}, append(where, "-n", strconv.Itoa(*n),
			"-studies", strconv.Itoa((size+*perStudy-1) / *perStudy), "-label", strconv.Itoa(size))...)...)
		cmd.Stdout, cmd.Stderr = stdout, stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("query child at %d: %w", size, err)
		}
	}
	return nil
}

// engineName names the engine in output lines.
func engineName(indexURL string) string {
	if indexURL != "" {
		return "postgres"
	}
	return "bbolt"
}

// emptySize returns the size of the database at url, which must hold no
// instance yet (ix is open on it, so the schema exists).
func emptySize(ctx context.Context, ix index.Engine, url string) (int64, error) {
	_, _, n, err := ix.Stats(ctx)
	if err != nil {
		return 0, fmt.Errorf("stats: %w", err)
	}
	if n > 0 {
		return 0, fmt.Errorf("-index-url: the database already holds %d instances; give an empty one", n)
	}
	return vacuumAndSize(ctx, url)
}

// vacuumAndSize runs VACUUM ANALYZE on the database at url and returns
// pg_database_size.
func vacuumAndSize(ctx context.Context, url string) (int64, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, fmt.Errorf("database size: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "VACUUM ANALYZE"); err != nil {
		return 0, fmt.Errorf("vacuum analyze: %w", err)
	}
	var size int64
	if err := conn.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&size); err != nil {
		return 0, fmt.Errorf("database size: %w", err)
	}
	return size, nil
}

// populate puts instances from .. to-1 from writers goroutines, batch
// instances per call (Put for 1, PutMany for more), stopping at the first
// error. (indextest.Populate does the same with 64 writers; more writers
// fill the bbolt index's group commits, which makes 1M instances a matter
// of minutes on a disk whose fsync takes milliseconds.)
func populate(ctx context.Context, ix index.Engine, from, to, writers, batch int, g func(int) *index.Instance) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	next.Store(int64(from))
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			insts := make([]*index.Instance, 0, batch)
			for ctx.Err() == nil {
				first := int(next.Add(int64(batch)) - int64(batch))
				if first >= to {
					return
				}
				insts = insts[:0]
				for i := first; i < min(first+batch, to); i++ {
					insts = append(insts, g(i))
				}
				if len(insts) == 1 {
					if _, err := ix.Put(ctx, insts[0]); err != nil {
						cancel(fmt.Errorf("put instance %d: %w", first, err))
						return
					}
					continue
				}
				_, errs := ix.PutMany(ctx, insts)
				if err := errors.Join(errs...); err != nil {
					cancel(fmt.Errorf("put instances %d to %d: %w", first, first+len(insts)-1, err))
					return
				}
			}
		})
	}
	wg.Wait()
	return context.Cause(ctx)
}

// queries are the study-level searches of scripts/bench-compare and more,
// with values that exist among the first studies studies.
func queries(studies int) []indextest.NamedQuery {
	return indextest.StudyQueries(min(studies-1, 1234))
}

func runQuery(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("benchindex query", flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := fs.String("db", "", "index file")
	indexURL := fs.String("index-url", "", "PostgreSQL index instead of -db")
	n := fs.Int("n", 200, "measured searches per query")
	studies := fs.Int("studies", 1, "studies in the index (picks query values that exist)")
	label := fs.String("label", "", "size label for the output lines (default: the instance count)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if (*db == "") == (*indexURL == "") || *n < 1 || *studies < 1 {
		return errors.New("query: one of -db and -index-url is required; -n and -studies must be at least 1")
	}
	t0 := time.Now()
	var ix index.Engine
	var err error
	if *indexURL != "" {
		ix, err = postgres.Open(ctx, *indexURL, index.Options{})
	} else {
		ix, err = index.Open(ctx, *db, index.Options{})
	}
	if err != nil {
		return err
	}
	defer ix.Close()
	openTime := time.Since(t0)
	nStudies, nSeries, nInst, err := ix.Stats(ctx)
	if err != nil {
		return fmt.Errorf("stats: %w", err)
	}
	if *label == "" {
		*label = strconv.Itoa(nInst)
	}
	r := newLine("open")
	r.set("engine", engineName(*indexURL))
	r.set("size", *label)
	r.ms("open_ms", openTime)
	r.int("studies", int64(nStudies))
	r.int("series", int64(nSeries))
	r.int("instances", int64(nInst))
	fmt.Fprintln(stdout, r)

	for _, c := range queries(*studies) {
		c.Q.Encoded = true
		var lat []time.Duration
		matches := 0
		attrs := 0
		for i := range *n + 3 {
			count := 0
			attrs = 0
			t := time.Now()
			err := ix.Search(ctx, c.Q, func(res *index.Result) error {
				count++
				for _, l := range []index.Level{index.LevelStudy, index.LevelSeries, index.LevelInstance} {
					rd := res.Reader(l)
					for {
						if _, ok := rd.Next(); !ok {
							break
						}
						attrs++
					}
				}
				return nil
			})
			d := time.Since(t)
			if err != nil {
				return fmt.Errorf("search %s: %w", c.Name, err)
			}
			if i >= 3 { // warm-up first
				lat = append(lat, d)
			}
			matches = count
		}
		slices.Sort(lat)
		r := newLine("search_" + c.Name)
		r.set("engine", engineName(*indexURL))
		r.set("size", *label)
		r.int("matches", int64(matches))
		r.int("attrs", int64(attrs))
		r.int("n", int64(len(lat)))
		r.ms("p50_ms", pct(lat, 50))
		r.ms("p99_ms", pct(lat, 99))
		r.ms("max_ms", lat[len(lat)-1])
		fmt.Fprintln(stdout, r)
	}
	r = newLine("memory")
	r.set("engine", engineName(*indexURL))
	r.set("size", *label)
	for _, k := range []string{"VmHWM", "VmRSS", "RssAnon", "RssFile"} {
		if v, ok := procStatusKB(k); ok {
			r.float(strings.ToLower(k)+"_mb", float64(v)*1024/1e6)
		}
	}
	fmt.Fprintln(stdout, r)
	return nil
}

// pct is the nearest-rank percentile p of sorted durations.
func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[max(1, min(len(sorted), rank))-1]
}

// procStatusKB reads one "Key: N kB" line of /proc/self/status.
func procStatusKB(key string) (int64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok || k != key {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			return 0, false
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		return n, err == nil
	}
	return 0, false
}

// line is one output line "name=X k=v ..." in insertion order.
type line struct{ kv [][2]string }

func newLine(name string) *line           { return &line{kv: [][2]string{{"name", name}}} }
func (l *line) set(k, v string)           { l.kv = append(l.kv, [2]string{k, v}) }
func (l *line) int(k string, v int64)     { l.set(k, strconv.FormatInt(v, 10)) }
func (l *line) float(k string, v float64) { l.set(k, strconv.FormatFloat(v, 'f', 2, 64)) }
func (l *line) ms(k string, d time.Duration) {
	l.set(k, strconv.FormatFloat(d.Seconds()*1000, 'f', 3, 64))
}
func (l *line) String() string {
	parts := make([]string, len(l.kv))
	for i, kv := range l.kv {
		parts[i] = kv[0] + "=" + kv[1]
	}
	return strings.Join(parts, " ")
}
