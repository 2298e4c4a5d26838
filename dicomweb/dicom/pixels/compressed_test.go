package pixels

import (
	"context"
	"encoding/binary"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/dicom/pixels/internal/pixeltest"
)

// TestRenderCompressedAgainstDCMTK renders encapsulated frames through the
// decoder packages and compares with dcm2pnm, or for JPEG 2000 (which
// Debian's DCMTK cannot decode) with dcm2pnm of the same pixels stored
// natively. Lossy JPEG may differ by the IDCT's rounding: tolerance 2, and
// at most 1% of samples beyond it.
func TestRenderCompressedAgainstDCMTK(t *testing.T) {
	cases := []dcmtkCase{
		{name: "RLE MR_small", path: pydicom("MR_small_RLE.dcm"), args: []string{"+Wi", "1"}, tol: 1},
		{name: "RLE rtdose 32-bit frame 8", path: pydicom("rtdose_rle.dcm"), frame: 7, args: []string{"+Wm"}, tol: 1},
		{name: "RLE RGB 8-bit", path: pydicom("SC_rgb_rle.dcm"), tol: 0},
		{name: "RLE RGB 16-bit frame 2", path: pydicom("SC_rgb_rle_16bit_2frame.dcm"), frame: 1, tol: 1},
		{name: "RLE RGB 32-bit", path: pydicom("SC_rgb_rle_32bit.dcm"), tol: 1},
		{name: "JPEG-LS lossless MR_small", path: pydicom("MR_small_jpeg_ls_lossless.dcm"), args: []string{"+Wi", "1"}, tol: 1},
		{name: "JPEG lossless SV1 RGB", path: pydicom("SC_rgb_jpeg_gdcm.dcm"), tol: 0},
		{name: "JPEG extended 12-bit", path: pydicom("JPGExtended.dcm"), args: []string{"+Wm"}, tol: 2, overFrac: 0.01},
		{name: "JPEG baseline YBR_FULL", path: pydicom("SC_rgb_jpeg_dcmtk.dcm"), tol: 2, overFrac: 0.01},
		{name: "JPEG baseline YBR_FULL_422", path: pydicom("SC_rgb_dcmtk_+eb+cy+np.dcm"), tol: 2, overFrac: 0.01},
		{name: "JPEG baseline RGB", path: pydicom("SC_rgb_dcmtk_+eb+cr.dcm"), tol: 2, overFrac: 0.01},
		{name: "JPEG baseline 3x3", path: pydicom("SC_rgb_small_odd_jpeg.dcm"), tol: 2, overFrac: 0.01},
		{name: "JPEG 2000 lossless MR_small", path: pydicom("MR_small_jp2klossless.dcm"), ref: pydicom("MR_small.dcm"), args: []string{"+Wi", "1"}, tol: 1},
	}
	runDCMTK(t, cases)
}

// TestRenderCompressedSmoke renders files without a reference rendering:
// they must decode and render to the right size.
func TestRenderCompressedSmoke(t *testing.T) {
	for _, name := range []string{"693_J2KI.dcm", "GDCMJ2K_TextGBR.dcm", "JPEG2000.dcm", "SC_rgb_gdcm_KY.dcm",
		"J2K_pixelrep_mismatch.dcm", "SC_jpeg_no_color_transform.dcm", "SC_rgb_jpeg_lossy_gdcm.dcm", "JPEG-lossy.dcm"} {
		t.Run(name, func(t *testing.T) {
			l := loadPath(t, pixeltest.File(t, name))
			if !CanDecode(l.img.TransferSyntaxUID) {
				t.Skipf("no decoder for %s in this build", l.img.TransferSyntaxUID)
			}
			m := l.render(t, 0, RenderOptions{Width: 64, Height: 64})
			if b := m.Bounds(); max(b.Dx(), b.Dy()) != 64 {
				t.Errorf("rendered %v, want to fit 64×64", b)
			}
		})
	}
}

// TestTranscodeAgainstReference checks TranscodeFrame and Decoded against
// the same pixels stored natively: pydicom's originals, or what DCMTK's
// decompressors (dcmdrle, dcmdjpeg, dcmdjpls) write.
func TestTranscodeAgainstReference(t *testing.T) {
	cases := []struct {
		name, file string
		ref        string // a pydicom file, or "" to run tool
		tool       string
		frames     []int
		tol        int // per 8-bit sample (lossy)
	}{
		{name: "RLE MR_small", file: "MR_small_RLE.dcm", ref: "MR_small.dcm", frames: []int{0}},
		{name: "RLE rtdose", file: "rtdose_rle.dcm", ref: "rtdose.dcm", frames: []int{0, 7, 14}},
		{name: "JPEG-LS MR_small", file: "MR_small_jpeg_ls_lossless.dcm", ref: "MR_small.dcm", frames: []int{0}},
		{name: "JPEG 2000 MR_small", file: "MR_small_jp2klossless.dcm", ref: "MR_small.dcm", frames: []int{0}},
		{name: "RLE RGB 2 frames", file: "SC_rgb_rle_2frame.dcm", tool: "dcmdrle", frames: []int{0, 1}},
		{name: "RLE RGB 16-bit", file: "SC_rgb_rle_16bit.dcm", tool: "dcmdrle", frames: []int{0}},
		{name: "JPEG lossless RGB", file: "SC_rgb_jpeg_gdcm.dcm", tool: "dcmdjpeg", frames: []int{0}},
		{name: "JPEG extended 12-bit", file: "JPGExtended.dcm", tool: "dcmdjpeg", frames: []int{0}, tol: 2},
		{name: "JPEG baseline YBR_FULL to RGB", file: "SC_rgb_jpeg_dcmtk.dcm", tool: "dcmdjpeg", frames: []int{0}, tol: 3},
		{name: "JPEG baseline YBR_FULL_422 to RGB", file: "SC_rgb_dcmtk_+eb+cy+np.dcm", tool: "dcmdjpeg", frames: []int{0}, tol: 3},
		{name: "JPEG-LS via dcmdjpls", file: "MR_small_jpeg_ls_lossless.dcm", tool: "dcmdjpls", frames: []int{0}},
	}
	ctx := context.Background()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := loadPath(t, pixeltest.File(t, tc.file))
			if !CanDecode(l.img.TransferSyntaxUID) {
				t.Skipf("no decoder for %s in this build", l.img.TransferSyntaxUID)
			}
			refPath := pixeltest.File(t, tc.ref)
			if tc.tool != "" {
				pixeltest.NeedTool(t, tc.tool)
				refPath = filepath.Join(t.TempDir(), "ref.dcm")
				if out, err := exec.Command(tc.tool, pixeltest.File(t, tc.file), refPath).CombinedOutput(); err != nil {
					t.Fatalf("%s: %v\n%s", tc.tool, err, out)
				}
			}
			ref := loadPath(t, refPath)
			d := l.img.Decoded()
			if d.Photometric != ref.img.Photometric || d.PlanarConfiguration != ref.img.PlanarConfiguration ||
				d.BitsStored != ref.img.BitsStored || d.BitsAllocated != ref.img.BitsAllocated {
				t.Errorf("Decoded() = %+v; reference has %s planar %d bits %d/%d", d, ref.img.Photometric,
					ref.img.PlanarConfiguration, ref.img.BitsStored, ref.img.BitsAllocated)
			}
			var buf []byte
			for _, k := range tc.frames {
				got, err := TranscodeFrame(ctx, l.img, l.frame(t, k), buf)
				if err != nil {
					t.Fatalf("frame %d: %v", k, err)
				}
				buf = got
				want := ref.frame(t, k)
				if int64(len(got)) != d.FrameSize || len(got) != len(want) {
					t.Fatalf("frame %d: %d bytes, reference %d, Decoded().FrameSize %d", k, len(got), len(want), d.FrameSize)
				}
				if tc.tol == 0 {
					if string(got) != string(want) {
						t.Errorf("frame %d differs from the reference", k)
					}
					continue
				}
				maxDiff := 0
				for i := 0; i < len(got); i += ref.img.sampleBytes() {
					a, b := int(got[i]), int(want[i])
					if ref.img.sampleBytes() == 2 {
						a, b = int(binary.LittleEndian.Uint16(got[i:])), int(binary.LittleEndian.Uint16(want[i:]))
					}
					maxDiff = max(maxDiff, a-b, b-a)
				}
				if maxDiff > tc.tol {
					t.Errorf("frame %d: samples differ by up to %d (tolerance %d)", k, maxDiff, tc.tol)
				}
				t.Logf("frame %d: max difference %d", k, maxDiff)
			}
		})
	}
}
