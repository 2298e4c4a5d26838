package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// generate runs the command with args into a fresh directory and returns it.
func generate(t *testing.T, args ...string) string {
	t.Helper()
	dir := t.TempDir()
	if err := run(context.Background(), append(args, "-out", dir), io.Discard); err != nil {
		t.Fatalf("gencorpus %v: %v", args, err)
	}
	return dir
}

func readManifest(t *testing.T, dir string) []manifestRow {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "manifest.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []manifestRow
	sc := bufio.NewScanner(f)
	for i := 0; sc.Scan(); i++ {
		if i == 0 {
			if sc.Text() != manifestHeader {
				t.Fatalf("manifest header %q", sc.Text())
			}
			continue
		}
		c := strings.Split(sc.Text(), "\t")
		if len(c) != 8 {
			t.Fatalf("manifest line %d has %d columns", i, len(c))
		}
		rows = append(rows, manifestRow{c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// corpora is the sample the validation tests check: a CT series of full-size
// slices and a varied tiny corpus.
var corpora = []struct {
	name  string
	args  []string
	files int
}{
	{"ct", []string{"-mode", "ct", "-studies", "2", "-series-per-study", "2", "-instances-per-series", "3"}, 12},
	{"tiny", []string{"-mode", "tiny", "-n", "40", "-seed", "7"}, 40},
}

func TestManifestAndLayout(t *testing.T) {
	for _, c := range corpora {
		t.Run(c.name, func(t *testing.T) {
			dir := generate(t, c.args...)
			rows := readManifest(t, dir)
			if len(rows) != c.files {
				t.Fatalf("manifest has %d rows, want %d", len(rows), c.files)
			}
			sops := map[string]bool{}
			for _, r := range rows {
				if filepath.Dir(r.Path) != r.Study {
					t.Errorf("%s is not under its study directory %s", r.Path, r.Study)
				}
				if sops[r.SOP] {
					t.Errorf("duplicate SOPInstanceUID %s", r.SOP)
				}
				sops[r.SOP] = true
				for _, u := range []string{r.Study, r.Series, r.SOP} {
					if !strings.HasPrefix(u, "2.25.") || len(u) > 64 {
						t.Errorf("UID %q not a 2.25 UID of at most 64 characters", u)
					}
				}
				if r.StudyDate < "20230101" || r.StudyDate > "20241231" {
					t.Errorf("study date %s outside 2023-2024", r.StudyDate)
				}
				if _, err := os.Stat(filepath.Join(dir, r.Path)); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// TestDcmdump runs DCMTK's dcmdump on every generated file and fails on any
// warning or error it prints.
func TestDcmdump(t *testing.T) {
	dcmdump, err := exec.LookPath("dcmdump")
	if err != nil {
		t.Skip("dcmdump not installed (Debian package dcmtk)")
	}
	for _, c := range corpora {
		t.Run(c.name, func(t *testing.T) {
			dir := generate(t, c.args...)
			for _, r := range readManifest(t, dir) {
				var stdout, stderr bytes.Buffer
				cmd := exec.Command(dcmdump, "-dc", "+E", filepath.Join(dir, r.Path))
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				if err := cmd.Run(); err != nil {
					t.Fatalf("dcmdump %s: %v\n%s", r.Path, err, stderr.String())
				}
				if stderr.Len() > 0 {
					t.Errorf("dcmdump %s printed on stderr:\n%s", r.Path, stderr.String())
				}
				out := stdout.String()
				for _, line := range strings.Split(out, "\n") {
					if strings.HasPrefix(line, "W:") || strings.HasPrefix(line, "E:") {
						t.Errorf("dcmdump %s: %s", r.Path, line)
					}
				}
				for _, want := range []string{"Little Endian Explicit", r.SOP, "(7fe0,0010) OW"} {
					if !strings.Contains(out, want) {
						t.Errorf("dcmdump %s output lacks %q", r.Path, want)
					}
				}
			}
		})
	}
}

// TestDciodvfy checks the files against their IODs with dicom3tools'
// dciodvfy (Debian package dicom3tools): no error and no warning.
func TestDciodvfy(t *testing.T) {
	dciodvfy, err := exec.LookPath("dciodvfy")
	if err != nil {
		t.Skip("dciodvfy not installed (Debian package dicom3tools)")
	}
	for _, c := range corpora {
		t.Run(c.name, func(t *testing.T) {
			dir := generate(t, c.args...)
			for _, r := range readManifest(t, dir) {
				out, err := exec.Command(dciodvfy, filepath.Join(dir, r.Path)).CombinedOutput()
				if err != nil {
					t.Fatalf("dciodvfy %s: %v\n%s", r.Path, err, out)
				}
				for _, line := range strings.Split(string(out), "\n") {
					if strings.HasPrefix(line, "Error") || strings.HasPrefix(line, "Warning") {
						t.Errorf("dciodvfy %s (%s): %s", r.Path, r.Modality, line)
					}
				}
			}
		})
	}
}

// TestParseWithLibrary is a second opinion: github.com/suyashkumar/dicom must
// parse every file (under recover, it panics on some inputs) and find the
// values the manifest promises, including Latin-1 names decoded to UTF-8.
func TestParseWithLibrary(t *testing.T) {
	for _, c := range corpora {
		t.Run(c.name, func(t *testing.T) {
			dir := generate(t, c.args...)
			for _, r := range readManifest(t, dir) {
				ds, err := parseRecover(filepath.Join(dir, r.Path))
				if err != nil {
					t.Fatalf("parse %s: %v", r.Path, err)
				}
				want := map[tag.Tag]string{
					tag.SOPInstanceUID:    r.SOP,
					tag.StudyInstanceUID:  r.Study,
					tag.SeriesInstanceUID: r.Series,
					tag.PatientID:         r.PatientID,
					tag.PatientName:       r.PatientName,
					tag.StudyDate:         r.StudyDate,
					tag.Modality:          r.Modality,
					tag.TransferSyntaxUID: "1.2.840.10008.1.2.1",
				}
				for tg, w := range want {
					e, err := ds.FindElementByTag(tg)
					if err != nil {
						t.Errorf("%s: %v: %v", r.Path, tg, err)
						continue
					}
					got := strings.TrimRight(strings.Join(dicom.MustGetStrings(e.Value), `\`), " \x00")
					if got != w {
						t.Errorf("%s: %v = %q, want %q", r.Path, tg, got, w)
					}
				}
				rows, err := ds.FindElementByTag(tag.Rows)
				if err != nil {
					t.Fatalf("%s: Rows: %v", r.Path, err)
				}
				cols, _ := ds.FindElementByTag(tag.Columns)
				pd, err := ds.FindElementByTag(tag.PixelData)
				if err != nil {
					t.Fatalf("%s: PixelData: %v", r.Path, err)
				}
				info := dicom.MustGetPixelDataInfo(pd.Value)
				if len(info.Frames) != 1 {
					t.Fatalf("%s: %d frames", r.Path, len(info.Frames))
				}
				nd, err := info.Frames[0].GetNativeFrame()
				if err != nil {
					t.Fatalf("%s: %v", r.Path, err)
				}
				nr, nc := dicom.MustGetInts(rows.Value)[0], dicom.MustGetInts(cols.Value)[0]
				if nd.Rows() != nr || nd.Cols() != nc {
					t.Errorf("%s: frame %dx%d, header %dx%d", r.Path, nd.Rows(), nd.Cols(), nr, nc)
				}
			}
		})
	}
}

func parseRecover(path string) (ds dicom.Dataset, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return dicom.ParseFile(path, nil)
}

func TestDeterministic(t *testing.T) {
	args := []string{"-mode", "ct", "-studies", "1", "-series-per-study", "1", "-instances-per-series", "2", "-rows", "64", "-cols", "64"}
	a := generate(t, append(args, "-j", "1")...)
	b := generate(t, append(args, "-j", "3")...)
	other := generate(t, append(args, "-seed", "2")...)
	ra, rb, ro := readManifest(t, a), readManifest(t, b), readManifest(t, other)
	for i := range ra {
		fa, err := os.ReadFile(filepath.Join(a, ra[i].Path))
		if err != nil {
			t.Fatal(err)
		}
		fb, err := os.ReadFile(filepath.Join(b, rb[i].Path))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fa, fb) {
			t.Errorf("%s differs between runs", ra[i].Path)
		}
		if ro[i].SOP == ra[i].SOP || ro[i].Study == ra[i].Study {
			t.Errorf("seed 2 reuses UIDs of seed 1")
		}
	}
}

// TestTinyManifestGolden pins the tiny corpus (names, IDs, dates,
// modalities): scripts/bench picks its query values from such manifests.
func TestTinyManifestGolden(t *testing.T) {
	dir := generate(t, "-mode", "tiny", "-n", "25")
	got, err := os.ReadFile(filepath.Join(dir, "manifest.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "tiny25_manifest.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("manifest differs from %s (run go test -update if the change is intended)\ngot:\n%s", golden, got)
	}
}

func TestFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"no mode", []string{"-out", "x"}},
		{"bad mode", []string{"-mode", "us", "-out", "x"}},
		{"no out", []string{"-mode", "ct"}},
		{"zero studies", []string{"-mode", "ct", "-studies", "0", "-out", "x"}},
		{"huge rows", []string{"-mode", "ct", "-rows", "70000", "-out", "x"}},
		{"zero tiny", []string{"-mode", "tiny", "-n", "0", "-out", "x"}},
		{"bad flag", []string{"-mode", "tiny", "-nope", "-out", "x"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := run(context.Background(), tc.args, io.Discard); err == nil {
				t.Fatal("run succeeded")
			}
		})
	}
}

// TestPatientNames checks that every name in the lists fits Latin-1 and that
// the corpus carries accented names at all.
func TestPatientNames(t *testing.T) {
	accented := 0
	for _, list := range [][]string{familyNames, maleNames, femaleNames, physicians, institutions} {
		for _, n := range list {
			for _, r := range n {
				if r > 0xff {
					t.Errorf("%q has %q outside Latin-1", n, r)
				}
				if r > 0x7f {
					accented++
				}
			}
		}
	}
	if accented < 10 {
		t.Errorf("only %d accented characters in the name lists", accented)
	}
}
