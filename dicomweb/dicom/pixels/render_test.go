package pixels

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/dicomweb/dicom/pixels/internal/pixeltest"
)

// dcmtkCase renders a frame with our pipeline and with dcm2pnm and compares
// the 8-bit results sample by sample.
type dcmtkCase struct {
	name string
	path func(t *testing.T) string
	// ref, when set, is the file dcm2pnm renders instead of path (the same
	// pixels in another encoding DCMTK reads differently).
	ref   func(t *testing.T) string
	frame int      // 0-based
	args  []string // dcm2pnm VOI options
	opt   RenderOptions
	tol   int // largest difference allowed per sample
	// lossy decoders may differ a little more: at most this fraction of
	// samples may exceed tol (0: none).
	overFrac float64
}

func pydicom(name string) func(t *testing.T) string {
	return func(t *testing.T) string { return pixeltest.File(t, name) }
}

func runDCMTK(t *testing.T, cases []dcmtkCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path(t)
			l := loadPath(t, path)
			if !CanDecode(l.img.TransferSyntaxUID) {
				t.Skipf("no decoder for %s in this build", l.img.TransferSyntaxUID)
			}
			m := l.render(t, tc.frame, tc.opt)
			ref := path
			if tc.ref != nil {
				ref = tc.ref(t)
			}
			w, h, ch, want := dcm2pnm(t, ref, tc.frame, tc.args...)
			gch, got := samples(m)
			if b := m.Bounds(); b.Dx() != w || b.Dy() != h || gch != ch {
				t.Fatalf("got %dx%d×%d, dcm2pnm %dx%d×%d", b.Dx(), b.Dy(), gch, w, h, ch)
			}
			maxDiff, over := compare(got, want, tc.tol)
			if float64(over) > tc.overFrac*float64(len(got)) {
				t.Errorf("%d of %d samples differ by more than %d from dcm2pnm (max %d)", over, len(got), tc.tol, maxDiff)
			} else {
				t.Logf("max difference %d, %d samples over %d", maxDiff, over, tc.tol)
			}
		})
	}
}

func TestRenderNativeAgainstDCMTK(t *testing.T) {
	win := func(c, w float64, fn string) *Window { return &Window{Center: c, Width: w, Function: fn} }
	cases := []dcmtkCase{
		{name: "CT_small min-max (signed, rescale)", path: pydicom("CT_small.dcm"), args: []string{"+Wm"}, tol: 1},
		{name: "CT_small explicit window", path: pydicom("CT_small.dcm"), args: []string{"+Ww", "40", "400"}, opt: RenderOptions{Window: win(40, 400, Linear)}, tol: 1},
		{name: "CT_small sigmoid", path: pydicom("CT_small.dcm"), args: []string{"+Ww", "40", "400", "+Wfs"}, opt: RenderOptions{Window: win(40, 400, Sigmoid)}, tol: 1},
		{name: "MR_small window from file", path: pydicom("MR_small.dcm"), args: []string{"+Wi", "1"}, tol: 1},
		{name: "MR_small_bigendian", path: pydicom("MR_small_bigendian.dcm"), args: []string{"+Wi", "1"}, tol: 1},
		{name: "MR_small_implicit", path: pydicom("MR_small_implicit.dcm"), args: []string{"+Wi", "1"}, tol: 1},
		{name: "MR_small_padded", path: pydicom("MR_small_padded.dcm"), args: []string{"+Wi", "1"}, tol: 1},
		{name: "image_dfl deflated 8-bit min-max", path: pydicom("image_dfl.dcm"), args: []string{"+Wm"}, tol: 1},
		{name: "rtdose 32-bit frame 1 min-max", path: pydicom("rtdose.dcm"), args: []string{"+Wm"}, tol: 1},
		{name: "rtdose 32-bit frame 8 min-max", path: pydicom("rtdose.dcm"), frame: 7, args: []string{"+Wm"}, tol: 1},
		// DCMTK swaps 32-bit OW big endian data as 16-bit words; pydicom
		// (which wrote the file) and part10 as 32-bit words: compare with
		// the little endian original.
		{name: "rtdose_expb 32-bit big endian frame 15", path: pydicom("rtdose_expb.dcm"), ref: pydicom("rtdose.dcm"), frame: 14, args: []string{"+Wm"}, tol: 1},
		{name: "liver_1frame 1-bit", path: pydicom("liver_1frame.dcm"), args: []string{"+Wm"}, tol: 0},
		{name: "liver_expb_1frame 1-bit big endian", path: pydicom("liver_expb_1frame.dcm"), args: []string{"+Wm"}, tol: 0},
		{name: "ExplVR_BigEnd RGB planar 1", path: pydicom("ExplVR_BigEnd.dcm"), tol: 0},
		{name: "SC_rgb_small_odd RGB 3x3", path: pydicom("SC_rgb_small_odd.dcm"), tol: 0},
		{name: "SC_rgb_jpeg_dcmd implicit RGB", path: pydicom("SC_rgb_jpeg_dcmd.dcm"), tol: 0},
		{name: "SC_ybr_full_422_uncompressed", path: pydicom("SC_ybr_full_422_uncompressed.dcm"), tol: 1},
	}
	runDCMTK(t, cases)
}

// TestRenderSyntheticAgainstDCMTK covers what pydicom's files lack:
// MONOCHROME1, palettes (8-bit packed and 16-bit bulk entries), VOI and
// Modality LUT sequences, BitsStored < BitsAllocated with HighBit.
func TestRenderSyntheticAgainstDCMTK(t *testing.T) {
	const rows, cols = 40, 48
	gradient16 := func(lo, step int, highShift uint) []byte {
		b := make([]byte, 2*rows*cols)
		for i := 0; i < rows*cols; i++ {
			v := lo + step*i
			binary.LittleEndian.PutUint16(b[2*i:], uint16(v)<<highShift)
		}
		return b
	}
	gradient8 := make([]byte, rows*cols)
	for i := range gradient8 {
		gradient8[i] = byte(i * 7)
	}
	hb, err := os.ReadFile(filepath.Join(pixeltest.Pydicom(t), "palettes", "hotiron.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	hot, err := part10.Parse(context.Background(), bytes.NewReader(hb), int64(len(hb)), part10.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var hotElems []elem
	for _, tg := range []part10.Tag{tagRedDescriptor, tagGreenDescriptor, tagBlueDescriptor, tagRedData, tagGreenData, tagBlueData} {
		e := hot.DataSet.Find(tg)
		hotElems = append(hotElems, elem{tg, e.VR, e.Value})
	}
	// A 16-bit palette of 4096 entries: 8 KiB per table, kept as bulk.
	pal16 := func(f func(i int) uint16) []byte {
		v := make([]uint16, 4096)
		for i := range v {
			v[i] = f(i)
		}
		return us(v...)
	}
	lut := make([]uint16, 4096)
	for i := range lut {
		lut[i] = uint16(math.Sqrt(float64(i)) * 64) // 12-bit output
	}

	synth := map[string][]byte{
		"mono1": build(part10.ExplicitVRLittleEndian, append(imageElems(rows, cols, 16, 12, false, Monochrome1, 1),
			elem{0x00281050, "DS", str("1000")}, elem{0x00281051, "DS", str("1500")},
			elem{part10.TagPixelData, "OW", gradient16(0, 2, 0)})...),
		"highbit": build(part10.ExplicitVRLittleEndian, append(imageElems(rows, cols, 16, 12, true, Monochrome2, 1)[:9],
			elem{0x00280102, "US", us(13)}, elem{0x00280103, "US", us(1)},
			elem{0x00281052, "DS", str("-100")}, elem{0x00281053, "DS", str("0.5")},
			elem{part10.TagPixelData, "OW", gradient16(-900, 1, 2)})...),
		"palette8": build(part10.ExplicitVRLittleEndian, append(append(imageElems(rows, cols, 8, 8, false, PaletteRGB, 1),
			hotElems...), elem{part10.TagPixelData, "OB", gradient8})...),
		"palette16": build(part10.ExplicitVRLittleEndian, append(imageElems(rows, cols, 16, 12, false, PaletteRGB, 1),
			elem{tagRedDescriptor, "US", us(4096, 0, 16)}, elem{tagGreenDescriptor, "US", us(4096, 0, 16)},
			elem{tagBlueDescriptor, "US", us(4096, 0, 16)},
			elem{tagRedData, "OW", pal16(func(i int) uint16 { return uint16(i * 16) })},
			elem{tagGreenData, "OW", pal16(func(i int) uint16 { return uint16(65535 - i*16) })},
			elem{tagBlueData, "OW", pal16(func(i int) uint16 { return uint16(i * i) })},
			elem{part10.TagPixelData, "OW", gradient16(0, 2, 0)})...),
		"voilut": build(part10.ExplicitVRLittleEndian, append(imageElems(rows, cols, 16, 12, false, Monochrome2, 1),
			elem{tagVOILUTSequence, "SQ", seq([]elem{
				{tagLUTDescriptor, "US", us(4096, 0, 12)}, {tagLUTData, "OW", us(lut...)}})},
			elem{part10.TagPixelData, "OW", gradient16(0, 2, 0)})...),
		"modalitylut": build(part10.ExplicitVRLittleEndian, append(imageElems(rows, cols, 16, 12, false, Monochrome2, 1),
			elem{tagModalityLUTSequence, "SQ", seq([]elem{
				{tagLUTDescriptor, "US", us(4096, 0, 12)}, {tagLUTData, "OW", us(lut...)},
				{0x00283004, "LO", str("US")}})},
			elem{part10.TagPixelData, "OW", gradient16(0, 2, 0)})...),
		"signed8": build(part10.ExplicitVRLittleEndian, append(imageElems(rows, cols, 8, 8, true, Monochrome2, 1),
			elem{part10.TagPixelData, "OB", gradient8})...),
	}
	path := func(name string) func(t *testing.T) string {
		return func(t *testing.T) string { return writeTemp(t, name+".dcm", synth[name]) }
	}
	cases := []dcmtkCase{
		{name: "MONOCHROME1 window", path: path("mono1"), args: []string{"+Wi", "1"}, tol: 1},
		{name: "MONOCHROME1 explicit window", path: path("mono1"), args: []string{"+Ww", "500", "800"},
			opt: RenderOptions{Window: &Window{Center: 500, Width: 800}}, tol: 1},
		{name: "signed 12 of 16 bits, HighBit 13, rescale", path: path("highbit"), args: []string{"+Wm"}, tol: 1},
		{name: "signed 12 of 16 bits, HighBit 13, window", path: path("highbit"), args: []string{"+Ww", "-400", "300"},
			opt: RenderOptions{Window: &Window{Center: -400, Width: 300}}, tol: 1},
		{name: "palette 8-bit hot iron", path: path("palette8"), tol: 0},
		{name: "palette 16-bit bulk", path: path("palette16"), tol: 1},
		{name: "VOI LUT sequence", path: path("voilut"), args: []string{"+Wl", "1"}, tol: 1},
		{name: "Modality LUT sequence", path: path("modalitylut"), args: []string{"+Wm"}, tol: 1},
		{name: "signed 8-bit", path: path("signed8"), args: []string{"+Wm"}, tol: 1},
	}
	runDCMTK(t, cases)
}

// TestMonochrome1ViaDcmodify checks MONOCHROME1 on a real CT image.
func TestMonochrome1ViaDcmodify(t *testing.T) {
	pixeltest.NeedTool(t, "dcmodify")
	b, err := os.ReadFile(pixeltest.File(t, "CT_small.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	p := writeTemp(t, "ct_mono1.dcm", b)
	if out, err := exec.Command("dcmodify", "-nb", "-m", "(0028,0004)=MONOCHROME1", p).CombinedOutput(); err != nil {
		t.Fatalf("dcmodify: %v\n%s", err, out)
	}
	runDCMTK(t, []dcmtkCase{{name: "CT_small as MONOCHROME1", path: func(*testing.T) string { return p }, args: []string{"+Ww", "40", "400"},
		opt: RenderOptions{Window: &Window{Center: 40, Width: 400}}, tol: 1}})
}
