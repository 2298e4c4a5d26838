package jpeg

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/part10"
	"github.com/minipacs/minipacs/dicomweb/pixels/codec"
)

// testFiles returns the pydicom test_files directory: the first
// shared/testdata found walking up from the working directory.
func testFiles(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "shared", "testdata", "pydicom", "test_files")
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("shared/testdata not found above the working directory")
		}
		dir = parent
	}
}

// needTool returns the path of a command-line tool; without it the test
// is skipped, or fails when CI is set.
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not installed (Debian package dcmtk)", name)
		}
		t.Skipf("%s not installed (Debian package dcmtk)", name)
	}
	return p
}

func runTool(t testing.TB, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(needTool(t, name), args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// dicomFile is what the tests need of a DICOM file: the image description,
// the transfer syntax and every frame's bytes.
type dicomFile struct {
	params codec.Params
	ts     string
	frames [][]byte
}

const (
	tagBitsStored part10.Tag = 0x00280101
	tagPlanarConf part10.Tag = 0x00280006
)

func readDICOM(t testing.TB, path string) dicomFile {
	t.Helper()
	df, err := loadDICOM(path)
	if err != nil {
		t.Fatal(err)
	}
	return df
}

func loadDICOM(path string) (dicomFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return dicomFile{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return dicomFile{}, err
	}
	ctx := context.Background()
	pf, err := part10.Parse(ctx, f, st.Size(), part10.Limits{})
	if err != nil {
		return dicomFile{}, fmt.Errorf("parse %s: %w", path, err)
	}
	ds := pf.DataSet
	geti := func(tag part10.Tag) int {
		v, _ := ds.Int(tag)
		return int(v)
	}
	p := codec.Params{
		Rows:                geti(part10.TagRows),
		Columns:             geti(part10.TagColumns),
		Samples:             geti(part10.TagSamplesPerPixel),
		BitsAllocated:       geti(part10.TagBitsAllocated),
		BitsStored:          geti(tagBitsStored),
		Signed:              geti(part10.TagPixelRepresentation) == 1,
		PlanarConfiguration: geti(tagPlanarConf),
		Photometric:         ds.String(part10.TagPhotometricInterpretation),
	}
	open := func(ctx context.Context, off, n int64) (io.ReadCloser, error) {
		if n < 0 {
			n = st.Size() - off
		}
		return io.NopCloser(io.NewSectionReader(f, off, n)), nil
	}
	df := dicomFile{params: p, ts: pf.TransferSyntax.UID}
	for _, fr := range pf.Layout.Frames {
		var buf bytes.Buffer
		if err := part10.WriteFrame(ctx, &buf, open, &pf.Layout, fr); err != nil {
			return dicomFile{}, fmt.Errorf("frame of %s: %w", path, err)
		}
		df.frames = append(df.frames, buf.Bytes())
	}
	if len(df.frames) == 0 {
		return dicomFile{}, fmt.Errorf("%s: no frames", path)
	}
	return df, nil
}

// nativeFrame returns frame i of a native file, interleaved (planar
// configuration 0) and normalised as a decoder's output is: sign extended
// from BitsStored when signed.
func (df dicomFile) nativeFrame(t testing.TB, i int) []byte {
	t.Helper()
	p := df.params
	b := bytes.Clone(df.frames[i][:p.FrameSize()])
	w := p.BitsAllocated / 8
	if p.PlanarConfiguration == 1 && p.Samples > 1 {
		n := p.Rows * p.Columns
		il := make([]byte, len(b))
		for s := 0; s < p.Samples; s++ {
			for px := 0; px < n; px++ {
				copy(il[(px*p.Samples+s)*w:][:w], b[(s*n+px)*w:][:w])
			}
		}
		b = il
	}
	if p.Signed && p.BitsStored < p.BitsAllocated && w == 2 {
		sh := 32 - p.BitsStored
		for j := 0; j+1 < len(b); j += 2 {
			v := int32(uint32(binary.LittleEndian.Uint16(b[j:]))<<sh) >> sh
			binary.LittleEndian.PutUint16(b[j:], uint16(v))
		}
	}
	return b
}

// maxDiff compares two frames sample by sample and returns the largest
// absolute difference and its sample index.
func maxDiff(t testing.TB, p codec.Params, got, want []byte) (int, int) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d bytes, want %d", len(got), len(want))
	}
	w := p.BitsAllocated / 8
	worst, at := 0, -1
	for i := 0; i < len(got)/w; i++ {
		var a, b int
		switch w {
		case 1:
			a, b = int(got[i]), int(want[i])
		case 2:
			a, b = int(binary.LittleEndian.Uint16(got[2*i:])), int(binary.LittleEndian.Uint16(want[2*i:]))
			if p.Signed {
				a, b = int(int16(a)), int(int16(b))
			}
		default:
			a, b = int(int32(binary.LittleEndian.Uint32(got[4*i:]))), int(int32(binary.LittleEndian.Uint32(want[4*i:])))
		}
		d := a - b
		if d < 0 {
			d = -d
		}
		if d > worst {
			worst, at = d, i
		}
	}
	return worst, at
}
