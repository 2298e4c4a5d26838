// Command benchindex measures how the bbolt index grows: it generates
// synthetic instances directly into an index through its public API (no
// STOW, no objects), in steps (by default 10,000 → 100,000 → 1,000,000
// instances, ten per study in two series), and after each step reports the
// put rate, the index file size, and — in a fresh child process, so that
// the generator's garbage is not counted — the time to open the index, the
// QIDO study searches' p50/p99 and the process's peak RSS.
//
//	benchindex [-dir DIR] [-sizes 10000,100000,1000000] [-per-study 10] [-n 200]
//	benchindex query -db FILE [-n 200] [-studies N]    (the child; also usable alone)
//
// Output: one machine-readable line per measurement, "name=... key=value",
// like cmd/benchclient. The searches are those of scripts/bench-compare:
// PatientName exact and wildcard, PatientID, a one-month StudyDate range,
// and no filter, all with limit=25 and the encoded result form that the
// QIDO handler uses; each result's attributes are read once, as the
// handler's JSON writer does.
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

	"github.com/minipacs/minipacs/index"
	"github.com/minipacs/minipacs/index/indextest"
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
	dir := fs.String("dir", "", "work directory (default: a new temporary one, removed at the end)")
	sizesFlag := fs.String("sizes", "10000,100000,1000000", "instance counts to grow the index to, ascending")
	perStudy := fs.Int("per-study", 10, "instances per study")
	n := fs.Int("n", 200, "measured searches per query")
	keep := fs.Bool("keep", false, "keep the index file")
	writers := fs.Int("writers", 1024, "concurrent Put callers (group commit batches them)")
	maxGroup := fs.Int("max-group", 1024, "index.Options.MaxGroup while generating (the server uses the default, 256)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var sizes []int
	for _, f := range strings.Split(*sizesFlag, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 1 || (len(sizes) > 0 && v <= sizes[len(sizes)-1]) {
			return fmt.Errorf("-sizes: %q is not an ascending list of positive counts", *sizesFlag)
		}
		sizes = append(sizes, v)
	}
	if *perStudy < 1 || *n < 1 || *writers < 1 || *maxGroup < 1 {
		return errors.New("-per-study, -n, -writers and -max-group must be at least 1")
	}
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
	path := filepath.Join(*dir, "index.db")
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	done := 0
	g := gen(*perStudy)
	for _, size := range sizes {
		ix, err := index.Open(ctx, path, index.Options{MaxGroup: *maxGroup, MaxGroupBytes: *maxGroup * 32 << 10})
		if err != nil {
			return err
		}
		t0 := time.Now()
		from := done
		err = populate(ctx, ix, from, size, *writers, g)
		elapsed := time.Since(t0)
		commits, _ := ix.Commits()
		if cerr := ix.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("populate to %d: %w", size, err)
		}
		done = size
		fi, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("index size: %w", err)
		}
		r := newLine("grow")
		r.int("instances", int64(size))
		r.int("studies", int64((size+*perStudy-1) / *perStudy))
		r.int("added", int64(size-from))
		r.float("seconds", elapsed.Seconds())
		r.float("puts_per_s", float64(size-from)/elapsed.Seconds())
		r.int("commits", int64(commits))
		r.int("file_bytes", fi.Size())
		r.float("file_mb", float64(fi.Size())/1e6)
		r.float("bytes_per_instance", float64(fi.Size())/float64(size))
		fmt.Fprintln(stdout, r)

		// The searches run in a fresh process: its RSS is what a server
		// that opens this index pays, not the generator's heap.
		cmd := exec.CommandContext(ctx, self, "query", "-db", path, "-n", strconv.Itoa(*n),
			"-studies", strconv.Itoa((size+*perStudy-1) / *perStudy), "-label", strconv.Itoa(size))
		cmd.Stdout, cmd.Stderr = stdout, stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("query child at %d: %w", size, err)
		}
	}
	return nil
}

// populate puts instances from .. to-1 from writers goroutines, stopping at
// the first error. (indextest.Populate does the same with 64 writers; more
// writers fill the index's group commits, which makes 1M instances a matter
// of minutes on a disk whose fsync takes milliseconds.)
func populate(ctx context.Context, ix *index.Index, from, to, writers int, g func(int) *index.Instance) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	next.Store(int64(from))
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < to && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				if _, err := ix.Put(ctx, g(i)); err != nil {
					cancel(fmt.Errorf("put instance %d: %w", i, err))
					return
				}
			}
		}()
	}
	wg.Wait()
	return context.Cause(ctx)
}

// Tags of the searched attributes.
const (
	tagStudyDate   = 0x00080020
	tagPatientName = 0x00100010
	tagPatientID   = 0x00100020
)

// queries are the study-level searches of scripts/bench-compare, with
// values that exist among the first studies studies.
func queries(studies int) []struct {
	name string
	q    index.Query
} {
	s := min(studies-1, 1234)
	p := s / 3
	date := indextest.StudyDate(s)
	first := date[:6] + "01"
	t, _ := time.Parse("20060102", first)
	last := t.AddDate(0, 1, -1).Format("20060102")
	name := indextest.PatientName(p)
	return []struct {
		name string
		q    index.Query
	}{
		{"pn_exact", index.Query{Limit: 25, Filters: []index.Filter{{Tag: tagPatientName, VR: "PN", Kind: index.MatchSingle, Values: []string{name}}}}},
		{"pn_wildcard", index.Query{Limit: 25, Filters: []index.Filter{{Tag: tagPatientName, VR: "PN", Kind: index.MatchWildcard, Values: []string{name[:3] + "*"}}}}},
		{"pid", index.Query{Limit: 25, Filters: []index.Filter{{Tag: tagPatientID, VR: "LO", Kind: index.MatchSingle, Values: []string{fmt.Sprintf("PID%06d", p)}}}}},
		{"date_month", index.Query{Limit: 25, Filters: []index.Filter{{Tag: tagStudyDate, VR: "DA", Kind: index.MatchRange, Low: first, High: last}}}},
		{"all", index.Query{Limit: 25}},
	}
}

func runQuery(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("benchindex query", flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := fs.String("db", "", "index file")
	n := fs.Int("n", 200, "measured searches per query")
	studies := fs.Int("studies", 1, "studies in the index (picks query values that exist)")
	label := fs.String("label", "", "size label for the output lines (default: the instance count)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *db == "" || *n < 1 || *studies < 1 {
		return errors.New("query: -db is required; -n and -studies must be at least 1")
	}
	t0 := time.Now()
	ix, err := index.Open(ctx, *db, index.Options{})
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
	r.set("size", *label)
	r.ms("open_ms", openTime)
	r.int("studies", int64(nStudies))
	r.int("series", int64(nSeries))
	r.int("instances", int64(nInst))
	fmt.Fprintln(stdout, r)

	for _, c := range queries(*studies) {
		c.q.Encoded = true
		var lat []time.Duration
		matches := 0
		attrs := 0
		for i := range *n + 3 {
			count := 0
			attrs = 0
			t := time.Now()
			err := ix.Search(ctx, c.q, func(res *index.Result) error {
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
				return fmt.Errorf("search %s: %w", c.name, err)
			}
			if i >= 3 { // warm-up first
				lat = append(lat, d)
			}
			matches = count
		}
		slices.Sort(lat)
		r := newLine("search_" + c.name)
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
