package jpeg2000

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/part10"
	"github.com/minipacs/minipacs/dicomweb/pixels/codec"
)

// image is a parsed DICOM file: its pixel parameters and frames (for
// encapsulated syntaxes the compressed bytes, otherwise native samples).
type image struct {
	ts     part10.TransferSyntax
	p      codec.Params
	frames [][]byte
}

// testdataDir walks up from the working directory to the shared/testdata
// folder beside the repository.
func testdataDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		d := filepath.Join(dir, "shared", "testdata")
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("shared/testdata not found beside the repository")
		}
		dir = parent
	}
}

func pydicomFile(t testing.TB, name string) string {
	return filepath.Join(testdataDir(t), "pydicom", "test_files", name)
}

func loadImage(t testing.TB, path string) image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pf, err := part10.Parse(ctx, f, st.Size(), part10.DefaultLimits())
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	ds := pf.DataSet
	geti := func(tag part10.Tag) int {
		v, _ := ds.Int(tag)
		return int(v)
	}
	img := image{ts: pf.TransferSyntax, p: codec.Params{
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
			t.Fatalf("%s: frame %d: %v", path, i, err)
		}
		img.frames = append(img.frames, buf.Bytes())
	}
	return img
}

// needTool returns the path of a command-line tool, skipping the test when
// it is missing (failing under CI).
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is needed (scripts/install-deps installs it): %v", name, err)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(needTool(t, name), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// referenceFrames returns the frames of a native reference file in the
// decoder output convention: interleaved, high bits cleared or sign
// extended from BitsStored.
func referenceFrames(t testing.TB, path string) (codec.Params, [][]byte) {
	t.Helper()
	img := loadImage(t, path)
	if img.ts.Encapsulated {
		t.Fatalf("%s: reference is encapsulated (%s)", path, img.ts.UID)
	}
	var out [][]byte
	for _, fr := range img.frames {
		size := int(img.p.FrameSize())
		if len(fr) < size {
			t.Fatalf("%s: native frame of %d bytes, want %d", path, len(fr), size)
		}
		fr = fr[:size]
		if img.p.PlanarConfiguration == 1 && img.p.Samples > 1 {
			fr = interleave(fr, img.p)
		}
		out = append(out, normalize(fr, img.p))
	}
	return img.p, out
}

func interleave(planar []byte, p codec.Params) []byte {
	bps := p.BitsAllocated / 8
	n := p.Rows * p.Columns
	out := make([]byte, len(planar))
	for s := 0; s < p.Samples; s++ {
		for i := 0; i < n; i++ {
			copy(out[(i*p.Samples+s)*bps:][:bps], planar[(s*n+i)*bps:][:bps])
		}
	}
	return out
}

// normalize clears the bits above BitsStored or sign extends from them.
func normalize(b []byte, p codec.Params) []byte {
	out := bytes.Clone(b)
	for i := 0; i < len(out); i += p.BitsAllocated / 8 {
		putSample(out[i:], p, sample(out[i:], p))
	}
	return out
}

// sample reads the sample at b[0:] as an integer, interpreting the bits
// above BitsStored as the convention asks.
func sample(b []byte, p codec.Params) int64 {
	var v uint64
	switch p.BitsAllocated {
	case 8:
		v = uint64(b[0])
	case 16:
		v = uint64(binary.LittleEndian.Uint16(b))
	default:
		v = uint64(binary.LittleEndian.Uint32(b))
	}
	v &= 1<<uint(p.BitsStored) - 1
	if p.Signed && v&(1<<uint(p.BitsStored-1)) != 0 {
		return int64(v) - 1<<uint(p.BitsStored)
	}
	return int64(v)
}

func putSample(b []byte, p codec.Params, v int64) {
	switch p.BitsAllocated {
	case 8:
		b[0] = byte(v)
	case 16:
		binary.LittleEndian.PutUint16(b, uint16(v))
	default:
		binary.LittleEndian.PutUint32(b, uint32(v))
	}
}

func isCodecError(err error) bool {
	return errors.Is(err, codec.ErrCorrupt) || errors.Is(err, codec.ErrMismatch) || errors.Is(err, codec.ErrUnsupported)
}
