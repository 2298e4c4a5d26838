// Command gencorpus writes a deterministic corpus of valid DICOM Part-10
// files for tests and benchmarks of minipacs.
//
// Files are written by the package's own Explicit VR Little Endian writer
// (cmd/gencorpus/dcmwriter), never by a third-party DICOM library. Two modes:
//
//	gencorpus -mode ct -studies 5 -series-per-study 2 -instances-per-series 200 -out DIR
//	gencorpus -mode tiny -n 10000 -out DIR
//
// "ct" writes 512×512×16-bit CT slices of a circle phantom with noise; "tiny"
// writes one-instance studies (16×16 CT, MR or CR) with varied patients,
// dates and modalities. The layout is DIR/<StudyInstanceUID>/<n>.dcm, and
// DIR/manifest.tsv lists one line per file (path, UIDs, patient, date,
// modality) so that scripts can pick query values that exist. The same flags
// and -seed always give byte-identical files; use different seeds for
// disjoint corpora.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/minipacs/minipacs/cmd/gencorpus/dcmwriter"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gencorpus:", err)
		os.Exit(1)
	}
}

// config is the parsed command line.
type config struct {
	mode               string
	out                string
	seed               uint64
	studies, series    int
	instances          int
	n                  int
	rows, cols         int
	workers            int
	tinyRows, tinyCols int
	firstStudy         int
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("gencorpus", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.mode, "mode", "", "corpus kind: ct or tiny")
	fs.StringVar(&c.out, "out", "", "output directory (created if missing)")
	fs.Uint64Var(&c.seed, "seed", 1, "seed; equal seeds give identical files, different seeds disjoint UIDs")
	fs.IntVar(&c.studies, "studies", 10, "ct: number of studies")
	fs.IntVar(&c.series, "series-per-study", 2, "ct: series per study")
	fs.IntVar(&c.instances, "instances-per-series", 100, "ct: instances per series")
	fs.IntVar(&c.rows, "rows", 512, "ct: rows per image")
	fs.IntVar(&c.cols, "cols", 512, "ct: columns per image")
	fs.IntVar(&c.n, "n", 10000, "tiny: number of one-instance studies")
	fs.IntVar(&c.tinyRows, "tiny-size", 16, "tiny: rows and columns per image")
	fs.IntVar(&c.firstStudy, "first", 0, "index of the first study (to split one corpus over several runs)")
	fs.IntVar(&c.workers, "j", runtime.NumCPU(), "parallel writers")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.tinyCols = c.tinyRows
	switch {
	case c.mode != "ct" && c.mode != "tiny":
		return c, fmt.Errorf("-mode must be ct or tiny, not %q", c.mode)
	case c.out == "":
		return c, errors.New("-out is required")
	case c.workers < 1:
		return c, errors.New("-j must be at least 1")
	case c.firstStudy < 0:
		return c, errors.New("-first must not be negative")
	case c.mode == "ct" && (c.studies < 1 || c.series < 1 || c.instances < 1):
		return c, errors.New("-studies, -series-per-study and -instances-per-series must be at least 1")
	case c.mode == "ct" && (c.rows < 1 || c.cols < 1 || c.rows > 4096 || c.cols > 4096):
		return c, errors.New("-rows and -cols must be in 1..4096")
	case c.mode == "tiny" && c.n < 1:
		return c, errors.New("-n must be at least 1")
	case c.mode == "tiny" && (c.tinyRows < 1 || c.tinyRows > 256):
		return c, errors.New("-tiny-size must be in 1..256")
	}
	return c, nil
}

// job is one file to write. build fills the pixel buffer it is given (owned
// by the worker, reused after the file is written) and returns the data set.
type job struct {
	row   manifestRow
	build func(pix []byte) (*dcmwriter.Dataset, dcmwriter.FileMeta)
}

// manifestRow is one line of manifest.tsv.
type manifestRow struct {
	Path, Study, Series, SOP string
	PatientID, PatientName   string
	StudyDate, Modality      string
}

const manifestHeader = "path\tstudy_uid\tseries_uid\tsop_uid\tpatient_id\tpatient_name\tstudy_date\tmodality"

func (r manifestRow) String() string {
	return strings.Join([]string{r.Path, r.Study, r.Series, r.SOP, r.PatientID, r.PatientName, r.StudyDate, r.Modality}, "\t")
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	var jobs []job
	var pixBytes int
	switch c.mode {
	case "ct":
		jobs = ctJobs(c)
		pixBytes = 2 * c.rows * c.cols
	case "tiny":
		jobs = tinyJobs(c)
		pixBytes = 2 * c.tinyRows * c.tinyCols
	}
	start := time.Now()
	n, size, err := writeAll(ctx, c.out, c.workers, pixBytes, jobs)
	if err != nil {
		return err
	}
	if err := writeManifest(c.out, jobs); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "gencorpus: wrote %d files, %.1f MB, in %s to %s\n",
		n, float64(size)/1e6, time.Since(start).Round(time.Millisecond), c.out)
	return nil
}

func ctJobs(c config) []job {
	descs := []string{"CT THORAX W/O CONTRAST", "CT CHEST ABDOMEN PELVIS", "CT THORAX HIGH RESOLUTION", "CT LUNG SCREENING"}
	kernels := []struct{ desc, kind string }{{"Thorax 1.0 B30f", "soft"}, {"Thorax 1.0 B70f", "lung"}, {"Thorax 1.0 I40f", "iter"}}
	var jobs []job
	for s := c.firstStudy; s < c.firstStudy+c.studies; s++ {
		st := makeStudy(c.seed, "ct", s, makePatient(c.seed, "CT", s))
		st.Description = descs[hash64(c.seed, "ct-desc", s)%uint64(len(descs))]
		for r := 0; r < c.series; r++ {
			seriesUID := uid(c.seed, "ct", "series", s, r)
			k := kernels[r%len(kernels)]
			seriesTime := addSeconds(st.Time, 60*(r+1))
			pixSeed := hash64(c.seed, "ct-pixels", s, r)
			for i := 0; i < c.instances; i++ {
				im := image{
					Modality: "CT", SOPClass: ctImageStorage,
					SeriesUID: seriesUID, SOPUID: uid(c.seed, "ct", "instance", s, r, i),
					SeriesNumber: r + 2, Instance: i + 1,
					SeriesDesc: k.desc, SeriesTime: seriesTime,
					Rows: c.rows, Cols: c.cols, PixelSpacing: 0.7, Thickness: 1,
					Z:            -1.0 * float64(i),
					WindowCenter: 40, WindowWide: 400,
					ImageType: []string{"ORIGINAL", "PRIMARY", "AXIAL"},
					BodyPart:  "CHEST",
				}
				if k.kind == "lung" {
					im.WindowCenter, im.WindowWide = -600, 1500
				}
				nslices := c.instances
				jobs = append(jobs, job{
					row: manifestRow{
						Path:  filepath.Join(st.UID, fmt.Sprintf("%05d.dcm", r*c.instances+i)),
						Study: st.UID, Series: seriesUID, SOP: im.SOPUID,
						PatientID: st.Patient.ID, PatientName: st.Patient.Name,
						StudyDate: st.Date, Modality: "CT",
					},
					build: func(pix []byte) (*dcmwriter.Dataset, dcmwriter.FileMeta) {
						fillPhantom(pix, im.Rows, im.Cols, i, nslices, pixSeed)
						im.Pixels = pix
						return buildDataset(st, im), meta(im)
					},
				})
			}
		}
	}
	return jobs
}

func tinyJobs(c config) []job {
	type modality struct{ name, class, desc, part, side string }
	mods := []modality{
		{"CT", ctImageStorage, "CT HEAD W/O CONTRAST", "HEAD", ""},
		{"CT", ctImageStorage, "CT ABDOMEN", "ABDOMEN", ""},
		{"CT", ctImageStorage, "CT SINUS", "HEAD", ""},
		{"CT", ctImageStorage, "CT KNIE LINKS", "KNEE", "L"},
		{"CT", ctImageStorage, "CT THORAX", "CHEST", ""},
		{"MR", mrImageStorage, "MR BRAIN", "BRAIN", ""},
		{"MR", mrImageStorage, "MR KNEE RIGHT", "KNEE", "R"},
		{"MR", mrImageStorage, "MR LWS", "LSPINE", ""},
		{"CR", crImageStorage, "XR CHEST PA", "CHEST", ""},
		{"CR", crImageStorage, "RÖ THORAX", "CHEST", ""},
	}
	// About four studies per three patients, so that patients recur.
	patients := max(1, (c.firstStudy+c.n)*3/4)
	jobs := make([]job, 0, c.n)
	for s := c.firstStudy; s < c.firstStudy+c.n; s++ {
		h := hash64(c.seed, "tiny", s)
		p := makePatient(c.seed, "TP", int(h%uint64(patients)))
		st := makeStudy(c.seed, "tiny", s, p)
		m := mods[(h>>32)%uint64(len(mods))]
		st.Description = m.desc
		im := image{
			Modality: m.name, SOPClass: m.class,
			SeriesUID: uid(c.seed, "tiny", "series", s), SOPUID: uid(c.seed, "tiny", "instance", s),
			SeriesNumber: 1, Instance: 1, SeriesDesc: m.desc, SeriesTime: st.Time,
			Rows: c.tinyRows, Cols: c.tinyCols, PixelSpacing: 0.5, Thickness: 3,
			WindowCenter: 2048, WindowWide: 4096,
			ImageType: []string{"ORIGINAL", "PRIMARY"},
			BodyPart:  m.part,
		}
		if m.side != "" {
			im.Laterality = []string{m.side}
		}
		if m.name == "MR" {
			im.ImageType = append(im.ImageType, "OTHER")
		}
		if m.name == "CT" {
			im.ImageType = append(im.ImageType, "AXIAL")
			im.WindowCenter, im.WindowWide = 40, 400
		}
		pixSeed := h
		jobs = append(jobs, job{
			row: manifestRow{
				Path:  filepath.Join(st.UID, "00000.dcm"),
				Study: st.UID, Series: im.SeriesUID, SOP: im.SOPUID,
				PatientID: p.ID, PatientName: p.Name, StudyDate: st.Date, Modality: m.name,
			},
			build: func(pix []byte) (*dcmwriter.Dataset, dcmwriter.FileMeta) {
				fillSmall(pix, im.Rows, im.Cols, pixSeed)
				im.Pixels = pix
				return buildDataset(st, im), meta(im)
			},
		})
	}
	return jobs
}

// writeAll writes the jobs with the given number of workers and returns the
// number of files and bytes written.
func writeAll(ctx context.Context, out string, workers, pixBytes int, jobs []job) (int, int64, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ch := make(chan job)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		files int
		total int64
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pix := make([]byte, pixBytes)
			for j := range ch {
				size, err := writeOne(filepath.Join(out, j.row.Path), j, pix)
				if err != nil {
					cancel(err)
					continue
				}
				mu.Lock()
				files++
				total += size
				mu.Unlock()
			}
		}()
	}
feed:
	for _, j := range jobs {
		select {
		case ch <- j:
		case <-ctx.Done():
			break feed
		}
	}
	close(ch)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return files, total, err
	}
	return files, total, nil
}

func writeOne(path string, j job, pix []byte) (int64, error) {
	ds, m := j.build(pix)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return 0, fmt.Errorf("create directory for %s: %w", path, err)
	}
	f, err := os.Create(path)
	if err != nil {
		return 0, fmt.Errorf("create %s: %w", path, err)
	}
	cw := &countingWriter{w: f}
	if err := dcmwriter.WriteFile(cw, m, ds); err != nil {
		f.Close()
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("close %s: %w", path, err)
	}
	return cw.n, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func writeManifest(out string, jobs []job) error {
	path := filepath.Join(out, "manifest.tsv")
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create manifest: %w", err)
	}
	bw := bufio.NewWriter(f)
	fmt.Fprintln(bw, manifestHeader)
	for _, j := range jobs {
		fmt.Fprintln(bw, j.row.String())
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write manifest: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close manifest: %w", err)
	}
	return nil
}
