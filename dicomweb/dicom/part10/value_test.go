package part10

import (
	"encoding/binary"
	"math"
	"reflect"
	"testing"
)

func TestElementValues(t *testing.T) {
	le, be := binary.LittleEndian, binary.BigEndian
	f32 := math.Float32bits(1.5)
	tests := []struct {
		name string
		el   Element
		call func(*Element) (any, error)
		want any
	}{
		{"strings raw", Element{VR: "CS", Value: []byte(`A\\B `)}, func(e *Element) (any, error) { return e.Strings(), nil }, []string{"A", "", "B "}},
		{"LT not split", Element{VR: "LT", Value: []byte(`a\b`)}, func(e *Element) (any, error) { return e.Strings(), nil }, []string{`a\b`}},
		{"US le", Element{VR: "US", Value: le.AppendUint16(le.AppendUint16(nil, 1), 65535)}, func(e *Element) (any, error) { return e.Ints() }, []int64{1, 65535}},
		{"SS be", Element{VR: "SS", BigEndian: true, Value: be.AppendUint16(nil, 0xFFFE)}, func(e *Element) (any, error) { return e.Ints() }, []int64{-2}},
		{"SL le", Element{VR: "SL", Value: le.AppendUint32(nil, 0xFFFFFFFF)}, func(e *Element) (any, error) { return e.Ints() }, []int64{-1}},
		{"UL be", Element{VR: "UL", BigEndian: true, Value: be.AppendUint32(nil, 0x01020304)}, func(e *Element) (any, error) { return e.Ints() }, []int64{0x01020304}},
		{"UV", Element{VR: "UV", Value: le.AppendUint64(nil, math.MaxUint64)}, func(e *Element) (any, error) { return e.Uints() }, []uint64{math.MaxUint64}},
		{"IS", Element{VR: "IS", Value: []byte(` +12\-3 `)}, func(e *Element) (any, error) { return e.Ints() }, []int64{12, -3}},
		{"FL be", Element{VR: "FL", BigEndian: true, Value: be.AppendUint32(nil, f32)}, func(e *Element) (any, error) { return e.Floats() }, []float64{1.5}},
		{"FD le", Element{VR: "FD", Value: le.AppendUint64(nil, math.Float64bits(-0.25))}, func(e *Element) (any, error) { return e.Floats() }, []float64{-0.25}},
		{"DS", Element{VR: "DS", Value: []byte(`1E3\.5 `)}, func(e *Element) (any, error) { return e.Floats() }, []float64{1000, 0.5}},
		{"AT be", Element{VR: "AT", BigEndian: true, Value: []byte{0x00, 0x28, 0x00, 0x10}}, func(e *Element) (any, error) { return e.Tags() }, []Tag{TagRows}},
		{"AT le", Element{VR: "AT", Value: []byte{0x28, 0x00, 0x10, 0x00}}, func(e *Element) (any, error) { return e.Tags() }, []Tag{TagRows}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.call(&tc.el)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	bad := []Element{
		{VR: "US", Value: []byte{1, 2, 3}},
		{VR: "IS", Value: []byte("1A")},
		{VR: "DS", Value: []byte("x")},
		{VR: "LO", Value: []byte("1")},
		{VR: "AT", Value: []byte{1, 2}},
	}
	for _, e := range bad {
		if _, err := e.Ints(); err == nil {
			if _, err := e.Floats(); err == nil {
				if _, err := e.Tags(); err == nil {
					t.Errorf("%s %q decoded without error", e.VR, e.Value)
				}
			}
		}
	}
}

func TestDataSetString(t *testing.T) {
	ds := &DataSet{Elements: []*Element{
		{Tag: TagSOPInstanceUID, VR: "UI", Value: []byte("1.2.3\x00")},
		{Tag: TagPatientID, VR: "LO", Value: []byte(" ID \\X")},
		{Tag: TagRows, VR: "US", Value: []byte{1, 0}},
	}}
	if got := ds.String(TagSOPInstanceUID); got != "1.2.3" {
		t.Errorf("UID %q", got)
	}
	if got := ds.String(TagPatientID); got != " ID" {
		t.Errorf("ID %q", got)
	}
	if got := ds.String(TagRows); got != "" {
		t.Errorf("US as string %q", got)
	}
	if v, ok := ds.Int(TagRows); !ok || v != 1 {
		t.Errorf("Rows %d %v", v, ok)
	}
	if _, ok := ds.Int(TagColumns); ok {
		t.Error("absent Columns found")
	}
}

func TestDictionary(t *testing.T) {
	tests := []struct {
		tag    Tag
		vr, kw string
	}{
		{TagPatientID, "LO", "PatientID"},
		{TagPixelData, "OB", "PixelData"},
		{0x00280106, "US", "SmallestImagePixelValue"},
		{0x60023000, "OB", "OverlayData"},
		{0x00191000, "UN", ""},
		{0x00190010, "LO", ""},
		{0x00200000, "UL", "GenericGroupLength"},
		{TagItem, "", "Item"},
		{0x00081115, "SQ", "ReferencedSeriesSequence"},
	}
	for _, tc := range tests {
		if got := DictionaryVR(tc.tag); got != tc.vr {
			t.Errorf("DictionaryVR(%s) = %q, want %q", tc.tag, got, tc.vr)
		}
		if got := Keyword(tc.tag); got != tc.kw {
			t.Errorf("Keyword(%s) = %q, want %q", tc.tag, got, tc.kw)
		}
		if tc.kw != "" && tc.tag.Group()&0xFF00 != 0x6000 && tc.tag.Element() != 0 {
			if got, ok := TagForKeyword(tc.kw); !ok || got != tc.tag {
				t.Errorf("TagForKeyword(%q) = %s %v", tc.kw, got, ok)
			}
		}
	}
	if _, ok := TagForKeyword("Pixel Data"); ok {
		t.Error("a name was accepted as a keyword")
	}
	if _, ok := TagForKeyword("NoSuchKeyword"); ok {
		t.Error("unknown keyword found")
	}
}
