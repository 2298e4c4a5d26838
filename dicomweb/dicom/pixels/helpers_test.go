package pixels

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/dicomweb/dicom/pixels/internal/pixeltest"
)

// loaded is a parsed test object with what the pipeline needs.
type loaded struct {
	f    *part10.File
	img  *Image
	open part10.OpenFunc
}

func fileOpener(b []byte) part10.OpenFunc {
	return func(ctx context.Context, off, n int64) (io.ReadCloser, error) {
		if off < 0 || off > int64(len(b)) {
			return nil, fmt.Errorf("offset %d out of range", off)
		}
		end := int64(len(b))
		if n >= 0 && off+n < end {
			end = off + n
		}
		return io.NopCloser(bytes.NewReader(b[off:end])), nil
	}
}

func loadBytes(t testing.TB, b []byte) *loaded {
	t.Helper()
	ctx := context.Background()
	f, err := part10.Parse(ctx, bytes.NewReader(b), int64(len(b)), part10.Limits{})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	open := fileOpener(b)
	img, err := Describe(ctx, f.DataSet, f.TransferSyntax.UID, LayoutLoader(open, &f.Layout))
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	return &loaded{f: f, img: img, open: open}
}

func loadPath(t testing.TB, path string) *loaded {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return loadBytes(t, b)
}

// frame returns stored frame k (0-based) as WriteFrame writes it.
func (l *loaded) frame(t testing.TB, k int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := part10.WriteFrame(context.Background(), &buf, l.open, &l.f.Layout, l.f.Layout.Frames[k]); err != nil {
		t.Fatalf("write frame %d: %v", k, err)
	}
	return buf.Bytes()
}

func (l *loaded) render(t testing.TB, k int, opt RenderOptions) image.Image {
	t.Helper()
	ctx := context.Background()
	dec, err := DecodeFrame(ctx, l.img, l.frame(t, k), nil)
	if err != nil {
		t.Fatalf("decode frame %d: %v", k, err)
	}
	m, err := Render(ctx, l.img, dec, opt)
	if err != nil {
		t.Fatalf("render frame %d: %v", k, err)
	}
	return m
}

// dcm2pnm renders frame k (0-based) of path with DCMTK and returns the
// 8-bit PGM/PPM as width, height, channels and samples. It runs dcmj2pnm
// (dcm2pnm with the JPEG and RLE decoders), then dcml2pnm (JPEG-LS) if that
// fails.
func dcm2pnm(t testing.TB, path string, k int, args ...string) (w, h, ch int, pix []byte) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.pnm")
	cmd := append([]string{"+op", "+F", strconv.Itoa(k + 1)}, args...)
	cmd = append(cmd, path, out)
	var msgs []byte
	ok := false
	for _, tool := range []string{"dcmj2pnm", "dcml2pnm"} {
		pixeltest.NeedTool(t, tool)
		b, err := exec.Command(tool, cmd...).CombinedOutput()
		if err == nil {
			ok = true
			break
		}
		msgs = append(msgs, fmt.Sprintf("%s %v: %v\n%s", tool, cmd, err, b)...)
	}
	if !ok {
		t.Fatalf("DCMTK could not render:\n%s", msgs)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	w, h, ch, pix, err = parsePNM(b)
	if err != nil {
		t.Fatalf("dcm2pnm output: %v", err)
	}
	return w, h, ch, pix
}

// parsePNM reads a binary 8-bit PGM (P5) or PPM (P6).
func parsePNM(b []byte) (w, h, ch int, pix []byte, err error) {
	var magic string
	var maxv int
	r := bytes.NewReader(b)
	if _, err = fmt.Fscan(r, &magic, &w, &h, &maxv); err != nil {
		return
	}
	if _, err = r.ReadByte(); err != nil { // the single whitespace
		return
	}
	switch magic {
	case "P5":
		ch = 1
	case "P6":
		ch = 3
	default:
		return 0, 0, 0, nil, fmt.Errorf("not a binary PGM/PPM: %q", magic)
	}
	if maxv != 255 {
		return 0, 0, 0, nil, fmt.Errorf("maxval %d", maxv)
	}
	pix = make([]byte, w*h*ch)
	_, err = io.ReadFull(r, pix)
	return
}

// samples returns m's pixels as 1 (grey) or 3 (RGB) bytes each.
func samples(m image.Image) (ch int, pix []byte) {
	switch m := m.(type) {
	case *image.Gray:
		return 1, m.Pix
	case *image.RGBA:
		out := make([]byte, 0, len(m.Pix)/4*3)
		for i := 0; i < len(m.Pix); i += 4 {
			out = append(out, m.Pix[i], m.Pix[i+1], m.Pix[i+2])
		}
		return 3, out
	}
	panic(fmt.Sprintf("unexpected image type %T", m))
}

// compare reports the largest difference between two sample arrays and
// how many samples differ by more than tol.
func compare(a, b []byte, tol int) (maxDiff, over int) {
	for i := range a {
		d := int(a[i]) - int(b[i])
		if d < 0 {
			d = -d
		}
		maxDiff = max(maxDiff, d)
		if d > tol {
			over++
		}
	}
	return
}

// elem is one element for build.
type elem struct {
	tag part10.Tag
	vr  string
	val []byte
}

func us(v ...uint16) []byte {
	b := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(b[2*i:], x)
	}
	return b
}

func str(s string) []byte { return []byte(s) }

// build writes a Part-10 object in Explicit VR Little Endian (or tsUID, for
// the header only: the data set is always written explicit little endian).
func build(tsUID string, elems ...elem) []byte {
	elems = append([]elem(nil), elems...)
	sort.SliceStable(elems, func(i, j int) bool { return elems[i].tag < elems[j].tag })
	var ds bytes.Buffer
	for _, e := range elems {
		writeElem(&ds, e)
	}
	var meta bytes.Buffer
	writeElem(&meta, elem{0x00020001, "OB", []byte{0, 1}})
	writeElem(&meta, elem{0x00020002, "UI", str("1.2.840.10008.5.1.4.1.1.7")})
	writeElem(&meta, elem{0x00020003, "UI", str("1.2.3.4.5")})
	writeElem(&meta, elem{0x00020010, "UI", str(tsUID)})
	var out bytes.Buffer
	out.Write(make([]byte, 128))
	out.WriteString("DICM")
	glen := make([]byte, 4)
	binary.LittleEndian.PutUint32(glen, uint32(meta.Len()))
	writeElem(&out, elem{0x00020000, "UL", glen})
	out.Write(meta.Bytes())
	out.Write(ds.Bytes())
	return out.Bytes()
}

func writeElem(w *bytes.Buffer, e elem) {
	v := e.val
	if len(v)%2 == 1 {
		pad := byte(' ')
		if e.vr == "UI" || e.vr == "OB" || e.vr == "UN" {
			pad = 0
		}
		v = append(append([]byte(nil), v...), pad)
	}
	var h [12]byte
	binary.LittleEndian.PutUint16(h[0:], e.tag.Group())
	binary.LittleEndian.PutUint16(h[2:], e.tag.Element())
	copy(h[4:6], e.vr)
	switch e.vr {
	case "OB", "OW", "OF", "OD", "OL", "OV", "SQ", "UN", "UT", "UC", "UR", "SV", "UV":
		binary.LittleEndian.PutUint32(h[8:], uint32(len(v)))
		w.Write(h[:12])
	default:
		binary.LittleEndian.PutUint16(h[6:], uint16(len(v)))
		w.Write(h[:8])
	}
	w.Write(v)
}

// seq encodes a sequence value of defined length from items.
func seq(items ...[]elem) []byte {
	var b bytes.Buffer
	for _, it := range items {
		var body bytes.Buffer
		for _, e := range it {
			writeElem(&body, e)
		}
		var h [8]byte
		binary.LittleEndian.PutUint16(h[0:], 0xFFFE)
		binary.LittleEndian.PutUint16(h[2:], 0xE000)
		binary.LittleEndian.PutUint32(h[4:], uint32(body.Len()))
		b.Write(h[:])
		b.Write(body.Bytes())
	}
	return b.Bytes()
}

// imageElems are the Image Pixel elements of a grey or palette image.
func imageElems(rows, cols, alloc, stored int, signed bool, pi string, frames int) []elem {
	rep := uint16(0)
	if signed {
		rep = 1
	}
	return []elem{
		{0x00080016, "UI", str("1.2.840.10008.5.1.4.1.1.7")},
		{0x00080018, "UI", str("1.2.3.4.5")},
		{0x00280002, "US", us(1)},
		{0x00280004, "CS", str(pi)},
		{0x00280008, "IS", str(strconv.Itoa(frames))},
		{0x00280010, "US", us(uint16(rows))},
		{0x00280011, "US", us(uint16(cols))},
		{0x00280100, "US", us(uint16(alloc))},
		{0x00280101, "US", us(uint16(stored))},
		{0x00280102, "US", us(uint16(stored - 1))},
		{0x00280103, "US", us(rep)},
	}
}

// writeTemp writes b to a file in a test temporary directory.
func writeTemp(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
