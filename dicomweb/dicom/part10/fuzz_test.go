package part10

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// fuzzLimits keep each fuzz execution small.
var fuzzLimits = Limits{MaxElements: 10000, MaxFrames: 1000, MaxInflatedBytes: 8 << 20, MaxInlineBytes: 8 << 20}

func FuzzParse(f *testing.F) {
	root := pydicomDir(f)
	for _, rel := range dicomFiles(f) {
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(nested(20, false))
	f.Add(encapsulated("1.2.840.10008.1.2.4.50", "2", nil, nil, nil, []byte{0xFF, 0xD8, 1}, []byte{2}, []byte{0xFF, 0xD8}))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(context.Background(), bytes.NewReader(data), int64(len(data)), fuzzLimits)
		if err != nil {
			return
		}
		lay := &file.Layout
		enc, err := lay.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var back Layout
		if err := back.UnmarshalBinary(enc); err != nil {
			t.Fatalf("layout round trip: %v", err)
		}
		if !reflect.DeepEqual(normalize(*lay), normalize(back)) {
			t.Fatalf("layout round trip differs")
		}
		open := byteOpener(data)
		for _, fr := range lay.Frames {
			if FrameLength(lay, fr) > 64<<20 {
				continue
			}
			n, err := countWrite(func(w io.Writer) error { return WriteFrame(context.Background(), w, open, lay, fr) })
			if err == nil && n != FrameLength(lay, fr) {
				t.Fatalf("frame: wrote %d bytes, FrameLength %d", n, FrameLength(lay, fr))
			}
		}
		for _, bv := range lay.Bulk {
			if BulkLength(bv) > 64<<20 {
				continue
			}
			n, err := countWrite(func(w io.Writer) error { return WriteBulk(context.Background(), w, open, lay, bv) })
			if err == nil && n != BulkLength(bv) {
				t.Fatalf("bulk %s: wrote %d bytes, want %d", bv.Path, n, BulkLength(bv))
			}
		}
	})
}

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func countWrite(fn func(io.Writer) error) (int64, error) {
	c := &counter{}
	err := fn(c)
	return c.n, err
}

// normalize makes nil and empty slices compare equal.
func normalize(l Layout) Layout {
	if len(l.Frames) == 0 {
		l.Frames = nil
	}
	if len(l.Bulk) == 0 {
		l.Bulk = nil
	}
	for i := range l.Frames {
		if len(l.Frames[i].Ranges) == 0 {
			l.Frames[i].Ranges = nil
		}
	}
	for i := range l.Bulk {
		if len(l.Bulk[i].Ranges) == 0 {
			l.Bulk[i].Ranges = nil
		}
	}
	return l
}

func FuzzLayoutUnmarshal(f *testing.F) {
	root := pydicomDir(f)
	for _, rel := range dicomFiles(f) {
		b, _ := os.ReadFile(filepath.Join(root, rel))
		if file, err := parseBytes(b); err == nil {
			enc, _ := file.Layout.MarshalBinary()
			f.Add(enc)
		}
	}
	f.Add([]byte{1, 0})
	f.Add([]byte{1, 1, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 2, 1, 1, 0, 4, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		var l Layout
		if err := l.UnmarshalBinary(data); err != nil {
			return
		}
		enc, err := l.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var back Layout
		if err := back.UnmarshalBinary(enc); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !reflect.DeepEqual(normalize(l), normalize(back)) {
			t.Fatal("round trip differs")
		}
	})
}

// TestLayoutRoundTrip marshals every test file's layout and decodes it.
func TestLayoutRoundTrip(t *testing.T) {
	for _, rel := range dicomFiles(t) {
		f, err := parseBytes(readTestFile(t, rel))
		if err != nil {
			continue
		}
		enc, err := f.Layout.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var back Layout
		if err := back.UnmarshalBinary(enc); err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		if !reflect.DeepEqual(normalize(f.Layout), normalize(back)) {
			t.Fatalf("%s: round trip differs:\n%+v\n%+v", rel, f.Layout, back)
		}
		// Every strict prefix must be rejected, never accepted as garbage.
		for i := 0; i < len(enc); i++ {
			if err := back.UnmarshalBinary(enc[:i]); err == nil {
				t.Fatalf("%s: prefix of %d/%d bytes accepted", rel, i, len(enc))
			}
		}
	}
}
