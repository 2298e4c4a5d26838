package part10

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/testkit/testcorpus"
)

// TestWriteDecoded replaces the encapsulated pixel data of real compressed
// files by synthetic "decoded" frames and checks the result parses as
// Explicit or Implicit VR Little Endian with the replaced attributes, every
// other element kept and the frames in order. (Real decoding is tested
// with the decoders, in archive/retrieve.)
func TestWriteDecoded(t *testing.T) {
	tests := []struct{ file, ts string }{
		{"test_files/MR_small_RLE.dcm", ExplicitVRLittleEndian},
		{"test_files/SC_rgb_rle_2frame.dcm", ExplicitVRLittleEndian},
		{"test_files/JPEG2000.dcm", ExplicitVRLittleEndian},
		{"test_files/SC_rgb_jpeg_dcmtk.dcm", ExplicitVRLittleEndian},
		{"test_files/MR_small_RLE.dcm", ImplicitVRLittleEndian},
		{"test_files/SC_rgb_rle_2frame.dcm", ImplicitVRLittleEndian},
		{"test_files/JPEG2000.dcm", ImplicitVRLittleEndian},
		{"test_files/SC_rgb_jpeg_dcmtk.dcm", ImplicitVRLittleEndian},
	}
	for _, tt := range tests {
		name := tt.file
		t.Run(name+"/"+tt.ts, func(t *testing.T) {
			data := testcorpus.File(t, name)
			f, err := parseBytes(data)
			if err != nil {
				t.Fatal(err)
			}
			rows, _ := f.DataSet.Int(TagRows)
			cols, _ := f.DataSet.Int(TagColumns)
			spp, _ := f.DataSet.Int(TagSamplesPerPixel)
			bits, _ := f.DataSet.Int(TagBitsAllocated)
			size := rows * cols * spp * bits / 8
			frames := len(f.Layout.Frames)
			px := &DecodedPixels{
				VR: "OW", Frames: frames, FrameSize: size,
				WriteFrame: func(_ context.Context, w io.Writer, i int) error {
					_, err := w.Write(bytes.Repeat([]byte{byte(i + 1)}, int(size)))
					return err
				},
				Set: []*Element{
					{Tag: TagPhotometricInterpretation, VR: "CS", Length: 4, Value: []byte("RGB ")},
					{Tag: 0x00280006, VR: "US", Length: 2, Value: []byte{0, 0}},
				},
			}
			var out bytes.Buffer
			if err := WriteDecoded(context.Background(), &out, f, byteOpener(data), tt.ts, px); err != nil {
				t.Fatal(err)
			}
			g, err := parseBytes(out.Bytes())
			if err != nil {
				t.Fatalf("re-parse: %v", err)
			}
			if g.TransferSyntax.UID != tt.ts {
				t.Fatalf("transfer syntax %s", g.TransferSyntax.UID)
			}
			if got := g.DataSet.String(TagPhotometricInterpretation); got != "RGB" {
				t.Errorf("photometric %q", got)
			}
			if g.DataSet.Find(0x00280006) == nil || g.DataSet.Find(tagExtendedOffsetTable) != nil {
				t.Error("planar configuration missing or extended offset table kept")
			}
			if len(g.Layout.Frames) != frames {
				t.Fatalf("%d frames, want %d", len(g.Layout.Frames), frames)
			}
			for i, fr := range g.Layout.Frames {
				var b bytes.Buffer
				if err := WriteFrame(context.Background(), &b, byteOpener(out.Bytes()), &g.Layout, fr); err != nil {
					t.Fatal(err)
				}
				if int64(b.Len()) != size || b.Bytes()[0] != byte(i+1) || b.Bytes()[size-1] != byte(i+1) {
					t.Errorf("frame %d: %d bytes starting %d", i, b.Len(), b.Bytes()[0])
				}
			}
			// Every other top-level element is still there.
			for _, el := range f.DataSet.Elements {
				if el.Tag == tagExtendedOffsetTable || el.Tag == tagExtendedOffsetTableLengths {
					continue
				}
				if g.DataSet.Find(el.Tag) == nil {
					t.Errorf("element %s lost", el.Tag)
				}
			}
		})
	}
}

func TestWriteExplicitLEDecodedErrors(t *testing.T) {
	data := testcorpus.File(t, "test_files/MR_small_RLE.dcm")
	f, err := parseBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	short := &DecodedPixels{VR: "OW", Frames: 1, FrameSize: 100, WriteFrame: func(_ context.Context, w io.Writer, _ int) error {
		_, err := w.Write(make([]byte, 99))
		return err
	}}
	if err := WriteExplicitLEDecoded(context.Background(), io.Discard, f, byteOpener(data), short); !errors.Is(err, ErrMalformed) {
		t.Errorf("short frame: %v", err)
	}
	boom := errors.New("decoder failed")
	bad := &DecodedPixels{VR: "OW", Frames: 1, FrameSize: 100, WriteFrame: func(context.Context, io.Writer, int) error { return boom }}
	if err := WriteExplicitLEDecoded(context.Background(), io.Discard, f, byteOpener(data), bad); !errors.Is(err, boom) {
		t.Errorf("decoder error: %v", err)
	}
	huge := &DecodedPixels{VR: "OW", Frames: 1 << 20, FrameSize: 1 << 20}
	if err := WriteExplicitLEDecoded(context.Background(), io.Discard, f, byteOpener(data), huge); !errors.Is(err, ErrNotReencodable) {
		t.Errorf("4 GiB: %v", err)
	}
	native, _ := parseBytes(testcorpus.File(t, "test_files/MR_small.dcm"))
	if err := WriteExplicitLEDecoded(context.Background(), io.Discard, native, byteOpener(data), short); !errors.Is(err, ErrNotReencodable) {
		t.Errorf("native: %v", err)
	}
}
