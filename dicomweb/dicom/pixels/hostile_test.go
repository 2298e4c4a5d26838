package pixels

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
	"github.com/minipacs/minipacs/dicomweb/dicom/pixels/codec"
)

// dataset builds an in-memory data set (values little endian), bypassing
// Parse, so that descriptions Parse would reject can reach Describe.
// An OB/OW element with a nil value is a bulk value; an SQ value is parsed
// as seq writes it.
func dataset(elems ...elem) *part10.DataSet {
	ds := &part10.DataSet{}
	for _, e := range elems {
		el := &part10.Element{Tag: e.tag, VR: e.vr, Value: e.val, Length: uint32(len(e.val))}
		switch {
		case e.vr == "SQ":
			el.Value = nil
			el.Items = parseItems(e.val)
		case (e.vr == "OW" || e.vr == "OB") && e.val == nil:
			el.Bulk, el.Length = true, 8
		}
		ds.Elements = append(ds.Elements, el)
	}
	return ds
}

// parseItems reads what seq wrote: defined-length items of explicit VR
// little endian elements.
func parseItems(b []byte) []*part10.DataSet {
	var items []*part10.DataSet
	for len(b) >= 8 {
		n := int(binary.LittleEndian.Uint32(b[4:]))
		body := b[8 : 8+n]
		b = b[8+n:]
		var els []elem
		for len(body) >= 8 {
			tag := part10.Tag(uint32(binary.LittleEndian.Uint16(body))<<16 | uint32(binary.LittleEndian.Uint16(body[2:])))
			vr := string(body[4:6])
			var l, h int
			switch vr {
			case "OB", "OW", "OF", "OD", "OL", "OV", "SQ", "UN", "UT", "UC", "UR", "SV", "UV":
				l, h = int(binary.LittleEndian.Uint32(body[8:])), 12
			default:
				l, h = int(binary.LittleEndian.Uint16(body[6:])), 8
			}
			val := body[h : h+l]
			if l == 0 && (vr == "OW" || vr == "OB") {
				val = nil // bulk
			}
			els = append(els, elem{tag, vr, val})
			body = body[h+l:]
		}
		items = append(items, dataset(els...))
	}
	return items
}

func grey(rows, cols, alloc, stored int, extra ...elem) *part10.DataSet {
	els := imageElems(rows, cols, alloc, stored, false, Monochrome2, 1)
next:
	for _, x := range extra {
		for i := range els {
			if els[i].tag == x.tag {
				els[i] = x
				continue next
			}
		}
		els = append(els, x)
	}
	els = append(els, elem{part10.TagPixelData, "OW", nil})
	return dataset(els...)
}

func TestDescribeRejects(t *testing.T) {
	ctx := context.Background()
	lutItem := func(desc []byte, data []byte) elem {
		return elem{tagVOILUTSequence, "SQ", seq([]elem{{tagLUTDescriptor, "US", desc}, {tagLUTData, "OW", data}})}
	}
	cases := []struct {
		name string
		ds   *part10.DataSet
		want error
	}{
		{"no pixel data", dataset(imageElems(4, 4, 8, 8, false, Monochrome2, 1)...), ErrNotImage},
		{"BitsStored above BitsAllocated", grey(4, 4, 16, 17), ErrInvalid},
		{"HighBit below BitsStored", grey(4, 4, 16, 12, elem{tagHighBit, "US", us(5)}), ErrInvalid},
		{"BitsAllocated 12", grey(4, 4, 12, 12), codec.ErrUnsupported},
		{"SamplesPerPixel 4", grey(4, 4, 8, 8, elem{tagSamplesPerPixel, "US", us(4)}), codec.ErrUnsupported},
		{"Rows×Columns too large", grey(65535, 65535, 16, 16), ErrTooLarge},
		{"zero rows", grey(0, 4, 8, 8), ErrInvalid},
		{"planar 2", grey(4, 4, 8, 8, elem{tagPlanarConfiguration, "US", us(2)}), ErrInvalid},
		{"unknown photometric", grey(4, 4, 8, 8, elem{tagPhotometric, "CS", str("CMYK")}), codec.ErrUnsupported},
		{"RGB with one sample", grey(4, 4, 8, 8, elem{tagPhotometric, "CS", str("RGB")}), ErrInvalid},
		{"negative frames", grey(4, 4, 8, 8, elem{tagNumberOfFrames, "IS", str("-3")}), ErrInvalid},
		{"LUT of 40-bit entries", grey(4, 4, 16, 12, lutItem(us(256, 0, 40), us(make([]uint16, 256)...))), ErrInvalid},
		{"LUT data shorter than its descriptor", grey(4, 4, 16, 12, lutItem(us(0, 0, 16), us(1, 2, 3))), ErrInvalid},
		{"LUT descriptor of 2 values", grey(4, 4, 16, 12, lutItem(us(256, 0), us(make([]uint16, 256)...))), ErrInvalid},
		{"palette of 12-bit entries", grey(4, 4, 8, 8, elem{tagPhotometric, "CS", str(PaletteRGB)},
			elem{tagRedDescriptor, "US", us(256, 0, 12)}, elem{tagGreenDescriptor, "US", us(256, 0, 12)},
			elem{tagBlueDescriptor, "US", us(256, 0, 12)}), ErrInvalid},
		{"palette without data", grey(4, 4, 8, 8, elem{tagPhotometric, "CS", str(PaletteRGB)},
			elem{tagRedDescriptor, "US", us(256, 0, 8)}, elem{tagGreenDescriptor, "US", us(256, 0, 8)},
			elem{tagBlueDescriptor, "US", us(256, 0, 8)}), ErrInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			img, err := Describe(ctx, tc.ds, part10.ExplicitVRLittleEndian, nil)
			if !errors.Is(err, tc.want) {
				t.Errorf("Describe = %+v, %v; want %v", img, err, tc.want)
			}
		})
	}
}

func TestBulkLUT(t *testing.T) {
	ctx := context.Background()
	ds := grey(4, 4, 8, 8, elem{tagVOILUTSequence, "SQ", seq([]elem{{tagLUTDescriptor, "US", us(4, 0, 8)}, {tagLUTData, "OW", nil}})})
	if _, err := Describe(ctx, ds, part10.ExplicitVRLittleEndian, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("bulk LUT without a loader: %v", err)
	}
	var asked string
	load := func(ctx context.Context, path string, max int64) ([]byte, error) {
		asked = path
		return us(0, 100, 200, 255), nil
	}
	img, err := Describe(ctx, ds, part10.ExplicitVRLittleEndian, load)
	if err != nil {
		t.Fatal(err)
	}
	if asked != "00283010/0/00283006" {
		t.Errorf("loader asked for %q", asked)
	}
	if l := img.VOILUTs[0]; l.Lookup(-5) != 0 || l.Lookup(2) != 200 || l.Lookup(99) != 255 {
		t.Errorf("LUT %+v", l)
	}
	boom := errors.New("boom")
	_, err = Describe(ctx, ds, part10.ExplicitVRLittleEndian, func(context.Context, string, int64) ([]byte, error) { return nil, boom })
	if !errors.Is(err, boom) {
		t.Errorf("loader error lost: %v", err)
	}
}

func TestHostileFrames(t *testing.T) {
	ctx := context.Background()
	img, err := Describe(ctx, grey(64, 64, 16, 16), part10.ExplicitVRLittleEndian, nil)
	if err != nil {
		t.Fatal(err)
	}
	short := make([]byte, 64*64*2-1)
	if _, err := DecodeFrame(ctx, img, short, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("DecodeFrame of a short frame: %v", err)
	}
	if _, err := Render(ctx, img, short, RenderOptions{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Render of a short frame: %v", err)
	}
	if _, err := TranscodeFrame(ctx, img, short, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("TranscodeFrame of a short frame: %v", err)
	}
	full := make([]byte, 64*64*2)
	if _, err := Render(ctx, img, full, RenderOptions{Width: 1 << 20}); !errors.Is(err, ErrInvalid) {
		t.Errorf("huge viewport: %v", err)
	}
	if _, err := Render(ctx, img, full, RenderOptions{Window: &Window{Center: 0, Width: 0}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("zero-width window: %v", err)
	}
	for _, bad := range []*Image{
		{Rows: 4, Columns: 4, SamplesPerPixel: 1, BitsAllocated: 16, BitsStored: 0, Photometric: Monochrome2},
		{Rows: 4, Columns: 4, SamplesPerPixel: 1, BitsAllocated: 64, BitsStored: 64, HighBit: 63, Photometric: Monochrome2},
		{Rows: 1 << 20, Columns: 1 << 20, SamplesPerPixel: 1, BitsAllocated: 8, BitsStored: 8, HighBit: 7, Photometric: Monochrome2},
		{Rows: 4, Columns: 4, SamplesPerPixel: 1, BitsAllocated: 8, BitsStored: 8, HighBit: 7, Photometric: PaletteRGB},
		{Rows: 4, Columns: 4, SamplesPerPixel: 1, BitsAllocated: 8, BitsStored: 8, HighBit: 7, Photometric: Monochrome2,
			VOILUTs: []*LUT{{Bits: 8}}},
	} {
		if _, err := Render(ctx, bad, full, RenderOptions{}); err == nil {
			t.Errorf("Render accepted %+v", bad)
		}
		if _, err := DecodeFrame(ctx, bad, full, nil); err == nil && bad.Photometric != PaletteRGB {
			t.Errorf("DecodeFrame accepted %+v", bad)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Render(cancelled, img, full, RenderOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

// FuzzRender drives Describe, DecodeFrame and Render with small images of
// arbitrary geometry, LUTs and frame bytes: errors are fine, panics and
// wrong-size results are not.
func FuzzRender(f *testing.F) {
	f.Add(uint8(4), uint8(4), uint8(1), uint8(1), uint8(0), uint8(0), false, false, []byte("0123456789abcdef0123456789abcdef"), []byte{})
	f.Add(uint8(3), uint8(3), uint8(0), uint8(3), uint8(2), uint8(0), false, true, []byte("rgbrgbrgbrgbrgbrgbrgbrgbrgb"), []byte{})
	f.Add(uint8(2), uint8(3), uint8(2), uint8(1), uint8(1), uint8(3), true, false, make([]byte, 24), []byte{4, 0, 0, 0, 16, 0, 1, 0, 2, 0, 3, 0, 4, 0})
	f.Add(uint8(8), uint8(8), uint8(3), uint8(1), uint8(0), uint8(0), false, false, make([]byte, 8), []byte{})
	f.Add(uint8(2), uint8(2), uint8(0), uint8(1), uint8(3), uint8(0), false, false, []byte{0, 1, 2, 3}, []byte{2, 0, 0, 0, 8, 0, 9, 0, 200, 0})
	f.Add(uint8(2), uint8(4), uint8(0), uint8(3), uint8(4), uint8(0), false, false, []byte("yyccyycc"+"yyccyycc"), []byte{})
	f.Fuzz(func(t *testing.T, rows, cols, allocSel, spp, piSel, storedLess uint8, signed, planar bool, frame, lut []byte) {
		alloc := []int{8, 16, 32, 1}[allocSel%4]
		stored := max(1, alloc-int(storedLess%8))
		pi := []string{Monochrome2, Monochrome1, RGB, PaletteRGB, YBRFull422, YBRFull}[piSel%6]
		els := imageElems(int(rows), int(cols), alloc, stored, signed, pi, 1)
		els[2] = elem{tagSamplesPerPixel, "US", us(uint16(spp))}
		if planar {
			els = append(els, elem{tagPlanarConfiguration, "US", us(1)})
		}
		if len(lut) >= 6 {
			desc, data := lut[:6], lut[6:]
			if pi == PaletteRGB {
				for _, tg := range []part10.Tag{tagRedDescriptor, tagGreenDescriptor, tagBlueDescriptor} {
					els = append(els, elem{tg, "US", desc})
				}
				for _, tg := range []part10.Tag{tagRedData, tagGreenData, tagBlueData} {
					els = append(els, elem{tg, "OW", data})
				}
			} else {
				els = append(els, elem{tagModalityLUTSequence, "SQ", seq([]elem{{tagLUTDescriptor, "US", desc}, {tagLUTData, "OW", data}})})
			}
		}
		els = append(els, elem{part10.TagPixelData, "OW", nil})
		ctx := context.Background()
		img, err := Describe(ctx, dataset(els...), part10.ExplicitVRLittleEndian, nil)
		if err != nil {
			return
		}
		dec, err := DecodeFrame(ctx, img, frame, nil)
		if err != nil {
			return
		}
		if int64(len(dec)) != img.DecodedFrameSize() {
			t.Fatalf("decoded %d bytes, want %d", len(dec), img.DecodedFrameSize())
		}
		opt := RenderOptions{Width: int(rows%7) * 3, Height: int(cols % 5)}
		if storedLess&1 == 1 {
			opt.Window = &Window{Center: float64(int8(storedLess)), Width: float64(spp) + 1, Function: Sigmoid}
		}
		m, err := Render(ctx, img, dec, opt)
		if err != nil {
			return
		}
		if b := m.Bounds(); b.Dx() < 1 || b.Dy() < 1 {
			t.Fatalf("empty picture %v", b)
		}
		if _, err := Thumbnail(ctx, img, dec, RenderOptions{}); err != nil {
			t.Fatalf("Render worked but Thumbnail failed: %v", err)
		}
	})
}
