package part10

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
)

// encapsulated builds an encapsulated object with the given fragments
// (each a byte string) and offset tables.
func encapsulated(ts string, frames string, bot []uint32, eot []uint64, eotLen []uint64, frags ...[]byte) []byte {
	b := newPart10(ts)
	b.image(8, 8, 1, 8, frames)
	if eot != nil {
		var v []byte
		for _, o := range eot {
			v = binary.LittleEndian.AppendUint64(v, o)
		}
		b.el(TagExtendedOffsetTable, "OV", v)
		v = nil
		for _, o := range eotLen {
			v = binary.LittleEndian.AppendUint64(v, o)
		}
		b.el(TagExtendedOffsetTableLen, "OV", v)
	}
	b.hdr(TagPixelData, "OB", UndefinedLength)
	var bv []byte
	for _, o := range bot {
		bv = binary.LittleEndian.AppendUint32(bv, o)
	}
	b.el(TagItem, "", bv)
	for _, f := range frags {
		b.el(TagItem, "", f)
	}
	b.seqEnd()
	return b.bytes()
}

func TestEncapsulatedFrames(t *testing.T) {
	const jpeg = "1.2.840.10008.1.2.4.50"
	const j2k = "1.2.840.10008.1.2.4.90"
	soi := func(s string) []byte { return append([]byte{0xFF, 0xD8}, s...) }
	soc := func(s string) []byte { return append([]byte{0xFF, 0x4F, 0xFF, 0x51}, s...) }
	jp2 := func(s string) []byte {
		return append([]byte{0, 0, 0, 0x0C, 'j', 'P', ' ', ' ', 0x0D, 0x0A, 0x87, 0x0A}, s...)
	}
	// Fragments: A1 A2 | B1 | C1 C2. Item tag offsets (relative): 0, 12, 24, 36, 48
	// for 4-byte values (8-byte headers).
	a1, a2, b1, c1, c2 := soi("A1"), []byte("A2A2"), soi("B1"), soi("C1"), []byte("C2C2")
	want3 := []string{"\xff\xd8A1A2A2", "\xff\xd8B1", "\xff\xd8C1C2C2"}
	tests := []struct {
		name    string
		data    []byte
		want    []string // frames; nil with wantErr
		wantErr bool
	}{
		{"markers", encapsulated(jpeg, "3", nil, nil, nil, a1, a2, b1, c1, c2), want3, false},
		{"basic offset table", encapsulated(jpeg, "3", []uint32{0, 24, 36}, nil, nil, a1, a2, b1, c1, c2), want3, false},
		{"extended offset table", encapsulated(jpeg, "3", nil, []uint64{0, 24, 36}, []uint64{8, 4, 8}, a1, a2, b1, c1, c2), want3, false},
		{"one fragment per frame", encapsulated(jpeg, "2", nil, nil, nil, a1, b1), []string{"\xff\xd8A1", "\xff\xd8B1"}, false},
		{"one frame, many fragments", encapsulated(jpeg, "", nil, nil, nil, a1, a2), []string{"\xff\xd8A1A2A2"}, false},
		{"j2k codestream markers", encapsulated(j2k, "2", nil, nil, nil, soc("1a"), []byte("1b"), soc("2a")),
			[]string{"\xff\x4f\xff\x511a1b", "\xff\x4f\xff\x512a"}, false},
		{"jp2 boxes", encapsulated(j2k, "2", nil, nil, nil, jp2("1a"), []byte("1b"), jp2("2a")),
			[]string{string(jp2("1a1b")), string(jp2("2a"))}, false},
		{"video is one stream", encapsulated("1.2.840.10008.1.2.4.102", "30", nil, nil, nil, []byte("mp4a"), []byte("mp4b")),
			[]string{"mp4amp4b"}, false},
		{"offset table mid-fragment", encapsulated(jpeg, "3", []uint32{0, 20, 36}, nil, nil, a1, a2, b1, c1, c2), nil, true},
		{"offset table past the end", encapsulated(jpeg, "3", []uint32{0, 24, 400}, nil, nil, a1, a2, b1, c1, c2), nil, true},
		{"offset table count", encapsulated(jpeg, "3", []uint32{0, 24}, nil, nil, a1, a2, b1, c1, c2), nil, true},
		{"offset table decreasing", encapsulated(jpeg, "3", []uint32{0, 36, 24}, nil, nil, a1, a2, b1, c1, c2), nil, true},
		{"extended lengths too long", encapsulated(jpeg, "3", nil, []uint64{0, 24, 36}, []uint64{8, 400, 8}, a1, a2, b1, c1, c2), nil, true},
		{"markers missing", encapsulated(jpeg, "3", nil, nil, nil, a1, a2, []byte("B1"), c1, c2), nil, true},
		{"fewer fragments than frames", encapsulated(jpeg, "3", nil, nil, nil, a1, b1), nil, true},
		{"rle needs one fragment per frame", encapsulated("1.2.840.10008.1.2.5", "2", nil, nil, nil, a1, a2, b1), nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parseBytes(tc.data)
			if tc.wantErr {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("got %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := frameBytes(t, tc.data, f)
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tc.want) {
				t.Fatalf("frames %q, want %q", got, tc.want)
			}
			pd := f.Layout.Bulk[len(f.Layout.Bulk)-1]
			if pd.Path != "7FE00010" {
				t.Fatalf("bulk path %q", pd.Path)
			}
		})
	}
}

// packBits packs bits (0/1 per entry) least significant bit first.
func packBits(bits []byte) []byte {
	out := make([]byte, (len(bits)+7)/8)
	for i, v := range bits {
		out[i/8] |= v << (i % 8)
	}
	return out
}

// TestBitPackedFrames: 3 frames of 3×3 one-bit pixels, in little and big
// endian (OW, so swapped by words), must come out as each frame's bits
// packed from bit 0.
func TestBitPackedFrames(t *testing.T) {
	var all []byte
	for i := 0; i < 27; i++ {
		all = append(all, byte((i*7+i/3)%2))
	}
	packed := packBits(all)
	packed = append(packed, make([]byte, len(packed)%2)...)
	for _, ts := range []string{ExplicitVRLittleEndian, ExplicitVRBigEndian, ImplicitVRLittleEndian} {
		t.Run(ts, func(t *testing.T) {
			b := newPart10(ts)
			b.image(3, 3, 1, 1, "3")
			v := bytes.Clone(packed)
			if ts == ExplicitVRBigEndian {
				for i := 0; i+1 < len(v); i += 2 {
					v[i], v[i+1] = v[i+1], v[i]
				}
			}
			b.el(TagPixelData, "OW", v)
			data := b.bytes()
			f, err := parseBytes(data)
			if err != nil {
				t.Fatal(err)
			}
			got := frameBytes(t, data, f)
			if len(got) != 3 {
				t.Fatalf("%d frames", len(got))
			}
			for k := range got {
				want := packBits(all[9*k : 9*k+9])
				if !bytes.Equal(got[k], want) {
					t.Errorf("frame %d: %08b, want %08b", k+1, got[k], want)
				}
			}
		})
	}
}

// TestBigEndianOddFrames: 8-bit OW pixel data in big endian with an odd
// frame size: frames start inside a swapped word.
func TestBigEndianOddFrames(t *testing.T) {
	pixels := []byte{1, 2, 3, 4, 5, 6}
	b := newPart10(ExplicitVRBigEndian)
	b.image(1, 3, 1, 8, "2")
	b.el(TagPixelData, "OW", []byte{2, 1, 4, 3, 6, 5})
	data := b.bytes()
	f, err := parseBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	if f.Layout.Swap != 2 {
		t.Fatalf("swap %d", f.Layout.Swap)
	}
	got := frameBytes(t, data, f)
	if !bytes.Equal(got[0], pixels[:3]) || !bytes.Equal(got[1], pixels[3:]) {
		t.Fatalf("frames %v", got)
	}
	var bulk bytes.Buffer
	if err := WriteBulk(context.Background(), &bulk, byteOpener(data), &f.Layout, f.Layout.Bulk[0]); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bulk.Bytes(), pixels) {
		t.Fatalf("bulk %v", bulk.Bytes())
	}
}

// TestUNSequenceInBigEndian: a UN element of undefined length is an
// Implicit VR Little Endian sequence even in a big endian object.
func TestUNSequenceInBigEndian(t *testing.T) {
	b := newPart10(ExplicitVRBigEndian)
	b.str(0x00080016, "UI", "1.2.3")
	b.hdr(0x00091010, "UN", UndefinedLength)
	b.enc = encoding{}
	b.item(UndefinedLength)
	b.us(0x00280010, 0x0102)
	b.hdr(0x00091020, "", 6) // private, unknown: stays UN
	b.buf.WriteString("abcdef")
	b.hdr(0x00091030, "", UndefinedLength) // private undefined length: a sequence
	b.item(UndefinedLength)
	b.str(0x00100020, "LO", "ID1")
	b.itemEnd()
	b.seqEnd()
	b.itemEnd()
	b.seqEnd()
	b.enc = encoding{explicit: true, big: true}
	b.us(0x00280011, 0x0304)
	f, err := parseBytes(b.bytes())
	if err != nil {
		t.Fatal(err)
	}
	seq := f.DataSet.Find(0x00091010)
	if seq.VR != "SQ" || len(seq.Items) != 1 {
		t.Fatalf("UN sequence: VR %s, %d items", seq.VR, len(seq.Items))
	}
	it := seq.Items[0]
	if v, ok := it.Int(0x00280010); !ok || v != 0x0102 || it.Find(0x00280010).BigEndian {
		t.Errorf("inner Rows %d %v", v, ok)
	}
	if e := it.Find(0x00091020); e.VR != "UN" || string(e.Value) != "abcdef" {
		t.Errorf("inner private %+v", e)
	}
	if got := it.Find(0x00091030).Items[0].String(TagPatientID); got != "ID1" {
		t.Errorf("nested PatientID %q", got)
	}
	if v, ok := f.DataSet.Int(0x00280011); !ok || v != 0x0304 {
		t.Errorf("Columns after the sequence: %d", v)
	}
}

// TestImplicitVR checks dictionary VRs and the US/SS choice.
func TestImplicitVR(t *testing.T) {
	b := newPart10(ImplicitVRLittleEndian)
	b.str(0x00080016, "UI", "1.2.3")
	b.us(TagPixelRepresentation, 1)
	b.us(0x00280106, 0xFFFE) // SmallestImagePixelValue: SS here
	b.el(0x00091010, "", []byte{1, 2})
	b.el(0x00090010, "", []byte("CREATOR "))
	f, err := parseBytes(b.bytes())
	if err != nil {
		t.Fatal(err)
	}
	want := map[Tag]string{0x00080016: "UI", TagPixelRepresentation: "US", 0x00280106: "SS", 0x00091010: "UN", 0x00090010: "LO"}
	for tg, vr := range want {
		if e := f.DataSet.Find(tg); e == nil || e.VR != vr {
			t.Errorf("%s: %+v, want VR %s", tg, e, vr)
		}
	}
	if v, _ := f.DataSet.Find(0x00280106).Ints(); len(v) != 1 || v[0] != -2 {
		t.Errorf("SS value %v", v)
	}
}

// TestBulkPaths: bulk values inside sequences get item paths, and big
// endian OW bulk values are swapped by WriteBulk.
func TestBulkPaths(t *testing.T) {
	b := newPart10(ExplicitVRBigEndian)
	b.str(0x00080016, "UI", "1.2.3")
	b.hdr(0x00540016, "SQ", UndefinedLength)
	b.item(UndefinedLength)
	b.itemEnd()
	b.item(UndefinedLength)
	big := make([]byte, 5000)
	for i := range big {
		big[i] = byte(i)
	}
	b.el(0x00181072, "OW", big)
	b.itemEnd()
	b.seqEnd()
	data := b.bytes()
	f, err := parseBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Layout.Bulk) != 1 {
		t.Fatalf("bulk %+v", f.Layout.Bulk)
	}
	bv := f.Layout.Bulk[0]
	if bv.Path != "00540016/1/00181072" || bv.Swap != 2 || bv.VR != "OW" {
		t.Fatalf("bulk %+v", bv)
	}
	e := f.DataSet.Find(0x00540016).Items[1].Find(0x00181072)
	if !e.Bulk || e.Value != nil {
		t.Fatalf("element %+v", e)
	}
	var out bytes.Buffer
	if err := WriteBulk(context.Background(), &out, byteOpener(data), &f.Layout, bv); err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(big); i += 2 {
		if out.Bytes()[i] != big[i+1] || out.Bytes()[i+1] != big[i] {
			t.Fatalf("byte %d not swapped", i)
		}
	}
}
