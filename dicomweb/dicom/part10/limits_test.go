package part10

import (
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"
)

// allocated runs fn and returns the bytes it allocated.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func deflate(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// TestHugeDeclaredLength: small objects declaring ~4 GiB values must fail
// fast with ErrMalformed and allocate little.
func TestHugeDeclaredLength(t *testing.T) {
	const huge = 0xFFFFFFF0
	tests := []struct {
		name string
		make func() []byte
	}{
		{"explicit UT", func() []byte {
			b := newPart10(ExplicitVRLittleEndian)
			b.str(0x00080016, "UI", "1.2.3")
			b.hdr(0x00080018, "UT", huge)
			b.buf.WriteString(strings.Repeat("x", 200))
			return b.bytes()
		}},
		{"explicit OB", func() []byte {
			b := newPart10(ExplicitVRLittleEndian)
			b.hdr(0x00091010, "OB", huge)
			b.buf.WriteString(strings.Repeat("x", 200))
			return b.bytes()
		}},
		{"implicit LO", func() []byte {
			b := newPart10(ImplicitVRLittleEndian)
			b.hdr(0x00100010, "", huge)
			b.buf.WriteString(strings.Repeat("x", 200))
			return b.bytes()
		}},
		{"big endian pixel data", func() []byte {
			b := newPart10(ExplicitVRBigEndian)
			b.image(65535, 65535, 3, 16, "100000")
			b.hdr(TagPixelData, "OW", huge)
			return b.bytes()
		}},
		{"sequence", func() []byte {
			b := newPart10(ExplicitVRLittleEndian)
			b.hdr(0x00081115, "SQ", huge)
			b.item(UndefinedLength)
			b.str(0x00081150, "UI", "1.2")
			return b.bytes()
		}},
		{"item", func() []byte {
			b := newPart10(ExplicitVRLittleEndian)
			b.hdr(0x00081115, "SQ", UndefinedLength)
			b.item(huge)
			b.str(0x00081150, "UI", "1.2")
			return b.bytes()
		}},
		{"fragment", func() []byte {
			b := newPart10("1.2.840.10008.1.2.4.50")
			b.image(8, 8, 1, 8, "")
			b.hdr(TagPixelData, "OB", UndefinedLength)
			b.item(0)
			b.item(huge)
			b.buf.Write([]byte{0xFF, 0xD8})
			return b.bytes()
		}},
		{"deflated UT", func() []byte {
			b := newPart10(DeflatedExplicitVRLittleEndian)
			meta := b.bytes()
			ds := &builder{enc: explicitLE}
			ds.hdr(0x00081030, "UT", huge)
			ds.buf.WriteString(strings.Repeat("x", 200))
			return append(meta, deflate(t, ds.bytes())...)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.make()
			if len(data) > 600 {
				t.Fatalf("test object is %d bytes", len(data))
			}
			var err error
			n := allocated(func() { _, err = parseBytes(data) })
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
			if n > 1<<20 {
				t.Errorf("allocated %d bytes", n)
			}
		})
	}
}

// nested builds depth sequences of undefined (or defined) length.
func nested(depth int, defined bool) []byte {
	b := newPart10(ExplicitVRLittleEndian)
	if !defined {
		for i := 0; i < depth; i++ {
			b.hdr(0x00081115, "SQ", UndefinedLength)
			b.item(UndefinedLength)
		}
		b.str(0x00081150, "UI", "1.2")
		for i := 0; i < depth; i++ {
			b.itemEnd()
			b.seqEnd()
		}
		return b.bytes()
	}
	inner := &builder{enc: explicitLE}
	inner.str(0x00081150, "UI", "1.2")
	for i := 0; i < depth; i++ {
		w := &builder{enc: explicitLE}
		w.hdr(0x00081115, "SQ", uint32(inner.buf.Len()+8))
		w.item(uint32(inner.buf.Len()))
		w.buf.Write(inner.buf.Bytes())
		inner = w
	}
	b.buf.Write(inner.buf.Bytes())
	return b.bytes()
}

func TestNestingDepth(t *testing.T) {
	for _, defined := range []bool{false, true} {
		name := map[bool]string{false: "undefined", true: "defined"}[defined]
		t.Run(name+"/1000", func(t *testing.T) {
			if _, err := parseBytes(nested(1000, defined)); !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
		})
		t.Run(name+"/16", func(t *testing.T) {
			f, err := parseBytes(nested(16, defined))
			if err != nil {
				t.Fatal(err)
			}
			ds := f.DataSet
			for i := 0; i < 16; i++ {
				ds = ds.Find(0x00081115).Items[0]
			}
			if got := ds.String(0x00081150); got != "1.2" {
				t.Fatalf("innermost value %q", got)
			}
		})
	}
}

func TestMaxElements(t *testing.T) {
	b := newPart10(ExplicitVRLittleEndian)
	for i := 0; i < 100; i++ {
		b.str(Tag(0x00091000+i), "LO", "x")
	}
	data := b.bytes()
	if _, err := Parse(context.Background(), bytes.NewReader(data), int64(len(data)), Limits{MaxElements: 50}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("got %v, want ErrMalformed", err)
	}
	if _, err := parseBytes(data); err != nil {
		t.Fatal(err)
	}
}

func TestInflateLimit(t *testing.T) {
	b := newPart10(DeflatedExplicitVRLittleEndian)
	meta := b.bytes()
	ds := &builder{enc: explicitLE}
	ds.str(0x00080016, "UI", "1.2.3")
	ds.el(0x00091010, "OB", make([]byte, 4<<20)) // compresses to a few KiB
	data := append(meta, deflate(t, ds.bytes())...)
	lim := Limits{MaxInflatedBytes: 1 << 20}
	if _, err := Parse(context.Background(), bytes.NewReader(data), int64(len(data)), lim); !errors.Is(err, ErrMalformed) {
		t.Fatalf("got %v, want ErrMalformed", err)
	}
	f, err := parseBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Layout.Bulk) != 1 || f.Layout.Bulk[0].Ranges[0].Length != 4<<20 {
		t.Fatalf("bulk %+v", f.Layout.Bulk)
	}
	var out bytes.Buffer
	if err := WriteBulk(context.Background(), &out, byteOpener(data), &f.Layout, f.Layout.Bulk[0]); err != nil || out.Len() != 4<<20 {
		t.Fatalf("WriteBulk: %v, %d bytes", err, out.Len())
	}
}

func TestPixelSizeChecks(t *testing.T) {
	tests := []struct {
		name                   string
		rows, cols, spp, alloc uint16
		frames                 string
		pixelLen               int
		wantErr                bool
	}{
		{"fits", 4, 4, 1, 16, "2", 64, false},
		{"padding allowed", 3, 3, 1, 8, "", 10, false},
		{"short", 4, 4, 1, 16, "3", 64, true},
		{"overflowing product", 65535, 65535, 65535, 64, "100000", 64, true},
		{"too many frames", 1, 1, 1, 8, "100001", 64, true},
		{"negative frames", 1, 1, 1, 8, "-1", 64, true},
		{"bad BitsAllocated", 4, 4, 1, 12, "", 64, true},
		{"zero rows", 0, 4, 1, 8, "", 64, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newPart10(ExplicitVRLittleEndian)
			b.image(tc.rows, tc.cols, tc.spp, tc.alloc, tc.frames)
			b.el(TagPixelData, "OW", make([]byte, tc.pixelLen))
			_, err := parseBytes(b.bytes())
			if tc.wantErr != errors.Is(err, ErrMalformed) || (!tc.wantErr && err != nil) {
				t.Fatalf("got %v, want error %v", err, tc.wantErr)
			}
		})
	}
}

func TestTransferSyntaxes(t *testing.T) {
	for uid := range syntaxes {
		ts, ok := LookupTransferSyntax(uid)
		if !ok || ts.UID != uid || ts.MediaType == "" || ts.Encapsulated == (ts.MediaType == "application/octet-stream" && uid != EncapsulatedUncompressedExplicitVRLittleEndian) {
			t.Errorf("%s: %+v", uid, ts)
		}
	}
	if _, ok := LookupTransferSyntax("1.2.840.10008.1.2.4.94"); ok {
		t.Error("JPIP accepted")
	}
	b := newPart10("1.2.3.4.5")
	b.str(0x00080016, "UI", "1.2")
	if _, err := parseBytes(b.bytes()); !errors.Is(err, ErrUnsupportedTransferSyntax) {
		t.Fatalf("got %v", err)
	}
}

func TestNoHeader(t *testing.T) {
	for _, data := range [][]byte{nil, []byte("DICM"), make([]byte, 131), make([]byte, 400)} {
		if _, err := parseBytes(data); !errors.Is(err, ErrNoPart10Header) {
			t.Errorf("%d bytes: got %v", len(data), err)
		}
	}
}

func TestContextCanceled(t *testing.T) {
	b := newPart10(ExplicitVRLittleEndian)
	for i := 0; i < 5000; i++ {
		b.str(Tag(0x00091000+i%0x1000), "LO", "x")
	}
	data := b.bytes()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Parse(ctx, bytes.NewReader(data), int64(len(data)), Limits{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

// TestOutOfOrderIsLinear: many elements in descending order (each one
// "out of order") must not make the duplicate check quadratic.
func TestOutOfOrderIsLinear(t *testing.T) {
	b := newPart10(ExplicitVRLittleEndian)
	for i := 200_000; i > 0; i-- {
		b.hdr(Tag(0x00090000|uint32(i%0xFFFF)+uint32(i/0xFFFF)<<17), "LO", 0)
	}
	data := b.bytes()
	start := time.Now()
	f, err := parseBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
	if len(f.Warnings) != maxWarnings+1 {
		t.Fatalf("%d warnings", len(f.Warnings))
	}
}

func TestWriteFrameErrors(t *testing.T) {
	b := newPart10(ExplicitVRLittleEndian)
	b.image(4, 4, 1, 8, "")
	b.el(TagPixelData, "OB", make([]byte, 16))
	data := b.bytes()
	f, err := parseBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	failing := func(ctx context.Context, off, n int64) (io.ReadCloser, error) { return nil, boom }
	if err := WriteFrame(context.Background(), io.Discard, failing, &f.Layout, f.Layout.Frames[0]); !errors.Is(err, boom) {
		t.Errorf("open error: %v", err)
	}
	short := byteOpener(data[:len(data)-4])
	if err := WriteFrame(context.Background(), io.Discard, short, &f.Layout, f.Layout.Frames[0]); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short object: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := WriteFrame(ctx, io.Discard, byteOpener(data), &f.Layout, f.Layout.Frames[0]); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
}
