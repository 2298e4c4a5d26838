package part10

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// needsTranscoding reports whether files in syntax uid are what
// WriteExplicitLE is for.
func needsTranscoding(uid string) bool {
	switch uid {
	case ImplicitVRLittleEndian, ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian:
		return true
	}
	return false
}

// testWordSize is the swap size per VR, written out independently of the
// code under test.
var testWordSize = map[string]int{"US": 2, "SS": 2, "OW": 2, "AT": 2, "UL": 4, "SL": 4, "FL": 4, "OF": 4, "OL": 4,
	"FD": 8, "OD": 8, "SV": 8, "UV": 8, "OV": 8}

// logical returns the object as element offsets see it: for Deflated
// objects the bytes before DeflatedAt followed by the inflated data set.
func logical(t testing.TB, data []byte, f *File) []byte {
	t.Helper()
	if !f.Layout.Deflated {
		return data
	}
	inf, err := io.ReadAll(flate.NewReader(bytes.NewReader(data[f.Layout.DeflatedAt:])))
	if err != nil {
		t.Fatalf("inflate: %v", err)
	}
	return append(append([]byte(nil), data[:f.Layout.DeflatedAt]...), inf...)
}

// leValue returns el's value in little endian, read from the logical object
// for bulk values.
func leValue(obj []byte, f *File, el *Element, top bool) []byte {
	v := el.Value
	if el.Bulk {
		v = obj[el.Offset : el.Offset+int64(el.Length)]
	}
	v = bytes.Clone(v)
	if !el.BigEndian {
		return v
	}
	size := testWordSize[el.VR]
	if top && isPixelTag(el.Tag) && f.Layout.Swap != 0 {
		size = f.Layout.Swap
	}
	for i := 0; size > 1 && i+size <= len(v); i += size {
		for j := 0; j < size/2; j++ {
			v[i+j], v[i+size-1-j] = v[i+size-1-j], v[i+j]
		}
	}
	return v
}

// compareDataSets requires b (a little endian re-encoding) to hold a's
// elements, tags and values, in the same order. Group lengths are skipped
// (they are recomputed) when skipGL.
func compareDataSets(t *testing.T, path string, fa *File, objA []byte, a *DataSet, fb *File, objB []byte, b *DataSet, skipGL bool) {
	t.Helper()
	if len(a.Elements) != len(b.Elements) {
		t.Errorf("%s: %d elements, want %d", path, len(b.Elements), len(a.Elements))
	}
	for i := 0; i < min(len(a.Elements), len(b.Elements)); i++ {
		ea, eb := a.Elements[i], b.Elements[i]
		p := path + ea.Tag.String()
		if ea.Tag != eb.Tag {
			t.Errorf("%s: element %d is %s, want %s", path, i, eb.Tag, ea.Tag)
			return
		}
		if ea.VR != eb.VR {
			// Only a value too long for a 2-byte length may change its VR
			// (it is written as UN and read back with its dictionary VR).
			if _, long := lookupVR(ea.VR[0], ea.VR[1]); long || ea.Length <= 0xFFFE {
				t.Errorf("%s: VR %s, want %s", p, eb.VR, ea.VR)
			}
		}
		if ea.VR == "SQ" {
			if len(ea.Items) != len(eb.Items) {
				t.Errorf("%s: %d items, want %d", p, len(eb.Items), len(ea.Items))
				continue
			}
			for k := range ea.Items {
				compareDataSets(t, fmt.Sprintf("%s/%d/", p, k), fa, objA, ea.Items[k], fb, objB, eb.Items[k], skipGL)
			}
			continue
		}
		if eb.BigEndian {
			t.Errorf("%s: big endian after re-encoding", p)
		}
		if skipGL && ea.Tag.Element() == 0 {
			continue
		}
		va, vb := leValue(objA, fa, ea, path == ""), leValue(objB, fb, eb, path == "")
		if !bytes.Equal(va, vb) {
			t.Errorf("%s %s: value differs:\n got  % x\n want % x", p, ea.VR, head(vb), head(va))
		}
	}
}

func head(b []byte) []byte { return b[:min(len(b), 32)] }

// transcode re-encodes data as Explicit VR Little Endian (see transcodeTo).
func transcode(t *testing.T, data []byte) (*File, []byte) {
	t.Helper()
	return transcodeTo(t, data, ExplicitVRLittleEndian)
}

// transcodeTo re-encodes data in ts, checking the length and the single pass.
func transcodeTo(t *testing.T, data []byte, ts string) (*File, []byte) {
	t.Helper()
	f, err := parseBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	opens := 0
	open := func(ctx context.Context, off, n int64) (io.ReadCloser, error) {
		opens++
		return byteOpener(data)(ctx, off, n)
	}
	var out bytes.Buffer
	if err := WriteNative(context.Background(), &out, f, open, ts); err != nil {
		t.Fatalf("WriteNative %s: %v", ts, err)
	}
	if opens > 1 {
		t.Errorf("object opened %d times, want one pass", opens)
	}
	if n, ok := NativeLength(f, ts); !ok || n != int64(out.Len()) {
		t.Errorf("NativeLength = %d, %v; wrote %d bytes", n, ok, out.Len())
	}
	return f, out.Bytes()
}

// TestWriteExplicitLECorpus re-encodes every Implicit VR, Explicit VR Big
// Endian and Deflated file of the corpus and parses the result again.
func TestWriteExplicitLECorpus(t *testing.T) {
	dcmdump, _ := exec.LookPath("dcmdump")
	dcmconv, _ := exec.LookPath("dcmconv")
	done := map[string]bool{}
	for _, rel := range dicomFiles(t) {
		data := readTestFile(t, rel)
		f, err := parseBytes(data)
		if err != nil || !needsTranscoding(f.TransferSyntax.UID) {
			continue
		}
		done[f.TransferSyntax.UID] = true
		t.Run(rel, func(t *testing.T) {
			if f.Meta.String(0x00020002) == MediaStorageDirectoryStorage {
				err := WriteExplicitLE(context.Background(), io.Discard, f, byteOpener(data))
				if !errors.Is(err, ErrNotReencodable) {
					t.Fatalf("DICOMDIR: err = %v", err)
				}
				return
			}
			_, out := transcode(t, data)
			if !bytes.Equal(out[:128], make([]byte, 128)) || string(out[128:132]) != "DICM" {
				t.Fatal("no zero preamble and DICM prefix")
			}
			g, err := parseBytes(out)
			if err != nil {
				t.Fatalf("re-parse: %v", err)
			}
			if g.TransferSyntax.UID != ExplicitVRLittleEndian || g.Meta.String(TagTransferSyntaxUID) != ExplicitVRLittleEndian {
				t.Fatalf("transfer syntax %q", g.TransferSyntax.UID)
			}
			if len(g.Warnings) > len(f.Warnings) {
				t.Errorf("new warnings: %v", g.Warnings)
			}
			// File meta: (0002,0000) is the group's length, the rest as it was.
			gl := g.Meta.Find(0x00020000)
			if gl == nil || len(gl.Value) != 4 || int64(binary.LittleEndian.Uint32(gl.Value)) != g.DataSetOffset-132-12 {
				t.Errorf("(0002,0000) %v does not match a meta group of %d bytes", gl, g.DataSetOffset-132-12)
			}
			var wantMeta, gotMeta []string
			for _, e := range f.Meta.Elements {
				if e.Tag != 0x00020000 && e.Tag != TagTransferSyntaxUID {
					wantMeta = append(wantMeta, fmt.Sprintf("%s %s %x", e.Tag, e.VR, e.Value))
				}
			}
			for _, e := range g.Meta.Elements {
				if e.Tag != 0x00020000 && e.Tag != TagTransferSyntaxUID {
					gotMeta = append(gotMeta, fmt.Sprintf("%s %s %x", e.Tag, e.VR, e.Value))
				}
			}
			if strings.Join(wantMeta, "\n") != strings.Join(gotMeta, "\n") {
				t.Errorf("meta differs:\n%s\nwant\n%s", strings.Join(gotMeta, "\n"), strings.Join(wantMeta, "\n"))
			}
			compareDataSets(t, "", f, logical(t, data, f), f.DataSet, g, out, g.DataSet, true)
			fa, fb := frameBytes(t, data, f), frameBytes(t, out, g)
			if len(fa) != len(fb) {
				t.Fatalf("%d frames, want %d", len(fb), len(fa))
			}
			for i := range fa {
				if !bytes.Equal(fa[i], fb[i]) {
					t.Errorf("frame %d differs", i+1)
				}
			}
			if dcmdump != "" {
				// DCMTK swaps big endian OW in 16-bit words whatever
				// BitsAllocated says; Parse (like pydicom, whose corpus
				// twins agree) swaps 32-bit pixels as 32-bit words.
				bits, _ := f.DataSet.Int(TagBitsAllocated)
				skipPixel := f.TransferSyntax.BigEndian && bits > 16
				checkDCMTK(t, dcmdump, dcmconv, "+te", filepath.Join(pydicomDir(t), rel), out, skipPixel)
			}
		})
	}
	for _, uid := range []string{ImplicitVRLittleEndian, ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian} {
		if !done[uid] {
			t.Errorf("no corpus file in %s was tested", uid)
		}
	}
}

// checkDCMTK requires dcmdump to read out without a complaint that it does
// not make about src or dcmconv's conversion of src too and, when dcmconv is there, to print the same data
// set for out as for dcmconv's own conversion of src to the syntax of its
// option conv ("+te", "+ti"; with undefined lengths, as ours), the pixel
// data line excepted with skipPixel. It returns dcmconv's output file, or
// "" when there is none.
func checkDCMTK(t *testing.T, dcmdump, dcmconv, conv, src string, out []byte, skipPixel bool) string {
	t.Helper()
	dir := t.TempDir()
	ours := filepath.Join(dir, "ours.dcm")
	if err := os.WriteFile(ours, out, 0o600); err != nil {
		t.Fatal(err)
	}
	dump := func(path string) (string, map[string]bool) {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(dcmdump, "+L", "+uc", path)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("dcmdump %s: %v\n%s", filepath.Base(path), err, stderr.String())
		}
		complaints := map[string]bool{}
		for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
			complaints[l] = l != ""
		}
		s := stdout.String()
		if i := strings.Index(s, "# Dicom-Data-Set"); i >= 0 {
			s = s[i:]
		}
		if skipPixel {
			s = regexp.MustCompile(`(?m)^\(7fe0,0010\) .*$`).ReplaceAllString(s, "(pixel data)")
		}
		return s, complaints
	}
	got, complaints := dump(ours)
	_, expected := dump(src)
	ref, want := "", ""
	if dcmconv != "" {
		p := filepath.Join(dir, "dcmconv.dcm")
		if msg, err := exec.Command(dcmconv, conv, "-e", src, p).CombinedOutput(); err != nil {
			t.Logf("dcmconv cannot convert %s (%v): %s", filepath.Base(src), err, msg)
		} else {
			var theirs map[string]bool
			ref = p
			want, theirs = dump(ref)
			for c, ok := range theirs {
				expected[c] = expected[c] || ok
			}
		}
	}
	for c, ok := range complaints {
		if ok && !expected[c] {
			t.Errorf("dcmdump complains: %s", c)
		}
	}
	if ref != "" && got != want {
		t.Errorf("dcmdump of ours and dcmconv's differ:\n%s", lineDiff(got, want))
	}
	return ref
}

// lineDiff lists the lines that differ, at most ten.
func lineDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	var sb strings.Builder
	n := 0
	for i := 0; i < max(len(g), len(w)) && n < 10; i++ {
		var a, b string
		if i < len(g) {
			a = g[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			fmt.Fprintf(&sb, "line %d:\n ours    %s\n dcmconv %s\n", i+1, a, b)
			n++
		}
	}
	return sb.String()
}

// TestWriteExplicitLETwins compares the re-encoded big endian, implicit and
// deflated copies of corpus images with their little endian originals.
func TestWriteExplicitLETwins(t *testing.T) {
	tests := []struct{ le, other string }{
		{"test_files/MR_small.dcm", "test_files/MR_small_bigendian.dcm"},
		{"test_files/MR_small.dcm", "test_files/MR_small_implicit.dcm"},
		{"test_files/MR_small.dcm", "test_files/MR_small_expb.dcm"},
		{"test_files/rtdose_1frame.dcm", "test_files/rtdose_expb_1frame.dcm"},
		{"test_files/liver_1frame.dcm", "test_files/liver_expb_1frame.dcm"},
		{"test_files/rtdose.dcm", "test_files/rtdose_expb.dcm"},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.other), func(t *testing.T) {
			le := readTestFile(t, tt.le)
			fl, err := parseBytes(le)
			if err != nil {
				t.Fatal(err)
			}
			_, out := transcode(t, readTestFile(t, tt.other))
			g, err := parseBytes(out)
			if err != nil {
				t.Fatal(err)
			}
			// MR_small.dcm has Data Set Trailing Padding, some copies not.
			want, got := noPadding(fl.DataSet), noPadding(g.DataSet)
			compareDataSets(t, "", fl, logical(t, le, fl), want, g, out, got, true)
		})
	}
}

// noPadding returns ds without a trailing (FFFC,FFFC) Data Set Trailing
// Padding.
func noPadding(ds *DataSet) *DataSet {
	c := *ds
	if n := len(c.Elements); n > 0 && c.Elements[n-1].Tag == 0xFFFCFFFC {
		c.Elements = c.Elements[:n-1]
	}
	return &c
}

// TestWriteExplicitLESynthetic covers what the corpus lacks: values too
// long for a 2-byte length, big endian bulk values of each word size,
// group lengths, sequences in implicit VR and bulk meta values.
func TestWriteExplicitLESynthetic(t *testing.T) {
	long := bytes.Repeat([]byte("ab"), 40000) // 80000 bytes
	words := make([]byte, 80000)
	for i := range words {
		words[i] = byte(i * 7)
	}
	build := func(ts string) []byte {
		b := newPart10(ts)
		b.el(0x00080000, "UL", []byte{0, 0, 0, 0}) // a stale group length
		b.str(0x00080016, "UI", "1.2.840.10008.5.1.4.1.1.7")
		b.str(0x00080018, "UI", "1.2.3.4")
		b.el(0x00081010, "LO", long[:100])
		if !b.enc.explicit {
			b.el(0x00081030, "LO", long) // too long for a 2-byte length
		}
		// A sequence with one item, defined lengths.
		item := &builder{enc: b.enc}
		item.us(0x00281050, 7)
		b.hdr(0x00081110, "SQ", uint32(8+item.buf.Len()))
		b.item(uint32(item.buf.Len()))
		b.buf.Write(item.buf.Bytes())
		b.str(0x00090010, "LO", "ACME")
		b.el(0x00091001, "UN", []byte{1, 2, 3, 4})
		fd := make([]byte, 8)
		if b.enc.big {
			binary.BigEndian.PutUint64(fd, 0x400921FB54442D18)
		} else {
			binary.LittleEndian.PutUint64(fd, 0x400921FB54442D18)
		}
		b.el(0x00189087, "FD", fd)
		at := &builder{enc: b.enc}
		at.u16(0x0020)
		at.u16(0x9157)
		b.el(0x00209165, "AT", at.buf.Bytes())
		b.hdr(0x00283006, "OW", uint32(len(words))) // LUT Data, bulk
		b.buf.Write(words)
		b.hdr(0x7FE00008, "OF", uint32(len(words))) // Float Pixel Data, bulk
		b.buf.Write(words)
		b.hdr(0x7FE00009, "OD", uint32(len(words))) // Double Float Pixel Data, bulk
		b.buf.Write(words)
		return b.bytes()
	}
	for _, ts := range []string{ImplicitVRLittleEndian, ExplicitVRBigEndian} {
		t.Run(ts, func(t *testing.T) {
			data := build(ts)
			f, out := transcode(t, data)
			g, err := parseBytes(out)
			if err != nil {
				t.Fatal(err)
			}
			compareDataSets(t, "", f, data, f.DataSet, g, out, g.DataSet, true)
			// The group length covers the rest of group 0008, up to the
			// 8-byte header of (0009,0010).
			gl, next := g.DataSet.Find(0x00080000), g.DataSet.Find(0x00090010)
			if gl == nil || next == nil || int64(binary.LittleEndian.Uint32(gl.Value)) != next.Offset-8-(gl.Offset+4) {
				t.Errorf("group length %v, want %d", gl, next.Offset-8-(gl.Offset+4))
			}
			if ts == ImplicitVRLittleEndian {
				e := g.DataSet.Find(0x00081030)
				if e == nil || !bytes.Equal(e.Value, long) || e.VR != "LO" {
					t.Fatalf("long value lost: %v", e)
				}
				// Its header: tag, "UN", 0000, 4-byte length.
				if h := out[e.Offset-12 : e.Offset]; string(h[4:6]) != "UN" || binary.LittleEndian.Uint32(h[8:]) != uint32(len(long)) {
					t.Errorf("header % x", h)
				}
			}
			if e := g.DataSet.Find(0x00189087); e == nil || binary.LittleEndian.Uint64(e.Value) != 0x400921FB54442D18 {
				t.Errorf("FD value %v", e)
			}
			if e := g.DataSet.Find(0x00209165); e == nil || !bytes.Equal(e.Value, []byte{0x20, 0, 0x57, 0x91}) {
				t.Errorf("AT value %v", e)
			}
			for _, tg := range []Tag{0x00283006, 0x7FE00008, 0x7FE00009} {
				if e := g.DataSet.Find(tg); e == nil || !e.Bulk {
					t.Fatalf("%s: %+v", tg, e)
				}
			}
		})
	}
}

func TestWriteExplicitLEErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("encapsulated", func(t *testing.T) {
		data := readTestFile(t, "test_files/JPEG2000.dcm")
		f, err := parseBytes(data)
		if err != nil {
			t.Fatal(err)
		}
		err = WriteExplicitLE(ctx, io.Discard, f, byteOpener(data))
		if !errors.Is(err, ErrUnsupportedTransferSyntax) {
			t.Errorf("err = %v", err)
		}
		if _, ok := ExplicitLELength(f); ok {
			t.Error("ExplicitLELength accepts an encapsulated file")
		}
	})
	for _, rel := range []string{"test_files/MR_small_bigendian.dcm", "test_files/image_dfl.dcm"} {
		data := readTestFile(t, rel)
		f, err := parseBytes(data)
		if err != nil {
			t.Fatal(err)
		}
		t.Run("truncated object/"+rel, func(t *testing.T) {
			short := data[:len(data)-100]
			if err := WriteExplicitLE(ctx, io.Discard, f, byteOpener(short)); err == nil {
				t.Error("no error for a truncated object")
			}
		})
		t.Run("open fails/"+rel, func(t *testing.T) {
			boom := errors.New("boom")
			open := func(context.Context, int64, int64) (io.ReadCloser, error) { return nil, boom }
			if err := WriteExplicitLE(ctx, io.Discard, f, open); !errors.Is(err, boom) {
				t.Errorf("err = %v", err)
			}
		})
		t.Run("write fails/"+rel, func(t *testing.T) {
			if err := WriteExplicitLE(ctx, failWriter{}, f, byteOpener(data)); !errors.Is(err, errFailWriter) {
				t.Errorf("err = %v", err)
			}
		})
		t.Run("canceled/"+rel, func(t *testing.T) {
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			if err := WriteExplicitLE(cctx, io.Discard, f, byteOpener(data)); !errors.Is(err, context.Canceled) {
				t.Errorf("err = %v", err)
			}
		})
	}
}

var errFailWriter = errors.New("write failed")

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errFailWriter }

// FuzzWriteExplicitLE: whatever Parse accepts and is native re-encodes, in
// Explicit and in Implicit VR Little Endian, and the re-encoding parses
// with the same structure.
func FuzzWriteExplicitLE(f *testing.F) {
	for _, rel := range dicomFiles(f) {
		data := readTestFile(f, rel)
		if file, err := parseBytes(data); err == nil && needsTranscoding(file.TransferSyntax.UID) {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		file, err := Parse(ctx, bytes.NewReader(data), int64(len(data)), fuzzLimits)
		if err != nil {
			return
		}
		for _, ts := range []string{ExplicitVRLittleEndian, ImplicitVRLittleEndian} {
			var out bytes.Buffer
			err = WriteNative(ctx, &out, file, byteOpener(data), ts)
			n, ok := NativeLength(file, ts)
			if CanWriteNative(file, ts) != nil {
				if !errors.Is(err, ErrNotReencodable) || ok {
					t.Fatalf("%s: refused file re-encoded: %v %v", ts, err, ok)
				}
				continue
			}
			if err != nil {
				t.Fatalf("WriteNative %s: %v", ts, err)
			}
			if !ok || n != int64(out.Len()) {
				t.Fatalf("NativeLength %s %d %v, wrote %d", ts, n, ok, out.Len())
			}
			g, err := Parse(ctx, bytes.NewReader(out.Bytes()), int64(out.Len()), fuzzLimits)
			if err != nil {
				t.Fatalf("%s: re-parse: %v", ts, err)
			}
			// In Implicit VR an empty value of a dictionary sequence reads
			// back as an empty sequence.
			implicit := ts == ImplicitVRLittleEndian
			if a, b := structure(file.DataSet, implicit), structure(g.DataSet, implicit); a != b {
				t.Fatalf("%s: structure differs:\n%s\n%s", ts, a, b)
			}
		}
	})
}

// structure renders tags, item counts and value lengths; with emptySQ, a
// sequence without items as a value of length 0.
func structure(ds *DataSet, emptySQ bool) string {
	var sb strings.Builder
	var walk func(*DataSet)
	walk = func(ds *DataSet) {
		for _, e := range ds.Elements {
			if e.VR == "SQ" && !(emptySQ && len(e.Items) == 0) {
				fmt.Fprintf(&sb, "%s[", e.Tag)
				for _, it := range e.Items {
					walk(it)
					sb.WriteString("|")
				}
				sb.WriteString("]")
				continue
			}
			length := e.Length
			if e.VR == "SQ" {
				length = 0
			}
			fmt.Fprintf(&sb, "%s:%d ", e.Tag, length)
		}
	}
	walk(ds)
	return sb.String()
}
