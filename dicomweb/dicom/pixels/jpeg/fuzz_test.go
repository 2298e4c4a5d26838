package jpeg

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minipacs/minipacs/dicomweb/dicom/pixels/codec"
	"github.com/minipacs/minipacs/dicomweb/dicom/pixels/internal/pixeltest"
)

// FuzzDecode feeds arbitrary streams and image descriptions to Decode,
// seeded with the frames of every JPEG test file and synthetic lossless
// streams. Decode must not panic, must return one of the codec errors or
// a frame of exactly FrameSize bytes.
func FuzzDecode(f *testing.F) {
	dir := pixeltest.TestFiles(f)
	entries, err := os.ReadDir(dir)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		n := e.Name()
		if !strings.HasSuffix(n, ".dcm") || !(strings.Contains(n, "jpeg") || strings.Contains(n, "JPG") ||
			strings.Contains(n, "JPEG-") || strings.Contains(n, "+eb")) {
			continue
		}
		df, err := pixeltest.Open(filepath.Join(dir, n))
		if err != nil || !strings.HasPrefix(df.TS.UID, "1.2.840.10008.1.2.4.") {
			continue
		}
		p := df.Params
		f.Add(df.Frames[0], uint16(p.Rows), uint16(p.Columns), uint8(p.Samples), uint8(p.BitsAllocated), uint8(p.BitsStored), p.Signed)
	}
	for _, enc := range []losslessEncoder{
		{w: 7, h: 5, prec: 16, psv: 6, restart: 3},
		{w: 7, h: 5, prec: 12, psv: 4, pt: 2, restart: 7, interleaved: true},
	} {
		comps := [][]uint16{make([]uint16, 35), make([]uint16, 35), make([]uint16, 35)}
		for i := range comps[0] {
			comps[0][i], comps[1][i], comps[2][i] = uint16(i*97), uint16(i*13), uint16(4000-i*3)
		}
		if !enc.interleaved {
			comps = comps[:1]
		}
		f.Add(enc.encode(comps), uint16(5), uint16(7), uint8(len(comps)), uint8(16), uint8(enc.prec), true)
	}
	f.Fuzz(func(t *testing.T, src []byte, rows, cols uint16, samples, ba, bs uint8, signed bool) {
		p := codec.Params{Rows: int(rows), Columns: int(cols), Samples: int(samples), BitsAllocated: int(ba), BitsStored: int(bs), Signed: signed}
		if int64(rows)*int64(cols) > 1<<20 {
			return // keep each run fast
		}
		tm := time.AfterFunc(10*time.Second, func() { panic("decode took more than 10 s") })
		out, err := Decode(src, p, nil)
		tm.Stop()
		if err != nil {
			if !errors.Is(err, codec.ErrCorrupt) && !errors.Is(err, codec.ErrMismatch) && !errors.Is(err, codec.ErrUnsupported) {
				t.Fatalf("error of no codec class: %v", err)
			}
			return
		}
		if int64(len(out)) != p.FrameSize() {
			t.Fatalf("%d bytes for a frame of %d", len(out), p.FrameSize())
		}
	})
}
