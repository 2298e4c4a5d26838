package part10

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func errKind(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrNoPart10Header):
		return "no-part10"
	case errors.Is(err, ErrUnsupportedTransferSyntax):
		return "unsupported-ts"
	case errors.Is(err, ErrMalformed):
		return "malformed"
	}
	return "other"
}

func countElements(ds *DataSet) int {
	n := 0
	for _, e := range ds.Elements {
		n++
		for _, it := range e.Items {
			n += 1 + countElements(it)
		}
	}
	return n
}

// summary is the golden line for one parse.
func summary(f *File, err error) string {
	if err != nil {
		return errKind(err) + ": " + err.Error()
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "ok ts=%s elements=%d bulk=%d frames=%d", f.TransferSyntax.UID, countElements(f.DataSet),
		len(f.Layout.Bulk), len(f.Layout.Frames))
	if f.Layout.Swap != 0 {
		fmt.Fprintf(&sb, " swap=%d", f.Layout.Swap)
	}
	if f.Layout.Deflated {
		fmt.Fprintf(&sb, " deflated@%d", f.Layout.DeflatedAt)
	}
	for _, w := range f.Warnings {
		fmt.Fprintf(&sb, " warning=%q", w)
	}
	for i, fr := range f.Layout.Frames {
		if i == 3 {
			sb.WriteString(" ...")
			break
		}
		fmt.Fprintf(&sb, " [%d@%d", len(fr.Ranges), fr.Ranges[0].Offset)
		fmt.Fprintf(&sb, " %dB", FrameLength(&f.Layout, fr))
		if fr.Bits > 0 {
			fmt.Fprintf(&sb, " %dbits+%d", fr.Bits, fr.BitOffset)
		}
		sb.WriteString("]")
	}
	return sb.String()
}

func readTestFile(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(pydicomDir(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParseGolden parses every test file and compares a one-line summary
// per file with testdata/parse.golden.
func TestParseGolden(t *testing.T) {
	var out strings.Builder
	for _, rel := range dicomFiles(t) {
		f, err := parseBytes(readTestFile(t, rel))
		if errKind(err) == "other" {
			t.Errorf("%s: error not classified: %v", rel, err)
		}
		fmt.Fprintf(&out, "%s: %s\n", filepath.ToSlash(rel), summary(f, err))
	}
	golden := filepath.Join("testdata", "parse.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if got := out.String(); got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Errorf("line %d:\n got %s\nwant %s", i+1, g, w)
			}
		}
	}
}

// TestBrokenFiles pins the expected rejections of the deliberately
// broken test files.
func TestBrokenFiles(t *testing.T) {
	tests := []struct {
		file string
		want error
	}{
		{"test_files/MR_truncated.dcm", ErrMalformed},
		{"test_files/rtplan_truncated.dcm", ErrMalformed},
		{"test_files/no_meta.dcm", ErrNoPart10Header},
		{"test_files/ExplVR_BigEndNoMeta.dcm", ErrNoPart10Header},
		{"test_files/ExplVR_LitEndNoMeta.dcm", ErrNoPart10Header},
		{"test_files/rtstruct.dcm", ErrNoPart10Header}, // no preamble at all
		{"test_files/meta_missing_tsyntax.dcm", ErrMalformed},
		{"test_files/SC_rgb_jpeg.dcm", ErrMalformed},                 // implicit VR data under an explicit syntax
		{"test_files/badVR.dcm", ErrMalformed},                       // NumberOfFrames "1A"
		{"test_files/dicomdirtests/DICOMDIR-nooffset", ErrMalformed}, // last item runs 24 bytes past the end
	}
	for _, tc := range tests {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			_, err := parseBytes(readTestFile(t, tc.file))
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// TestKnownLayouts checks frame layouts against facts about the files
// (dcmdump output, pydicom's README).
func TestKnownLayouts(t *testing.T) {
	tests := []struct {
		file      string
		ts        string
		frames    int
		frameLens []int64 // per frame; nil: not checked
		fragments []int   // fragments per frame; nil: not checked
		media     string
	}{
		{"test_files/SC_rgb_rle_2frame.dcm", "1.2.840.10008.1.2.5", 2, []int64{664, 664}, []int{1, 1}, "image/dicom-rle"},
		{"test_files/SC_rgb_rle_32bit_2frame.dcm", "1.2.840.10008.1.2.5", 2, nil, []int{1, 1}, "image/dicom-rle"},
		{"test_files/JPEG2000.dcm", "1.2.840.10008.1.2.4.91", 1, []int64{250}, []int{1}, "image/jp2"},
		{"test_files/JPEG2000-embedded-sequence-delimiter.dcm", "1.2.840.10008.1.2.4.91", 1, []int64{250}, []int{1}, "image/jp2"},
		{"test_files/MR_small_jp2klossless.dcm", "1.2.840.10008.1.2.4.90", 1, nil, []int{1}, "image/jp2"},
		{"test_files/MR_small_jpeg_ls_lossless.dcm", "1.2.840.10008.1.2.4.80", 1, nil, []int{1}, "image/jls"},
		{"test_files/MR_small.dcm", ExplicitVRLittleEndian, 1, []int64{64 * 64 * 2}, nil, "application/octet-stream"},
		{"test_files/rtdose.dcm", ImplicitVRLittleEndian, 15, []int64{400, 400, 400}, nil, "application/octet-stream"},
		{"test_files/liver_1frame.dcm", ExplicitVRLittleEndian, 1, []int64{512 * 512 / 8}, nil, "application/octet-stream"},
		{"test_files/image_dfl.dcm", DeflatedExplicitVRLittleEndian, 1, []int64{512 * 512}, nil, "application/octet-stream"},
		{"test_files/ExplVR_BigEnd.dcm", ExplicitVRBigEndian, 1, []int64{60 * 80 * 3}, nil, "application/octet-stream"},
		{"test_files/SC_ybr_full_422_uncompressed.dcm", ExplicitVRLittleEndian, 1, []int64{100 * 100 * 2}, nil, "application/octet-stream"},
	}
	for _, tc := range tests {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			f, err := parseBytes(readTestFile(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if f.TransferSyntax.UID != tc.ts || f.TransferSyntax.MediaType != tc.media {
				t.Errorf("syntax %s %s, want %s %s", f.TransferSyntax.UID, f.TransferSyntax.MediaType, tc.ts, tc.media)
			}
			if len(f.Layout.Frames) != tc.frames {
				t.Fatalf("%d frames, want %d", len(f.Layout.Frames), tc.frames)
			}
			for i, n := range tc.frameLens {
				if got := FrameLength(&f.Layout, f.Layout.Frames[i]); got != n {
					t.Errorf("frame %d: %d bytes, want %d", i+1, got, n)
				}
			}
			for i, n := range tc.fragments {
				if got := len(f.Layout.Frames[i].Ranges); got != n {
					t.Errorf("frame %d: %d fragments, want %d", i+1, got, n)
				}
			}
		})
	}
}

// frameBytes renders every frame with WriteFrame.
func frameBytes(t *testing.T, data []byte, f *File) [][]byte {
	t.Helper()
	var out [][]byte
	for i, fr := range f.Layout.Frames {
		var buf bytes.Buffer
		if err := WriteFrame(context.Background(), &buf, byteOpener(data), &f.Layout, fr); err != nil {
			t.Fatalf("frame %d: %v", i+1, err)
		}
		if int64(buf.Len()) != FrameLength(&f.Layout, fr) {
			t.Fatalf("frame %d: wrote %d bytes, FrameLength says %d", i+1, buf.Len(), FrameLength(&f.Layout, fr))
		}
		out = append(out, buf.Bytes())
	}
	return out
}

// TestBigEndianFramesMatch: the big endian copies of test images must give
// the same little endian frames as the originals.
func TestBigEndianFramesMatch(t *testing.T) {
	pairs := [][2]string{
		{"test_files/MR_small.dcm", "test_files/MR_small_bigendian.dcm"},
		{"test_files/rtdose.dcm", "test_files/rtdose_expb.dcm"},
		{"test_files/rtdose_1frame.dcm", "test_files/rtdose_expb_1frame.dcm"},
		{"test_files/liver_1frame.dcm", "test_files/liver_expb_1frame.dcm"},
	}
	for _, p := range pairs {
		t.Run(filepath.Base(p[1]), func(t *testing.T) {
			a, b := readTestFile(t, p[0]), readTestFile(t, p[1])
			fa, err := parseBytes(a)
			if err != nil {
				t.Fatal(err)
			}
			fb, err := parseBytes(b)
			if err != nil {
				t.Fatal(err)
			}
			ga, gb := frameBytes(t, a, fa), frameBytes(t, b, fb)
			if len(ga) != len(gb) || len(ga) == 0 {
				t.Fatalf("%d vs %d frames", len(ga), len(gb))
			}
			for i := range ga {
				if !bytes.Equal(ga[i], gb[i]) {
					t.Errorf("frame %d differs", i+1)
				}
			}
		})
	}
}

// TestDeflatedFrame compares the frame of the deflated test file with the
// same object converted to Explicit VR Little Endian by dcmconv.
func TestDeflatedFrame(t *testing.T) {
	dcmconv, err := exec.LookPath("dcmconv")
	if err != nil {
		t.Skip("dcmconv not installed")
	}
	src := filepath.Join(pydicomDir(t), "test_files", "image_dfl.dcm")
	dst := filepath.Join(t.TempDir(), "le.dcm")
	if out, err := exec.Command(dcmconv, "+te", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("dcmconv: %v\n%s", err, out)
	}
	a, _ := os.ReadFile(src)
	b, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	fa, err := parseBytes(a)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := parseBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	if !fa.Layout.Deflated || fb.Layout.Deflated {
		t.Fatalf("deflated flags %v %v", fa.Layout.Deflated, fb.Layout.Deflated)
	}
	ga, gb := frameBytes(t, a, fa), frameBytes(t, b, fb)
	if len(ga) != 1 || len(gb) != 1 || !bytes.Equal(ga[0], gb[0]) {
		t.Fatal("deflated frame differs from dcmconv's inflated copy")
	}
	// Every element the two parses share must have the same value.
	for i, e := range fa.DataSet.Elements {
		if i >= len(fb.DataSet.Elements) || fb.DataSet.Elements[i].Tag != e.Tag {
			t.Fatalf("element %d: %s vs different tag", i, e.Tag)
		}
		if !bytes.Equal(e.Value, fb.DataSet.Elements[i].Value) {
			t.Errorf("element %s: values differ", e.Tag)
		}
	}
}

var dumpLine = regexp.MustCompile(`^( *)\(([0-9a-f]{4}),([0-9a-f]{4})\) (\S\S) .*#\s*(\d+|u/l),`)

// dcmdumpTags extracts the top level data set tags and the pixel data
// item lengths ("u/l" then each item's length, or the native length) from
// one file's dcmdump output.
func dcmdumpTags(out string) (tags []Tag, pixel []string) {
	inData, inPixel := false, false
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "# Dicom-Data-Set") {
			inData = true
		}
		m := dumpLine.FindStringSubmatch(line)
		if !inData || m == nil {
			continue
		}
		g, _ := strconv.ParseUint(m[2], 16, 16)
		el, _ := strconv.ParseUint(m[3], 16, 16)
		tg := Tag(g<<16 | el)
		if m[1] == "" {
			inPixel = false
			if tg.Group() != 0xFFFE {
				tags = append(tags, tg)
			}
			if tg == TagPixelData {
				inPixel = true
				pixel = append(pixel, m[5])
			}
		} else if inPixel && tg == TagItem && len(m[1]) == 2 {
			pixel = append(pixel, m[5])
		}
	}
	return tags, pixel
}

// TestAgainstDcmdump compares, for every file we accept, the top level
// tags and the pixel data item lengths with DCMTK's dcmdump (one run for
// all files).
func TestAgainstDcmdump(t *testing.T) {
	dcmdump, err := exec.LookPath("dcmdump")
	if err != nil {
		t.Skip("dcmdump not installed")
	}
	root := pydicomDir(t)
	parsed := map[string]*File{}
	args := []string{"-q", "+F", "+uc"}
	for _, rel := range dicomFiles(t) {
		if f, err := parseBytes(readTestFile(t, rel)); err == nil {
			parsed[rel] = f
			args = append(args, rel)
		}
	}
	cmd := exec.Command(dcmdump, args...)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dcmdump: %v", err)
	}
	sections := regexp.MustCompile(`(?m)^# dcmdump \(\d+/\d+\): (.*)$`).FindAllStringSubmatchIndex(string(out), -1)
	if len(sections) != len(parsed) {
		t.Fatalf("dcmdump printed %d files, want %d", len(sections), len(parsed))
	}
	for i, sec := range sections {
		rel := string(out[sec[2]:sec[3]])
		end := len(out)
		if i+1 < len(sections) {
			end = sections[i+1][0]
		}
		t.Run(rel, func(t *testing.T) {
			f := parsed[rel]
			if f == nil {
				t.Fatalf("unexpected section %q", rel)
			}
			tags, pixel := dcmdumpTags(string(out[sec[1]:end]))
			var ours []Tag
			var ourPixel []string
			for _, e := range f.DataSet.Elements {
				ours = append(ours, e.Tag)
				if e.Tag != TagPixelData {
					continue
				}
				if e.Length != UndefinedLength {
					ourPixel = append(ourPixel, strconv.FormatUint(uint64(e.Length), 10))
					continue
				}
				ourPixel = append(ourPixel, "u/l")
				for _, fr := range e.Fragments {
					ourPixel = append(ourPixel, strconv.FormatInt(fr.Length, 10))
				}
			}
			if fmt.Sprint(ours) != fmt.Sprint(tags) {
				t.Errorf("top level tags differ:\n ours    %v\n dcmdump %v", ours, tags)
			}
			if fmt.Sprint(ourPixel) != fmt.Sprint(pixel) {
				t.Errorf("pixel data items differ: ours %v, dcmdump %v", ourPixel, pixel)
			}
		})
	}
}
