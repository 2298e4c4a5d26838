package jpeg

import (
	"encoding/binary"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"time"

	"github.com/minipacs/minipacs/dicomweb/dicom/pixels/internal/pixeltest"
)

// makeCT512 builds a 512×512 16-bit signed CT: CT_small.dcm upscaled ×4
// (bilinear, with ±8 of noise, as a real CT has) and compressed by dcmcjpeg
// with the given options. It returns the compressed file's path.
func makeCT512(b *testing.B, args ...string) string {
	b.Helper()
	dir := b.TempDir()
	srcPath := filepath.Join(pixeltest.TestFiles(b), "CT_small.dcm")
	src := pixeltest.Load(b, srcPath)
	in := pixeltest.NativeFrame(b, src, 0)
	const n, m = 128, 512
	at := func(x, y int) float64 {
		x, y = min(max(x, 0), n-1), min(max(y, 0), n-1)
		return float64(int16(binary.LittleEndian.Uint16(in[2*(y*n+x):])))
	}
	rng := rand.New(rand.NewSource(1))
	raw := make([]byte, 2*m*m)
	for y := 0; y < m; y++ {
		for x := 0; x < m; x++ {
			fx, fy := float64(x)/4-0.375, float64(y)/4-0.375
			x0, y0 := int(fx), int(fy)
			if fx < 0 {
				x0 = -1
			}
			if fy < 0 {
				y0 = -1
			}
			ax, ay := fx-float64(x0), fy-float64(y0)
			v := at(x0, y0)*(1-ax)*(1-ay) + at(x0+1, y0)*ax*(1-ay) + at(x0, y0+1)*(1-ax)*ay + at(x0+1, y0+1)*ax*ay
			v += float64(rng.Intn(17) - 8)
			binary.LittleEndian.PutUint16(raw[2*(y*m+x):], uint16(int16(v)))
		}
	}
	rawPath := filepath.Join(dir, "pixels.raw")
	if err := os.WriteFile(rawPath, raw, 0o644); err != nil {
		b.Fatal(err)
	}
	native := filepath.Join(dir, "ct512.dcm")
	data, err := os.ReadFile(srcPath)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(native, data, 0o644); err != nil {
		b.Fatal(err)
	}
	pixeltest.Run(b, "dcmodify", "-nb", "-m", "(0028,0010)=512", "-m", "(0028,0011)=512", "-if", "(7fe0,0010)="+rawPath, native)
	out := filepath.Join(dir, "ct512_jpeg.dcm")
	pixeltest.Run(b, "dcmcjpeg", append(append([]string{}, args...), native, out)...)
	return out
}

func benchDecode(b *testing.B, args ...string) {
	df := pixeltest.Load(b, makeCT512(b, args...))
	dst := make([]byte, df.Params.FrameSize())
	b.SetBytes(df.Params.FrameSize())
	b.ReportAllocs()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu0 := threadCPU()
	for b.Loop() {
		if _, err := Decode(df.Frames[0], df.Params, dst); err != nil {
			b.Fatal(err)
		}
	}
	if cpu := (threadCPU() - cpu0).Seconds(); cpu > 0 {
		b.ReportMetric(float64(df.Params.FrameSize())*float64(b.N)/cpu/1e6, "cpu-MB/s")
	}
}

// BenchmarkDecodeLossless: 512×512×16 CT, JPEG Lossless SV1 (DCMTK).
func BenchmarkDecodeLossless(b *testing.B) { benchDecode(b, "+e1") }

// BenchmarkDecodeLosslessSV6: the same, process 14 with predictor 6.
func BenchmarkDecodeLosslessSV6(b *testing.B) { benchDecode(b, "+el", "+sv", "6") }

// BenchmarkDecodeExtended12: the same CT, 12-bit extended DCT.
func BenchmarkDecodeExtended12(b *testing.B) { benchDecode(b, "+ee", "+bt") }

// BenchmarkDcmdjpegLossless runs DCMTK's dcmdjpeg on the file of
// BenchmarkDecodeLossless and reports its decode rate net of process
// start-up (estimated by running it on a 64×64 file), in CPU time:
// net-cpu-MB/s.
func BenchmarkDcmdjpegLossless(b *testing.B) {
	tool := pixeltest.NeedTool(b, "dcmdjpeg")
	big := makeCT512(b, "+e1")
	small := filepath.Join(b.TempDir(), "small.dcm")
	pixeltest.Run(b, "dcmcjpeg", "+e1", filepath.Join(pixeltest.TestFiles(b), "MR_small.dcm"), small)
	out := filepath.Join(b.TempDir(), "out.dcm")
	// CPU time of the child (user+system), robust to a loaded machine.
	run := func(path string) time.Duration {
		cmd := exec.Command(tool, "+cn", path, out)
		if o, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("dcmdjpeg: %v\n%s", err, o)
		}
		return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	var tBig, tSmall time.Duration
	for b.Loop() {
		tBig += run(big)
		tSmall += run(small)
	}
	net := (tBig - tSmall).Seconds() / float64(b.N)
	if net > 0 {
		b.ReportMetric(512*512*2/net/1e6, "net-cpu-MB/s")
	}
	b.ReportMetric(tBig.Seconds()/float64(b.N)*1e3, "cpu-ms/run-512")
	b.ReportMetric(tSmall.Seconds()/float64(b.N)*1e3, "cpu-ms/run-64")
}
