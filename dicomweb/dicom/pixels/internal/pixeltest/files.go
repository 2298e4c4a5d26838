package pixeltest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/testkit/testcorpus"

	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/dicomweb/dicom/pixels/codec"
)

// missing skips t, or fails it when CI is set.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// Pydicom returns the shared/testdata/pydicom directory: the first
// shared/testdata found walking up from the working directory (a sibling of
// the repository).
func Pydicom(t testing.TB) string {
	t.Helper()
	return testcorpus.DirT(t) // a missing corpus fails: CI always has it
}

// TestFiles returns pydicom's test_files directory.
func TestFiles(t testing.TB) string {
	return filepath.Join(Pydicom(t), "test_files")
}

// File returns the path of one of pydicom's test files.
func File(t testing.TB, name string) string {
	return filepath.Join(TestFiles(t), name)
}

// NeedTool returns the path of a command-line tool; without it the test is
// skipped, or fails when CI is set.
func NeedTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missing(t, "%s not installed (scripts/install-deps installs it): %v", name, err)
	}
	return p
}

// Run runs a tool (see NeedTool) and fails the test when it fails.
func Run(t testing.TB, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(NeedTool(t, name), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// Image is what the codec tests need of a DICOM file: its transfer syntax,
// its pixel parameters and its frames (for encapsulated syntaxes the
// compressed bytes, otherwise the native samples as stored).
type Image struct {
	TS     part10.TransferSyntax
	Params codec.Params
	Frames [][]byte
}

// Load reads the DICOM file at path (see Open) and fails the test on error.
func Load(t testing.TB, path string) Image {
	t.Helper()
	img, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// Open reads the DICOM file at path: its pixel parameters and every frame.
// A file without frames is an error.
func Open(path string) (Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return Image{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Image{}, err
	}
	ctx := context.Background()
	pf, err := part10.Parse(ctx, f, st.Size(), part10.DefaultLimits())
	if err != nil {
		return Image{}, fmt.Errorf("parse %s: %w", path, err)
	}
	ds := pf.DataSet
	geti := func(tag part10.Tag) int {
		v, _ := ds.Int(tag)
		return int(v)
	}
	img := Image{TS: pf.TransferSyntax, Params: codec.Params{
		Rows:                geti(part10.TagRows),
		Columns:             geti(part10.TagColumns),
		Samples:             geti(part10.TagSamplesPerPixel),
		BitsAllocated:       geti(part10.TagBitsAllocated),
		BitsStored:          geti(0x00280101),
		Signed:              geti(part10.TagPixelRepresentation) == 1,
		PlanarConfiguration: geti(0x00280006),
		Photometric:         ds.String(part10.TagPhotometricInterpretation),
	}}
	open := func(ctx context.Context, off, n int64) (io.ReadCloser, error) {
		if n < 0 {
			n = st.Size() - off
		}
		return io.NopCloser(io.NewSectionReader(f, off, n)), nil
	}
	for i, fr := range pf.Layout.Frames {
		var buf bytes.Buffer
		if err := part10.WriteFrame(ctx, &buf, open, &pf.Layout, fr); err != nil {
			return Image{}, fmt.Errorf("%s: frame %d: %w", path, i, err)
		}
		img.Frames = append(img.Frames, buf.Bytes())
	}
	if len(img.Frames) == 0 {
		return Image{}, fmt.Errorf("%s: no frames", path)
	}
	return img, nil
}
