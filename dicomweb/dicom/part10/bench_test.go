package part10

import (
	"bytes"
	"context"
	"testing"
)

// ctLike builds a 512×512×16-bit CT-like object in Explicit VR Little
// Endian: about 30 attributes and 512 KiB of pixel data.
func ctLike() []byte {
	b := newPart10(ExplicitVRLittleEndian)
	b.str(0x00080005, "CS", "ISO_IR 100")
	b.str(0x00080008, "CS", `ORIGINAL\PRIMARY\AXIAL`)
	b.str(0x00080016, "UI", "1.2.840.10008.5.1.4.1.1.2")
	b.str(0x00080018, "UI", "1.2.826.0.1.3680043.8.498.12345678901234567890")
	b.str(0x00080020, "DA", "20240101")
	b.str(0x00080030, "TM", "120000")
	b.str(0x00080050, "SH", "ACC123")
	b.str(0x00080060, "CS", "CT")
	b.str(0x00080070, "LO", "Vendor")
	b.str(0x00080090, "PN", "Referring^Doctor")
	b.str(0x00100010, "PN", "Doe^John")
	b.str(0x00100020, "LO", "PID12345")
	b.str(0x00100030, "DA", "19700101")
	b.str(0x00100040, "CS", "M")
	b.str(0x00180050, "DS", "1.25")
	b.str(0x00180060, "DS", "120")
	b.str(0x0020000D, "UI", "1.2.826.0.1.3680043.8.498.1")
	b.str(0x0020000E, "UI", "1.2.826.0.1.3680043.8.498.2")
	b.str(0x00200010, "SH", "1")
	b.str(0x00200011, "IS", "2")
	b.str(0x00200013, "IS", "3")
	b.str(0x00200032, "DS", `-250\-250\100`)
	b.str(0x00200037, "DS", `1\0\0\0\1\0`)
	b.us(TagSamplesPerPixel, 1)
	b.str(TagPhotometricInterpretation, "CS", "MONOCHROME2")
	b.us(TagRows, 512)
	b.us(TagColumns, 512)
	b.str(0x00280030, "DS", `0.5\0.5`)
	b.us(TagBitsAllocated, 16)
	b.us(0x00280101, 12)
	b.us(0x00280102, 11)
	b.us(TagPixelRepresentation, 0)
	b.str(0x00281050, "DS", "40")
	b.str(0x00281051, "DS", "400")
	b.el(TagPixelData, "OW", make([]byte, 512*512*2))
	return b.bytes()
}

func BenchmarkParse(b *testing.B) {
	data := ctLike()
	r := bytes.NewReader(data)
	ctx := context.Background()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		f, err := Parse(ctx, r, int64(len(data)), Limits{})
		if err != nil || len(f.Layout.Frames) != 1 {
			b.Fatal(err)
		}
	}
}

// TestCTLike checks the benchmark object parses as intended.
func TestCTLike(t *testing.T) {
	f, err := parseBytes(ctLike())
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Layout.Frames) != 1 || FrameLength(&f.Layout, f.Layout.Frames[0]) != 512*512*2 ||
		f.DataSet.String(0x00080060) != "CT" || len(f.CharacterSet) != 1 || f.CharacterSet[0] != "ISO_IR 100" {
		t.Fatalf("%+v", f.Layout)
	}
}
