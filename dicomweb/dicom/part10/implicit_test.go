package part10

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// compareImplicit requires b, read back from an Implicit VR Little Endian
// re-encoding, to hold a's elements in the same order with the same tags,
// item structure and little endian values. VRs are not compared: an
// implicit VR reader takes them from the dictionary. Group length values
// are not compared either (they are recomputed; see checkGroupLengths).
func compareImplicit(t *testing.T, path string, fa *File, objA []byte, a *DataSet, fb *File, objB []byte, b *DataSet) {
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
		switch {
		case ea.VR == "SQ" && eb.VR == "SQ":
			if len(ea.Items) != len(eb.Items) {
				t.Errorf("%s: %d items, want %d", p, len(eb.Items), len(ea.Items))
				continue
			}
			for k := range ea.Items {
				compareImplicit(t, fmt.Sprintf("%s/%d/", p, k), fa, objA, ea.Items[k], fb, objB, eb.Items[k])
			}
			continue
		case ea.VR == "SQ" || eb.VR == "SQ":
			// Only an empty value of a dictionary sequence reads back as
			// an empty sequence.
			if ea.VR == "SQ" || ea.Length != 0 || len(eb.Items) != 0 {
				t.Errorf("%s: VR %s, want %s", p, eb.VR, ea.VR)
			}
			continue
		}
		if eb.BigEndian {
			t.Errorf("%s: big endian after re-encoding", p)
		}
		if ea.Tag.Element() == 0 {
			continue
		}
		va, vb := leValue(objA, fa, ea, path == ""), leValue(objB, fb, eb, path == "")
		if !bytes.Equal(va, vb) {
			t.Errorf("%s %s: value differs:\n got  % x\n want % x", p, ea.VR, head(vb), head(va))
		}
	}
}

// checkGroupLengths requires each top level group length of g, read back
// from an Implicit VR re-encoding out, to be the number of bytes from the
// end of its value to the first element of another group (or the end).
func checkGroupLengths(t *testing.T, g *File, out []byte) {
	t.Helper()
	els := g.DataSet.Elements
	for i, el := range els {
		if el.Tag.Element() != 0 || len(el.Value) != 4 {
			continue
		}
		end := int64(len(out))
		for _, next := range els[i+1:] {
			if next.Tag.Group() != el.Tag.Group() {
				end = next.Offset - 8 // tag and 4-byte length
				break
			}
		}
		if got, want := int64(binary.LittleEndian.Uint32(el.Value)), end-(el.Offset+4); got != want {
			t.Errorf("group length %s = %d, want %d", el.Tag, got, want)
		}
	}
}

// metaLines renders the file meta elements but the group length and the
// transfer syntax.
func metaLines(f *File) string {
	var lines []string
	for _, e := range f.Meta.Elements {
		if e.Tag != 0x00020000 && e.Tag != TagTransferSyntaxUID {
			lines = append(lines, fmt.Sprintf("%s %s %x", e.Tag, e.VR, e.Value))
		}
	}
	return strings.Join(lines, "\n")
}

// checkImplicitOutput requires out, f re-encoded as Implicit VR Little
// Endian from data, to read back with f's meta, elements, values and frames.
func checkImplicitOutput(t *testing.T, data []byte, f *File, out []byte) *File {
	t.Helper()
	if !bytes.Equal(out[:128], make([]byte, 128)) || string(out[128:132]) != "DICM" {
		t.Fatal("no zero preamble and DICM prefix")
	}
	g, err := parseBytes(out)
	if err != nil {
		t.Fatalf("re-parse: %v", err)
	}
	if g.TransferSyntax.UID != ImplicitVRLittleEndian || g.Meta.String(TagTransferSyntaxUID) != ImplicitVRLittleEndian {
		t.Fatalf("transfer syntax %q", g.TransferSyntax.UID)
	}
	if ts := g.Meta.Find(TagTransferSyntaxUID); ts == nil || string(ts.Value) != ImplicitVRLittleEndian+"\x00" {
		t.Errorf("TransferSyntaxUID value %v", ts)
	}
	if len(g.Warnings) > len(f.Warnings) {
		t.Errorf("new warnings: %v", g.Warnings)
	}
	gl := g.Meta.Find(0x00020000)
	if gl == nil || len(gl.Value) != 4 || int64(binary.LittleEndian.Uint32(gl.Value)) != g.DataSetOffset-132-12 {
		t.Errorf("(0002,0000) %v does not match a meta group of %d bytes", gl, g.DataSetOffset-132-12)
	}
	if a, b := metaLines(f), metaLines(g); a != b {
		t.Errorf("meta differs:\n%s\nwant\n%s", b, a)
	}
	compareImplicit(t, "", f, logical(t, data, f), f.DataSet, g, out, g.DataSet)
	checkGroupLengths(t, g, out)
	fa, fb := frameBytes(t, data, f), frameBytes(t, out, g)
	if len(fa) != len(fb) {
		t.Fatalf("%d frames, want %d", len(fb), len(fa))
	}
	for i := range fa {
		if !bytes.Equal(fa[i], fb[i]) {
			t.Errorf("frame %d differs", i+1)
		}
	}
	return g
}

// TestWriteNativeImplicit re-encodes every native object of the corpus
// (Explicit VR Little and Big Endian, Implicit VR, Deflated) as Implicit VR
// Little Endian: the output has the computed length, reads back with the
// same elements, values and frames and, when DCMTK is installed, dcmdump
// reads it as it reads dcmconv +ti's conversion of the source, whose data
// set has the same bytes (unless dcmconv pads odd lengths or swaps 32-bit
// big endian pixels in 16-bit words).
func TestWriteNativeImplicit(t *testing.T) {
	dcmdump, _ := exec.LookPath("dcmdump")
	dcmconv, _ := exec.LookPath("dcmconv")
	if dcmdump == "" {
		t.Log("DCMTK not installed: no cross-check")
	}
	written := map[string]int{}
	refused, same := 0, 0
	for _, rel := range dicomFiles(t) {
		data := readTestFile(t, rel)
		f, err := parseBytes(data)
		if err != nil || f.TransferSyntax.Encapsulated {
			continue
		}
		t.Run(rel, func(t *testing.T) {
			if err := CanWriteNative(f, ImplicitVRLittleEndian); err != nil {
				refused++
				werr := WriteNative(context.Background(), io.Discard, f, byteOpener(data), ImplicitVRLittleEndian)
				_, ok := NativeLength(f, ImplicitVRLittleEndian)
				if !errors.Is(err, ErrNotReencodable) || !errors.Is(werr, ErrNotReencodable) || ok {
					t.Fatalf("refused with %v; WriteNative %v, NativeLength %v", err, werr, ok)
				}
				t.Logf("refused: %v", err)
				return
			}
			_, out := transcodeTo(t, data, ImplicitVRLittleEndian)
			checkImplicitOutput(t, data, f, out)
			if dcmdump != "" {
				bits, _ := f.DataSet.Int(TagBitsAllocated)
				skipPixel := f.TransferSyntax.BigEndian && bits > 16 // see TestWriteExplicitLECorpus
				ref := checkDCMTK(t, dcmdump, dcmconv, "+ti", filepath.Join(pydicomDir(t), rel), out, skipPixel)
				// dcmconv pads odd length values, which we keep as they are.
				if ref != "" && !skipPixel && !hasOddLength(f.DataSet) {
					sameDataSet(t, ref, out)
					same++
				}
			}
			written[f.TransferSyntax.UID]++
		})
	}
	for _, uid := range []string{ExplicitVRLittleEndian, ExplicitVRBigEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian} {
		if written[uid] == 0 {
			t.Errorf("no corpus file in %s was re-encoded", uid)
		}
	}
	if dcmconv != "" && same < 100 {
		t.Errorf("only %d data sets compared with dcmconv's, byte for byte", same)
	}
	t.Logf("re-encoded %v, refused %d, %d byte for byte as dcmconv's", written, refused, same)
}

// hasOddLength reports whether ds holds a value of odd length.
func hasOddLength(ds *DataSet) bool {
	for _, el := range ds.Elements {
		if el.Length != UndefinedLength && el.Length%2 == 1 {
			return true
		}
		for _, item := range el.Items {
			if hasOddLength(item) {
				return true
			}
		}
	}
	return false
}

// sameDataSet requires the data set of out, after its file meta group, to
// be the bytes of that of the file ref.
func sameDataSet(t *testing.T, ref string, out []byte) {
	t.Helper()
	theirs, err := os.ReadFile(ref)
	if err != nil {
		t.Fatal(err)
	}
	fr, err := parseBytes(theirs)
	if err != nil {
		t.Fatal(err)
	}
	fo, err := parseBytes(out)
	if err != nil {
		t.Fatal(err)
	}
	a, b := out[fo.DataSetOffset:], theirs[fr.DataSetOffset:]
	if !bytes.Equal(a, b) {
		i := 0
		for i < min(len(a), len(b)) && a[i] == b[i] {
			i++
		}
		t.Errorf("data set differs from dcmconv's at byte %d (%d bytes, dcmconv %d):\n ours    % x\n dcmconv % x",
			i, len(a), len(b), head(a[i:]), head(b[i:]))
	}
}

// TestWriteNativeImplicitTwins: the same image stored in four syntaxes
// re-encodes to the same Implicit VR data set.
func TestWriteNativeImplicitTwins(t *testing.T) {
	tests := []struct {
		file, ts string
	}{
		{"test_files/MR_small.dcm", ExplicitVRLittleEndian},
		{"test_files/MR_small_bigendian.dcm", ExplicitVRBigEndian},
		{"test_files/MR_small_implicit.dcm", ImplicitVRLittleEndian},
		{"test_files/MR_small_expb.dcm", ExplicitVRBigEndian},
		{"test_files/rtdose_expb.dcm", ExplicitVRBigEndian},
		{"test_files/image_dfl.dcm", DeflatedExplicitVRLittleEndian},
	}
	// The MR_small copies have the original's elements but for its Data
	// Set Trailing Padding: their data sets are the same bytes.
	var mr []byte
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			data := readTestFile(t, tt.file)
			f, out := transcodeTo(t, data, ImplicitVRLittleEndian)
			if f.TransferSyntax.UID != tt.ts {
				t.Fatalf("source in %s, want %s", f.TransferSyntax.UID, tt.ts)
			}
			g := checkImplicitOutput(t, data, f, out)
			if !strings.HasPrefix(filepath.Base(tt.file), "MR_small") {
				return
			}
			ds := out[g.DataSetOffset:]
			if pad := g.DataSet.Find(0xFFFCFFFC); pad != nil {
				ds = out[g.DataSetOffset : pad.Offset-8]
			}
			if mr == nil {
				mr = ds
			} else if !bytes.Equal(ds, mr) {
				t.Errorf("data set differs from MR_small.dcm's (%d bytes, want %d)", len(ds), len(mr))
			}
		})
	}
}

// TestWriteNativeImplicitSynthetic covers what the corpus lacks: values
// too long for a 2-byte length, group lengths in items, and the refusals
// an implicit VR reader imposes.
func TestWriteNativeImplicitSynthetic(t *testing.T) {
	long := bytes.Repeat([]byte("ab"), 40000) // 80000 bytes
	build := func(ts string, extra func(b *builder)) []byte {
		b := newPart10(ts)
		b.el(0x00080000, "UL", []byte{0, 0, 0, 0}) // a stale group length
		b.str(0x00080016, "UI", "1.2.840.10008.5.1.4.1.1.7")
		b.str(0x00080018, "UI", "1.2.3.4")
		if !b.enc.explicit {
			b.el(0x00081030, "LO", long) // too long for a 2-byte length
		}
		// A sequence with one item of defined length, with a group length.
		item := &builder{enc: b.enc}
		item.el(0x00280000, "UL", []byte{0, 0, 0, 0})
		item.us(0x00281050, 7)
		b.hdr(0x00081110, "SQ", uint32(8+item.buf.Len()))
		b.item(uint32(item.buf.Len()))
		b.buf.Write(item.buf.Bytes())
		// A private sequence of undefined length.
		b.str(0x00090010, "LO", "ACME")
		b.hdr(0x00091001, "SQ", UndefinedLength)
		b.item(UndefinedLength)
		b.str(0x00100010, "PN", "Doe^J")
		b.itemEnd()
		b.seqEnd()
		if extra != nil {
			extra(b)
		}
		return b.bytes()
	}
	tests := []struct {
		name   string
		ts     string
		extra  func(b *builder)
		refuse bool // in Implicit VR (Explicit VR takes it)
	}{
		{"implicit", ImplicitVRLittleEndian, nil, false},
		{"explicit big endian", ExplicitVRBigEndian, nil, false},
		{"sequence sent as UN", ExplicitVRLittleEndian, func(b *builder) {
			b.el(0x00400275, "UN", []byte("not an item")) // Request Attributes Sequence
		}, true},
		{"empty sequence sent as UN", ExplicitVRLittleEndian, func(b *builder) {
			b.el(0x00400275, "UN", nil)
		}, false},
		{"sequence of a string attribute", ExplicitVRLittleEndian, func(b *builder) {
			b.hdr(0x00400280, "SQ", UndefinedLength) // Comments on the Performed Procedure Step, ST
			b.seqEnd()
		}, true},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := build(tt.ts, tt.extra)
			f, err := parseBytes(data)
			if err != nil {
				t.Fatal(err)
			}
			if err := CanWriteNative(f, ExplicitVRLittleEndian); err != nil {
				t.Fatalf("explicit VR refuses: %v", err)
			}
			if tt.refuse {
				err := WriteNative(ctx, io.Discard, f, byteOpener(data), ImplicitVRLittleEndian)
				_, ok := NativeLength(f, ImplicitVRLittleEndian)
				if !errors.Is(err, ErrNotReencodable) || ok || !errors.Is(CanWriteNative(f, ImplicitVRLittleEndian), ErrNotReencodable) {
					t.Fatalf("not refused: %v, length %v", err, ok)
				}
				return
			}
			_, out := transcodeTo(t, data, ImplicitVRLittleEndian)
			g := checkImplicitOutput(t, data, f, out)
			if e := g.DataSet.Find(0x00081030); tt.ts == ImplicitVRLittleEndian && (e == nil || !bytes.Equal(e.Value, long)) {
				t.Errorf("long value lost: %v", e)
			}
			// The item's group length: (0028,1050) with an 8-byte header.
			sq := g.DataSet.Find(0x00081110)
			if sq == nil || len(sq.Items) != 1 || sq.Items[0].Find(0x00280000) == nil ||
				binary.LittleEndian.Uint32(sq.Items[0].Find(0x00280000).Value) != 8+2 {
				t.Errorf("item group length: %+v", sq)
			}
			// Headers are a tag and a 4-byte length; sequences and items
			// have undefined lengths.
			h := out[sq.Offset-8 : sq.Offset+8]
			if binary.LittleEndian.Uint32(h[4:]) != UndefinedLength || Tag(uint32(binary.LittleEndian.Uint16(h[8:]))<<16|uint32(binary.LittleEndian.Uint16(h[10:]))) != TagItem {
				t.Errorf("sequence header % x", h)
			}
			if priv := g.DataSet.Find(0x00091001); priv == nil || priv.VR != "SQ" || len(priv.Items) != 1 {
				t.Errorf("private sequence: %+v", priv)
			}
		})
	}
}

// TestWriteNativeRefusals: syntaxes other than the two native little
// endian ones and encapsulated objects are ErrNotReencodable for
// WriteNative, native objects for WriteDecoded, and what Implicit VR
// cannot carry for both.
func TestWriteNativeRefusals(t *testing.T) {
	ctx := context.Background()
	mr := readTestFile(t, "test_files/MR_small.dcm")
	fmr, err := parseBytes(mr)
	if err != nil {
		t.Fatal(err)
	}
	j2k := readTestFile(t, "test_files/JPEG2000.dcm")
	fj2k, err := parseBytes(j2k)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		f    *File
		data []byte
		ts   string
		is   error
	}{
		{"big endian output", fmr, mr, ExplicitVRBigEndian, ErrUnsupportedTransferSyntax},
		{"deflated output", fmr, mr, DeflatedExplicitVRLittleEndian, ErrUnsupportedTransferSyntax},
		{"encapsulated, implicit", fj2k, j2k, ImplicitVRLittleEndian, ErrUnsupportedTransferSyntax},
		{"encapsulated, explicit", fj2k, j2k, ExplicitVRLittleEndian, ErrUnsupportedTransferSyntax},
		{"no file", nil, nil, ImplicitVRLittleEndian, ErrNotReencodable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := WriteNative(ctx, io.Discard, tt.f, byteOpener(tt.data), tt.ts)
			if !errors.Is(err, ErrNotReencodable) || !errors.Is(err, tt.is) {
				t.Errorf("WriteNative: %v", err)
			}
			if _, ok := NativeLength(tt.f, tt.ts); ok {
				t.Error("NativeLength accepts it")
			}
		})
	}
	// An RLE object with a sequence sent as UN decodes to Explicit VR only.
	b := newPart10("1.2.840.10008.1.2.5")
	b.image(1, 2, 1, 8, "")
	b.el(0x00400275, "UN", []byte("not an item"))
	b.hdr(TagPixelData, "OB", UndefinedLength)
	b.item(0)
	b.item(4)
	b.buf.Write([]byte{1, 2, 3, 4})
	b.seqEnd()
	rle := b.bytes()
	frle, err := parseBytes(rle)
	if err != nil {
		t.Fatal(err)
	}
	px := &DecodedPixels{VR: "OB", Frames: 1, FrameSize: 2, WriteFrame: func(_ context.Context, w io.Writer, _ int) error {
		_, err := w.Write([]byte{7, 8})
		return err
	}}
	decoded := []struct {
		name string
		f    *File
		ts   string
		is   error // nil: written
	}{
		{"explicit", frle, ExplicitVRLittleEndian, nil},
		{"sequence sent as UN, implicit", frle, ImplicitVRLittleEndian, ErrNotReencodable},
		{"big endian output", fj2k, ExplicitVRBigEndian, ErrUnsupportedTransferSyntax},
		{"native object", fmr, ImplicitVRLittleEndian, ErrNotReencodable},
		{"implicit", fj2k, ImplicitVRLittleEndian, nil},
	}
	for _, tt := range decoded {
		t.Run("decoded/"+tt.name, func(t *testing.T) {
			can := CanWriteDecoded(tt.f, tt.ts)
			var out bytes.Buffer
			err := WriteDecoded(ctx, &out, tt.f, byteOpener(rle), tt.ts, px)
			if tt.f == fj2k && tt.is == nil {
				// JPEG2000.dcm has a frame of another size: only asked.
				err = nil
			}
			if !errors.Is(can, tt.is) || !errors.Is(err, tt.is) || (tt.is == nil) != (can == nil) {
				t.Errorf("CanWriteDecoded %v, WriteDecoded %v; want %v", can, err, tt.is)
			}
		})
	}
}
